//! `textDocument/references`: every use of a name across the program's files.

use super::{location, name_at, on_file};
use crate::server::{Backend, Notifier};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: ReferenceParams,
) -> Result<Option<Vec<Location>>> {
    let at = params.text_document_position;
    let with_declaration = params.context.include_declaration;
    on_file(backend, &at.text_document.uri, move |snap, file| {
        let name = name_at(snap, file, at.position)?;
        let abs = &|s| snap.abs(s);
        let decl = netpol_compiler::ide::def_span(snap.program(), abs, &name.def);
        Some(
            netpol_compiler::ide::references(snap.program(), abs, &name.def)
                .into_iter()
                .filter(|s| with_declaration || Some(*s) != decl)
                .filter_map(|s| location(snap, s))
                .collect(),
        )
    })
    .await
}
