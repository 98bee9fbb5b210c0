//! `textDocument/semanticTokens/full`: names coloured by what they refer to.

use super::on_file;
use crate::server::{Backend, Notifier};
use netpol_compiler::ide::TokenKind;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

const TYPES: &[(TokenKind, SemanticTokenType)] = &[
    (TokenKind::Keyword, SemanticTokenType::KEYWORD),
    (TokenKind::Comment, SemanticTokenType::COMMENT),
    (TokenKind::String, SemanticTokenType::STRING),
    (TokenKind::Number, SemanticTokenType::NUMBER),
    (TokenKind::Namespace, SemanticTokenType::NAMESPACE),
    (TokenKind::Peer, SemanticTokenType::CLASS),
    (TokenKind::Port, SemanticTokenType::ENUM_MEMBER),
    (TokenKind::Property, SemanticTokenType::PROPERTY),
];

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.iter().map(|(_, t)| t.clone()).collect(),
        token_modifiers: vec![SemanticTokenModifier::DECLARATION],
    }
}

pub async fn handle<N: Notifier>(
    backend: &Backend<N>,
    params: SemanticTokensParams,
) -> Result<Option<SemanticTokensResult>> {
    on_file(backend, &params.text_document.uri, |snap, file| {
        let tokens = netpol_compiler::ide::semantic_tokens(
            snap.program(),
            &|s| snap.abs(s),
            file.id,
            &file.text,
        );
        let mut data = Vec::new();
        let (mut line, mut col) = (0u32, 0u32);
        for t in tokens {
            let start = file.index.position(&file.text, t.start);
            let end = file.index.position(&file.text, t.end);
            // Multi-line tokens (none in this language but a broken string) are cut at the line end.
            let length = if end.line == start.line {
                end.character - start.character
            } else {
                0
            };
            if length == 0 {
                continue;
            }
            let delta_line = start.line - line;
            let delta_start = if delta_line == 0 {
                start.character - col
            } else {
                start.character
            };
            data.push(SemanticToken {
                delta_line,
                delta_start,
                length,
                token_type: TYPES
                    .iter()
                    .position(|(k, _)| *k == t.kind)
                    .and_then(|i| u32::try_from(i).ok())
                    .unwrap_or(0),
                token_modifiers_bitset: u32::from(t.declaration),
            });
            line = start.line;
            col = start.character;
        }
        Some(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: None,
            data,
        }))
    })
    .await
}
