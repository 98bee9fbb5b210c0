//! Publishing diagnostics: the CLI's diagnostics of a program (same codes, same messages),
//! with secondary labels as related information (folded into the message for a client that
//! does not declare `relatedInformation`), a link to the code's entry in
//! docs/diagnostics.md, and the failed assertions of the last `test` run on save.

use crate::client_caps::ClientCaps;
use crate::requests::{FileTexts, display_position, uri_of};
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
pub fn to_lsp(
    snap: &Snapshot,
    texts: &mut FileTexts,
    d: &Diagnostic,
    caps: ClientCaps,
) -> Option<(Origin, lsp::Diagnostic)> {
    let origin = snap.origin(d.primary.span.file)?;
    let range = texts
        .get(snap, d.primary.span.file)?
        .span_range(d.primary.span);
    let mut message = d.message.clone();
    if !d.primary.message.is_empty() {
        message = format!("{message}: {}", d.primary.message);
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let mut related: Vec<lsp::DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            Some(lsp::DiagnosticRelatedInformation {
                location: texts.location(snap, l.span)?,
                message: l.message.clone(),
            })
        })
        .collect();
    if !caps.related_information {
        // A client that cannot show related information gets it in the message.
        for (label, r) in d.secondary.iter().zip(&related) {
            let at = display_position(snap, label.span, r.location.range.start);
            message.push_str(&format!("\n{at}: {}", r.message));
        }
        related.clear();
    }
    let code_description = docs_link(d.code)
        .parse()
        .ok()
        .map(|href| lsp::CodeDescription { href });
    Some((
        origin,
        lsp::Diagnostic {
            range,
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

/// What was last sent for one file: the document version, the compiler's diagnostics and the
/// failed test assertions. Equal again means nothing to send.
type Sent = (Option<i32>, Vec<Diagnostic>, Vec<lsp::Diagnostic>);

/// What was last published for one program: at which revision, and per file.
#[derive(Clone, Default)]
pub struct Published {
    revision: u64,
    files: BTreeMap<PathBuf, Sent>,
}

/// A program's diagnostics at one revision: per file, what it is, and the LSP form when it
/// differs from what was last sent.
struct Batch {
    root: PathBuf,
    revision: u64,
    files: Vec<(PathBuf, Sent, Option<Vec<lsp::Diagnostic>>)>,
}

/// The batch of one snapshot: the diagnostics of every file of the program (empty lists
/// included, so fixed problems clear), converted only where they changed since `last`.
fn batch(
    snap: &Snapshot,
    extra: &[(PathBuf, lsp::Diagnostic)],
    last: Option<&Published>,
    caps: ClientCaps,
) -> Batch {
    let mut groups: BTreeMap<PathBuf, Sent> = snap
        .disk_files()
        .into_iter()
        .map(|p| {
            let version = snap.versions.get(&p).copied();
            (p, (version, Vec::new(), Vec::new()))
        })
        .collect();
    for d in snap.diagnostics() {
        if let Some(Origin::Disk(p)) = snap.origin(d.primary.span.file) {
            let version = snap.versions.get(&p).copied();
            groups
                .entry(p)
                .or_insert_with(|| (version, Vec::new(), Vec::new()))
                .1
                .push(d.clone());
        }
    }
    for (p, d) in extra {
        let version = snap.versions.get(p).copied();
        groups
            .entry(p.clone())
            .or_insert_with(|| (version, Vec::new(), Vec::new()))
            .2
            .push(d.clone());
    }
    let mut texts = FileTexts::default();
    let files = groups
        .into_iter()
        .map(|(path, sent)| {
            let unchanged = last.and_then(|l| l.files.get(&path)) == Some(&sent);
            let converted = (!unchanged).then(|| {
                let mut out: Vec<lsp::Diagnostic> = sent
                    .1
                    .iter()
                    .filter_map(|d| to_lsp(snap, &mut texts, d, caps).map(|(_, l)| l))
                    .collect();
                out.extend(sent.2.iter().cloned());
                out
            });
            (path, sent, converted)
        })
        .collect();
    Batch {
        root: snap.root().to_path_buf(),
        revision: snap.revision,
        files,
    }
}

/// Computes and publishes the diagnostics of the program `path` belongs to (every program
/// when `None`), sending only the files whose diagnostics or version changed. Publishing is
/// serialized, and a result older than the last one sent is dropped; a computation
/// cancelled by a newer edit publishes nothing (the newer one will).
pub async fn publish<N: Notifier>(backend: &Backend<N>, path: Option<PathBuf>) {
    let mut published = backend.state.publishing.lock().await;
    let last = published.clone();
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
        let caps = *lock(&state.caps);
        let mut batches = Vec::new();
        for snap in snaps {
            let extra: Vec<(PathBuf, lsp::Diagnostic)> = tests
                .iter()
                .filter(|t| t.root == snap.root() && t.revision == snap.revision)
                .flat_map(|t| t.failures.iter().cloned())
                .collect();
            let prev = last.get(snap.root());
            batches.push(
                salsa::Cancelled::catch(AssertUnwindSafe(|| batch(&snap, &extra, prev, caps)))
                    .ok()?,
            );
        }
        Some(batches)
    })
    .await;
    let Ok(Some(batches)) = computed else {
        return;
    };
    for batch in batches {
        let entry = published.entry(batch.root.clone()).or_default();
        if batch.revision < entry.revision {
            continue;
        }
        entry.revision = batch.revision;
        let now: Vec<&PathBuf> = batch.files.iter().map(|(p, _, _)| p).collect();
        for gone in entry.files.keys().filter(|p| !now.contains(p)) {
            if let Some(uri) = uri_of(&Origin::Disk(gone.clone())) {
                backend
                    .client
                    .publish_diagnostics(uri, Vec::new(), None)
                    .await;
            }
        }
        let mut files = BTreeMap::new();
        for (path, sent, converted) in batch.files {
            if let (Some(diags), Some(uri)) = (converted, uri_of(&Origin::Disk(path.clone()))) {
                backend.client.publish_diagnostics(uri, diags, sent.0).await;
            }
            files.insert(path, sent);
        }
        entry.files = files;
    }
}

pub async fn publish_all<N: Notifier>(backend: &Backend<N>) {
    publish(backend, None).await;
}
