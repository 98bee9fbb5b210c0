//! Every file in tests/diagnostics/ is a broken program whose first line lists the codes it
//! must produce (`// expect: E002 W107`). The test runs `netpol check` on it, compares the
//! set of codes, checks that the output holds each `// says: TEXT` line of the fixture, and
//! snapshots the rendered output next to the source, so a reviewer reads the test without
//! opening the code. `// args: …` lines are options of `netpol check` (`--warnings`). A snapshot without its fixture fails the suite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use std::collections::BTreeSet;
use std::process::Command;

fn check(path: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netpol"))
        .current_dir(common::root())
        .args(["check", path, "--color", "never"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn codes(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix("error[")
                .or_else(|| l.strip_prefix("warning["))?;
            Some(rest.split(']').next()?.to_string())
        })
        .collect()
}

#[test]
fn broken_programs_report_their_codes() {
    let mut fixtures = 0;
    let mut seen_codes = BTreeSet::new();
    insta::glob!("diagnostics/*.netpol", |path| {
        let src = std::fs::read_to_string(path).unwrap();
        let expected: BTreeSet<String> = src
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// expect:"))
            .expect("the first line lists the expected codes")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let rel = path
            .strip_prefix(common::root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // `// args: --warnings` lines: options of `netpol check`.
        let args: Vec<&str> = src
            .lines()
            .filter_map(|l| l.strip_prefix("// args:"))
            .flat_map(str::split_whitespace)
            .collect();
        let (code, stderr) = check(&rel, &args);
        let got = codes(&stderr);
        assert_eq!(got, expected, "{rel}:\n{stderr}");
        // `// says: TEXT` lines: what the messages must say, each somewhere in the output.
        for said in src.lines().filter_map(|l| l.strip_prefix("// says: ")) {
            assert!(stderr.contains(said), "{rel}: no `{said}` in:\n{stderr}");
        }
        let has_error = expected.iter().any(|c| c.starts_with('E'));
        // Missing files (E025) exit 2, as a `--workloads` glob that matches nothing does.
        let want = match (has_error, expected.contains("E025")) {
            (_, true) => 2,
            (true, false) => 1,
            (false, false) => 0,
        };
        assert_eq!(code, want, "{rel}: exit code");
        seen_codes.extend(got);
        fixtures += 1;
        insta::assert_snapshot!(format!(
            "----- SOURCE\n{src}\n----- NETPOL CHECK (exit {code})\n{stderr}"
        ));
    });
    assert!(fixtures >= 7);
    // Every code of the compiler is exercised by some fixture.
    let all: BTreeSet<String> = netpol_compiler::diagnostic::Code::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    let missing: Vec<_> = all.difference(&seen_codes).collect();
    assert!(missing.is_empty(), "codes no fixture produces: {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let docs = std::fs::read_to_string(common::root().join("docs/diagnostics.md")).unwrap();
    for code in netpol_compiler::diagnostic::Code::ALL {
        let heading = format!("## {}:", code.as_str());
        assert_eq!(
            docs.matches(&heading).count(),
            1,
            "docs/diagnostics.md needs one `{heading}` section"
        );
    }
}

#[test]
fn no_orphan_snapshots() {
    let dir = common::root().join("tests/snapshots");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".snap") {
            continue;
        }
        // diagnostics__broken_programs_report_their_codes@names.netpol.snap
        // snapshots__example@shop.snap
        let fixture = name
            .rsplit_once('@')
            .map(|(_, f)| f.trim_end_matches(".snap").to_string());
        let ok = match (name.split("__").next(), fixture) {
            (Some("diagnostics"), Some(f)) => {
                common::root().join("tests/diagnostics").join(f).exists()
            }
            (Some("examples"), Some(f)) => common::example_dirs().iter().any(|d| {
                d.strip_prefix(common::root().join("examples"))
                    .unwrap()
                    .to_string_lossy()
                    .replace('/', "__")
                    == f
            }),
            _ => true,
        };
        assert!(ok, "snapshot `{name}` has no fixture: delete it");
    }
}
