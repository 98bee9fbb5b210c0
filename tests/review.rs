//! `netpol diff` and `netpol graph` end to end: golden outputs for every format over a real
//! change to the shop example, refactorings that change nothing, YAML mode, git revisions
//! read from a scratch repository, and pictures of every example.

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
use std::process::Command;

use common::Run;

fn netpol_in(dir: &Path, args: &[&str]) -> Run {
    common::run(env!("CARGO_BIN_EXE_netpol"), dir, args)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` is not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The change reviewed in docs/review.md: checkout moves to a new payment provider, and the
/// orders database takes its standby replicas in.
fn apply_change(shop: &Path) {
    let file = shop.join("shop.netpol");
    edit(
        &file,
        "external payments = 203.0.113.0/24",
        "external payments = 198.51.100.0/24",
    );
    edit(
        &file,
        "role in (\"primary\", \"replica\")",
        "role in (\"primary\", \"replica\", \"standby\")",
    );
}

/// A folder with `old/` and `new/` copies of the shop example, the new one changed.
fn shop_pair(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netpol-pair-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&common::root().join("examples/shop"), &dir.join("old"));
    copy_dir(&common::root().join("examples/shop"), &dir.join("new"));
    apply_change(&dir.join("new"));
    dir
}

#[test]
fn diff_of_a_real_change_in_every_format() {
    let dir = shop_pair("formats");
    for format in ["text", "markdown", "json"] {
        let r = netpol_in(&dir, &["diff", "old", "new", "--format", format]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.is_empty(), "{}", r.stderr);
        insta::with_settings!({snapshot_suffix => format}, {
            insta::assert_snapshot!(r.stdout);
        });
        // docs/review.md shows this very change.
        if format != "json" {
            let docs = std::fs::read_to_string(common::root().join("docs/review.md")).unwrap();
            assert!(
                docs.contains(&r.stdout),
                "docs/review.md does not show the current {format} output:\n{}",
                r.stdout
            );
        }
        let again = netpol_in(&dir, &["diff", "old", "new", "--format", format]);
        assert_eq!(again.stdout, r.stdout, "output differs between runs");
    }
    let r = netpol_in(&dir, &["diff", "old", "new", "--exit-code"]);
    assert_eq!(r.code, 1, "--exit-code on a change");
    // Reversed, every addition is a removal.
    let there: serde_json::Value =
        serde_json::from_str(&netpol_in(&dir, &["diff", "old", "new", "--format", "json"]).stdout)
            .unwrap();
    let back: serde_json::Value =
        serde_json::from_str(&netpol_in(&dir, &["diff", "new", "old", "--format", "json"]).stdout)
            .unwrap();
    let pods = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|c| c.get("from_future").is_none() && c.get("to_future").is_none())
            .cloned()
            .collect()
    };
    assert_eq!(pods(&there["added"]), pods(&back["removed"]));
    assert_eq!(pods(&there["removed"]), pods(&back["added"]));
    assert!(!pods(&there["added"]).is_empty() && !pods(&there["removed"]).is_empty());
}

#[test]
fn diff_json_names_pods_as_the_matrix_does() {
    let dir = shop_pair("matrix");
    let diff: serde_json::Value =
        serde_json::from_str(&netpol_in(&dir, &["diff", "old", "new", "--format", "json"]).stdout)
            .unwrap();
    let matrix = |side: &str| -> Vec<serde_json::Value> {
        let r = netpol_in(&dir, &["explain", side, "--matrix", "--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<Vec<serde_json::Value>>(&r.stdout).unwrap()
    };
    let (old, new) = (matrix("old"), matrix("new"));
    let key = |c: &serde_json::Value| {
        (
            c["from"].as_str().unwrap_or("").to_string(),
            c["to"].as_str().unwrap_or("").to_string(),
            c["port"].as_u64().unwrap(),
            c["protocol"].as_str().unwrap().to_string(),
        )
    };
    let allowed = |m: &[serde_json::Value]| -> std::collections::BTreeSet<_> {
        m.iter()
            .filter(|c| c["allowed"].as_bool().unwrap())
            .map(key)
            .collect()
    };
    let (a, b) = (allowed(&old), allowed(&new));
    let only_pods = |list: &serde_json::Value| -> std::collections::BTreeSet<_> {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                ["from_external", "to_external", "from_future", "to_future"]
                    .iter()
                    .all(|k| c.get(*k).is_none())
            })
            .map(key)
            .collect()
    };
    assert_eq!(
        only_pods(&diff["added"]),
        b.difference(&a).cloned().collect()
    );
    assert_eq!(
        only_pods(&diff["removed"]),
        a.difference(&b).cloned().collect()
    );
}

#[test]
fn a_refactoring_changes_no_connection() {
    let dir = std::env::temp_dir().join(format!("netpol-review-refactor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&common::root().join("examples/shop"), &dir.join("old"));
    copy_dir(&common::root().join("examples/shop"), &dir.join("new"));
    let file = dir.join("new/shop.netpol");
    // Same meaning, different text: a renamed group, a connection split in two, a comment.
    edit(&file, "group prometheus ", "group prom       ");
    edit(
        &file,
        "prometheus    -> frontend:9090, checkout:9090",
        "prom -> frontend:9090\nprom -> checkout:9090 // scraping",
    );
    edit(
        &file,
        "checkout      -> orders-db:postgres, payments:443",
        "checkout      -> orders-db:postgres\ncheckout      -> payments:443",
    );
    let r = netpol_in(&dir, &["diff", "old", "new", "--exit-code"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "no change in allowed connections\npolicy objects: unchanged\n"
    );
}

#[test]
fn diff_of_policy_yaml_agrees_with_diff_of_programs() {
    let dir = shop_pair("yaml");
    for side in ["old", "new"] {
        let r = netpol_in(&dir, &["compile", side, "-o", &format!("{side}.yaml")]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let yaml = netpol_in(
        &dir,
        &[
            "diff",
            "--policies",
            "old.yaml",
            "new.yaml",
            "--workloads",
            "new/k8s/*.yaml",
            "--format",
            "json",
        ],
    );
    assert_eq!(yaml.code, 0, "{}", yaml.stderr);
    let program = netpol_in(&dir, &["diff", "old", "new", "--format", "json"]);
    let entries = |text: &str, key: &str| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c.get("from_future").is_none() && c.get("to_future").is_none())
            .cloned()
            .collect()
    };
    for key in ["added", "removed"] {
        assert_eq!(
            entries(&yaml.stdout, key),
            entries(&program.stdout, key),
            "{key} differs between YAML and program mode"
        );
    }
    insta::assert_snapshot!(
        netpol_in(
            &dir,
            &[
                "diff",
                "--policies",
                "old.yaml",
                "new.yaml",
                "--workloads",
                "new/k8s/*.yaml"
            ]
        )
        .stdout
    );
}

/// A git repository holding the shop example in `policies/` (after `prepare`), committed.
fn scratch_repo(name: &str, prepare: impl FnOnce(&Path)) -> PathBuf {
    let repo = std::env::temp_dir().join(format!("netpol-repo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    copy_dir(
        &common::root().join("examples/shop"),
        &repo.join("policies"),
    );
    prepare(&repo.join("policies"));
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "shop"]);
    repo
}

#[test]
fn diff_of_two_git_revisions_reads_the_trees() {
    let repo = scratch_repo("git", |_| {});
    apply_change(&repo.join("policies"));
    git(
        &repo,
        &["commit", "-qam", "new payment provider, standby replicas"],
    );
    // The same answer as two folders.
    let pair = shop_pair("git");
    let folders = netpol_in(&pair, &["diff", "old", "new", "--format", "markdown"]);
    let revs = netpol_in(
        &repo,
        &[
            "diff",
            "--git",
            "HEAD~1..HEAD",
            "policies",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(revs.code, 0, "{}", revs.stderr);
    assert_eq!(revs.stdout, folders.stdout);
    // From a subfolder, paths are relative to it.
    let sub = netpol_in(
        &repo.join("policies"),
        &["diff", "--git", "HEAD~1..HEAD", ".", "--format", "markdown"],
    );
    assert_eq!(sub.stdout, folders.stdout, "{}", sub.stderr);
    // One revision: against the files on disk (here the same as HEAD).
    let same = netpol_in(&repo, &["diff", "--git", "HEAD", "policies", "--exit-code"]);
    assert_eq!(
        (same.code, same.stdout.as_str()),
        (
            0,
            "no change in allowed connections\npolicy objects: unchanged\n"
        ),
        "{}",
        same.stderr
    );
    // The working tree is not touched: an uncommitted edit shows against HEAD only.
    edit(
        &repo.join("policies/shop.netpol"),
        "batch         -> internet:https",
        "",
    );
    let dirty = netpol_in(&repo, &["diff", "--git", "HEAD", "policies"]);
    assert!(
        dirty.stdout.contains("removed  jobs/batch -> internet"),
        "{}{}",
        dirty.stdout,
        dirty.stderr
    );
    let committed = netpol_in(
        &repo,
        &[
            "diff",
            "--git",
            "HEAD~1..HEAD",
            "policies",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(committed.stdout, folders.stdout);
    // A revision that is not one, and an option in disguise, are refused.
    for bad in ["nope..HEAD", "--output=x..HEAD", "HEAD...HEAD~1"] {
        let r = netpol_in(&repo, &["diff", &format!("--git={bad}"), "policies"]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    }
}

#[test]
fn git_reads_stay_inside_the_repository() {
    let outside =
        std::env::temp_dir().join(format!("netpol-review-outside-{}", std::process::id()));
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("pods.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: spy, namespace: shop, labels: {app: frontend}}\n").unwrap();
    // A symbolic link planted in the tree, pointing outside: never followed.
    let repo = scratch_repo("git-escape", |policies| {
        std::os::unix::fs::symlink(outside.join("pods.yaml"), policies.join("k8s/zz-link.yaml"))
            .unwrap();
    });
    let r = netpol_in(
        &repo,
        &[
            "diff",
            "--git",
            "HEAD..HEAD",
            "policies",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("spy"), "{}", r.stdout);
    // A workloads pattern that climbs out of the repository is an error on the pattern.
    let file = repo.join("policies/shop.netpol");
    let rel = pathdiff(&outside, &repo.join("policies"));
    edit(
        &file,
        "workloads \"k8s/*.yaml\"",
        &format!("workloads \"{rel}/*.yaml\""),
    );
    git(&repo, &["commit", "-qam", "escape"]);
    let r = netpol_in(
        &repo,
        &[
            "diff",
            "--git",
            "HEAD~1..HEAD",
            "policies",
            "--color",
            "never",
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("error[E025]") && r.stderr.contains("leaves the repository"),
        "{}",
        r.stderr
    );
    // A path outside the repository is refused too.
    let r = netpol_in(&repo, &["diff", "--git", "HEAD", "../"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("outside the repository"), "{}", r.stderr);
}

/// `to` relative to `from` (both absolute): `../../x`.
fn pathdiff(to: &Path, from: &Path) -> String {
    let depth = from.components().count();
    let ups = vec![".."; depth].join("/");
    format!("{ups}{}", to.display())
}

#[test]
fn graph_of_every_example_in_every_text_format() {
    for dir in common::example_dirs() {
        let rel = dir
            .strip_prefix(common::root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let name = rel.trim_start_matches("examples/").replace('/', "__");
        for format in ["dot", "mermaid"] {
            let r = netpol_in(&common::root(), &["graph", &rel, "--format", format]);
            assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
            insta::with_settings!({snapshot_suffix => format!("{name}.{format}")}, {
                insta::assert_snapshot!(r.stdout);
            });
        }
        // The built-in layout draws every example without Graphviz.
        let r = netpol_in(
            &common::root(),
            &["graph", &rel, "--format", "svg", "--layout", "builtin"],
        );
        assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
        assert!(
            r.stdout.contains("<svg") && r.stdout.trim_end().ends_with("</svg>"),
            "{rel}"
        );
        // The page is self-contained: nothing is loaded from anywhere.
        let r = netpol_in(
            &common::root(),
            &["graph", &rel, "--format", "html", "--layout", "builtin"],
        );
        assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
        for forbidden in [
            "<link",
            "src=",
            "@import",
            "url(http",
            "fetch(",
            "XMLHttpRequest",
        ] {
            assert!(
                !r.stdout.contains(forbidden),
                "{rel}: the page holds `{forbidden}`"
            );
        }
        assert!(r.stdout.contains("<svg") && r.stdout.contains("netpol-data"));
    }
}

#[test]
fn graph_diff_colours_added_and_removed_edges() {
    let dir = shop_pair("graph-diff");
    let r = netpol_in(&dir, &["graph", "new", "--diff", "old", "--format", "dot"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout);
    // From a git revision.
    let repo = scratch_repo("graph-git", |_| {});
    apply_change(&repo.join("policies"));
    let g = netpol_in(
        &repo,
        &["graph", "policies", "--diff", "HEAD", "--format", "dot"],
    );
    assert_eq!(g.code, 0, "{}", g.stderr);
    assert_eq!(g.stdout, r.stdout);
}

/// The HTML page works: in jsdom (tests/html, installed by .ci/run), clicking each node of the
/// picture, or its name in the list, shows what it stands for, its connections and the
/// policies selecting it; the zoom buttons move the view.
#[test]
fn graph_html_lists_connections_and_policies_on_click() {
    let jsdom = common::root().join("tests/html/node_modules/jsdom");
    let has_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_dot = Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(jsdom.exists() && has_node && has_dot) {
        assert!(
            std::env::var("CI").is_err(),
            "node, jsdom (tests/html) or Graphviz is missing: .ci/run installs them"
        );
        eprintln!("skipping: node, jsdom (tests/html) or Graphviz is missing (run .ci/run)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("netpol-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for example in common::example_dirs() {
        let rel = example
            .strip_prefix(common::root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let page = dir.join("page.html");
        let r = netpol_in(
            &common::root(),
            &[
                "graph",
                &rel,
                "--format",
                "html",
                "--layout",
                "graphviz",
                "-o",
                page.to_str().unwrap(),
            ],
        );
        assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
        let html = std::fs::read_to_string(&page).unwrap();
        let data = html
            .split("<script id=\"netpol-data\" type=\"application/json\">")
            .nth(1)
            .and_then(|s| s.split("</script>").next())
            .unwrap();
        let nodes: Vec<serde_json::Value> = serde_json::from_str(data).unwrap();
        let out = netpol_testkit::output_ok(
            Command::new("node")
                .arg(common::root().join("tests/html/click.js"))
                .arg(&page),
        );
        let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            seen["errors"],
            serde_json::json!([]),
            "{rel}: the page's script failed"
        );
        assert_eq!(
            (seen["zoomed"].as_bool(), seen["fitted"].as_bool()),
            (Some(true), Some(true)),
            "{rel}: zoom"
        );
        let mut clicked = 0;
        for n in &nodes {
            let title = match n["namespace"].as_str() {
                Some(ns) => format!("{ns}/{}", n["name"].as_str().unwrap()),
                None => n["name"].as_str().unwrap().to_string(),
            };
            let mut expected: Vec<&str> = n["connections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            expected.extend(
                n["policies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap()),
            );
            let check = |panel: &serde_json::Value, how: &str| {
                assert_eq!(
                    panel["title"].as_str(),
                    Some(title.as_str()),
                    "{rel}: {how} {title}"
                );
                let items: Vec<&str> = panel["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_str().unwrap())
                    .collect();
                for e in &expected {
                    assert!(
                        items.contains(e),
                        "{rel}: {how} {title} does not list `{e}`: {items:?}"
                    );
                }
            };
            check(&seen["list"][&title], "the list entry of");
            // Nodes folded into others' labels (DNS) are not drawn; every other one is.
            let id = n["id"].as_str().unwrap();
            if let Some(panel) = seen["svg"].get(id) {
                check(panel, "the picture's node");
                clicked += 1;
            } else {
                assert_eq!(n["kind"], "dns", "{rel}: node {title} is not drawn");
            }
        }
        assert!(clicked > 0, "{rel}: no node clicked");
    }
}

/// The pictures in docs/pictures are what `netpol graph --format svg` draws with Graphviz now.
/// Regenerate them with `NETPOL_UPDATE_PICTURES=1 cargo test --test review pictures`.
#[test]
fn pictures_in_the_docs_are_current() {
    let has_dot = Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_dot {
        assert!(
            std::env::var("CI").is_err(),
            "Graphviz's `dot` is missing: .ci/run installs it"
        );
        eprintln!("skipping: Graphviz's `dot` is missing");
        return;
    }
    let update = std::env::var("NETPOL_UPDATE_PICTURES").is_ok();
    let pictures = common::root().join("docs/pictures");
    let mut stale = Vec::new();
    for dir in common::example_dirs() {
        let rel = dir
            .strip_prefix(common::root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let name = rel.trim_start_matches("examples/").replace('/', "-");
        let r = netpol_in(
            &common::root(),
            &["graph", &rel, "--format", "svg", "--layout", "graphviz"],
        );
        assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
        let path = pictures.join(format!("{name}.svg"));
        if update {
            std::fs::create_dir_all(&pictures).unwrap();
            std::fs::write(&path, &r.stdout).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(r.stdout.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale pictures (regenerate: NETPOL_UPDATE_PICTURES=1 cargo test --test review pictures): {stale:?}"
    );
}
