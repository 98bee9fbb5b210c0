//! The documentation stays true to the code: the grammar in docs/language.md is the grammar
//! file, and every subcommand of `netpol --help` is documented in docs/cli.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

#[test]
fn the_language_reference_quotes_the_grammar_exactly() {
    let docs = std::fs::read_to_string(common::root().join("docs/language.md")).unwrap();
    let grammar = std::fs::read_to_string(common::root().join("grammar/netpol.pest")).unwrap();
    let block = docs
        .split("```pest\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```pest block");
    assert_eq!(
        block, grammar,
        "docs/language.md's grammar block differs from grammar/netpol.pest: copy the file in"
    );
}

#[test]
fn every_subcommand_is_documented() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netpol"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let cli = std::fs::read_to_string(common::root().join("docs/cli.md")).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 5, "{commands:?}");
    for c in commands {
        assert!(
            cli.contains(&format!("## `netpol {c}`")),
            "docs/cli.md has no `## `netpol {c}`` section"
        );
    }
}

/// The index at the top of docs/diagnostics.md lists every code, linked to its section.
#[test]
fn the_diagnostics_index_lists_every_code() {
    let doc = std::fs::read_to_string(common::root().join("docs/diagnostics.md")).unwrap();
    for code in netpol_compiler::diagnostic::Code::ALL {
        let code = code.as_str();
        assert!(
            doc.contains(&format!("| [{code}](#{}", code.to_lowercase())),
            "docs/diagnostics.md's index does not list {code}"
        );
    }
}

/// Every `.rs` file under the source folders, relative to the root.
fn source_files(dir: &std::path::Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(common::root()).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

fn architecture_section(title: &str) -> String {
    let text = std::fs::read_to_string(common::root().join("ARCHITECTURE.md")).unwrap();
    text.split(&format!("## {title}\n"))
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has a `## {title}` section"))
        .to_string()
}

#[test]
fn every_source_file_has_a_row_in_where_to_look() {
    let table = architecture_section("Where to look");
    let mut files = Vec::new();
    for dir in ["compiler/src", "lsp/src", "src", "testkit/src"] {
        source_files(&common::root().join(dir), &mut files);
    }
    assert!(files.len() > 50, "{files:?}");
    let missing: Vec<&String> = files
        .iter()
        .filter(|f| !table.contains(&format!("`{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's \"Where to look\" has no row for {missing:?}"
    );
}

#[test]
fn every_invariant_names_tests_that_exist() {
    let section = architecture_section("Invariants");
    let invariants: Vec<&str> = section
        .split("\n- **")
        .skip(1)
        .filter(|i| i.starts_with("Architecture Invariant"))
        .collect();
    assert!(invariants.len() >= 10, "{}", invariants.len());
    for inv in invariants {
        let inv = inv.replace('\n', " ");
        // "Tested by `file` (`a`, `b`) and `file2` (`c`)": each named test is a `fn` there.
        let tested = inv
            .split("Tested by ")
            .nth(1)
            .unwrap_or_else(|| panic!("an invariant names no test: {inv}"));
        let mut named = 0;
        let mut file: Option<String> = None;
        for (i, part) in tested.split('`').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            if part.ends_with(".rs") {
                file = Some(part.to_string());
                continue;
            }
            let Some(path) = &file else { continue };
            let is_name = !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit());
            if !is_name {
                continue;
            }
            let candidates = [
                common::root().join(path),
                common::root().join("compiler/src").join(path),
            ];
            let text = candidates
                .iter()
                .find_map(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_else(|| panic!("{path} (named by an invariant) does not exist"));
            assert!(
                text.contains(&format!("fn {part}(")),
                "{path} has no test `{part}` (named by an invariant)"
            );
            named += 1;
        }
        assert!(
            named > 0 || inv.contains("clippy"),
            "no test named in: {inv}"
        );
    }
}
