//! `netpol/stdSource`: the text of a standard library module (`netpol-std:///std/dns.netpol`),
//! which editors show read-only when a definition leads there.

use super::STD_SCHEME;
use crate::server::{Backend, Notifier};
use serde::Deserialize;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::Uri;

pub const METHOD: &str = "netpol/stdSource";

#[derive(Deserialize)]
pub struct Params {
    pub uri: Uri,
}

pub async fn handle<N: Notifier>(_backend: &Backend<N>, params: Params) -> Result<String> {
    let uri = params.uri.as_str();
    let path = uri
        .strip_prefix(STD_SCHEME)
        .and_then(|r| r.strip_prefix(":///"))
        .ok_or_else(|| Error::invalid_params("not a netpol-std: URI"))?;
    netpol_compiler::stdlib::MODULES
        .iter()
        .find(|(_, p, _)| *p == path)
        .map(|(_, _, text)| (*text).to_string())
        .ok_or_else(|| Error::invalid_params(format!("no standard library module `{path}`")))
}
