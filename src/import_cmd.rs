//! `netpol import`: NetworkPolicy YAML files in, a `.netpol` program that means the same on
//! stdout. The translation is the compiler library's (`netpol_compiler::import`); this file
//! only reads the files and prints.

use crate::{EXIT_OK, EXIT_PROGRAM_ERRORS, fail, files};
use netpol_compiler::import::ClusterRanges;
use netpol_compiler::k8s::workloads::Manifests;
use std::path::PathBuf;

/// Reads `paths` (NetworkPolicy YAML) and the `--workloads` manifests, prints the program on
/// stdout and the importer's notes and warnings on stderr (an ipBlock over the cluster's
/// ranges, `pod_cidrs` and `service_cidrs` or the common ones). A policy that is invalid or that netpol cannot
/// say exactly is an error on stderr (`file:line:column: …`): the program holds the others and
/// the exit code is 1.
pub fn run(
    guard: &files::Guard,
    paths: &[PathBuf],
    workloads: &[String],
    pod_cidrs: &[String],
    service_cidrs: &[String],
) -> u8 {
    let cluster = match ClusterRanges::parse(pod_cidrs, service_cidrs) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut inputs = Vec::new();
    for path in paths {
        match guard.read(path) {
            Ok(text) => inputs.push((path.display().to_string(), text)),
            Err(e) => return fail(e),
        }
    }
    let manifests = if workloads.is_empty() {
        Manifests::default()
    } else {
        match files::load_cli_manifests(guard, workloads) {
            Ok(m) => m,
            Err(e) => return fail(e),
        }
    };
    let imported =
        match netpol_compiler::import::import_in(&inputs, &manifests, workloads, &cluster) {
            Ok(i) => i,
            Err(e) => return fail(e),
        };
    let mut out = std::io::stdout().lock();
    if let Err(e) = std::io::Write::write_all(&mut out, imported.program.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut out))
    {
        return fail(format!("cannot write to stdout: {e}"));
    }
    for note in &imported.notes {
        eprintln!("note: {note}");
    }
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    if !imported.warnings.is_empty() {
        eprintln!("note: {}", cluster.warning_help());
    }
    for error in &imported.errors {
        eprintln!("error: {error}");
    }
    if imported.errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROGRAM_ERRORS
    }
}
