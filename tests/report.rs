//! `--format json|github|sarif`, over every diagnostics fixture and every example (and a
//! program whose test fails): the JSON validates against docs/schemas/report-v1.schema.json
//! (Python jsonschema, tests/requirements.txt); every SARIF log passes Microsoft's SARIF
//! multitool `validate` with no error or warning and validates against the SARIF 2.1.0 schema
//! that ships with it; the GitHub workflow commands, unescaped, say exactly what the JSON says;
//! every suggested fix, applied, removes its diagnostic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const MULTITOOL: &str = "node_modules/@microsoft/sarif-multitool-linux";

fn netpol_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netpol"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn netpol(args: &[&str]) -> (i32, String, String) {
    netpol_in(&common::root(), args)
}

/// (command, program path) for every fixture and example; `None` marks a scratch program
/// whose test block fails, compiled from `scratch`.
fn inputs(scratch: &Path) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(common::root().join("tests/diagnostics"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "netpol"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 7);
    for f in fixtures {
        out.push(("check", rel(&f)));
    }
    for d in common::example_dirs() {
        out.push(("check", rel(&d)));
        out.push(("test", rel(&d)));
    }
    out.push(("test", scratch.display().to_string()));
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(common::root())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A program with one passing and one failing assertion.
fn failing_test_program(dir: &Path) -> PathBuf {
    let p = dir.join("failing.netpol");
    std::fs::write(
        &p,
        "namespace a { isolate ingress }\n\nservice x in a {\n  select app = \"x\"\n}\nservice y in a {\n  select app = \"y\"\n}\n\nx -> y:80\n\ntest \"one holds, one does not\" {\n  allowed x -> y:80\n  allowed y -> x:80\n}\n",
    )
    .unwrap();
    p
}

/// Validates every file against a JSON schema (its own `$schema` draft) with Python's
/// jsonschema; fails listing every violation.
fn validate(python: &Path, schema: &Path, files: &[PathBuf]) {
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        cls = jsonschema.validators.validator_for(schema)\n\
        cls.check_schema(schema)\n\
        v = cls(schema)\n\
        bad = 0\n\
        for f in sys.argv[2:]:\n\
        \x20   for e in v.iter_errors(json.load(open(f))):\n\
        \x20       bad += 1\n\
        \x20       print(f, list(e.absolute_path), e.message)\n\
        sys.exit(1 if bad else 0)\n";
    netpol_testkit::output_ok(
        Command::new(python)
            .args(["-c", script])
            .arg(schema)
            .args(files),
    );
}

fn report(command: &str, path: &str, format: &str) -> (i32, String) {
    let (code, out, err) = netpol(&[command, path, "--format", format, "--color", "never"]);
    // Exit 2 is for a pattern that matches no file (E025), which is still reported.
    assert!(
        code == 0 || code == 1 || (code == 2 && out.contains("E025")),
        "{command} {path}: exit {code}: {err}"
    );
    (code, out)
}

#[test]
fn json_reports_follow_the_schema() {
    let Some(python) = common::venv_tool("python") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    failing_test_program(scratch.path());
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut saw_fix = false;
    let mut saw_failed = false;
    for (i, (command, path)) in inputs(scratch.path()).into_iter().enumerate() {
        let (code, out) = report(command, &path, "json");
        let doc: Value = serde_json::from_str(&out).unwrap();
        let errors = doc["summary"]["errors"].as_u64().unwrap();
        let failed = doc["summary"]["failed"].as_u64().unwrap_or(0);
        assert_eq!(code != 0, errors > 0 || failed > 0, "{path}: exit {code}");
        saw_fix |= doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| !d["fix"].is_null());
        saw_failed |= failed > 0;
        let f = dir.path().join(format!("{i}.json"));
        std::fs::write(&f, &out).unwrap();
        files.push(f);
    }
    assert!(saw_fix && saw_failed);
    validate(
        &python,
        &common::root().join("docs/schemas/report-v1.schema.json"),
        &files,
    );
}

