//! `workspace/didChangeWatchedFiles`: files created, changed or deleted on disk (program
//! files and manifests alike).

use crate::server::{Backend, Notifier};
use tower_lsp_server::ls_types::DidChangeWatchedFilesParams;

pub async fn handle<N: Notifier>(backend: &Backend<N>, params: DidChangeWatchedFilesParams) {
    let paths: Vec<_> = params
        .changes
        .iter()
        .filter_map(|c| crate::requests::path_of(&c.uri))
        .collect();
    if paths.is_empty() {
        return;
    }
    if backend
        .with_session(move |s| s.disk_changed(&paths))
        .await
        .is_ok()
    {
        crate::diagnostics::publish_all(backend).await;
    }
}
