//! Every minimized crasher and interesting input the fuzz targets found (`fuzz/regressions/
//! TARGET/*`), replayed through the same target bodies under `cargo test`
//! (`netpol_testkit::fuzz`; docs/fuzzing.md says how to run the fuzzers).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

#[test]
fn every_fuzz_regression_passes() {
    let dir = common::root().join("fuzz/regressions");
    let mut ran = 0;
    for target in common::fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let result = std::panic::catch_unwind(|| common::fuzz::run(target, &data));
            assert!(result.is_ok(), "{target}: {} fails again", f.display());
            ran += 1;
        }
    }
    assert!(ran > 0, "no fuzz regression found under {}", dir.display());
}
