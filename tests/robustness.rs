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

#[test]
fn mutated_programs_never_panic() {
    let mut sources: Vec<String> = netpol_compiler::stdlib::MODULES
        .iter()
        .map(|(_, _, t)| t.to_string())
        .collect();
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
