//! One file per request: convert the position, call the `ide` query, convert the answer.

pub mod code_action;
pub mod code_lens;
pub mod compiled_yaml;
pub mod completion;
pub mod definition;
pub mod document_symbol;
pub mod formatting;
pub mod hover;
pub mod initialize;
pub mod inlay_hint;
pub mod references;
pub mod rename;
pub mod semantic_tokens;
pub mod std_source;
pub mod workspace_symbol;

use crate::convert::LineIndex;
use crate::server::{Backend, Notifier};
use crate::session::{Origin, Snapshot};
use netpol_compiler::ide::NameAt;
use netpol_compiler::span::{FileId, Span};
use std::path::PathBuf;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{Location, Position, Range, Uri};

/// Runs `f` on a snapshot of the program the document `uri` belongs to, with the document's
/// text: `None` when it is not a program file (or `f` has no answer).
pub async fn on_file<N: Notifier, T: Send + 'static>(
    backend: &Backend<N>,
    uri: &Uri,
    f: impl FnOnce(&Snapshot, &FileText) -> Option<T> + Send + 'static,
) -> Result<Option<T>> {
    let Some(path) = path_of(uri) else {
        return Ok(None);
    };
    let answer = backend
        .query(path.clone(), move |snap| {
            let file = FileText::at(snap, &path)?;
            f(snap, &file)
        })
        .await?;
    Ok(answer.flatten())
}

/// The name at a position of a file, as the compiler resolved it.
pub fn name_at(snap: &Snapshot, file: &FileText, pos: Position) -> Option<NameAt> {
    netpol_compiler::ide::name_at(snap.program(), &|s| snap.abs(s), file.id, file.offset(pos))
}

/// The scheme of the standard library's read-only documents (`netpol-std:///std/dns.netpol`).
pub const STD_SCHEME: &str = "netpol-std";

/// The file a `file:` URI names.
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    if uri.scheme().as_str() != "file" {
        return None;
    }
    uri.to_file_path().map(|p| p.into_owned())
}

pub fn uri_of(origin: &Origin) -> Option<Uri> {
    match origin {
        Origin::Disk(p) => Uri::from_file_path(p),
        Origin::Std(path) => format!("{STD_SCHEME}:///{path}").parse().ok(),
    }
}

/// The text of a file and its line index.
pub struct FileText {
    pub id: FileId,
    pub text: String,
    pub index: LineIndex,
}

impl FileText {
    pub fn of(snap: &Snapshot, id: FileId) -> Option<FileText> {
        let text = snap.text(id)?;
        Some(FileText {
            id,
            index: LineIndex::new(&text),
            text,
        })
    }

    /// The program file at `path`.
    pub fn at(snap: &Snapshot, path: &std::path::Path) -> Option<FileText> {
        FileText::of(snap, snap.file_id(path)?)
    }

    pub fn offset(&self, pos: Position) -> usize {
        self.index.offset(&self.text, pos)
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        self.index.range(&self.text, start, end)
    }

    pub fn span_range(&self, span: Span) -> Range {
        self.range(span.start, span.end)
    }
}

/// Where a span is, as an LSP location (stdlib spans get `netpol-std:` URIs).
pub fn location(snap: &Snapshot, span: Span) -> Option<Location> {
    FileTexts::default().location(snap, span)
}

/// `team-a/svc.netpol:12:5`: where `span` is, for a message (relative to the program's
/// root; stdlib files by their `std/…` path), line and column counted from 1.
pub fn display_position(snap: &Snapshot, span: Span, at: Position) -> String {
    let file = match snap.origin(span.file) {
        Some(Origin::Disk(p)) => p
            .strip_prefix(snap.root())
            .unwrap_or(&p)
            .display()
            .to_string(),
        Some(Origin::Std(p)) => p,
        None => String::new(),
    };
    format!("{file}:{}:{}", at.line + 1, at.character + 1)
}

/// Files' texts and line indexes, each built once (for answers with many spans).
#[derive(Default)]
pub struct FileTexts {
    cache: std::collections::HashMap<FileId, Option<FileText>>,
}

impl FileTexts {
    pub fn get(&mut self, snap: &Snapshot, id: FileId) -> Option<&FileText> {
        self.cache
            .entry(id)
            .or_insert_with(|| FileText::of(snap, id))
            .as_ref()
    }

    pub fn location(&mut self, snap: &Snapshot, span: Span) -> Option<Location> {
        let uri = uri_of(&snap.origin(span.file)?)?;
        let file = self.get(snap, span.file)?;
        Some(Location::new(uri, file.span_range(span)))
    }
}
