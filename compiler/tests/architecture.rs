//! Invariants of ARCHITECTURE.md that a test can hold the code to.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "tests read the sources"
)]

use netpol_compiler::span::FileId;
use netpol_compiler::syntax;
use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

#[test]
fn the_parser_keeps_no_process_state() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 20);
    // Calls only: the switch is `pest::set_error_detail(bool)`.
    for (path, text) in &files {
        assert!(
            !text.contains(&["set_error", "_detail("].concat()),
            "{path} flips pest's process-wide error-detail switch"
        );
    }
}

#[test]
fn syntax_errors_read_the_same_on_every_thread() {
    let src = "service web in shop {\n  select app =\n}\nfrontend -> :80\nfrontend -> frontend:(http\nnamespace x { isolate ingres }\n";
    let messages = || -> Vec<String> {
        syntax::parse(FileId(0), src)
            .errors
            .into_iter()
            .map(|d| d.message)
            .collect()
    };
    let alone = messages();
    assert!(alone.len() >= 3, "{alone:?}");
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || (0..20).map(|_| messages()).collect::<Vec<_>>()))
        .collect();
    for t in threads {
        for got in t.join().unwrap() {
            assert_eq!(got, alone);
        }
    }
}

/// The pipeline's folders, and the modules above or beside the pipeline that they must not
/// call: the query wiring (`db`) and the tools (the test reference semantics among them).
const PIPELINE: [&str; 5] = ["syntax", "resolve", "check", "backend", "k8s"];
const ABOVE: [&str; 9] = [
    "db",
    "semantics",
    "testing",
    "explain",
    "fmt",
    "import",
    "diff",
    "graph",
    "ide",
];

/// The `crate::…` paths a file names outside comments, as the module right after `crate::`.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

#[test]
fn the_pipeline_calls_nothing_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for folder in PIPELINE {
        let mut files = Vec::new();
        sources(&src.join(folder), &mut files);
        assert!(!files.is_empty(), "no sources under src/{folder}");
        for (path, text) in &files {
            for name in crate_paths(text) {
                assert!(
                    !ABOVE.contains(&name.as_str()),
                    "{path} calls `crate::{name}`, which sits above the pipeline"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 15, "only {checked} files checked");
    // The scan sees paths where they are: db.rs wires the checks, and uses grouped in braces
    // are not used in the pipeline (a `crate::{` would hide a name from this test).
    let db = std::fs::read_to_string(src.join("db.rs")).unwrap();
    assert!(crate_paths(&db).iter().any(|n| n == "check"));
    for folder in PIPELINE {
        let mut files = Vec::new();
        sources(&src.join(folder), &mut files);
        for (path, text) in &files {
            assert!(
                !crate_paths(text).iter().any(String::is_empty),
                "{path} names `crate::{{…}}` or `crate::*`: write each path out"
            );
        }
    }
}

/// Resolution never reads the workloads: no file of `resolve/` names the manifests' module
/// (`k8s::workloads`) or its types, so a manifest edit cannot re-run it
/// (`compiler/tests/incremental.rs` records it: `a_manifest_edit_of_labels_and_container_ports_re_resolves_nothing`).
#[test]
fn resolution_never_names_the_workloads() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join("resolve"), &mut files);
    assert!(files.len() >= 5, "{files:?}");
    for (path, text) in &files {
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for name in [
                "workloads::",
                "Manifests",
                "WorkloadIndex",
                "NamespaceIndex",
            ] {
                assert!(!code.contains(name), "{path} names `{name}`: {line}");
            }
        }
    }
    // The scan is seen to find the names where they are.
    let db = std::fs::read_to_string(src.join("db.rs")).unwrap();
    assert!(db.contains("workloads::") && db.contains("Manifests"));
}
