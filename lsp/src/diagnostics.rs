//! Publishing diagnostics: the CLI's diagnostics of a program (same codes, same messages),
//! with secondary labels as related information, a link to the code's entry in
//! docs/diagnostics.md, and the failed assertions of the last `test` run on save.

use crate::requests::{FileText, location, uri_of};
use crate::server::{Backend, Notifier, lock};
use crate::session::{Origin, Snapshot};
use netpol_compiler::diagnostic::{Code, Diagnostic, Severity};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use tower_lsp_server::ls_types as lsp;

/// The docs of every diagnostic code (the headings give the anchors).
const DIAGNOSTICS_MD: &str = include_str!("../../docs/diagnostics.md");
const DOCS_URL: &str = concat!(
    env!("CARGO_PKG_REPOSITORY"),
    "/blob/main/docs/diagnostics.md"
);

/// `https://…/docs/diagnostics.md#e002-unknown-name`: the code's section.
pub fn docs_link(code: Code) -> String {
    let heading = DIAGNOSTICS_MD.lines().find_map(|l| {
        l.strip_prefix("## ")
            .filter(|h| h.starts_with(&format!("{}:", code.as_str())))
    });
    match heading {
        Some(h) => format!("{DOCS_URL}#{}", slug(h)),
        None => DOCS_URL.to_string(),
    }
}

/// GitHub's anchor of a heading: lowercase, spaces to `-`, punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// One diagnostic in LSP form, and the file it belongs to.
pub fn to_lsp(snap: &Snapshot, d: &Diagnostic) -> Option<(Origin, lsp::Diagnostic)> {
    let origin = snap.origin(d.primary.span.file)?;
    let file = FileText::of(snap, d.primary.span.file)?;
    let mut message = d.message.clone();
    if !d.primary.message.is_empty() {
        message = format!("{message}: {}", d.primary.message);
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            Some(lsp::DiagnosticRelatedInformation {
                location: location(snap, l.span)?,
                message: l.message.clone(),
            })
        })
        .collect();
    let code_description = docs_link(d.code)
        .parse()
        .ok()
        .map(|href| lsp::CodeDescription { href });
    Some((
        origin,
        lsp::Diagnostic {
            range: file.span_range(d.primary.span),
            severity: Some(match d.severity {
                Severity::Error => lsp::DiagnosticSeverity::ERROR,
                Severity::Warning => lsp::DiagnosticSeverity::WARNING,
            }),
            code: Some(lsp::NumberOrString::String(d.code.as_str().to_string())),
            code_description,
            source: Some("netpol".to_string()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        },
    ))
}

/// The diagnostics of every file of a snapshot's program (empty lists included, so fixed
/// problems clear), with `extra` (failed test assertions) added.
fn per_file(
    snap: &Snapshot,
    extra: &[(PathBuf, lsp::Diagnostic)],
) -> BTreeMap<PathBuf, Vec<lsp::Diagnostic>> {
    let mut out: BTreeMap<PathBuf, Vec<lsp::Diagnostic>> = snap
        .disk_files()
        .into_iter()
        .map(|p| (p, Vec::new()))
        .collect();
    for d in snap.diagnostics() {
        if let Some((Origin::Disk(p), diag)) = to_lsp(snap, d) {
            out.entry(p).or_default().push(diag);
        }
    }
    for (p, d) in extra {
        out.entry(p.clone()).or_default().push(d.clone());
    }
    out
}

/// A program's diagnostics at one revision, ready to send.
struct Batch {
    root: PathBuf,
    revision: u64,
    files: Vec<(lsp::Uri, Vec<lsp::Diagnostic>, Option<i32>)>,
}

/// Computes and publishes the diagnostics of the program `path` belongs to (every program
/// when `None`). A computation cancelled by a newer edit publishes nothing: the newer one will.
pub async fn publish<N: Notifier>(backend: &Backend<N>, path: Option<PathBuf>) {
    let state = backend.state.clone();
    let computed = tokio::task::spawn_blocking(move || {
        let snaps = {
            let session = lock(state.session_ref());
            match &path {
                Some(p) => session.snapshot_for(p).into_iter().collect(),
                None => session.snapshots(),
            }
        };
        let tests = lock(&state.tests).clone();
        let mut batches = Vec::new();
        for snap in snaps {
            let extra: Vec<(PathBuf, lsp::Diagnostic)> = tests
                .iter()
                .filter(|(root, rev, _)| root == snap.root() && *rev == snap.revision)
                .flat_map(|(_, _, ds)| ds.iter().cloned())
                .collect();
            let files =
                salsa::Cancelled::catch(AssertUnwindSafe(|| per_file(&snap, &extra))).ok()?;
            batches.push(Batch {
                root: snap.root().to_path_buf(),
                revision: snap.revision,
                files: files
                    .into_iter()
                    .filter_map(|(p, ds)| {
                        let version = snap.versions.get(&p).copied();
                        Some((uri_of(&Origin::Disk(p))?, ds, version))
                    })
                    .collect(),
            });
        }
        Some(batches)
    })
    .await;
    let Ok(Some(batches)) = computed else {
        return;
    };
    let mut published = backend.state.publishing.lock().await;
    for batch in batches {
        let (last_revision, last_uris) = published.entry(batch.root.clone()).or_default();
        if batch.revision < *last_revision {
            continue;
        }
        *last_revision = batch.revision;
        let uris: Vec<lsp::Uri> = batch.files.iter().map(|(u, _, _)| u.clone()).collect();
        for gone in last_uris.iter().filter(|u| !uris.contains(u)) {
            backend
                .client
                .publish_diagnostics(gone.clone(), Vec::new(), None)
                .await;
        }
        *last_uris = uris;
        for (uri, diags, version) in batch.files {
            backend
                .client
                .publish_diagnostics(uri, diags, version)
                .await;
        }
    }
}

pub async fn publish_all<N: Notifier>(backend: &Backend<N>) {
    publish(backend, None).await;
}
