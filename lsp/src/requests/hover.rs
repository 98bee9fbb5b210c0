//! `textDocument/hover`: a name's meaning (a service's selector, matching workloads, ports and
//! compiled YAML), or the rules a connection becomes.

use super::on_file;
use crate::server::{Backend, Notifier};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: HoverParams,
) -> Result<Option<Hover>> {
    let at = params.text_document_position_params;
    on_file(backend, &at.text_document.uri, move |snap, file| {
        let (span, text) = netpol_compiler::ide::hover(
            snap.program(),
            snap.manifests(),
            snap.emitted(),
            &|s| snap.abs(s),
            file.id,
            file.offset(at.position),
        )?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: text,
            }),
            range: (span.file == file.id).then(|| file.span_range(span)),
        })
    })
    .await
}
