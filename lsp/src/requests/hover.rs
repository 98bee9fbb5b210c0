//! `textDocument/hover`: a name's meaning (a service's selector, matching workloads, ports and
//! compiled YAML), or the rules a connection becomes.

use super::{FileText, path_of};
use crate::server::{Backend, Notifier};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: HoverParams,
) -> Result<Option<Hover>> {
    let at = params.text_document_position_params;
    let Some(path) = path_of(&at.text_document.uri) else {
        return Ok(None);
    };
    let answer = backend
        .query(path.clone(), move |snap| {
            let file = FileText::at(snap, &path)?;
            let offset = file.offset(at.position);
            let (span, text) = netpol_compiler::ide::hover(
                snap.program(),
                snap.manifests(),
                snap.emitted(),
                &|s| snap.abs(s),
                file.id,
                offset,
            )?;
            let range = (span.file == file.id).then(|| file.span_range(span));
            Some(Hover {
                contents: HoverContents::Markup(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: text,
                }),
                range,
            })
        })
        .await?;
    Ok(answer.flatten())
}
