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
