//! `textDocument/definition`: where a name is declared, in any file of the program or in
//! the standard library (a read-only `netpol-std:` document).

use super::{location, name_at, on_file};
use crate::server::{Backend, Notifier};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: GotoDefinitionParams,
) -> Result<Option<GotoDefinitionResponse>> {
    let at = params.text_document_position_params;
    on_file(backend, &at.text_document.uri, move |snap, file| {
        let name = name_at(snap, file, at.position)?;
        let span = netpol_compiler::ide::def_span(snap.program(), &|s| snap.abs(s), &name.def)?;
        location(snap, span).map(GotoDefinitionResponse::Scalar)
    })
    .await
}
