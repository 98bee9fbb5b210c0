//! `textDocument/didClose`: the file on disk is the input again (or the file leaves the
//! program, when it was never saved).

use crate::server::{Backend, Notifier};
use tower_lsp_server::ls_types::DidCloseTextDocumentParams;

pub async fn handle<N: Notifier>(backend: &Backend<N>, params: DidCloseTextDocumentParams) {
    let turn = backend.state.turn.lock().await;
    let Some(path) = crate::requests::path_of(&params.text_document.uri) else {
        return;
    };
    let closed = backend.with_session(move |s| s.close_doc(&path)).await;
    drop(turn);
    if closed.is_ok() {
        crate::diagnostics::publish_all(backend).await;
    }
}
