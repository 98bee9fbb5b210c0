//! Kubernetes naming rules (label keys and values, object names) and "did you mean" hints.

/// The label Kubernetes puts on every namespace, with its name as the value.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Why a label key is invalid, or `None` when Kubernetes accepts it.
pub fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !is_dns_subdomain(p))
    {
        return Some(format!(
            "the prefix `{p}` must be a DNS subdomain (lowercase letters, digits, `-` and `.`, at most 253 characters)"
        ));
    }
    if name.is_empty() {
        return Some("the name part of a label key must not be empty".to_string());
    }
    if name.len() > 63 {
        return Some("the name part of a label key is at most 63 characters".to_string());
    }
    if !is_qualified_name_part(name) {
        return Some(
            "the name part must start and end with a letter or digit and contain only letters, digits, `-`, `_` and `.`"
                .to_string(),
        );
    }
    None
}

/// Why a label value is invalid, or `None` when Kubernetes accepts it.
pub fn label_value_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if value.len() > 63 {
        return Some("a label value is at most 63 characters".to_string());
    }
    if !is_qualified_name_part(value) {
        return Some(
            "a label value must start and end with a letter or digit and contain only letters, digits, `-`, `_` and `.`"
                .to_string(),
        );
    }
    None
}

fn is_qualified_name_part(s: &str) -> bool {
    let ok_inner = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    let first = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let last = s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
    ok_inner && first && last
}

/// RFC 1123 label: lowercase letters, digits and `-`, starting and ending alphanumeric,
/// at most 63 characters. Namespace names and the names of policies we emit follow it.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn is_dns_subdomain(s: &str) -> bool {
    s.split('.').all(is_dns_label)
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c.to_string())
}

/// "did you mean `x`?" when there is a likely candidate.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_rules() {
        assert!(label_key_problem("app").is_none());
        assert!(label_key_problem("app.kubernetes.io/name").is_none());
        assert!(label_key_problem("Bad_Prefix/x").is_some());
        assert!(label_key_problem("-x").is_some());
        assert!(label_key_problem(&"a".repeat(64)).is_some());
        assert!(label_value_problem("").is_none());
        assert!(label_value_problem("v1.2_3-x").is_none());
        assert!(label_value_problem("a b").is_some());
        assert!(is_dns_label("orders-db"));
        assert!(!is_dns_label("Orders"));
        assert!(!is_dns_label("a_b"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("frontnd", ["frontend", "checkout"]),
            Some("frontend".into())
        );
        assert_eq!(suggest("zzz", ["frontend"]), None);
    }
}
