//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), shared with the regression
//! test that replays every minimized crasher and seed in `fuzz/regressions/` under
//! `cargo test` (tests/fuzz_regressions.rs). Each panics when a property fails.

use netpol_compiler::db;
use netpol_compiler::span::FileId;

/// The fuzz targets, by name.
pub const TARGETS: &[&str] = &["parse", "check", "fmt", "import", "manifests"];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match name {
        "parse" => parse(text),
        "check" => check(text),
        "fmt" => fmt(text),
        "import" => import(text),
        "manifests" => manifests(text),
        other => panic!("no fuzz target `{other}`"),
    }
}

/// The parser never panics, and every error has a span inside the text.
pub fn parse(text: &str) {
    let parsed = netpol_compiler::syntax::parse(FileId(0), text);
    for e in &parsed.errors {
        assert!(
            e.primary.span.start <= e.primary.span.end && e.primary.span.end <= text.len(),
            "a parse error outside the text: {e:?}"
        );
    }
}

/// Program and manifest, split at the first line `===`.
fn split(text: &str) -> (&str, &str) {
    match text.split_once("\n===\n") {
        Some((p, m)) => (p, m),
        None => (text, ""),
    }
}

fn compile(
    program: &str,
    manifest: &str,
) -> (Vec<netpol_compiler::diagnostic::Diagnostic>, Option<String>) {
    let manifests = if manifest.is_empty() {
        Vec::new()
    } else {
        vec![(
            "k8s.yaml".to_string(),
            manifest.to_string(),
            "default".to_string(),
        )]
    };
    let (diags, yaml, _) = db::compile_in_memory(
        vec![("a.netpol".to_string(), program.to_string())],
        manifests,
    );
    (diags, yaml)
}

/// The whole pipeline never panics; without errors, it emits YAML that reads back as
/// NetworkPolicies; with errors, it emits nothing.
pub fn check(text: &str) {
    let (program, manifest) = split(text);
    let (diags, yaml) = compile(program, manifest);
    let errors = diags.iter().any(|d| d.is_error());
    assert_eq!(
        errors,
        yaml.is_none(),
        "output despite errors, or none without"
    );
    if let Some(yaml) = yaml {
        netpol_compiler::explain::read_policies(&yaml)
            .unwrap_or_else(|e| panic!("emitted YAML does not read back: {e}\n{yaml}"));
    }
}

/// The YAML without the `netpol.dev/source` annotations (line numbers move under `fmt`).
fn without_sources(yaml: &str) -> String {
    yaml.lines()
        .filter(|l| !l.contains("netpol.dev/source"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `fmt` is idempotent and keeps the meaning: the formatted program compiles to the same
/// policies (annotations aside), and has errors exactly when the original has.
pub fn fmt(text: &str) {
    let Ok(once) = netpol_compiler::fmt::format(text) else {
        return;
    };
    let twice = netpol_compiler::fmt::format(&once)
        .unwrap_or_else(|e| panic!("formatted text does not format again: {e}\n{once}"));
    assert_eq!(twice, once, "fmt is not idempotent");
    let (d1, y1) = compile(text, "");
    let (d2, y2) = compile(&once, "");
    assert_eq!(
        d1.iter().any(|d| d.is_error()),
        d2.iter().any(|d| d.is_error()),
        "fmt changed whether the program has errors\n{once}"
    );
    assert_eq!(
        y1.as_deref().map(without_sources),
        y2.as_deref().map(without_sources),
        "fmt changed the compiled policies\n{once}"
    );
}

/// Import of arbitrary YAML never panics, and what it prints parses.
pub fn import(text: &str) {
    let manifests = netpol_compiler::k8s::workloads::Manifests::default();
    if let Ok(imported) = netpol_compiler::import::import(
        &[("in.yaml".to_string(), text.to_string())],
        &manifests,
        &[],
    ) {
        let parsed = netpol_compiler::syntax::parse(FileId(0), &imported.program);
        assert!(
            parsed.errors.is_empty(),
            "import printed a program that does not parse: {:?}\n{}",
            parsed.errors.first(),
            imported.program
        );
    }
}

/// The manifest reader never panics, and its diagnostics point inside the text.
pub fn manifests(text: &str) {
    let m = netpol_compiler::k8s::workloads::parse_manifests(FileId(1), text, "default");
    for e in &m.errors {
        assert!(
            e.primary.span.end <= text.len() && e.primary.span.start <= e.primary.span.end,
            "a manifest error outside the text: {e:?}"
        );
    }
}
