//! `textDocument/didOpen`: the editor's text becomes the file's input.

use crate::server::{Backend, Notifier};
use tower_lsp_server::ls_types::DidOpenTextDocumentParams;

pub async fn handle<N: Notifier>(backend: &Backend<N>, params: DidOpenTextDocumentParams) {
    let turn = backend.state.turn.lock().await;
    let Some(path) = crate::requests::path_of(&params.text_document.uri) else {
        return;
    };
    let doc = params.text_document;
    let p = path.clone();
    let opened = backend
        .with_session(move |s| s.set_doc(p, doc.version, doc.text))
        .await;
    drop(turn);
    if opened.is_ok() {
        crate::diagnostics::publish(backend, Some(path)).await;
    }
}
