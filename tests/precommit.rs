//! .pre-commit-hooks.yaml, run by the real pre-commit (tests/requirements.txt) on a scratch git
//! repository holding a copy of examples/kustomize's program: every hook passes on the
//! example, `netpol-fmt` reformats an unformatted file and fails, `netpol-check` fails on a
//! broken program with its diagnostic in the output, `netpol-test` fails on a false assertion.
//! The config the repository uses is the one docs/integrations.md shows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;
use netpol_testkit::git;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Repo {
    _dir: tempfile::TempDir,
    /// The scratch repository that uses the hooks.
    work: PathBuf,
    /// PATH with netpol first.
    path: String,
    home: PathBuf,
}

/// The `.pre-commit-config.yaml` block of docs/integrations.md, with its `repo:` and `rev:`
/// pointed at `hooks`.
fn documented_config(hooks: &Path, rev: &str) -> String {
    let docs = std::fs::read_to_string(common::root().join("docs/integrations.md")).unwrap();
    let block = docs
        .split("```yaml\n# .pre-commit-config.yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("docs/integrations.md shows a .pre-commit-config.yaml");
    let mut out = String::new();
    for line in block.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("- repo:") {
            out.push_str(&format!("{indent}- repo: {}\n", hooks.display()));
        } else if t.starts_with("rev:") {
            out.push_str(&format!("{indent}rev: {rev}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn repo() -> Option<Repo> {
    let pre_commit = common::venv_tool("pre-commit")?;
    let _ = pre_commit;
    let dir = tempfile::tempdir().unwrap();
    // A repository that publishes the hooks: our .pre-commit-hooks.yaml as it is in the tree.
    let hooks = dir.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::copy(
        common::root().join(".pre-commit-hooks.yaml"),
        hooks.join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    git(&hooks, &["init", "-q"]);
    git(&hooks, &["add", "."]);
    git(&hooks, &["commit", "-qm", "hooks"]);
    let rev = String::from_utf8(
        Command::new("git")
            .current_dir(&hooks)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    // The repository that uses them.
    let work = dir.path().join("work");
    for sub in ["policies", "k8s"] {
        std::fs::create_dir_all(work.join(sub)).unwrap();
    }
    for f in ["policies/shop.netpol", "k8s/shop.yaml"] {
        std::fs::copy(
            common::root().join("examples/kustomize").join(f),
            work.join(f),
        )
        .unwrap();
    }
    std::fs::write(
        work.join(".pre-commit-config.yaml"),
        documented_config(&hooks, &rev),
    )
    .unwrap();
    git(&work, &["init", "-q"]);
    git(&work, &["add", "."]);
    let path = common::netpol_bin(
        dir.path(),
        Path::new(env!("CARGO_BIN_EXE_netpol")),
        &["netpol"],
    );
    let home = dir.path().join("pre-commit-home");
    Some(Repo {
        _dir: dir,
        work,
        path,
        home,
    })
}

impl Repo {
    fn run(&self, hook: &str) -> Output {
        git(&self.work, &["add", "."]);
        Command::new(common::venv_tool("pre-commit").unwrap())
            .current_dir(&self.work)
            .args(["run", hook, "--all-files", "--color", "never"])
            .env("PATH", &self.path)
            .env("PRE_COMMIT_HOME", &self.home)
            .output()
            .unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_hook_passes_on_the_example() {
    let Some(r) = repo() else {
        return;
    };
    for hook in ["netpol-fmt", "netpol-check", "netpol-test"] {
        let out = r.run(hook);
        assert!(out.status.success(), "{hook}:\n{}", text(&out));
        assert!(text(&out).contains("Passed"), "{hook}:\n{}", text(&out));
    }
}

#[test]
fn netpol_fmt_reformats_and_fails() {
    let Some(r) = repo() else {
        return;
    };
    let file = r.work.join("policies/shop.netpol");
    let original = std::fs::read_to_string(&file).unwrap();
    let messy = original.replace("service cart in shop {", "service   cart in shop{");
    assert_ne!(messy, original);
    std::fs::write(&file, &messy).unwrap();
    let out = r.run("netpol-fmt");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("files were modified by this hook"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    assert!(r.run("netpol-fmt").status.success());
}

#[test]
fn netpol_check_fails_on_a_broken_program() {
    let Some(r) = repo() else {
        return;
    };
    let file = r.work.join("policies/shop.netpol");
    let mut program = std::fs::read_to_string(&file).unwrap();
    let line = program.lines().count() + 1;
    program.push_str("storefront -> payments:443\n");
    std::fs::write(&file, &program).unwrap();
    let out = r.run("netpol-check");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("error[E002]: unknown name `payments`"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("policies/shop.netpol:{line}:15")),
        "{}",
        text(&out)
    );
}

#[test]
fn netpol_test_fails_on_a_false_assertion() {
    let Some(r) = repo() else {
        return;
    };
    let file = r.work.join("policies/shop.netpol");
    let program = std::fs::read_to_string(&file).unwrap().replace(
        "denied ingress-nginx -> cart:grpc",
        "allowed ingress-nginx -> cart:grpc",
    );
    std::fs::write(&file, &program).unwrap();
    let out = r.run("netpol-test");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("FAIL"), "{}", text(&out));
    assert!(r.run("netpol-check").status.success());
}
