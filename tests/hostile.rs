//! The `netpol` binary against hostile input (issue 10): what a contributor to an untrusted
//! pull request can plant in the repository. Each test is one reproduction of the issue and
//! fails on the code before it (planted links followed, files read outside the repository,
//! FIFOs that block, loops that explode, files it did not write replaced, mixed out-dirs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs netpol in `dir`, killed after `limit` (a hang is a failure, not a stuck test), with
/// its address space capped at 2 GiB (reading `/dev/zero` fails fast instead of swapping).
fn netpol_limited(dir: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    run_limited(Command::new("sh"), &netpol_bin(), dir, args, env, limit)
}

/// Runs `cmd` (`sh`, or a wrapper that starts `sh`) on `sh -c` with the address-space cap,
/// then the binary `bin` with `args`; killed after `limit`.
fn run_limited(
    mut cmd: Command,
    bin: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> Run {
    cmd.arg("-c")
        .arg("ulimit -v 2097152; exec \"$0\" \"$@\"")
        .arg(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`netpol {}` did not finish within {limit:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The binary under test: this build's, or `NETPOL_BIN` (to show that a reproduction fails
/// on an older build).
fn netpol_bin() -> String {
    std::env::var("NETPOL_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netpol").to_string())
}

fn netpol_in(dir: &Path, args: &[&str]) -> Run {
    netpol_limited(dir, args, &[], Duration::from_secs(60))
}

/// A scratch folder outside any git repository (so the program's folder is the repository).
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netpol-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

const PROGRAM: &str = "namespace shop { isolate ingress, egress }\nservice web in shop {\n  select app = \"web\"\n}\nservice api in shop {\n  select app = \"api\"\n}\nweb -> api:8080\n";

fn program_with_port(port: u16) -> String {
    PROGRAM.replace("8080", &port.to_string())
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every file of a folder with its contents.
fn contents(dir: &Path) -> Vec<(String, String)> {
    names(dir)
        .into_iter()
        .map(|n| {
            let t = std::fs::read_to_string(dir.join(&n)).unwrap_or_default();
            (n, t)
        })
        .collect()
}

/// The next process ids the system will hand out, give or take: planted links named after
/// them catch a writer that names its temporary files after its pid.
fn next_pids(n: u32) -> std::ops::Range<u32> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    last + 1..last + 1 + n
}

// ------------------------------------------------------------------ 1. temporary files

#[test]
fn planted_links_at_temporary_names_are_never_followed() {
    let dir = temp_dir("tmplinks");
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::create_dir(dir.join("out")).unwrap();
    for pid in next_pids(1500) {
        for name in ["single.yaml", "a.netpol"] {
            let _ = symlink(&victim, dir.join(format!(".{name}.netpol-tmp-{pid}")));
        }
        let _ = symlink(
            &victim,
            dir.join(format!("out/.kustomization.yaml.netpol-tmp-{pid}")),
        );
    }
    // -o, --out-dir and fmt (the program is not in canonical layout).
    std::fs::write(
        dir.join("a.netpol"),
        PROGRAM.replace("  select", "      select"),
    )
    .unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "-o", "single.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = netpol_in(&dir, &["fmt", "a.netpol"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    for f in ["single.yaml", "a.netpol", "out/kustomization.yaml"] {
        let meta = std::fs::symlink_metadata(dir.join(f)).unwrap();
        assert!(meta.is_file(), "{f} became a link");
    }
}

// ------------------------------------------------------------------ 2. atomic out-dir

#[test]
fn a_failed_out_dir_write_leaves_the_old_set_whole() {
    let dir = temp_dir("atomic");
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.join("out");
    // A folder where a policy file goes, and a port change: the new set cannot be written.
    std::fs::remove_file(out.join("shop.web.yaml")).unwrap();
    std::fs::create_dir(out.join("shop.web.yaml")).unwrap();
    let before = contents(&out);
    std::fs::write(dir.join("a.netpol"), program_with_port(9090)).unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("shop.web.yaml"), "{}", r.stderr);
    assert_eq!(contents(&out), before, "the out-dir changed in part");
    let siblings: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| n.contains("netpol-stage") || n.contains("netpol-tmp"))
        .collect();
    assert!(siblings.is_empty(), "{siblings:?}");
}

