//! `workspace/symbol`: declarations of every program whose name contains the query.

use super::{location, path_of};
use crate::server::{Backend, Notifier};
use crate::session::Origin;
use netpol_compiler::ide;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: WorkspaceSymbolParams,
) -> Result<Option<WorkspaceSymbolResponse>> {
    let query = params.query.to_lowercase();
    let roots: Vec<_> = backend
        .with_session(|s| {
            s.snapshots()
                .iter()
                .filter_map(|snap| snap.disk_files().into_iter().next())
                .collect::<Vec<_>>()
        })
        .await?;
    let mut out = Vec::new();
    for first in roots {
        let q = query.clone();
        let found = backend
            .query(first, move |snap| {
                let program = snap.program();
                let mut out = Vec::new();
                for file in snap.disk_files() {
                    let Some(id) = snap.file_id(&file) else {
                        continue;
                    };
                    for s in ide::symbols(program, &|s| snap.abs(s), id) {
                        if s.name.to_lowercase().contains(&q) {
                            #[allow(deprecated)] // a required field
                            if let Some(loc) = location(snap, s.span) {
                                out.push(SymbolInformation {
                                    name: s.name,
                                    kind: super::document_symbol::kind(s.kind),
                                    tags: None,
                                    deprecated: None,
                                    location: loc,
                                    container_name: matches!(
                                        snap.origin(id),
                                        Some(Origin::Disk(_))
                                    )
                                    .then(|| s.detail),
                                });
                            }
                        }
                    }
                }
                out
            })
            .await?;
        out.extend(found.into_iter().flatten());
    }
    let _ = path_of;
    Ok(Some(WorkspaceSymbolResponse::Flat(out)))
}
