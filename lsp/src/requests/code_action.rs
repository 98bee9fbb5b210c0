//! `textDocument/codeAction`: a quick fix for every "did you mean" in the diagnostics of the
//! range, and "allow DNS egress" for W104.

use super::{location, on_file};
use crate::server::{Backend, Notifier, lock};
use std::collections::HashMap;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: CodeActionParams,
) -> Result<Option<CodeActionResponse>> {
    let range = params.range;
    let caps = *lock(&backend.state.caps);
    on_file(backend, &params.text_document.uri, move |snap, file| {
        let (start, end) = (file.offset(range.start), file.offset(range.end));
        let mut out: CodeActionResponse = Vec::new();
        for d in snap.diagnostics() {
            let s = d.primary.span;
            if s.file != file.id || s.end < start || s.start > end {
                continue;
            }
            let lsp_diag =
                crate::diagnostics::to_lsp(snap, &mut super::FileTexts::default(), d, caps)
                    .map(|(_, l)| l);
            for fix in netpol_compiler::ide::fixes(d, &file.text) {
                let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
                for (span, text) in fix.edits {
                    if let Some(loc) = location(snap, span) {
                        changes
                            .entry(loc.uri)
                            .or_default()
                            .push(TextEdit::new(loc.range, text));
                    }
                }
                out.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: lsp_diag.clone().map(|l| vec![l]),
                    edit: Some(WorkspaceEdit::new(changes)),
                    is_preferred: Some(true),
                    ..Default::default()
                }));
            }
        }
        Some(out)
    })
    .await
}
