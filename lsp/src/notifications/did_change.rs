//! `textDocument/didChange`: one input set; salsa re-runs what depends on it. Running
//! queries of the older text are cancelled by the setter.

use crate::convert::apply_changes;
use crate::server::{Backend, Notifier};
use tower_lsp_server::ls_types::DidChangeTextDocumentParams;

pub async fn handle<N: Notifier>(backend: &Backend<N>, params: DidChangeTextDocumentParams) {
    let turn = backend.state.turn.lock().await;
    let Some(path) = crate::requests::path_of(&params.text_document.uri) else {
        return;
    };
    let version = params.text_document.version;
    let p = path.clone();
    let changed = backend
        .with_session(move |s| {
            let mut text = s.doc(&p).map(|d| d.text.clone()).unwrap_or_default();
            apply_changes(&mut text, params.content_changes);
            s.set_doc(p, version, text);
        })
        .await;
    drop(turn);
    if changed.is_ok() {
        crate::diagnostics::publish(backend, Some(path)).await;
    }
}
