//! The CLI's one-shot emission (`db::emit_once`: lowering and the optimizer run outside their
//! queries, so no stage's result stays in memory) gives exactly the memoised `db::emitted`,
//! for testkit's seeded random programs and every example program, with and without errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use common::random::{random_cluster, random_program};
use netpol_compiler::db::{self, Database, Workspace};

const SEEDS: u64 = 150;

fn same(name: &str, db: &Database, ws: Workspace) -> bool {
    let once = db::emit_once(db, ws);
    assert_eq!(&once, db::emitted(db, ws), "{name}");
    once.is_some()
}

#[test]
fn emitting_once_gives_the_memoised_documents() {
    let (_, yaml) = random_cluster();
    let mut compiled = 0;
    for seed in 0..SEEDS {
        let mut db = Database::default();
        let ws = db.workspace(vec![("random.netpol".into(), random_program(seed))]);
        db.set_manifests(
            ws,
            vec![("pods.yaml".into(), yaml.clone(), "default".into())],
            Vec::new(),
        );
        compiled += usize::from(same(&format!("seed {seed}"), &db, ws));
    }
    // Most random programs compile; some have errors (both give `None` then).
    assert!(
        compiled > SEEDS as usize / 2,
        "{compiled} of {SEEDS} compiled"
    );
    let examples = common::example_dirs();
    assert!(examples.len() >= 5, "{examples:?}");
    for dir in examples {
        let c = common::compile_dir(&dir);
        assert!(same(&dir.display().to_string(), &c.db, c.ws), "{dir:?}");
    }
    let broken =
        std::fs::read_to_string(common::root().join("tests/diagnostics/isolation.netpol")).unwrap();
    let mut db = Database::default();
    let ws = db.workspace(vec![("isolation.netpol".into(), broken)]);
    db.set_manifests(ws, Vec::new(), Vec::new());
    assert!(!same("isolation.netpol", &db, ws));
}
