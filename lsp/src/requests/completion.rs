//! `textDocument/completion`: keywords, names, label keys and values from the workloads,
//! named ports of the target, std modules.

use super::on_file;
use crate::server::{Backend, Notifier};
use netpol_compiler::ide::CompletionKind;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

fn kind(k: CompletionKind) -> CompletionItemKind {
    match k {
        CompletionKind::Keyword => CompletionItemKind::KEYWORD,
        CompletionKind::Service => CompletionItemKind::CLASS,
        CompletionKind::Group => CompletionItemKind::STRUCT,
        CompletionKind::External => CompletionItemKind::CONSTANT,
        CompletionKind::Namespace => CompletionItemKind::MODULE,
        CompletionKind::Port => CompletionItemKind::FIELD,
        CompletionKind::LabelKey => CompletionItemKind::PROPERTY,
        CompletionKind::LabelValue => CompletionItemKind::VALUE,
        CompletionKind::Module => CompletionItemKind::MODULE,
    }
}

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: CompletionParams,
) -> Result<Option<CompletionResponse>> {
    let at = params.text_document_position;
    on_file(backend, &at.text_document.uri, move |snap, file| {
        let items = netpol_compiler::ide::completions(
            snap.program(),
            snap.manifests(),
            &file.text,
            file.offset(at.position),
        );
        Some(CompletionResponse::Array(
            items
                .into_iter()
                .map(|i| CompletionItem {
                    kind: Some(kind(i.kind)),
                    detail: Some(i.detail),
                    insert_text: i.insert,
                    label: i.label,
                    ..Default::default()
                })
                .collect(),
        ))
    })
    .await
}
