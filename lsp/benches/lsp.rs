//! The language server's figures, measured over stdio: a generated workspace of 20 files and
//! 5,000 lines (with a manifest of one Deployment per service), served by this binary run
//! again as `netpol lsp` would run (`--serve`), driven by a minimal JSON-RPC client.
//!
//! Prints: first full diagnostics; re-diagnostics after a one-character edit inside a service
//! (p50/p95 over 50 edits); hover and completion (p50/p95 over 100 requests); resident memory
//! after warm-up and after 1,000 edits.
//!
//!     cargo bench -p netpol-lsp --bench lsp

#![allow(clippy::expect_used, clippy::indexing_slicing)] // a benchmark: a broken setup should stop it loudly

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const FILES: usize = 20;
const SERVICES_PER_FILE: usize = 40;
const TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    if std::env::args().any(|a| a == "--serve") {
        std::process::exit(i32::from(netpol_lsp::run_stdio()));
    }
    let dir = std::env::temp_dir().join(format!("netpol-lsp-bench-{}", std::process::id()));
    let files = generate(&dir);
    let lines: usize = files.iter().map(|(_, t)| t.lines().count()).sum();
    println!(
        "workspace: {} files, {lines} lines, {} services",
        files.len(),
        FILES * SERVICES_PER_FILE
    );
    let result = run(&dir, &files);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn service(f: usize, s: usize) -> String {
    format!("svc-{f}-{s}")
}

/// 20 files of 250 lines: a namespace, 40 services of 5 lines, 50 lines of connections.
fn generate(dir: &Path) -> Vec<(PathBuf, String)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("k8s")).expect("temp dir");
    let mut manifests = String::new();
    let mut out = Vec::new();
    for f in 0..FILES {
        let mut t = String::new();
        if f == 0 {
            t.push_str("use std::dns\nworkloads \"k8s/*.yaml\"\n");
        }
        t.push_str(&format!(
            "namespace ns-{f} {{ isolate ingress, egress }}\n\n"
        ));
        for s in 0..SERVICES_PER_FILE {
            let name = service(f, s);
            t.push_str(&format!(
                "service {name} in ns-{f} {{\n  select app = \"{name}\"\n  port http = 8080\n}}\n\n"
            ));
            manifests.push_str(&format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: ns-{f}\nspec:\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n        tier: t{}\n    spec:\n      containers:\n      - name: main\n        image: example\n        ports:\n        - containerPort: 8080\n          name: http\n",
                s % 4
            ));
        }
        for s in 0..SERVICES_PER_FILE {
            let next = service((f + 1) % FILES, s);
            t.push_str(&format!("{} -> {next}:http\n", service(f, s)));
        }
        for s in 0..(250usize.saturating_sub(t.lines().count() + 1)) {
            t.push_str(&format!(
                "{} -> kube-dns:dns\n",
                service(f, s % SERVICES_PER_FILE)
            ));
        }
        let path = dir.join(format!("f{f:02}.netpol"));
        std::fs::write(&path, &t).expect("write");
        out.push((path, t));
    }
    std::fs::write(dir.join("k8s/workloads.yaml"), manifests).expect("write");
    out
}

struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    next_id: i64,
}

fn uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

impl Client {
    fn start() -> Client {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&body)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        Client {
            child,
            stdin,
            rx,
            next_id: 1,
        }
    }

    fn send(&mut self, v: &Value) {
        let body = serde_json::to_vec(v).expect("json");
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).expect("write");
        self.stdin.write_all(&body).expect("write");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait(|m| m.get("id") == Some(&json!(id)))
    }

    fn wait(&mut self, pred: impl Fn(&Value) -> bool) -> Result<Value, String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .rx
                .recv_timeout(left)
                .map_err(|_| "timed out".to_string())?;
            if m.get("method") == Some(&json!("client/registerCapability"))
                && let Some(id) = m.get("id")
            {
                let id = id.clone();
                self.send(&json!({"jsonrpc": "2.0", "id": id, "result": null}));
                continue;
            }
            if pred(&m) {
                return Ok(m);
            }
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

fn is_diagnostics_for(m: &Value, uri: &str, version: Option<i64>) -> bool {
    m.get("method") == Some(&json!("textDocument/publishDiagnostics"))
        && m["params"]["uri"] == json!(uri)
        && version.is_none_or(|v| m["params"]["version"] == json!(v))
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.5), at(0.95))
}

fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let col = before
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.encode_utf16().count());
    json!({"line": line, "character": col})
}

