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

/// The subcommands `netpol --help` lists (clap's command tree), without `help`.
fn subcommands() -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netpol"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_subcommand_is_documented() {
    let cli = std::fs::read_to_string(common::root().join("docs/cli.md")).unwrap();
    let commands = subcommands();
    assert!(commands.len() >= 5, "{commands:?}");
    for c in &commands {
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

/// The long options of `netpol CMD --help` (clap's command tree, as the user sees it).
fn long_options(command: &str) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netpol"))
        .args([command, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "netpol {command} --help failed");
    let help = String::from_utf8(out.stdout).unwrap();
    // The `Options:` section: option lines are indented and start with `-`.
    let mut options: Vec<String> = help
        .lines()
        .skip_while(|l| *l != "Options:")
        .take_while(|l| l.is_empty() || l.starts_with(' ') || *l == "Options:")
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| l.split([' ', ',', '=', '[', '<']))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_string)
        .filter(|o| o != "--help" && o != "--version")
        .collect();
    options.sort();
    options.dedup();
    options
}

/// Every subcommand's section of docs/cli.md names each of its options, and the options
/// every command takes (`--color`, `--allow-outside`) are documented once for all.
#[test]
fn every_option_of_every_command_is_documented() {
    let cli = std::fs::read_to_string(common::root().join("docs/cli.md")).unwrap();
    let commands = subcommands();
    let global = long_options("check")
        .into_iter()
        .filter(|o| long_options("lsp").contains(o))
        .collect::<Vec<_>>();
    assert!(global.contains(&"--color".to_string()), "{global:?}");
    let mut missing = Vec::new();
    for o in &global {
        if !cli.contains(&format!("`{o}")) {
            missing.push(format!("(every command) {o}"));
        }
    }
    let mut checked = 0;
    for c in commands {
        let heading = format!("## `netpol {c}`");
        let section = cli
            .split(&heading)
            .nth(1)
            .map(|s| s.split("\n## ").next().unwrap_or(s))
            .unwrap_or_else(|| panic!("docs/cli.md has no `{heading}` section"));
        for o in long_options(&c) {
            if global.contains(&o) {
                continue;
            }
            checked += 1;
            if !section.contains(&o) {
                missing.push(format!("netpol {c} {o}"));
            }
        }
    }
    assert!(checked > 20, "only {checked} options found");
    assert!(
        missing.is_empty(),
        "docs/cli.md does not document these options in their command's section: {missing:?}"
    );
}

/// The ```netpol blocks of a markdown file, with the line each starts on.
fn netpol_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```netpol" => current = Some((i + 2, String::new())),
            None => {}
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    blocks
}

/// Each block that `netpol fmt` changes, as `line: first differing line`; `Err` for a block
/// that does not parse.
fn unformatted(markdown: &str) -> Vec<String> {
    netpol_blocks(markdown)
        .into_iter()
        .filter_map(|(line, block)| match netpol_compiler::fmt::format(&block) {
            Ok(formatted) if formatted == block => None,
            Ok(formatted) => {
                let (n, (want, got)) = formatted
                    .lines()
                    .chain(std::iter::repeat(""))
                    .zip(block.lines().chain(std::iter::repeat("")))
                    .enumerate()
                    .find(|(_, (a, b))| a != b)
                    .unwrap_or((0, ("", "")));
                Some(format!(
                    "block at line {line}, its line {}: `{got}` formats as `{want}`",
                    n + 1
                ))
            }
            Err(e) => Some(format!("block at line {line} does not parse: {e}")),
        })
        .collect()
}

/// The examples of docs/language.md are written as `netpol fmt` writes them.
#[test]
fn the_language_reference_examples_are_fmt_clean() {
    let doc = std::fs::read_to_string(common::root().join("docs/language.md")).unwrap();
    assert!(netpol_blocks(&doc).len() >= 10);
    let bad = unformatted(&doc);
    assert!(bad.is_empty(), "docs/language.md: {bad:#?}");
}

/// The language brief's examples (../shared/design/language.md, read-only to this project)
/// parse; whether they are fmt-clean is reported, not asserted, since this project cannot
/// change them.
#[test]
fn the_language_brief_examples_parse_and_their_layout_is_reported() {
    let path = common::root().join("../shared/design/language.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    assert!(!netpol_blocks(&doc).is_empty());
    let bad = unformatted(&doc);
    let broken: Vec<&String> = bad
        .iter()
        .filter(|b| b.contains("does not parse"))
        .collect();
    assert!(broken.is_empty(), "{}: {broken:#?}", path.display());
    for b in &bad {
        eprintln!(
            "note: {}: {b} (not fmt-clean; shared/ is read-only)",
            path.display()
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
