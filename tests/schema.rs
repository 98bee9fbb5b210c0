//! Every example's output validates against the Kubernetes 1.30 OpenAPI schema (strict:
//! no unknown fields), and a YAML 1.1 reader (PyYAML, as kubectl's) reads every label value
//! as a string. The tools come from `.venv` (`.ci/run` installs tests/requirements.txt);
//! in CI a missing tool fails the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use std::path::PathBuf;
use std::process::Command;

fn require(name: &str) -> Option<PathBuf> {
    common::venv_tool(name)
}

fn compiled_examples() -> Vec<PathBuf> {
    let out_dir = std::env::temp_dir().join(format!("netpol-schema-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    common::example_dirs()
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let out = netpol_testkit::output_ok(
                Command::new(env!("CARGO_BIN_EXE_netpol"))
                    .args(["compile"])
                    .arg(dir),
            );
            let path = out_dir.join(format!("example-{i}.yaml"));
            std::fs::write(&path, out.stdout).unwrap();
            path
        })
        .collect()
}

#[test]
fn output_validates_against_the_kubernetes_1_30_schema() {
    let Some(validate) = require("kubernetes-validate") else {
        return;
    };
    let files = compiled_examples();
    netpol_testkit::output_ok(
        Command::new(&validate)
            .args(["-k", "1.30.0", "--strict", "--quiet"])
            .args(&files),
    );
    // The validator really validates: an unknown field fails.
    let bad = std::env::temp_dir().join(format!("netpol-schema-bad-{}.yaml", std::process::id()));
    std::fs::write(&bad, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec: {podSelector: {}, bogus: 1}\n").unwrap();
    let out = Command::new(&validate)
        .args(["-k", "1.30.0", "--strict", "--quiet"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the validator accepted an unknown field"
    );
}

#[test]
fn a_yaml_1_1_reader_sees_strings() {
    let Some(python) = require("python3") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("netpol-yaml11-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut src =
        String::from("namespace shop\ngroup peers = pods { mode = \"on\" } in namespace shop\n");
    for (i, v) in ["on", "no", "y", "true", "null", "1e3", "0777", "off", "yes"]
        .iter()
        .enumerate()
    {
        src.push_str(&format!(
            "service s{i} in shop {{\n  select flag = \"{v}\"\n}}\npeers -> s{i}:80\n"
        ));
    }
    std::fs::write(dir.join("traps.netpol"), src).unwrap();
    netpol_testkit::output_ok(
        Command::new(env!("CARGO_BIN_EXE_netpol"))
            .current_dir(&dir)
            .args(["compile", "traps.netpol", "-o", "out.yaml"]),
    );
    let mut files = compiled_examples();
    files.push(dir.join("out.yaml"));
    let script = r#"
import sys, yaml
def walk(node, path):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("matchLabels", "labels", "annotations"):
                for lk, lv in v.items():
                    assert isinstance(lv, str), f"{path}.{k}.{lk} = {lv!r} is not a string"
            walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, dict) and "values" in v:
                assert all(isinstance(x, str) for x in v["values"]), f"{path}[{i}].values = {v['values']!r}"
            walk(v, f"{path}[{i}]")
n = 0
for f in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(f)):
        walk(doc, f)
        n += 1
print(n, "documents read as YAML 1.1")
"#;
    netpol_testkit::output_ok(Command::new(&python).arg("-c").arg(script).args(&files));
}
