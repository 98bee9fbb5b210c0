//! The `netpol` binary end to end: exit codes, bad input, determinism, output files, and
//! YAML that a YAML 1.1 reader takes the same way.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use std::path::{Path, PathBuf};

use common::Run;

fn netpol_in(dir: &Path, args: &[&str]) -> Run {
    common::run(env!("CARGO_BIN_EXE_netpol"), dir, args)
}

fn netpol(args: &[&str]) -> Run {
    netpol_in(&common::root(), args)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netpol-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const PROGRAM_A: &str = "namespace shop { isolate ingress, egress }\nservice web in shop {\n  select app = \"web\"\n}\n";
const PROGRAM_B: &str = "service api in shop {\n  select app = \"api\"\n}\nweb -> api:8080\n";

#[test]
fn readme_command_compiles_the_quickstart() {
    let r = netpol(&["compile", "examples/quickstart"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("kind: NetworkPolicy"));
}

#[test]
fn output_is_identical_whatever_the_file_order() {
    let dir = temp_dir("order");
    std::fs::write(dir.join("a.netpol"), PROGRAM_A).unwrap();
    std::fs::write(dir.join("b.netpol"), PROGRAM_B).unwrap();
    let ab = netpol_in(&dir, &["compile", "a.netpol", "b.netpol"]);
    let ba = netpol_in(&dir, &["compile", "b.netpol", "a.netpol"]);
    let folder = netpol_in(&dir, &["compile", "."]);
    assert_eq!(ab.code, 0, "{}", ab.stderr);
    assert_eq!(ab.stdout, ba.stdout);
    assert_eq!(ab.stdout, folder.stdout);
    assert!(
        ab.stdout.contains("netpol.dev/source: b.netpol:1"),
        "{}",
        ab.stdout
    );
    let again = netpol_in(&dir, &["compile", "."]);
    assert_eq!(folder.stdout, again.stdout);
}

#[test]
fn bad_input_gives_a_diagnostic_and_no_panic() {
    let dir = temp_dir("bad");
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        ("empty.netpol", Vec::new(), 1),
        (
            "junk.netpol",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
            2,
        ),
        (
            "parens.netpol",
            format!("a -> b:{}\n", "(".repeat(200_000)).into_bytes(),
            1,
        ),
        ("braces.netpol", "{".repeat(200_000).into_bytes(), 1),
        (
            "unicode.netpol",
            "sérvice ünïcode in 🦀 {\n  select app = \"naïve\"\n}\nnamespace ß\n"
                .as_bytes()
                .to_vec(),
            1,
        ),
        (
            "huge.netpol",
            "frontend -> checkout:(80, 443\n"
                .repeat(350_000)
                .into_bytes(),
            1,
        ),
    ];
    for (name, bytes, want) in cases {
        std::fs::write(dir.join(name), &bytes).unwrap();
        let r = netpol_in(&dir, &["check", name]);
        assert_eq!(r.code, want, "{name}: {}", r.stderr);
        assert!(
            !r.stderr.contains("panicked"),
            "{name} panicked: {}",
            r.stderr
        );
        assert!(r.stderr.contains("error"), "{name}: no error message");
    }
    // Missing files and unreadable globs are usage or I/O errors.
    let r = netpol_in(&dir, &["compile", "missing.netpol"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("cannot read `missing.netpol`: no such file"),
        "{}",
        r.stderr
    );
    std::fs::write(dir.join("ok.netpol"), PROGRAM_A).unwrap();
    let r = netpol_in(&dir, &["check", "ok.netpol", "--workloads", "[["]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = netpol_in(
        &dir,
        &["check", "ok.netpol", "--workloads", "nothing/*.yaml"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = netpol_in(&dir, &["frobnicate"]);
    assert_eq!(r.code, 2);
}

#[test]
fn out_dir_writes_one_file_per_policy_and_removes_only_its_own_stale_files() {
    let dir = temp_dir("outdir");
    std::fs::write(dir.join("a.netpol"), PROGRAM_A).unwrap();
    std::fs::write(dir.join("b.netpol"), PROGRAM_B).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("hand-written.yaml"), "kind: ConfigMap\n").unwrap();
    let r = netpol_in(
        &dir,
        &["compile", "a.netpol", "b.netpol", "--out-dir", "out"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "hand-written.yaml",
            "kustomization.yaml",
            "shop.api.yaml",
            "shop.default-deny.yaml",
            "shop.web.yaml"
        ]
    );
    let k = std::fs::read_to_string(out.join("kustomization.yaml")).unwrap();
    assert!(
        k.contains("- shop.api.yaml\n- shop.default-deny.yaml\n- shop.web.yaml\n"),
        "{k}"
    );
    // Drop `api`: its file goes, the hand-written file stays.
    std::fs::remove_file(dir.join("b.netpol")).unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!out.join("shop.api.yaml").exists());
    assert!(out.join("hand-written.yaml").exists());
    // A program with errors leaves the folder untouched.
    std::fs::write(dir.join("a.netpol"), "service broken in nowhere {}\n").unwrap();
    let before = std::fs::read_to_string(out.join("shop.default-deny.yaml")).unwrap();
    let r = netpol_in(&dir, &["compile", "a.netpol", "--out-dir", "out"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        std::fs::read_to_string(out.join("shop.default-deny.yaml")).unwrap(),
        before
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("netpol-tmp"))
        .collect();
    assert!(leftovers.is_empty());
    // -o writes nothing when the program has errors.
    let r = netpol_in(&dir, &["compile", "a.netpol", "-o", "single.yaml"]);
    assert_eq!(r.code, 1);
    assert!(!dir.join("single.yaml").exists());
}

/// Label values that YAML 1.1 (kubectl) reads as booleans, null, or numbers stay strings.
#[test]
fn yaml_1_1_traps_stay_strings() {
    let traps = [
        "on", "off", "no", "yes", "y", "n", "true", "null", "1e3", "0777", "0x1F", "1_000",
    ];
    let dir = temp_dir("traps");
    let mut src = String::from("namespace shop\n");
    for (i, v) in traps.iter().enumerate() {
        src.push_str(&format!(
            "service s{i} in shop {{\n  select flag = \"{v}\"\n}}\n"
        ));
    }
    src.push_str("group peers = pods { mode in (\"on\", \"no\", \"y\") } in namespace shop\n");
    for i in 0..traps.len() {
        src.push_str(&format!("peers -> s{i}:80\n"));
    }
    std::fs::write(dir.join("traps.netpol"), src).unwrap();
    let r = netpol_in(&dir, &["compile", "traps.netpol"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // serde-saphyr's untyped reading resolves YAML 1.1 scalars (it reads `y` as true), so
    // reading the output untyped shows what kubectl would see.
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&r.stdout).unwrap();
    let mut seen = Vec::new();
    for d in &docs {
        if let Some(v) = d.pointer("/spec/podSelector/matchLabels/flag") {
            assert!(
                v.is_string(),
                "`flag: {v}` is not a string in:\n{}",
                r.stdout
            );
            seen.push(v.as_str().unwrap().to_string());
        }
        for rule in d
            .pointer("/spec/ingress")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            for peer in rule["from"].as_array().unwrap() {
                for v in peer
                    .pointer("/podSelector/matchExpressions/0/values")
                    .and_then(|v| v.as_array())
                    .unwrap()
                {
                    assert!(v.is_string(), "`{v}` is not a string");
                }
            }
        }
    }
    seen.sort();
    seen.dedup();
    let mut want: Vec<String> = traps.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(seen, want);
    for t in ["on", "no", "y", "null", "1e3", "0777"] {
        assert!(
            r.stdout.contains(&format!("\"{t}\"")) || r.stdout.contains(&format!("'{t}'")),
            "`{t}` unquoted:\n{}",
            r.stdout
        );
    }
}

#[test]
fn help_explains_the_commands() {
    let r = netpol(&["--help"]);
    assert_eq!(r.code, 0);
    for word in ["compile", "check", "fmt", "Exit codes"] {
        assert!(r.stdout.contains(word), "--help lacks `{word}`");
    }
    let r = netpol(&["compile", "--help"]);
    assert!(r.stdout.contains("--out-dir") && r.stdout.contains("--workloads"));
}

#[test]
fn fmt_rewrites_and_check_reports() {
    let dir = temp_dir("fmt");
    std::fs::write(dir.join("a.netpol"), "namespace shop{isolate ingress}\nservice web in shop{\nselect app=\"web\" // the web\n}\nweb->web:80\n").unwrap();
    let r = netpol_in(&dir, &["fmt", "--check", "a.netpol"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("a.netpol"));
    let r = netpol_in(&dir, &["fmt", "a.netpol"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let formatted = std::fs::read_to_string(dir.join("a.netpol")).unwrap();
    assert!(
        formatted.contains("select app = \"web\"  // the web"),
        "{formatted}"
    );
    let r = netpol_in(&dir, &["fmt", "--check", "a.netpol"]);
    assert_eq!(r.code, 0);
}

#[test]
fn netpol_test_reports_failing_assertions_with_a_counterexample() {
    let dir = temp_dir("test");
    std::fs::write(
        dir.join("t.netpol"),
        "namespace shop { isolate ingress, egress }\nservice web in shop {\n  select app = \"web\"\n}\nservice db in shop {\n  select app = \"db\"\n}\nweb -> db:5432\ntest \"t\" {\n  allowed web -> db:5432\n  denied web -> db:5433\n  allowed db -> web:80\n}\n",
    )
    .unwrap();
    let r = netpol_in(&dir, &["test", "t.netpol"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("  ok    t.netpol:10  allowed web -> db:5432"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("  FAIL  t.netpol:12  allowed db -> web:80"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("shop/db (synthesized) -> shop/web (synthesized) on 80/TCP is denied"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("2 passed, 1 failed\n"), "{}", r.stdout);
}

#[test]
fn explain_says_which_rule_allows_and_prints_the_matrix() {
    let r = netpol(&[
        "explain",
        "examples/shop",
        "--from",
        "shop/checkout",
        "--to",
        "data/postgres:postgres",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("shop/checkout -> data/postgres on 5432/TCP: ALLOWED\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("allowed by data/orders-db ingress rule 1 (shop.netpol:"),
        "{}",
        r.stdout
    );
    let r = netpol(&[
        "explain",
        "examples/shop",
        "--from",
        "shop/frontend",
        "--to",
        "data/postgres:5432",
    ]);
    assert!(
        r.stdout.contains("DENIED")
            && r.stdout
                .contains("no egress rule of these policies allows it"),
        "{}",
        r.stdout
    );
    // Plain YAML, without a program.
    let yaml = netpol(&["compile", "examples/shop"]).stdout;
    let dir = temp_dir("explain");
    std::fs::write(dir.join("np.yaml"), yaml).unwrap();
    let glob = common::root()
        .join("examples/shop/k8s/*.yaml")
        .display()
        .to_string();
    // The manifests are outside the temporary folder's "repository": allowed explicitly.
    let k8s = common::root()
        .join("examples/shop/k8s")
        .display()
        .to_string();
    let r = netpol_in(
        &dir,
        &[
            "explain",
            "--allow-outside",
            &k8s,
            "--policies",
            "np.yaml",
            "--workloads",
            &glob,
            "--matrix",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cells: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let pods = 5;
    assert!(cells.len() >= pods * pods, "{} cells", cells.len());
    assert!(cells.iter().any(|c| c["from"] == "shop/checkout"
        && c["to"] == "data/postgres"
        && c["port"] == 5432
        && c["allowed"] == true));
    assert!(cells.iter().any(|c| c["from"] == "shop/frontend"
        && c["to"] == "data/postgres"
        && c["allowed"] == false));
    let r = netpol(&[
        "explain",
        "examples/shop",
        "--from",
        "shop/frontnd",
        "--to",
        "data/postgres:5432",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("did you mean `shop/frontend`?"),
        "{}",
        r.stderr
    );
}

/// What a new user meets: a YAML file given as a program, `explain --policies` on a file
/// without a NetworkPolicy, `test` on a program without tests; each says so.
#[test]
fn wrong_inputs_say_what_they_are() {
    let dir = temp_dir("wrong-inputs");
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: x}]}\n";
    std::fs::write(dir.join("web.yaml"), deployment).unwrap();
    std::fs::write(dir.join("web.yml"), deployment).unwrap();
    std::fs::write(dir.join("a.netpol"), PROGRAM_A).unwrap();
    for command in ["check", "compile", "test", "graph"] {
        for file in ["web.yaml", "web.yml"] {
            let r = netpol_in(&dir, &[command, file]);
            assert_eq!(r.code, 2, "{command} {file}: {}", r.stderr);
            assert!(
                r.stderr
                    .contains(&format!("`{file}` is not a `.netpol` file: give workload manifests with `--workloads {file}`")),
                "{command} {file}: {}",
                r.stderr
            );
        }
    }
    let r = netpol_in(
        &dir,
        &[
            "explain",
            "--policies",
            "web.yaml",
            "--workloads",
            "web.yaml",
            "--matrix",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`web.yaml` holds no NetworkPolicy"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    for format in ["human", "json", "sarif", "github"] {
        let r = netpol_in(&dir, &["test", "a.netpol", "--format", format]);
        assert_eq!(r.code, 1, "{format}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("the program has no `test` blocks: nothing to check"),
            "{format}: {}",
            r.stderr
        );
    }
}

/// A pattern that matches no file exits 2 wherever it was written: in the program's
/// `workloads`, in `--workloads`, or as a `--policies` or `import` file.
#[test]
fn a_pattern_that_matches_nothing_exits_2_wherever_it_is_written() {
    let dir = temp_dir("no-match");
    std::fs::write(dir.join("a.netpol"), PROGRAM_A).unwrap();
    std::fs::write(
        dir.join("w.netpol"),
        format!("workloads \"none/*.yaml\"\n{PROGRAM_A}"),
    )
    .unwrap();
    let runs: Vec<(Vec<&str>, Run)> = [
        vec!["check", "w.netpol"],
        vec!["compile", "w.netpol"],
        vec!["test", "w.netpol"],
        vec!["check", "w.netpol", "--format", "json"],
        vec!["test", "w.netpol", "--format", "json"],
        vec!["check", "a.netpol", "--workloads", "none/*.yaml"],
        vec!["compile", "a.netpol", "--workloads", "none/*.yaml"],
        vec!["test", "a.netpol", "--workloads", "none/*.yaml"],
        vec![
            "explain",
            "a.netpol",
            "--workloads",
            "none/*.yaml",
            "--matrix",
        ],
        vec!["explain", "--policies", "none/x.yaml", "--matrix"],
        vec!["import", "none/x.yaml"],
        vec!["import", "a.netpol", "--workloads", "none/*.yaml"],
    ]
    .into_iter()
    .map(|args| {
        let r = netpol_in(&dir, &args);
        (args, r)
    })
    .collect();
    for (args, r) in &runs {
        assert_eq!(r.code, 2, "netpol {}: {}", args.join(" "), r.stderr);
    }
}

/// Warnings are held back while there are errors, and `--warnings` shows them, in every
/// format.
#[test]
fn warnings_are_held_back_while_there_are_errors() {
    let dir = temp_dir("held-back");
    // E002 on `nowhere`, and W106 on `web`, whose one connection does not resolve.
    std::fs::write(
        dir.join("a.netpol"),
        format!("{PROGRAM_A}web -> nowhere:80\n"),
    )
    .unwrap();
    let r = netpol_in(&dir, &["check", "a.netpol", "--color", "never"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("error[E002]"), "{}", r.stderr);
    assert!(!r.stderr.contains("warning["), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("held back until the errors are fixed (`--warnings` shows"),
        "{}",
        r.stderr
    );
    let r = netpol_in(
        &dir,
        &["check", "a.netpol", "--color", "never", "--warnings"],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("warning[W106]"), "{}", r.stderr);
    assert!(!r.stderr.contains("held back"), "{}", r.stderr);
    let held = netpol_in(&dir, &["check", "a.netpol", "--format", "json"]);
    let shown = netpol_in(
        &dir,
        &["check", "a.netpol", "--format", "json", "--warnings"],
    );
    assert!(!held.stdout.contains("W106"), "{}", held.stdout);
    assert!(shown.stdout.contains("W106"), "{}", shown.stdout);
    // Without errors, warnings are always shown.
    std::fs::write(dir.join("a.netpol"), PROGRAM_A).unwrap();
    let r = netpol_in(&dir, &["check", "a.netpol", "--color", "never"]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("warning[W106]"), "{}", r.stderr);
    assert!(!r.stderr.contains("held back"), "{}", r.stderr);
}
