//! Compile and re-check figures: `cargo bench -p netpol-compiler --bench compile`
//! (`-- 2000` to run one size).
//!
//! Generates programs of N services (850 services are about 5,000 lines), 50 to a namespace, each reaching the next, a service in
//! the next namespace and DNS, in files of 100 services, and prints:
//! - cold: a full compile (parse, resolve, check, lower, optimise, emit) in a new database;
//! - check: diagnostics only, in a new database;
//! - re-check after an edit, p50 and p95 over 50 edits in the middle of the middle file:
//!   a one-character edit inside a service (its port number), a comment edit, and adding a
//!   connection; each followed by the diagnostics, as the language server asks for them;
//! - (on stderr) where a cold compile and each kind of re-check spend their time, stage by
//!   stage (p50 of each stage over the 50 edits).
//!
//! Figures, not assertions: these machines are shared and noisy.

use netpol_compiler::db::{self, Database};
use std::time::{Duration, Instant};

const PER_FILE: usize = 100;
const PER_NAMESPACE: usize = 50;
const EDITS: usize = 50;

fn file_text(n: usize, chunk: usize, port: impl Fn(usize) -> u16, extra: &str) -> String {
    let mut text = String::new();
    for i in chunk * PER_FILE..((chunk + 1) * PER_FILE).min(n) {
        let ns = i / PER_NAMESPACE;
        let next = (i + 1) % n;
        let other = (i + PER_NAMESPACE) % n;
        text.push_str(&format!(
            "// s{i}: tier {}\nservice s{i} in ns{ns} {{\n  select app = \"s{i}\"\n  port http = {}\n}}\n",
            i % 3,
            port(i)
        ));
        text.push_str(&format!(
            "s{i} -> s{next}:http, s{other}:http, kube-dns:dns\n"
        ));
        if i == chunk * PER_FILE + PER_FILE / 2 {
            text.push_str(extra);
        }
    }
    text
}

fn program(n: usize) -> Vec<(String, String)> {
    let mut main = "use std::dns\n".to_string();
    for ns in 0..n.div_ceil(PER_NAMESPACE) {
        main.push_str(&format!("namespace ns{ns} {{ isolate ingress, egress }}\n"));
    }
    let mut files = vec![("main.netpol".to_string(), main)];
    for chunk in 0..n.div_ceil(PER_FILE) {
        files.push((
            format!("part{chunk:03}.netpol"),
            file_text(n, chunk, |_| 8080, ""),
        ));
    }
    files
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort();
    let i = ((times.len() as f64 - 1.0) * p).round() as usize;
    times.get(i).copied().unwrap_or_default()
}

