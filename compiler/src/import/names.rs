//! Names: policy names as netpol names, made unique, and namespace names netpol can write.

use std::collections::BTreeSet;

use crate::syntax::keywords;

/// A namespace name netpol can write after `namespace`: it starts with a letter and is not a
/// reserved word (Kubernetes also allows a leading digit).
pub(in crate::import) fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic()) && !keywords::is_reserved(name)
}

// ------------------------------------------------------------------ names

/// A policy name as an RFC 1123 label that the grammar reads as a name.
pub(in crate::import) fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        let c = ch.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    let mut s = if trimmed.is_empty() {
        "policy".to_string()
    } else {
        trimmed.to_string()
    };
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s = format!("np-{s}");
    }
    if keywords::is_keyword(&s) {
        s.push_str("-policy");
    }
    truncate(&s, 63)
}

fn truncate(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    cut.trim_end_matches('-').to_string()
}

/// `base`, or `base-2`, `base-3`, … when taken.
pub(in crate::import) fn unique(base: String, used: &mut BTreeSet<String>) -> String {
    if used.insert(base.clone()) {
        return base;
    }
    let mut n = 2usize;
    loop {
        let suffix = format!("-{n}");
        let candidate = format!(
            "{}{suffix}",
            truncate(&base, 63usize.saturating_sub(suffix.len()))
        );
        if used.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}
