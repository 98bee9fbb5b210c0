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
    let runs = lock(&backend.state.tests).clone();
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
