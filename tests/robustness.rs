//! The compiler never panics: every example and stdlib module, mutated at random (bytes
//! deleted, duplicated, swapped, replaced by syntax characters or non-ASCII text), goes through
//! the whole pipeline (parse, resolve, check, lower, optimise, emit, format) without a panic.
//! Seeded, so a failure reproduces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use common::random::Rng;

use netpol_compiler::db::{self, Database};

const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    "->",
    "=",
    "!=",
    "!",
    "\"",
    "..",
    "/",
    "*",
    "\n",
    " ",
    "//",
    "in",
    "not",
    "except",
    "namespace",
    "service",
    "pods",
    "cluster",
    "0",
    "65536",
    "99999999999999999999",
    "10.0.0.0/8",
    "::/0",
    "é",
    "🦀",
    "\u{0}",
    "\t",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        if chars.is_empty() {
            break;
        }
        let at = rng.below(chars.len());
        match rng.below(4) {
            0 => {
                let len = 1 + rng.below(8);
                chars.drain(at..(at + len).min(chars.len()));
            }
            1 => {
                let piece: Vec<char> = PIECES[rng.below(PIECES.len())].chars().collect();
                chars.splice(at..at, piece);
            }
            2 => {
                let other = rng.below(chars.len());
                chars.swap(at, other);
            }
            _ => {
                let len = (1 + rng.below(20)).min(chars.len() - at);
                let copy: Vec<char> = chars[at..at + len].to_vec();
                chars.splice(at..at, copy);
            }
        }
    }
    chars.into_iter().collect()
}

/// The text of every standard-library module.
fn stdlib_sources() -> Vec<String> {
    netpol_compiler::stdlib::MODULES
        .iter()
        .map(|(_, _, t)| t.to_string())
        .collect()
}

#[test]
fn mutated_programs_never_panic() {
    let mut sources = stdlib_sources();
    for dir in common::example_dirs() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "netpol") {
                sources.push(std::fs::read_to_string(e.path()).unwrap());
            }
        }
    }
    let manifests =
        std::fs::read_to_string(common::root().join("examples/shop/k8s/shop.yaml")).unwrap();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut runs = 0;
    for round in 0..120 {
        for (i, src) in sources.iter().enumerate() {
            let mutated = mutate(src, &mut rng);
            let result = std::panic::catch_unwind(|| {
                let mut db = Database::default();
                let ws = db.workspace(vec![("m.netpol".to_string(), mutated.clone())]);
                db.set_manifests(
                    ws,
                    vec![("k8s.yaml".into(), manifests.clone(), "default".into())],
                    Vec::new(),
                );
                let diags = db::diagnostics(&db, ws).clone();
                let _ = db.render(ws, &diags);
                let _ = db::emitted(&db, ws);
                let _ = db::run_tests(&db, ws);
                let _ = netpol_compiler::fmt::format(&mutated);
            });
            assert!(
                result.is_ok(),
                "round {round}, source {i} panicked on:\n{mutated}"
            );
            runs += 1;
        }
    }
    println!("{runs} mutated programs went through the pipeline without a panic");
}

#[test]
fn mutated_manifests_never_panic() {
    let text = std::fs::read_to_string(common::root().join("examples/shop/k8s/data.yaml")).unwrap();
    let mut rng = Rng(0xD0C5_0000_0000_0042);
    for round in 0..300 {
        let mutated = mutate(&text, &mut rng);
        let result = std::panic::catch_unwind(|| {
            netpol_compiler::k8s::workloads::parse_manifests(
                netpol_compiler::span::FileId(1),
                &mutated,
                "default",
            )
        });
        assert!(result.is_ok(), "round {round} panicked on:\n{mutated}");
    }
}

/// Every `.netpol` file under `dir`, recursively.
fn netpol_files(dir: &std::path::Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            netpol_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "netpol") {
            out.push(std::fs::read_to_string(&p).unwrap());
        }
    }
}

/// The item tree of a file without syntax errors moves the file's parse of each item to the
/// item's anchor instead of parsing the item's text again: for every such file among the
/// examples, the stdlib, the diagnostics fixtures, random programs and mutations of all of
/// them, every item equals its text parsed alone (the item tree of files with errors).
#[test]
fn rebased_items_are_the_items_parsed_alone() {
    use netpol_compiler::span::FileId;
    use netpol_compiler::syntax::{items, parse};
    let mut sources = stdlib_sources();
    netpol_files(&common::root().join("examples"), &mut sources);
    netpol_files(&common::root().join("tests/diagnostics"), &mut sources);
    netpol_files(&common::root().join("fuzz/regressions"), &mut sources);
    for seed in 0..200 {
        sources.push(common::random::random_program(seed));
    }
    let mut rng = Rng(0x5EED_1234_ABCD_0010);
    let originals = sources.clone();
    for _ in 0..20 {
        for src in &originals {
            sources.push(mutate(src, &mut rng));
        }
    }
    let file = FileId(7);
    let (mut clean, mut compared) = (0, 0);
    for text in &sources {
        let parsed = parse(file, text);
        if !parsed.errors.is_empty() {
            continue;
        }
        clean += 1;
        let tree = items::item_tree(file, text, &parsed);
        assert_eq!(tree.items.len(), parsed.ast.items.len());
        for (item, original) in tree.items.iter().zip(&parsed.ast.items) {
            let start = tree.positions[&item.anchor];
            let span = original.span();
            assert_eq!(start, span.start);
            let alone = parse(item.anchor, &text[span.start..span.end]).ast.items;
            assert_eq!(alone, vec![item.item.clone()], "in:\n{text}");
            compared += 1;
        }
    }
    println!("{clean} files without syntax errors, {compared} items compared");
    assert!(
        clean > 300 && compared > 4_000,
        "{clean} files, {compared} items"
    );
}
