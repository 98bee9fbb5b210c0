//! What the client declared it supports, read once at `initialize`: the answers follow it
//! (related information is folded into the message for a client that cannot show it; lenses
//! are refreshed only for a client that asks to be told).

use tower_lsp_server::ls_types::ClientCapabilities;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// `textDocument.publishDiagnostics.relatedInformation`.
    pub related_information: bool,
    /// `workspace.codeLens.refreshSupport`: the server may ask for lenses again.
    pub code_lens_refresh: bool,
    /// `workspace.didChangeWatchedFiles.dynamicRegistration`: the server may ask it to watch.
    pub dynamic_watch: bool,
}

impl ClientCaps {
    pub fn of(c: &ClientCapabilities) -> ClientCaps {
        let related_information = c
            .text_document
            .as_ref()
            .and_then(|t| t.publish_diagnostics.as_ref())
            .and_then(|p| p.related_information)
            .unwrap_or(false);
        let workspace = c.workspace.as_ref();
        let code_lens_refresh = workspace
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|l| l.refresh_support)
            .unwrap_or(false);
        let dynamic_watch = workspace
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false);
        ClientCaps {
            related_information,
            code_lens_refresh,
            dynamic_watch,
        }
    }
}