#[test]
fn sarif_logs_pass_the_multitool_and_the_schema() {
    let Some(tool) = common::installed_tool(MULTITOOL) else {
        return;
    };
    let Some(python) = common::venv_tool("python") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    failing_test_program(scratch.path());
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut results = 0;
    for (i, (command, path)) in inputs(scratch.path()).into_iter().enumerate() {
        let (_, out) = report(command, &path, "sarif");
        let log: Value = serde_json::from_str(&out).unwrap();
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        // One rule per code, and results point at their own rule.
        assert_eq!(
            rules.len(),
            netpol_compiler::diagnostic::Code::ALL.len() + 1
        );
        for r in run["results"].as_array().unwrap() {
            let index = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[index]["id"], r["ruleId"]);
            results += 1;
        }
        let f = dir.path().join(format!("{i}.sarif"));
        std::fs::write(&f, &out).unwrap();
        files.push(f);
    }
    assert!(results > 20);
    let out = Command::new(tool.join("Sarif.Multitool"))
        .arg("validate")
        .args(&files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("Done. {} files scanned.", files.len())),
        "{text}"
    );
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(": error ") || l.contains(": warning "))
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
    validate(&python, &tool.join("sarif-2.1.0.json"), &files);
}

#[test]
fn sarif_help_uris_point_at_headings_of_diagnostics_md() {
    let (_, out) = report("check", "tests/diagnostics/names.netpol", "sarif");
    let log: Value = serde_json::from_str(&out).unwrap();
    let docs = std::fs::read_to_string(common::root().join("docs/diagnostics.md")).unwrap();
    let anchors: Vec<String> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect();
    for rule in log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
    {
        let uri = rule["helpUri"].as_str().unwrap();
        let id = rule["id"].as_str().unwrap();
        if id == "test-failed" {
            assert!(uri.ends_with("/docs/cli.md#netpol-test"));
            continue;
        }
        let (page, anchor) = uri.rsplit_once('#').unwrap();
        assert!(page.ends_with("/docs/diagnostics.md"), "{uri}");
        assert!(anchor.starts_with(&id.to_lowercase()), "{uri}");
        assert!(
            anchors.iter().any(|a| a == anchor),
            "{uri}: no such heading"
        );
        assert!(
            !rule["shortDescription"]["text"]
                .as_str()
                .unwrap()
                .is_empty()
        );
    }
}

fn unescape_data(s: &str) -> String {
    s.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
}

fn unescape_property(s: &str) -> String {
    unescape_data(&s.replace("%3A", ":").replace("%2C", ","))
}

/// Every workflow command says what the JSON report says: kind, file, position, title and
/// message, in the same order; failed assertions become errors on the assertion.
#[test]
fn github_commands_say_what_the_json_says() {
    let scratch = tempfile::tempdir().unwrap();
    failing_test_program(scratch.path());
    let mut commands = 0;
    for (command, path) in inputs(scratch.path()) {
        let (_, json) = report(command, &path, "json");
        let (_, gh) = report(command, &path, "github");
        let doc: Value = serde_json::from_str(&json).unwrap();
        let mut expected = Vec::new();
        for d in doc["diagnostics"].as_array().unwrap() {
            let mut message = d["message"].as_str().unwrap().to_string();
            if !d["label"].as_str().unwrap().is_empty() {
                message.push_str(&format!("\n{}", d["label"].as_str().unwrap()));
            }
            if let Some(h) = d["help"].as_str() {
                message.push_str(&format!("\nhelp: {h}"));
            }
            expected.push((
                d["severity"].as_str().unwrap().to_string(),
                d["location"].clone(),
                format!("netpol {}", d["code"].as_str().unwrap()),
                message,
            ));
        }
        for t in doc["tests"].as_array().into_iter().flatten() {
            for a in t["assertions"].as_array().unwrap() {
                if a["passed"] == true {
                    continue;
                }
                let mut message = format!(
                    "test \"{}\": `{}` does not hold",
                    t["name"].as_str().unwrap(),
                    a["source"].as_str().unwrap()
                );
                if let Some(f) = a["failure"].as_str() {
                    message.push_str(&format!("\n{f}"));
                }
                expected.push((
                    "error".to_string(),
                    a["location"].clone(),
                    "netpol test failed".to_string(),
                    message,
                ));
            }
        }
        let lines: Vec<&str> = gh.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{path}:\n{gh}");
        for (line, (kind, location, title, message)) in lines.iter().zip(&expected) {
            let rest = line.strip_prefix("::").unwrap();
            let (head, msg) = rest.split_once("::").unwrap();
            let (k, props) = head.split_once(' ').unwrap();
            assert_eq!(k, kind);
            assert!(!msg.contains(['\n', '\r']));
            assert_eq!(unescape_data(msg), *message, "{line}");
            let props: Vec<(&str, String)> = props
                .split(',')
                .map(|p| {
                    let (key, v) = p.split_once('=').unwrap();
                    assert!(!v.contains(':'), "unescaped `:` in {p}");
                    (key, unescape_property(v))
                })
                .collect();
            let get = |key: &str| {
                props
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap()
            };
            assert_eq!(get("title"), *title);
            assert_eq!(get("file"), location["file"].as_str().unwrap());
            assert_eq!(get("line"), location["start"]["line"].to_string());
            assert_eq!(get("col"), location["start"]["column"].to_string());
            assert_eq!(get("endLine"), location["end"]["line"].to_string());
            assert_eq!(get("endColumn"), location["end"]["column"].to_string());
            commands += 1;
        }
    }
    assert!(commands > 20);
}

