//! `textDocument/definition`: where a name is declared, in any file of the program or in
//! the standard library (a read-only `netpol-std:` document).

use super::{FileText, location, path_of};
use crate::server::{Backend, Notifier};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: GotoDefinitionParams,
) -> Result<Option<GotoDefinitionResponse>> {
    let at = params.text_document_position_params;
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
            let span = netpol_compiler::ide::def_span(program, &|s| snap.abs(s), &name.def)?;
            location(snap, span).map(GotoDefinitionResponse::Scalar)
        })
        .await?;
    Ok(answer.flatten())
}
