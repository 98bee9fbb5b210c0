//! Semantic tokens: keywords, comments, strings and numbers from the text, and names
//! classified by what the resolver says they refer to (a service, a group, a port, …).

use super::{Abs, declarations};
use crate::resolve::hir::{Def, Program};
use crate::span::FileId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenKind {
    Keyword,
    Comment,
    String,
    Number,
    Namespace,
    /// A service, group or external: a peer.
    Peer,
    Port,
    /// A label key in a selector.
    Property,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SemanticToken {
    pub start: usize,
    pub end: usize,
    pub kind: TokenKind,
    /// Whether this is the name's declaration.
    pub declaration: bool,
}

fn def_kind(def: &Def) -> TokenKind {
    match def {
        Def::Service(_) | Def::Group(_) | Def::External(_) => TokenKind::Peer,
        Def::Namespace(_) => TokenKind::Namespace,
        Def::Port(_) | Def::ServicePort(..) => TokenKind::Port,
    }
}

/// The tokens of `text` (file `file` of `program`), in order, never overlapping.
pub fn semantic_tokens(
    program: &Program,
    abs: Abs<'_>,
    file: FileId,
    text: &str,
) -> Vec<SemanticToken> {
    let mut named: Vec<(usize, usize, TokenKind, bool)> = program
        .references
        .iter()
        .map(|r| (abs(r.span), r))
        .filter(|(s, _)| s.file == file)
        .map(|(s, r)| (s.start, s.end, def_kind(&r.def), false))
        .collect();
    named.extend(
        declarations(program, abs)
            .into_iter()
            .filter(|(s, _)| s.file == file)
            .map(|(s, d)| (s.start, s.end, def_kind(&d), true)),
    );
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut prev_word: &str = "";
    while let Some(&b) = bytes.get(i) {
        let start = i;
        if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while bytes.get(i).is_some_and(|c| *c != b'\n') {
                i += 1;
            }
            out.push(tok(start, i, TokenKind::Comment, false));
        } else if b == b'"' {
            i += 1;
            while let Some(&c) = bytes.get(i) {
                i += 1;
                if c == b'\\' {
                    i += 1;
                } else if c == b'"' || c == b'\n' {
                    break;
                }
            }
            i = i.min(bytes.len());
            out.push(tok(start, i, TokenKind::String, false));
        } else if let Some(end) = ipv6_at(text, i) {
            // An IPv6 address or block (`fd00:10:244::/56`): its `:`s end no word.
            i = end;
            out.push(tok(start, i, TokenKind::Number, false));
            prev_word = "";
        } else if b.is_ascii_alphanumeric() || b == b'_' {
            while bytes.get(i).is_some_and(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b':')
            }) || (bytes.get(i) == Some(&b'-') && bytes.get(i + 1) != Some(&b'>'))
            {
                // `::` and `:port` end a word; `a.b/c` (label keys, addresses) do not.
                if bytes.get(i) == Some(&b':') {
                    let next = bytes.get(i + 1).copied().unwrap_or(b' ');
                    if !next.is_ascii_hexdigit()
                        || !text.get(start..i).is_some_and(looks_like_address)
                    {
                        break;
                    }
                }
                i += 1;
            }
            let word = text.get(start..i).unwrap_or_default();
            if let Some(&(s, e, kind, decl)) =
                named.iter().find(|(s, e, ..)| *s == start && *e == i)
            {
                out.push(tok(s, e, kind, decl));
            } else if super::complete::KEYWORDS.contains(&word) || word == "std" {
                out.push(tok(start, i, TokenKind::Keyword, false));
            } else if word.bytes().all(|c| c.is_ascii_digit()) || looks_like_address(word) {
                out.push(tok(start, i, TokenKind::Number, false));
            } else if matches!(prev_word, "select" | "{" | ",") && is_in_selector(text, start) {
                out.push(tok(start, i, TokenKind::Property, false));
            }
            prev_word = word;
            continue;
        } else {
            i += 1;
            if !b.is_ascii_whitespace() {
                prev_word = match b {
                    b'{' => "{",
                    b',' => ",",
                    _ => "",
                };
            }
            // Skip the rest of a multi-byte character.
            while i < bytes.len() && !text.is_char_boundary(i) {
                i += 1;
            }
            continue;
        }
    }
    out
}

fn tok(start: usize, end: usize, kind: TokenKind, declaration: bool) -> SemanticToken {
    SemanticToken {
        start,
        end,
        kind,
        declaration,
    }
}

/// The end of the IPv6 address or block that starts at `start`, if one does: a run of hex
/// digits, `:`, `.` and `/` with at least two `:` that parses as an address or a block.
fn ipv6_at(text: &str, start: usize) -> Option<usize> {
    let rest = text.get(start..)?;
    if !rest.starts_with(|c: char| c.is_ascii_hexdigit() || c == ':') {
        return None;
    }
    if start > 0
        && text
            .get(..start)?
            .ends_with(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return None;
    }
    let len = rest
        .find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '/')))
        .unwrap_or(rest.len());
    let run = rest.get(..len)?;
    let ends_word = !rest
        .get(len..)?
        .starts_with(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    let parses = run.parse::<std::net::Ipv6Addr>().is_ok() || run.parse::<ipnet::Ipv6Net>().is_ok();
    (run.matches(':').count() >= 2 && ends_word && parses).then_some(start + len)
}

fn looks_like_address(word: &str) -> bool {
    (word.contains('.') || word.contains(':'))
        && word
            .bytes()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':' | b'/'))
        && word.bytes().next().is_some_and(|c| c.is_ascii_hexdigit())
}

/// Whether `offset` is in a selector: after `select` on its line, or inside `{ … }` on it.
fn is_in_selector(text: &str, offset: usize) -> bool {
    let line_start = text
        .get(..offset)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line = text.get(line_start..offset).unwrap_or_default();
    line.trim_start().starts_with("select")
        || line
            .rfind('{')
            .is_some_and(|b| !line.get(b..).unwrap_or_default().contains('}'))
}