/// Applying a suggested fix removes the diagnostic it came with (and its code from that
/// place), for every fix of every fixture.
#[test]
fn every_fix_removes_its_diagnostic() {
    let mut fixes = 0;
    for (command, path) in inputs(Path::new("unused")) {
        if command != "check" || !path.ends_with(".netpol") {
            continue;
        }
        let (_, json) = report("check", &path, "json");
        let doc: Value = serde_json::from_str(&json).unwrap();
        for d in doc["diagnostics"].as_array().unwrap() {
            let Some(fix) = d["fix"].as_object() else {
                continue;
            };
            let file = fix["location"]["file"].as_str().unwrap();
            let source = std::fs::read_to_string(common::root().join(file)).unwrap();
            let start = fix["location"]["start"]["offset"].as_u64().unwrap() as usize;
            let end = fix["location"]["end"]["offset"].as_u64().unwrap() as usize;
            let fixed = format!(
                "{}{}{}",
                &source[..start],
                fix["replacement"].as_str().unwrap(),
                &source[end..]
            );
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join(file);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            // Manifests the fixture reads sit beside it.
            let k8s = common::root().join("tests/diagnostics/k8s");
            let k8s_copy = target.parent().unwrap().join("k8s");
            std::fs::create_dir_all(&k8s_copy).unwrap();
            for e in std::fs::read_dir(&k8s).unwrap().flatten() {
                std::fs::copy(e.path(), k8s_copy.join(e.file_name())).unwrap();
            }
            std::fs::write(&target, &fixed).unwrap();
            let (_, after, _) = netpol_in(dir.path(), &["check", file, "--format", "json"]);
            let after: Value = serde_json::from_str(&after).unwrap();
            let line = d["location"]["start"]["line"].clone();
            let still = after["diagnostics"].as_array().unwrap().iter().any(|a| {
                a["code"] == d["code"]
                    && a["location"]["start"]["line"] == line
                    && a["location"]["start"]["column"] == d["location"]["start"]["column"]
            });
            assert!(!still, "{path}: fix {fix:?} leaves {}", d["message"]);
            fixes += 1;
        }
    }
    assert!(fixes >= 5, "{fixes} fixes");
}

/// `compile --format json` writes the report to stderr while the YAML has stdout, and to
/// stdout with -o.
#[test]
fn compile_reports_beside_the_yaml() {
    let (code, out, err) = netpol(&["compile", "examples/kustomize/policies", "--format", "json"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("apiVersion: networking.k8s.io/v1"));
    let doc: Value = serde_json::from_str(&err).unwrap();
    assert_eq!(doc["command"], "compile");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.yaml");
    let (code, out, _) = netpol(&[
        "compile",
        "examples/kustomize/policies",
        "--format",
        "json",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["summary"]["errors"], 0);
}
