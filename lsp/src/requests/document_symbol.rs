//! `textDocument/documentSymbol`: the file's declarations (service ports as children).

use super::{FileText, on_file};
use crate::server::{Backend, Notifier};
use netpol_compiler::ide::{self, Symbol};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub fn kind(k: ide::SymbolKind) -> SymbolKind {
    match k {
        ide::SymbolKind::Namespace => SymbolKind::NAMESPACE,
        ide::SymbolKind::Service => SymbolKind::CLASS,
        ide::SymbolKind::Group => SymbolKind::STRUCT,
        ide::SymbolKind::External => SymbolKind::CONSTANT,
        ide::SymbolKind::Port => SymbolKind::FIELD,
        ide::SymbolKind::Test => SymbolKind::METHOD,
    }
}

#[allow(deprecated)] // `deprecated` is a required field of the type.
fn convert(file: &FileText, s: Symbol) -> DocumentSymbol {
    let range = file.span_range(s.span);
    DocumentSymbol {
        name: s.name,
        detail: Some(s.detail),
        kind: kind(s.kind),
        tags: None,
        deprecated: None,
        range,
        selection_range: range,
        children: Some(s.children.into_iter().map(|c| convert(file, c)).collect()),
    }
}

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: DocumentSymbolParams,
) -> Result<Option<DocumentSymbolResponse>> {
    on_file(backend, &params.text_document.uri, |snap, file| {
        let symbols = ide::symbols(snap.program(), &|s| snap.abs(s), file.id);
        Some(DocumentSymbolResponse::Nested(
            symbols.into_iter().map(|s| convert(file, s)).collect(),
        ))
    })
    .await
}