#[test]
fn leftovers_of_a_killed_run_are_removed_by_the_next() {
    let dir = temp_dir("leftovers");
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // What a run killed mid-way leaves: a staging folder beside `out` (this version) and
    // temporary files inside it (earlier versions).
    let stage = dir.join(".out.netpol-stage-Xy12ab");
    std::fs::create_dir(&stage).unwrap();
    let header = "# Generated by netpol; do not edit. Edit the .netpol program and recompile.\n";
    std::fs::write(stage.join("shop.web.yaml"), format!("{header}kind: x\n")).unwrap();
    std::fs::write(
        dir.join("out/.shop.web.yaml.netpol-tmp-4242"),
        format!("{header}kind: x\n"),
    )
    .unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!stage.exists());
    assert!(!dir.join("out/.shop.web.yaml.netpol-tmp-4242").exists());
    assert_eq!(
        names(&dir.join("out")),
        [
            "kustomization.yaml",
            "shop.api.yaml",
            "shop.default-deny.yaml",
            "shop.web.yaml"
        ]
    );
}

/// The out-dir seen at any instant holds one whole set: killed at many moments of a large
/// compile, the folder is the old set or the new one, never a mix.
#[test]
fn a_kill_at_any_moment_leaves_one_whole_set() {
    let dir = temp_dir("kill");
    let program = |port: u16| {
        let mut s = String::from("namespace shop { isolate ingress, egress }\n");
        for i in 0..1500 {
            s.push_str(&format!(
                "service s{i} in shop {{\n  select app = \"s{i}\"\n}}\n"
            ));
        }
        for i in 0..1500 {
            s.push_str(&format!("s{i} -> s{}:{port}\n", (i + 1) % 1500));
        }
        s
    };
    std::fs::write(dir.join("a.netpol"), program(1000)).unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut port = 1000;
    let full = Instant::now();
    std::fs::write(dir.join("a.netpol"), program(1001)).unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    port += 1;
    let took = full.elapsed();
    for step in 1..=12u32 {
        port += 1;
        std::fs::write(dir.join("a.netpol"), program(port)).unwrap();
        let mut child = Command::new(netpol_bin())
            .args(["compile", "a.netpol", "--out-dir", "out"])
            .current_dir(&dir)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(took * step / 12);
        let _ = child.kill();
        let _ = child.wait();
        let out = dir.join("out");
        let ports: std::collections::BTreeSet<String> = names(&out)
            .iter()
            .filter(|n| n.starts_with("shop.s"))
            .map(|n| {
                let t = std::fs::read_to_string(out.join(n)).unwrap();
                t.lines()
                    .find(|l| l.trim_start().starts_with("port:"))
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ports.len(), 1, "a mixed set after a kill: {ports:?}");
        assert_eq!(names(&out).len(), 1502, "{:?}", names(&out).len());
    }
    // The next run cleans up and writes the newest set.
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let leftovers: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| n.contains("netpol-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// ------------------------------------------------------------------ 3. files it did not write

#[test]
fn files_netpol_did_not_write_are_not_replaced() {
    let dir = temp_dir("foreign");
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    for name in ["kustomization.yaml", "shop.web.yaml"] {
        std::fs::write(out.join(name), "# mine\nkind: ConfigMap\n").unwrap();
    }
    std::fs::write(out.join("README.md"), "hand-written\n").unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("kustomization.yaml") && r.stderr.contains("shop.web.yaml"),
        "{}",
        r.stderr
    );
    for name in ["kustomization.yaml", "shop.web.yaml"] {
        assert_eq!(
            std::fs::read_to_string(out.join(name)).unwrap(),
            "# mine\nkind: ConfigMap\n"
        );
    }
    // `-o` over a file netpol did not write is refused too.
    std::fs::write(dir.join("single.yaml"), "mine\n").unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "-o", "single.yaml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("single.yaml")).unwrap(),
        "mine\n"
    );
    // `--force` says otherwise; the unrelated README stays either way.
    let r = netpol_in(
        &dir,
        &["compile", "a.netpol", "--out-dir", "out", "--force"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        std::fs::read_to_string(out.join("shop.web.yaml"))
            .unwrap()
            .starts_with("# Generated by netpol")
    );
    assert_eq!(
        std::fs::read_to_string(out.join("README.md")).unwrap(),
        "hand-written\n"
    );
}

#[test]
fn a_symlinked_out_dir_is_followed_only_inside_the_repository() {
    let outside = temp_dir("outside-target");
    let dir = temp_dir("symout");
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    symlink(&outside, dir.join("out")).unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(names(&outside).is_empty(), "{:?}", names(&outside));
    // Inside the repository it is followed, and netpol says where it writes.
    std::fs::create_dir(dir.join("real")).unwrap();
    std::fs::remove_file(dir.join("out")).unwrap();
    symlink("real", dir.join("out")).unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("real"), "{}", r.stderr);
    assert!(
        std::fs::symlink_metadata(dir.join("out"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(dir.join("real/kustomization.yaml").exists());
}

// ------------------------------------------------------------------ 4. reads outside

#[test]
fn files_outside_the_repository_are_not_read_or_echoed() {
    let dir = temp_dir("environ");
    let secret = "hunter2-do-not-print";
    std::fs::write(
        dir.join("a.netpol"),
        format!("workloads \"/proc/self/environ\"\n{PROGRAM}"),
    )
    .unwrap();
    let r = netpol_limited(
        &dir,
        &["check", "a.netpol"],
        &[("NETPOL_TEST_SECRET", secret)],
        Duration::from_secs(60),
    );
    assert_ne!(r.code, 0);
    assert!(!r.stderr.contains(secret), "{}", r.stderr);
    assert!(r.stderr.contains("outside the repository"), "{}", r.stderr);
    // `..` patterns and a `.netpol` link to a file outside.
    let outside = temp_dir("environ-outside");
    std::fs::write(outside.join("x.yaml"), format!("kind: Pod\n{secret}: [\n")).unwrap();
    std::fs::write(
        outside.join("o.netpol"),
        format!("// {secret}\nnamespace x\n"),
    )
    .unwrap();
    let rel = format!(
        "../{}/*.yaml",
        outside.file_name().unwrap().to_string_lossy()
    );
    std::fs::write(
        dir.join("a.netpol"),
        format!("workloads \"{rel}\"\n{PROGRAM}"),
    )
    .unwrap();
    let r = netpol_in(&dir, &["check", "a.netpol"]);
    assert_ne!(r.code, 0);
    assert!(!r.stderr.contains(secret), "{}", r.stderr);
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    symlink(outside.join("o.netpol"), dir.join("b.netpol")).unwrap();
    let r = netpol_in(&dir, &["check", "."]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains(secret), "{}", r.stderr);
    // `--allow-outside` reads it.
    let o = outside.display().to_string();
    let r = netpol_in(&dir, &["check", ".", "--allow-outside", &o]);
    assert!(!r.stderr.contains("outside the repository"), "{}", r.stderr);
}

#[test]
fn quoted_lines_are_cut_at_200_characters() {
    let dir = temp_dir("longline");
    let long = format!(
        "kind: Pod\nmetadata: {{name: {}, labels: [\n",
        "x".repeat(5000)
    );
    std::fs::write(dir.join("bad.yaml"), long).unwrap();
    std::fs::write(
        dir.join("a.netpol"),
        format!("workloads \"bad.yaml\"\n{PROGRAM}"),
    )
    .unwrap();
    let r = netpol_in(&dir, &["check", "a.netpol", "--color", "never"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("not valid YAML"), "{}", r.stderr);
    let longest = r.stderr.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest < 300, "a quoted line of {longest} characters");
    assert!(r.stderr.contains('…'), "{}", r.stderr);
}

// ------------------------------------------------------------------ 5. special files, loops

#[test]
fn a_program_file_linked_to_dev_zero_is_refused() {
    let dir = temp_dir("devzero");
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    symlink("/dev/zero", dir.join("z.netpol")).unwrap();
    // As the finding ran it: the link is refused (it leads outside), not read until memory
    // runs out.
    let r = netpol_limited(&dir, &["check", "."], &[], Duration::from_secs(20));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("z.netpol"), "{}", r.stderr);
    assert!(!r.stderr.contains("out of memory"), "{}", r.stderr);
    // Allowed outside, it is still refused: it is not a regular file.
    let r = netpol_limited(
        &dir,
        &["check", ".", "--allow-outside", "/dev"],
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
}

#[test]
fn fifos_in_the_program_folder_and_the_out_dir_do_not_block() {
    let dir = temp_dir("fifo");
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    mkfifo(&dir.join("f.netpol"));
    let r = netpol_limited(&dir, &["check", "."], &[], Duration::from_secs(20));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("f.netpol"), "{}", r.stderr);
    std::fs::remove_file(dir.join("f.netpol")).unwrap();
    // A FIFO matched by `workloads`.
    mkfifo(&dir.join("k.yaml"));
    std::fs::write(dir.join("w.netpol"), "workloads \"*.yaml\"\n").unwrap();
    let r = netpol_limited(&dir, &["check", "."], &[], Duration::from_secs(20));
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
    std::fs::remove_file(dir.join("w.netpol")).unwrap();
    // A FIFO in the out-dir.
    std::fs::create_dir(dir.join("out")).unwrap();
    mkfifo(&dir.join("out/shop.web.yaml"));
    let r = netpol_limited(
        &dir,
        &["compile", "a.netpol", "--out-dir", "out"],
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn folder_links_pointing_back_up_neither_explode_nor_duplicate() {
    let dir = temp_dir("loops");
    std::fs::create_dir_all(dir.join("p/k8s")).unwrap();
    std::fs::write(
        dir.join("p/k8s/web.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop, labels: {app: web}}\nspec: {containers: [{name: c, image: x}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: api, namespace: shop, labels: {app: api}}\nspec: {containers: [{name: c, image: x, ports: [{containerPort: 8080}]}]}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("p/a.netpol"),
        format!("workloads \"**/*.yaml\"\n{PROGRAM}"),
    )
    .unwrap();
    let clean = netpol_in(&dir, &["compile", "p"]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    // One link back up: no false duplicate (E006).
    symlink(".", dir.join("p/loop")).unwrap();
    let one = netpol_limited(&dir, &["compile", "p"], &[], Duration::from_secs(20));
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert_eq!(one.stdout, clean.stdout);
    // Two links back up: the walks stay linear.
    for n in ["a", "b", "c", "d"] {
        symlink(".", dir.join("p/k8s").join(n)).unwrap();
    }
    symlink("..", dir.join("p/k8s/up")).unwrap();
    let many = netpol_limited(
        &dir,
        &["compile", "p", "--workloads", "p/**/*.yaml"],
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(many.code, 0, "{}", many.stderr);
    assert_eq!(many.stdout, clean.stdout);
}

/// Runs netpol as a user who is not root (`nobody`, through `setpriv`), since root reads a
/// folder whatever its mode; a user who is not root already is runs it directly. The binary
/// is copied to a folder that user can read (the build's own may be under a private home).
fn netpol_unprivileged(dir: &Path, args: &[&str]) -> Run {
    let bin_dir = temp_dir("unprivileged-bin");
    let bin = bin_dir.join("netpol");
    std::fs::copy(netpol_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin.to_string_lossy().into_owned();
    let cmd = if std::fs::metadata(&bin_dir).unwrap().uid() == 0 {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "sh",
        ]);
        c
    } else {
        Command::new("sh")
    };
    let r = run_limited(cmd, &bin, dir, args, &[], Duration::from_secs(60));
    std::fs::remove_dir_all(&bin_dir).unwrap();
    r
}

/// Makes `dir` and everything in it readable by anyone (for `netpol_unprivileged`).
fn open_to_all(dir: &Path) {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        let mode = if entry.file_type().is_dir() {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// The code before issue 10 skipped a folder it could not read under `--workloads '**/*.yaml'`
/// and checked the rest (exit 0); its own folder walks already refused one (kept here too).
#[test]
fn an_unreadable_subfolder_is_an_error_not_a_silent_skip() {
    let dir = temp_dir("unreadable");
    let pod = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop, labels: {{app: {name}}}}}\nspec: {{containers: [{{name: c, image: x, ports: [{{containerPort: 8080}}]}}]}}\n"
        )
    };
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    std::fs::create_dir_all(dir.join("k8s/locked")).unwrap();
    std::fs::write(
        dir.join("k8s/shop.yaml"),
        format!("{}---\n{}", pod("web"), pod("api")),
    )
    .unwrap();
    // What the locked folder holds changes what the program means: skipping it is never exact.
    std::fs::write(dir.join("k8s/locked/more.yaml"), pod("web-canary")).unwrap();
    open_to_all(&dir);
    let lock = |p: &str, mode: u32| {
        std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
    };
    for pattern in ["**/*.yaml", "k8s/**/*.yaml"] {
        let args = ["check", "a.netpol", "--workloads", pattern];
        let readable = netpol_unprivileged(&dir, &args);
        assert_eq!(readable.code, 0, "{pattern}: {}", readable.stderr);
        lock("k8s/locked", 0o000);
        let r = netpol_unprivileged(&dir, &args);
        lock("k8s/locked", 0o755);
        assert_ne!(r.code, 0, "{pattern}: {}", r.stderr);
        assert!(r.stderr.contains("cannot read"), "{pattern}: {}", r.stderr);
        assert!(r.stderr.contains("k8s/locked"), "{pattern}: {}", r.stderr);
    }
    // A `workloads` statement's walk, and the program folder's walk.
    std::fs::write(dir.join("w.netpol"), "workloads \"k8s/**/*.yaml\"\n").unwrap();
    std::fs::create_dir(dir.join("team")).unwrap();
    std::fs::write(dir.join("team/b.netpol"), "web -> api:9090\n").unwrap();
    open_to_all(&dir);
    for locked in ["k8s/locked", "team"] {
        lock(locked, 0o000);
        let r = netpol_unprivileged(&dir, &["check", "."]);
        lock(locked, 0o755);
        assert_eq!(r.code, 2, "{locked}: {}", r.stderr);
        assert!(r.stderr.contains("cannot read"), "{locked}: {}", r.stderr);
        assert!(r.stderr.contains(locked), "{locked}: {}", r.stderr);
    }
}

// ------------------------------------------------------------------ 6. fmt keeps the file

#[test]
fn fmt_keeps_permissions_owner_and_links() {
    let dir = temp_dir("fmtkeep");
    let messy = PROGRAM.replace("  select", "      select");
    std::fs::write(dir.join("a.netpol"), &messy).unwrap();
    std::fs::set_permissions(dir.join("a.netpol"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::create_dir(dir.join("real")).unwrap();
    std::fs::write(
        dir.join("real/b.netpol"),
        "service b in shop {\n      select app = \"b\"\n}\n",
    )
    .unwrap();
    symlink("real/b.netpol", dir.join("b.netpol")).unwrap();
    let as_root = std::fs::metadata(&dir).unwrap().uid() == 0;
    if as_root {
        std::os::unix::fs::chown(dir.join("a.netpol"), Some(4321), Some(4321)).unwrap();
    }
    let r = netpol_in(&dir, &["fmt", "a.netpol", "b.netpol"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let meta = std::fs::metadata(dir.join("a.netpol")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    if as_root {
        assert_eq!((meta.uid(), meta.gid()), (4321, 4321));
    }
    assert_ne!(
        std::fs::read_to_string(dir.join("a.netpol")).unwrap(),
        messy
    );
    let link = std::fs::symlink_metadata(dir.join("b.netpol")).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "the link was replaced by a file"
    );
    assert!(
        std::fs::read_to_string(dir.join("real/b.netpol"))
            .unwrap()
            .contains("\n  select")
    );
}

// ------------------------------------------------------------------ 7. spelling of paths

#[test]
fn annotations_do_not_depend_on_how_paths_are_spelled() {
    let dir = temp_dir("spelling");
    std::fs::create_dir_all(dir.join("src/team-a")).unwrap();
    std::fs::write(
        dir.join("src/ns.netpol"),
        "namespace shop { isolate ingress, egress }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/team-a/svc.netpol"),
        PROGRAM.replace("namespace shop { isolate ingress, egress }\n", ""),
    )
    .unwrap();
    let whole = netpol_in(&dir, &["compile", "src"]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    assert!(
        whole
            .stdout
            .contains("netpol.dev/source: team-a/svc.netpol:"),
        "{}",
        whole.stdout
    );
    for args in [
        vec!["compile", "./src/ns.netpol", "src/team-a"],
        vec!["compile", "src/team-a", "./src/ns.netpol"],
        vec!["compile", "./src/"],
        vec!["compile", "src/team-a/../"],
    ] {
        let r = netpol_in(&dir, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, whole.stdout, "{args:?}");
    }
}

// ------------------------------------------------------------------ --out-dir --check

#[test]
fn out_dir_check_reports_drift_without_writing() {
    let dir = temp_dir("drift");
    std::fs::write(dir.join("a.netpol"), PROGRAM).unwrap();
    let r = netpol_in(
        &dir,
        &["compile", "a.netpol", "--out-dir", "out", "--check"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("added: shop.web.yaml"), "{}", r.stdout);
    assert!(!dir.join("out").exists());
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = netpol_in(
        &dir,
        &["compile", "a.netpol", "--out-dir", "out", "--check"],
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    // A changed port, a stale file of ours, a hidden leftover of ours: all drift.
    let out = dir.join("out");
    let header = "# Generated by netpol; do not edit. Edit the .netpol program and recompile.\n";
    std::fs::write(out.join("shop.old.yaml"), format!("{header}kind: x\n")).unwrap();
    std::fs::write(dir.join("a.netpol"), program_with_port(9090)).unwrap();
    let before = contents(&out);
    let r = netpol_in(
        &dir,
        &["compile", "a.netpol", "--out-dir", "out", "--check"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("changed: shop.web.yaml"), "{}", r.stdout);
    assert!(r.stdout.contains("stale: shop.old.yaml"), "{}", r.stdout);
    assert!(!r.stdout.contains("kustomization"), "{}", r.stdout);
    assert_eq!(contents(&out), before);
    // Errors are exit code 2.
    std::fs::write(dir.join("a.netpol"), "service broken in nowhere {}\n").unwrap();
    let r = netpol_in(
        &dir,
        &["compile", "a.netpol", "--out-dir", "out", "--check"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
}

// ------------------------------------------------------------------ YAML as kubectl reads it

fn deployment(i: usize, labels: &str) -> String {
    format!(
        "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {{name: d{i}, namespace: shop}}\n  spec:\n    selector: {{matchLabels: {{app: d{i}}}}}\n    template:\n      metadata:\n        labels: {{app: d{i}{labels}}}\n      spec:\n        containers:\n        - name: c\n          image: registry.example/app:1.0\n          ports: [{{containerPort: 8080, name: http}}]\n"
    )
}

#[test]
fn labels_kubectl_retypes_are_refused_with_file_line_and_quote_it() {
    let dir = temp_dir("retype");
    for (key, value) in [
        ("y", "v"),
        ("on", "v"),
        ("flag", "no"),
        ("mode", "0777"),
        ("n", "1e3"),
        ("1e3", "x"),
    ] {
        let manifest = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\n  labels:\n    app: web\n    {key}: {value}\nspec: {{containers: [{{name: c, image: x}}]}}\n"
        );
        std::fs::write(dir.join("pods.yaml"), manifest).unwrap();
        let sel = format!("select app = \"web\", {key} = \"{value}\"");
        let sel = if key.starts_with(|c: char| c.is_ascii_digit()) {
            "select app = \"web\"".to_string()
        } else {
            sel
        };
        std::fs::write(
            dir.join("a.netpol"),
            format!("workloads \"pods.yaml\"\nnamespace shop\nservice web in shop {{\n  {sel}\n}}\nservice b in shop {{\n  select app = \"b\"\n}}\nweb -> b:80\n"),
        )
        .unwrap();
        let r = netpol_in(&dir, &["check", "a.netpol", "--color", "never"]);
        assert_eq!(r.code, 1, "{key}: {value}: {}", r.stderr);
        assert!(
            r.stderr.contains("pods.yaml:8:"),
            "{key}: {value}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("quote it"),
            "{key}: {value}: {}",
            r.stderr
        );
        // Quoted, it is the string it looks like.
        let quoted = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\n  labels:\n    app: web\n    \"{key}\": \"{value}\"\nspec: {{containers: [{{name: c, image: x}}]}}\n"
        );
        std::fs::write(dir.join("pods.yaml"), quoted).unwrap();
        let r = netpol_in(&dir, &["check", "a.netpol", "--color", "never"]);
        assert!(
            !r.stderr.contains("quote it"),
            "{key}: {value}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("of service `web`"),
            "{key}: {value}: {}",
            r.stderr
        );
    }
}

#[test]
fn large_valid_manifests_are_read() {
    let dir = temp_dir("bigyaml");
    // A `kind: List` of 5,000 Deployments, 2,000 documents in one file, and a `%YAML 1.1`
    // directive.
    let mut list = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..5000 {
        list.push_str(&deployment(i, ", tier: web"));
    }
    std::fs::write(dir.join("list.yaml"), &list).unwrap();
    let mut docs = String::from("%YAML 1.1\n---\n");
    for i in 0..2000 {
        docs.push_str(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: shop, labels: {{app: p{i}, tier: pod}}}}\nspec: {{containers: [{{name: c, image: x, ports: [{{containerPort: 9090}}]}}]}}\n---\n"
        ));
    }
    std::fs::write(dir.join("docs.yaml"), &docs).unwrap();
    std::fs::write(
        dir.join("a.netpol"),
        "workloads \"*.yaml\"\nnamespace shop { isolate ingress }\nservice web in shop {\n  select tier = \"web\"\n}\nservice batch in shop {\n  select tier = \"pod\"\n}\nweb -> batch:9090\nbatch -> web:8080\n",
    )
    .unwrap();
    let r = netpol_in(&dir, &["check", "a.netpol", "--color", "never"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("budget"), "{}", r.stderr);
    // A List of 10,000 policies (read as `explain --policies` reads it).
    let mut policies = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..10_000 {
        policies.push_str(&format!(
            "- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n  metadata: {{name: p{i}, namespace: shop}}\n  spec:\n    podSelector: {{matchLabels: {{app: a{i}}}}}\n    policyTypes: [Ingress]\n    ingress:\n    - from: [{{podSelector: {{matchLabels: {{app: b{i}}}}}}}]\n      ports: [{{port: 80, protocol: TCP}}]\n"
        ));
    }
    std::fs::write(dir.join("policies.yaml"), &policies).unwrap();
    std::fs::write(
        dir.join("pods.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a9999, namespace: shop, labels: {app: a9999}}\nspec: {containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b9999, namespace: shop, labels: {app: b9999}}\nspec: {containers: [{name: c, image: x}]}\n",
    )
    .unwrap();
    let r = netpol_limited(
        &dir,
        &[
            "explain",
            "--policies",
            "policies.yaml",
            "--workloads",
            "pods.yaml",
            "--from",
            "shop/b9999",
            "--to",
            "shop/a9999:80",
        ],
        &[],
        Duration::from_secs(120),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("ALLOWED"), "{}", r.stdout);
}

#[test]
fn alias_bombs_and_deep_nesting_stay_bounded() {
    let dir = temp_dir("bomb");
    let mut bomb = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..12 {
        let prev = i - 1;
        bomb.push_str(&format!(
            "  a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    std::fs::write(dir.join("bomb.yaml"), bomb).unwrap();
    let deep = format!(
        "kind: Pod\nx: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::write(dir.join("deep.yaml"), deep).unwrap();
    for f in ["bomb.yaml", "deep.yaml"] {
        std::fs::write(
            dir.join("a.netpol"),
            format!("workloads \"{f}\"\n{PROGRAM}"),
        )
        .unwrap();
        let r = netpol_limited(&dir, &["check", "a.netpol"], &[], Duration::from_secs(30));
        assert_eq!(r.code, 1, "{f}: {}", r.stderr);
        assert!(r.stderr.contains("E020"), "{f}: {}", r.stderr);
    }
}
