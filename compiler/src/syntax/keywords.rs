//! The language's words, in one place: the grammar (grammar/netpol.pest) is their source, and
//! a test checks these lists against it. The parser's did-you-mean, the importer's choice of
//! names and the language server's completion and highlighting read them from here.

/// Words that can never be a name (the grammar's `reserved` rule).
pub const RESERVED: &[&str] = &[
    "namespaces",
    "namespace",
    "cluster",
    "services",
    "pods",
    "except",
    "not",
    "in",
];

/// Words that start a declaration or a statement: what a mistyped first word most likely
/// meant.
pub const LEADING: &[&str] = &[
    "use",
    "workloads",
    "namespace",
    "service",
    "group",
    "external",
    "port",
    "test",
    "cluster",
    "select",
    "isolate",
];

/// Every keyword of the language: the reserved words, the leading words, and the words
/// recognised by position (directions, verdicts).
pub const KEYWORDS: &[&str] = &[
    "allowed",
    "cluster",
    "denied",
    "egress",
    "except",
    "external",
    "group",
    "in",
    "ingress",
    "isolate",
    "namespace",
    "namespaces",
    "not",
    "pods",
    "port",
    "select",
    "service",
    "services",
    "test",
    "use",
    "workloads",
];

/// Protocols, as written after a port (`53/udp`); case does not matter.
pub const PROTOCOLS: &[&str] = &["tcp", "udp", "sctp"];

/// True for a word that is a keyword of the language.
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// True for a word that can never be a name.
pub fn is_reserved(word: &str) -> bool {
    RESERVED.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const GRAMMAR: &str = include_str!("../../../grammar/netpol.pest");

    /// The quoted words of the grammar rule `name`.
    fn rule_words(rule: &str) -> BTreeSet<String> {
        let line = GRAMMAR
            .lines()
            .find(|l| l.split_whitespace().next() == Some(rule))
            .unwrap_or_else(|| panic!("the grammar has a rule `{rule}`"));
        line.split('"')
            .skip(1)
            .step_by(2)
            .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()) && !w.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn set(words: &[&str]) -> BTreeSet<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn reserved_words_are_the_grammars() {
        assert_eq!(set(RESERVED), rule_words("reserved"));
    }

    #[test]
    fn every_keyword_rule_of_the_grammar_is_listed_and_nothing_else() {
        let mut from_grammar: BTreeSet<String> = BTreeSet::new();
        for line in GRAMMAR.lines() {
            let Some(rule) = line.split_whitespace().next() else {
                continue;
            };
            if rule.starts_with("kw_") || ["direction", "verdict", "reserved"].contains(&rule) {
                from_grammar.extend(rule_words(rule));
            }
        }
        assert_eq!(set(KEYWORDS), from_grammar);
        let protocols: BTreeSet<String> = rule_words("protocol");
        assert_eq!(set(PROTOCOLS), protocols);
    }

    #[test]
    fn leading_words_start_declarations_or_statements() {
        let starts = rule_words("decl_keyword");
        for w in LEADING {
            assert!(
                starts.contains(*w) || ["port", "select", "isolate"].contains(w),
                "`{w}` starts no declaration or statement"
            );
            assert!(is_keyword(w));
        }
        for w in starts {
            assert!(
                LEADING.contains(&w.as_str()),
                "`{w}` is missing from LEADING"
            );
        }
    }
}
