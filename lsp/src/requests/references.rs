//! `textDocument/references`: every use of a name across the program's files.

use super::{FileText, location, path_of};
use crate::server::{Backend, Notifier};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: ReferenceParams,
) -> Result<Option<Vec<Location>>> {
    let at = params.text_document_position;
    let with_declaration = params.context.include_declaration;
    let Some(path) = path_of(&at.text_document.uri) else {
        return Ok(None);
    };
    let answer = backend
        .query(path.clone(), move |snap| {
            let file = FileText::at(snap, &path)?;
            let program = snap.program();
            let name = netpol_compiler::ide::name_at(
                program,
                &|s| snap.abs(s),
                file.id,
                file.offset(at.position),
            )?;
            let decl = netpol_compiler::ide::def_span(program, &|s| snap.abs(s), &name.def);
            Some(
                netpol_compiler::ide::references(program, &|s| snap.abs(s), &name.def)
                    .into_iter()
                    .filter(|s| with_declaration || Some(*s) != decl)
                    .filter_map(|s| location(snap, s))
                    .collect(),
            )
        })
        .await?;
    Ok(answer.flatten())
}
