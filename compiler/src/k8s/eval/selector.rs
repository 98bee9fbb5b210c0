//! Label selectors, as apimachinery's `LabelSelectorAsSelector` and `labels.Selector` evaluate
//! them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// Whether `selector` matches an object carrying `labels`.
///
/// * `{}` (matchLabels and matchExpressions both absent or empty) matches everything;
/// * every `matchLabels` entry `k: v` requires label `k` present with value `v`;
/// * `matchExpressions`: `In` = key present with one of the values; `NotIn` = key absent or
///   its value none of the values; `Exists` = key present; `DoesNotExist` = key absent;
/// * all requirements are ANDed.
///
/// A selector that Kubernetes cannot convert matches nothing, as a selector conversion error
/// does: an unknown operator, `In`/`NotIn` without values, `Exists`/`DoesNotExist` with
/// values, or a key or value that is not valid label syntax.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector_is_valid(selector)
        && selector
            .match_labels
            .iter()
            .flatten()
            .all(|(key, value)| labels.get(key) == Some(value))
        && selector
            .match_expressions
            .iter()
            .flatten()
            .all(|requirement| requirement_matches(requirement, labels))
}

/// Whether apimachinery accepts every requirement of `selector`.
fn selector_is_valid(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| is_label_key(key) && is_label_value(value))
        && selector
            .match_expressions
            .iter()
            .flatten()
            .all(requirement_is_valid)
}

/// `labels.NewRequirement`'s checks for the four operators a LabelSelector may use.
fn requirement_is_valid(requirement: &LabelSelectorRequirement) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let arity_ok = match requirement.operator.as_str() {
        "In" | "NotIn" => !values.is_empty(),
        "Exists" | "DoesNotExist" => values.is_empty(),
        _ => false,
    };
    arity_ok && is_label_key(&requirement.key) && values.iter().all(|v| is_label_value(v))
}

/// One (valid) requirement against `labels`.
fn requirement_matches(
    requirement: &LabelSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let value = labels.get(&requirement.key);
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|value| values.contains(value)),
        "NotIn" => value.is_none_or(|value| !values.contains(value)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

/// A label key: `[prefix/]name`, where prefix is a DNS-1123 subdomain (at most 253 characters)
/// and name a qualified name part (`IsQualifiedName`).
pub(super) fn is_label_key(key: &str) -> bool {
    let mut parts = key.split('/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => return false,
    };
    prefix.is_none_or(is_dns1123_subdomain) && is_name_part(name)
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]`
/// (`IsValidLabelValue`).
pub(super) fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_name_part(value)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, 1 to 63 characters.
fn is_name_part(text: &str) -> bool {
    let bytes = text.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() <= 63
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated labels of
/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_dns1123_subdomain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            let bytes = label.as_bytes();
            let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
            match (bytes.first(), bytes.last()) {
                (Some(first), Some(last)) => {
                    alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
                }
                _ => false,
            }
        })
}
