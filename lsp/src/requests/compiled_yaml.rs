//! `netpol/compiledYaml`: the YAML the program of a document compiles to (what `netpol
//! compile` prints), for a preview pane; or why there is none.

use super::path_of;
use crate::server::{Backend, Notifier};
use netpol_compiler::diagnostic::Severity;
use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::Uri;

pub const METHOD: &str = "netpol/compiledYaml";

#[derive(Deserialize)]
pub struct Params {
    pub uri: Uri,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The YAML stream, when the program has no errors.
    pub yaml: Option<String>,
    /// How many errors stand in the way.
    pub errors: usize,
}

pub async fn handle<N: Notifier>(backend: &Backend<N>, params: Params) -> Result<Answer> {
    let Some(path) = path_of(&params.uri) else {
        return Ok(Answer {
            yaml: None,
            errors: 0,
        });
    };
    let answer = backend
        .query(path, |snap| Answer {
            yaml: snap.emitted().map(|docs| {
                docs.iter()
                    .map(|d| d.yaml.as_str())
                    .collect::<Vec<_>>()
                    .join("---\n")
            }),
            errors: snap
                .diagnostics()
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count(),
        })
        .await?;
    Ok(answer.unwrap_or(Answer {
        yaml: None,
        errors: 0,
    }))
}
