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
