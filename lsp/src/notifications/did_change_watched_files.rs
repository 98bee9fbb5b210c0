//! `workspace/didChangeWatchedFiles`: files created, changed or deleted on disk (program
//! files and manifests alike).

use crate::server::{Backend, Notifier};
use tower_lsp_server::ls_types::DidChangeWatchedFilesParams;

pub async fn handle<N: Notifier>(backend: &Backend<N>, params: DidChangeWatchedFilesParams) {
    let turn = backend.state.turn.lock().await;
    let paths: Vec<_> = params
        .changes
        .iter()
        .filter_map(|c| crate::requests::path_of(&c.uri))
        .collect();
    if paths.is_empty() {
        return;
    }
    let changed = backend.with_session(move |s| s.disk_changed(&paths)).await;
    drop(turn);
    if changed.is_ok() {
        crate::diagnostics::publish_all(backend).await;
    }
}
