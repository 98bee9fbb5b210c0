//! `textDocument/inlayHint`: the port number behind each named port.

use super::on_file;
use crate::server::{Backend, Notifier};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: InlayHintParams,
) -> Result<Option<Vec<InlayHint>>> {
    let range = params.range;
    on_file(backend, &params.text_document.uri, move |snap, file| {
        let (start, end) = (file.offset(range.start), file.offset(range.end));
        Some(
            netpol_compiler::ide::inlay_hints(snap.program(), &|s| snap.abs(s), file.id)
                .into_iter()
                .filter(|h| h.offset >= start && h.offset <= end)
                .map(|h| InlayHint {
                    position: file.index.position(&file.text, h.offset),
                    label: InlayHintLabel::String(h.label),
                    kind: Some(InlayHintKind::TYPE),
                    text_edits: None,
                    tooltip: None,
                    padding_left: None,
                    padding_right: None,
                    data: None,
                })
                .collect(),
        )
    })
    .await
}
