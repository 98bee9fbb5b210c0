//! `textDocument/formatting`: exactly `netpol fmt` (one edit replacing the whole text);
//! nothing when the file does not parse.

use super::path_of;
use crate::convert::LineIndex;
use crate::server::{Backend, Notifier};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: DocumentFormattingParams,
) -> Result<Option<Vec<TextEdit>>> {
    let Some(path) = path_of(&params.text_document.uri) else {
        return Ok(None);
    };
    let text = backend
        .with_session(move |s| s.doc(&path).map(|d| d.text.clone()))
        .await?;
    let Some(text) = text else {
        return Ok(None);
    };
    let formatted = tokio::task::spawn_blocking(move || {
        let out = netpol_compiler::fmt::format(&text).ok()?;
        (out != text).then(|| {
            let index = LineIndex::new(&text);
            vec![TextEdit::new(index.range(&text, 0, text.len()), out)]
        })
    })
    .await;
    Ok(formatted.ok().flatten().or(Some(Vec::new())))
}
