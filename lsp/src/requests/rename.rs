//! `textDocument/prepareRename` and `textDocument/rename`: every reference and the
//! declaration, across files; refused for standard library names.

use super::{FileText, location, path_of};
use crate::server::{Backend, Notifier};
use std::collections::HashMap;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;

fn refused(message: String) -> Error {
    let mut e = Error::invalid_params(message.clone());
    e.message = message.into();
    e
}

pub async fn prepare<N: Notifier>(
    backend: &Backend<N>,
    at: TextDocumentPositionParams,
) -> Result<Option<PrepareRenameResponse>> {
    let Some(path) = path_of(&at.text_document.uri) else {
        return Ok(None);
    };
    let answer = backend
        .query(
            path.clone(),
            move |snap| -> Result<Option<PrepareRenameResponse>> {
                let Some(file) = FileText::at(snap, &path) else {
                    return Ok(None);
                };
                let program = snap.program();
                let Some(name) = netpol_compiler::ide::name_at(
                    program,
                    &|s| snap.abs(s),
                    file.id,
                    file.offset(at.position),
                ) else {
                    return Ok(None);
                };
                let decl = netpol_compiler::ide::def_span(program, &|s| snap.abs(s), &name.def);
                if decl.is_some_and(|d| snap.is_std(d.file)) {
                    return Err(refused(format!(
                        "`{}` is declared in the standard library, which cannot be renamed",
                        program.def_name(&name.def)
                    )));
                }
                Ok(Some(PrepareRenameResponse::Range(
                    file.span_range(name.span),
                )))
            },
        )
        .await?;
    answer.unwrap_or(Ok(None))
}

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: RenameParams,
) -> Result<Option<WorkspaceEdit>> {
    let at = params.text_document_position;
    let new_name = params.new_name;
    let Some(path) = path_of(&at.text_document.uri) else {
        return Ok(None);
    };
    let answer = backend
        .query(path.clone(), move |snap| -> Result<Option<WorkspaceEdit>> {
            let Some(file) = FileText::at(snap, &path) else {
                return Ok(None);
            };
            let program = snap.program();
            let Some(name) = netpol_compiler::ide::name_at(
                program,
                &|s| snap.abs(s),
                file.id,
                file.offset(at.position),
            ) else {
                return Ok(None);
            };
            let edits = netpol_compiler::ide::rename(
                program,
                &|s| snap.abs(s),
                &name.def,
                &new_name,
                |f| snap.is_std(f),
            )
            .map_err(refused)?;
            let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
            for (span, text) in edits {
                if let Some(loc) = location(snap, span) {
                    changes
                        .entry(loc.uri)
                        .or_default()
                        .push(TextEdit::new(loc.range, text));
                }
            }
            Ok(Some(WorkspaceEdit::new(changes)))
        })
        .await?;
    answer.unwrap_or(Ok(None))
}
