//! `textDocument/codeLens`: above each `test` block, how its last run (on save) went, or that
//! it has not run since the last edit.

use super::on_file;
use crate::server::{Backend, Notifier, lock};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: CodeLensParams,
) -> Result<Option<Vec<CodeLens>>> {
    // A `test` run that a save started before this request finishes first (Neovim 0.7 asks
    // for the lenses right after `didSave`, and cannot be told to ask again).
    let running = backend.state.testing.lock().await;
    let runs = lock(&backend.state.tests).clone();
    drop(running);
    on_file(backend, &params.text_document.uri, move |snap, file| {
        let run = runs
            .iter()
            .find(|r| r.root == snap.root() && r.revision == snap.revision)
            .map(|r| r.results.as_slice());
        Some(
            netpol_compiler::ide::test_lenses(snap.program(), &|s| snap.abs(s), file.id, run)
                .into_iter()
                .map(|l| CodeLens {
                    range: file.range(l.span.start, l.span.start),
                    // A title only (an empty command): the lens is a label, not a button.
                    command: Some(Command {
                        title: l.title,
                        command: String::new(),
                        arguments: None,
                    }),
                    data: None,
                })
                .collect(),
        )
    })
    .await
}