fn run(dir: &Path, files: &[(PathBuf, String)]) -> Result<(), String> {
    let mut c = Client::start();
    let start = Instant::now();
    c.request(
        "initialize",
        json!({"processId": null, "rootUri": uri(dir), "workspaceFolders": [{"uri": uri(dir), "name": "bench"}], "capabilities": {}}),
    )?;
    c.notify("initialized", json!({}));
    // The server publishes every file of the program; the last is the manifest's.
    let manifest = uri(&dir.join("k8s/workloads.yaml"));
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < files.len() + 1 {
        let m = c.wait(|m| m.get("method") == Some(&json!("textDocument/publishDiagnostics")))?;
        seen.insert(m["params"]["uri"].as_str().unwrap_or_default().to_string());
    }
    let first = start.elapsed();
    let _ = manifest;
    println!(
        "first full diagnostics: {:.1} ms",
        first.as_secs_f64() * 1000.0
    );

    let (path, text) = &files[FILES / 2];
    let u = uri(path);
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": u, "languageId": "netpol", "version": 1, "text": text}}),
    );
    c.wait(|m| is_diagnostics_for(m, &u, Some(1)))?;

    // One character inside a service in the middle of the file: its port, 8080 <-> 8081.
    let target = service(FILES / 2, SERVICES_PER_FILE / 2);
    let at = text
        .find(&format!("service {target} "))
        .ok_or("no service")?;
    let digit = at + text[at..].find("8080").ok_or("no port")? + 3;
    let mut version = 1;
    let edit = |c: &mut Client, version: &mut i64| -> Result<Duration, String> {
        *version += 1;
        let mut t = text.clone();
        t.replace_range(digit..digit + 1, if *version % 2 == 0 { "1" } else { "0" });
        let t0 = Instant::now();
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": u, "version": *version}, "contentChanges": [{"text": t}]}),
        );
        let v = *version;
        c.wait(|m| is_diagnostics_for(m, &u, Some(v)))?;
        Ok(t0.elapsed())
    };
    let mut edits = Vec::new();
    for _ in 0..50 {
        edits.push(edit(&mut c, &mut version)?);
    }
    let (p50, p95) = percentiles(edits);
    println!(
        "re-diagnostics after a one-character edit inside a service: p50 {p50:.1} ms, p95 {p95:.1} ms ({:.1}x faster than the first)",
        first.as_secs_f64() * 1000.0 / p95.max(0.001)
    );

    let mut hovers = Vec::new();
    let mut completions = Vec::new();
    for s in 0..100 {
        let name = service(FILES / 2, s % SERVICES_PER_FILE);
        let decl =
            text.find(&format!("service {name} ")).ok_or("no service")? + "service ".len() + 1;
        let t0 = Instant::now();
        let r = c.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": u}, "position": position(text, decl)}),
        )?;
        hovers.push(t0.elapsed());
        if r["result"].is_null() {
            return Err(format!("no hover on `{name}`: {r}"));
        }
        let conn = text.find(&format!("{name} -> ")).ok_or("no connection")?;
        let colon = conn + text[conn..].find(':').ok_or("no port")? + 1;
        let t0 = Instant::now();
        let r = c.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": u}, "position": position(text, colon)}),
        )?;
        completions.push(t0.elapsed());
        if r["result"].as_array().is_none_or(Vec::is_empty) {
            return Err(format!("no completion after `{name} -> …:`: {r}"));
        }
    }
    let (h50, h95) = percentiles(hovers);
    let (c50, c95) = percentiles(completions);
    println!("hover: p50 {h50:.2} ms, p95 {h95:.2} ms");
    println!("completion: p50 {c50:.2} ms, p95 {c95:.2} ms");

    let warm = c.rss_kib();
    for _ in 0..1000 {
        edit(&mut c, &mut version)?;
    }
    let after = c.rss_kib();
    println!(
        "resident memory: {:.1} MiB after warm-up, {:.1} MiB after 1,000 edits ({:+.1}%)",
        warm as f64 / 1024.0,
        after as f64 / 1024.0,
        (after as f64 - warm as f64) * 100.0 / (warm.max(1) as f64)
    );

    c.request("shutdown", json!(null))?;
    c.notify("exit", json!(null));
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(status)) = c.child.try_wait() {
            println!(
                "exit: {status} in {:.1} ms (stdin still open)",
                t0.elapsed().as_secs_f64() * 1000.0
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = c.child.kill();
    Err("the server did not exit".to_string())
}
