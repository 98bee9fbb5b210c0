//! What a parse error expected, derived from the grammar itself.
//!
//! pest reports the rules it tried at the furthest position (`positives`). Those are often
//! whole statements (`svc_stmt_probe`, `peer`), which say little to a user; pest can track the
//! literal tokens it tried too, but only behind a process-wide switch
//! (pest's error-detail setting) that would make messages depend on what other threads do.
//! Instead, each rule is expanded here into the words that can start it (its FIRST set),
//! computed once from grammar/netpol.pest, and rules with a human name (`a name`,
//! `` `select` ``) stand for themselves.

use pest_meta::ast::Expr;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

const GRAMMAR: &str = include_str!("../../../grammar/netpol.pest");

/// What a rule can start with: literal text, or a rule with a human name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    Literal(String),
    Named(&'static str),
}

/// The grammar's rules by name; empty if the grammar does not parse (it is compiled into
/// the parser, so it always does).
fn rules() -> &'static BTreeMap<String, Expr> {
    static RULES: OnceLock<BTreeMap<String, Expr>> = OnceLock::new();
    RULES.get_or_init(|| {
        pest_meta::parser::parse(pest_meta::parser::Rule::grammar_rules, GRAMMAR)
            .ok()
            .and_then(|pairs| pest_meta::parser::consume_rules(pairs).ok())
            .map(|rules| rules.into_iter().map(|r| (r.name, r.expr)).collect())
            .unwrap_or_default()
    })
}

/// The words, in the house style, that can start `rule`, as `human` names rules.
pub fn words(rule: &str, human: fn(&str) -> Option<&'static str>) -> Vec<String> {
    let mut tokens = BTreeSet::new();
    first_of_rule(rule, human, &mut tokens, 0);
    tokens
        .into_iter()
        .filter_map(|t| match t {
            Token::Named(n) => Some(n.to_string()),
            Token::Literal(s) if is_shown(&s) => Some(format!("`{s}`")),
            Token::Literal(_) => None,
        })
        .collect()
}

/// Literal text worth naming in a message (not comment or white-space syntax).
fn is_shown(s: &str) -> bool {
    !(s.trim().is_empty() || s == "//" || s == "_" || s.contains("..") || s == "\u{feff}")
}

/// No rule of the grammar nests deeper than this (it has no recursion).
const MAX_DEPTH: usize = 64;

fn first_of_rule(
    rule: &str,
    human: fn(&str) -> Option<&'static str>,
    out: &mut BTreeSet<Token>,
    depth: usize,
) -> bool {
    if let Some(name) = human(rule) {
        out.insert(Token::Named(name));
        return false;
    }
    match rules().get(rule) {
        Some(expr) if depth < MAX_DEPTH => first(expr, human, out, depth + 1),
        // Built-in rules: SOI and EOI match nothing; the rest are characters.
        _ => rule == "SOI",
    }
}

/// Adds the FIRST set of `expr` to `out`; returns whether `expr` can match nothing.
fn first(
    expr: &Expr,
    human: fn(&str) -> Option<&'static str>,
    out: &mut BTreeSet<Token>,
    depth: usize,
) -> bool {
    match expr {
        Expr::Str(s) | Expr::Insens(s) => {
            out.insert(Token::Literal(s.clone()));
            s.is_empty()
        }
        Expr::Ident(name) => first_of_rule(name, human, out, depth),
        Expr::Seq(a, b) => first(a, human, out, depth) && first(b, human, out, depth),
        Expr::Choice(a, b) => {
            let a = first(a, human, out, depth);
            first(b, human, out, depth) || a
        }
        Expr::Opt(e) | Expr::Rep(e) | Expr::RepMax(e, _) => {
            first(e, human, out, depth);
            true
        }
        Expr::RepOnce(e) | Expr::RepExact(e, _) | Expr::RepMin(e, _) | Expr::RepMinMax(e, _, _) => {
            first(e, human, out, depth)
        }
        Expr::Push(e) => first(e, human, out, depth),
        // Look-ahead consumes nothing; ranges and the rest are characters, not words.
        Expr::PosPred(_) | Expr::NegPred(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(rule: &str) -> Option<&'static str> {
        match rule {
            "name" => Some("a name"),
            "kw_select" => Some("`select`"),
            "kw_port" => Some("`port`"),
            "kw_isolate" => Some("`isolate`"),
            _ => None,
        }
    }

    #[test]
    fn the_grammar_is_read() {
        assert!(rules().contains_key("file"));
        assert!(rules().len() > 40);
    }

    #[test]
    fn a_statement_probe_expands_to_its_keywords() {
        assert_eq!(
            words("svc_stmt_probe", human),
            vec!["`isolate`", "`port`", "`select`"]
        );
    }

    #[test]
    fn unknown_rules_expand_to_nothing() {
        assert!(words("no_such_rule", human).is_empty());
    }
}
