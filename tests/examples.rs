//! Snapshots of the YAML of every example, and properties every example keeps: it compiles
//! without errors, is formatted, and compiles to the same bytes every time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use std::process::Command;

fn netpol(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netpol"))
        .current_dir(common::root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn example() {
    let dirs = common::example_dirs();
    assert!(!dirs.is_empty());
    for dir in dirs {
        let rel = dir
            .strip_prefix(common::root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (code, yaml, stderr) = netpol(&["compile", &rel, "--color", "never"]);
        assert_eq!(code, 0, "{rel}:\n{stderr}");
        assert!(!stderr.contains("error"), "{rel}:\n{stderr}");
        let name = dir
            .strip_prefix(common::root().join("examples"))
            .unwrap()
            .to_string_lossy()
            .replace('/', "__");
        insta::with_settings!({snapshot_suffix => name}, {
            insta::assert_snapshot!(yaml);
        });
        let (again, yaml2, _) = netpol(&["compile", &rel]);
        assert_eq!(
            (again, &yaml2),
            (0, &yaml),
            "{rel}: output differs between runs"
        );
        let (test_code, report, test_err) = netpol(&["test", &rel, "--color", "never"]);
        assert_eq!(
            test_code, 0,
            "{rel}: netpol test failed:\n{report}{test_err}"
        );
        let last = report.lines().last().unwrap_or("");
        assert!(
            last.ends_with(" passed, 0 failed") && !last.starts_with("0 "),
            "{rel} has no passing test blocks: {last}"
        );
        let (fmt_code, unformatted, _) = netpol(&["fmt", "--check", &rel]);
        assert_eq!(fmt_code, 0, "{rel} is not formatted: {unformatted}");
    }
}
