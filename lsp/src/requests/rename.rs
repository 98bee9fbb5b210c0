//! `textDocument/prepareRename` and `textDocument/rename`: every reference and the
//! declaration, across files; refused for standard library names.

use super::{location, name_at, on_file};
use crate::server::{Backend, Notifier};
use std::collections::HashMap;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;

fn refused(message: String) -> Error {
    Error::invalid_params(message)
}

pub async fn prepare<N: Notifier>(
    backend: &Backend<N>,
    at: TextDocumentPositionParams,
) -> Result<Option<PrepareRenameResponse>> {
    let answer = on_file(backend, &at.text_document.uri, move |snap, file| {
        let name = name_at(snap, file, at.position)?;
        let program = snap.program();
        let decl = netpol_compiler::ide::def_span(program, &|s| snap.abs(s), &name.def);
        Some(if decl.is_some_and(|d| snap.is_std(d.file)) {
            Err(refused(format!(
                "`{}` is declared in the standard library, which cannot be renamed",
                program.def_name(&name.def)
            )))
        } else {
            Ok(PrepareRenameResponse::Range(file.span_range(name.span)))
        })
    })
    .await?;
    answer.transpose()
}

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: RenameParams,
) -> Result<Option<WorkspaceEdit>> {
    let at = params.text_document_position;
    let new_name = params.new_name;
    let answer = on_file(backend, &at.text_document.uri, move |snap, file| {
        let name = name_at(snap, file, at.position)?;
        let edits = netpol_compiler::ide::rename(
            snap.program(),
            &|s| snap.abs(s),
            &name.def,
            &new_name,
            |f| snap.is_std(f),
        );
        Some(edits.map_err(refused).map(|edits| {
            let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
            for (span, text) in edits {
                if let Some(loc) = location(snap, span) {
                    changes
                        .entry(loc.uri)
                        .or_default()
                        .push(TextEdit::new(loc.range, text));
                }
            }
            WorkspaceEdit::new(changes)
        }))
    })
    .await?;
    answer.transpose()
}
