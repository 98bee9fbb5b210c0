//! Helpers shared by the integration tests (each test file uses some of them).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure should stop the test"
)]

use k8s_openapi::api::networking::v1::NetworkPolicy;
use netpol_compiler::db::{self, Database, Workspace};
use netpol_compiler::diagnostic::Diagnostic;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every example program: folders under examples/ that directly hold `.netpol` files.
pub fn example_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join("examples")];
    while let Some(dir) = stack.pop() {
        let mut has = false;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && p.file_name().unwrap() != "k8s" {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "netpol") {
                has = true;
            }
        }
        if has {
            out.push(dir);
        }
    }
    out.sort();
    out
}

/// A compiled program with everything the tests look at.
pub struct Compiled {
    pub db: Database,
    pub ws: Workspace,
    pub diagnostics: Vec<Diagnostic>,
    pub yaml: Option<String>,
}

impl Compiled {
    pub fn policies(&self) -> Vec<NetworkPolicy> {
        parse_policies(self.yaml.as_deref().unwrap_or(""))
    }
    pub fn rendered(&self) -> String {
        self.db.render(self.ws, &self.diagnostics)
    }
    pub fn codes(&self) -> Vec<&'static str> {
        let mut c: Vec<_> = self.diagnostics.iter().map(|d| d.code.as_str()).collect();
        c.sort();
        c
    }
}

pub fn parse_policies(yaml: &str) -> Vec<NetworkPolicy> {
    if yaml.trim().is_empty() {
        return Vec::new();
    }
    serde_saphyr::from_multiple::<NetworkPolicy>(yaml)
        .expect("emitted YAML reads back as NetworkPolicies")
}

/// Compiles in-memory files, loading manifests named by `workloads` relative to `dir`.
pub fn compile_files(files: Vec<(String, String)>, dir: Option<&Path>) -> Compiled {
    let mut db = Database::default();
    let ws = db.workspace(files);
    let mut manifests = Vec::new();
    if let Some(dir) = dir {
        for req in db::workload_requests(&db, ws) {
            let pattern = dir.join(&req.pattern);
            let mut paths: Vec<PathBuf> = glob::glob(pattern.to_str().unwrap())
                .unwrap()
                .flatten()
                .collect();
            paths.sort();
            for p in paths {
                let rel = p.strip_prefix(root()).unwrap_or(&p).display().to_string();
                manifests.push((
                    rel,
                    std::fs::read_to_string(&p).unwrap(),
                    req.default_namespace.clone(),
                ));
            }
        }
    }
    db.set_manifests(ws, manifests, Vec::new());
    let diagnostics = db::diagnostics(&db, ws).clone();
    let yaml = db::emitted(&db, ws).as_ref().map(|docs| {
        docs.iter()
            .map(|d| d.yaml.as_str())
            .collect::<Vec<_>>()
            .join("---\n")
    });
    Compiled {
        db,
        ws,
        diagnostics,
        yaml,
    }
}

/// Compiles the program in a folder (its `.netpol` files, sorted).
pub fn compile_dir(dir: &Path) -> Compiled {
    let mut files = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "netpol"))
        .collect();
    paths.sort();
    for p in paths {
        files.push((
            p.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read_to_string(&p).unwrap(),
        ));
    }
    compile_files(files, Some(dir))
}