/// Runs `edits` edits of the middle file and times the diagnostics after each; prints (to
/// stderr) where a re-check spends its time, query by query (p50 of each).
fn re_check(
    n: usize,
    what: &str,
    files: &[(String, String)],
    edit: impl Fn(usize) -> String,
) -> (f64, f64) {
    let mut db = Database::default();
    let ws = db.workspace(files.to_vec());
    let _ = db::diagnostics(&db, ws);
    let path = format!("part{:03}.netpol", n.div_ceil(PER_FILE) / 2);
    let mut times = Vec::new();
    let mut stages: Vec<(&str, Vec<Duration>)> = Vec::new();
    for k in 0..EDITS {
        let text = edit(k);
        let t = Instant::now();
        db.set_file(&path, text);
        let mut last = Duration::ZERO;
        let mut stage = |name: &'static str, at: Duration| {
            match stages.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(at - last),
                None => stages.push((name, vec![at - last])),
            }
            last = at;
        };
        stage("set_file", t.elapsed());
        for f in ws.files(&db) {
            let _ = db::file_items(&db, *f);
        }
        stage("parse+items", t.elapsed());
        let _ = db::outline(&db, ws);
        stage("outline", t.elapsed());
        let _ = db::namespaces(&db, ws);
        stage("namespaces", t.elapsed());
        let _ = db::lints(&db, ws);
        let _ = db::policy_names(&db, ws);
        stage("lints+names", t.elapsed());
        let _ = db::program_diagnostics(&db, ws);
        stage("program diagnostics", t.elapsed());
        let _ = db::diagnostics(&db, ws).len();
        stage("diagnostics", t.elapsed());
        times.push(t.elapsed());
    }
    let stages: Vec<String> = stages
        .iter_mut()
        .map(|(name, v)| format!("{name} {:.2}ms", ms(percentile(v, 0.5))))
        .collect();
    eprintln!(
        "  {n} services, {what} re-check p50 by stage: {}",
        stages.join(", ")
    );
    (
        ms(percentile(&mut times, 0.5)),
        ms(percentile(&mut times, 0.95)),
    )
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100, 850, 2000, 10_000]
    } else {
        sizes
    };
    println!(
        "{:>8} {:>7} {:>9} {:>9} {:>21} {:>21} {:>21} {:>9}",
        "services",
        "lines",
        "cold",
        "check",
        "1-char edit p50/p95",
        "comment edit p50/p95",
        "add conn. p50/p95",
        "policies"
    );
    for n in sizes {
        let files = program(n);
        let lines: usize = files.iter().map(|(_, t)| t.lines().count()).sum();
        let t = Instant::now();
        let mut db = Database::default();
        let ws = db.workspace(files.clone());
        let policies = db::emitted(&db, ws).as_ref().map_or(0, Vec::len);
        let cold = t.elapsed();
        let t = Instant::now();
        let mut db = Database::default();
        let ws = db.workspace(files.clone());
        let _ = db::diagnostics(&db, ws).len();
        let check = t.elapsed();

        // Where a cold check spends its time, stage by stage.
        let mut db = Database::default();
        let ws = db.workspace(files.clone());
        let mut stages = Vec::new();
        let t = Instant::now();
        for f in ws.files(&db) {
            let _ = db::file_items(&db, *f);
        }
        stages.push(("parse+items", t.elapsed()));
        let t = Instant::now();
        let _ = db::resolved(&db, ws);
        stages.push(("resolve", t.elapsed()));
        let t = Instant::now();
        let _ = db::checks(&db, ws);
        stages.push(("check", t.elapsed()));
        let t = Instant::now();
        let _ = db::policy_names(&db, ws);
        stages.push(("policy names", t.elapsed()));
        let t = Instant::now();
        let _ = db::diagnostics(&db, ws);
        stages.push(("diagnostics", t.elapsed()));
        let t = Instant::now();
        let _ = db::lowered(&db, ws);
        stages.push(("lower", t.elapsed()));
        let t = Instant::now();
        let _ = db::optimized(&db, ws);
        stages.push(("optimize", t.elapsed()));
        let t = Instant::now();
        let _ = db::emitted(&db, ws);
        stages.push(("emit", t.elapsed()));
        let stages: Vec<String> = stages
            .iter()
            .map(|(name, d)| format!("{name} {:.1}ms", ms(*d)))
            .collect();
        eprintln!("  {n} services, cold stages: {}", stages.join(", "));

        let chunk = n.div_ceil(PER_FILE) / 2;
        let middle = chunk * PER_FILE + PER_FILE / 2;
        // One character inside one service: its port number, 8080 <-> 8081.
        let one_char = re_check(n, "1-char", &files, |k| {
            file_text(
                n,
                chunk,
                |i| {
                    if i == middle && k % 2 == 0 {
                        8081
                    } else {
                        8080
                    }
                },
                "",
            )
        });
        let comment = re_check(n, "comment", &files, |k| {
            file_text(n, chunk, |_| 8080, &format!("// note {}\n", k % 2))
        });
        let add = re_check(n, "add-connection", &files, |k| {
            let extra = if k % 2 == 0 {
                format!("s{middle} -> s{}:http\n", (middle + 7) % n)
            } else {
                String::new()
            };
            file_text(n, chunk, |_| 8080, &extra)
        });
        println!(
            "{n:>8} {lines:>7} {:>7.1}ms {:>7.1}ms {:>9.1} / {:>7.1}ms {:>9.1} / {:>7.1}ms {:>9.1} / {:>7.1}ms {policies:>9}",
            ms(cold),
            ms(check),
            one_char.0,
            one_char.1,
            comment.0,
            comment.1,
            add.0,
            add.1
        );
    }
}
