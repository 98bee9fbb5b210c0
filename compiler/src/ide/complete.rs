//! Completion: keywords, names in scope, label keys and values known from the workloads of
//! the namespace at hand, named ports of the target, std modules after `use std::`.
//!
//! The context comes from the text before the cursor (it is usually half typed, so it does
//! not parse); the candidates come from the last resolved program and the manifests.

use crate::k8s::workloads::Manifests;
use crate::resolve::hir::{PeerKind, Program};
use std::collections::BTreeSet;

pub use crate::syntax::keywords::KEYWORDS;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CompletionKind {
    Keyword,
    Service,
    Group,
    External,
    Namespace,
    Port,
    LabelKey,
    LabelValue,
    Module,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CompletionItem {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: String,
    /// What to insert, when not the label (a value without its quotes, …).
    pub insert: Option<String>,
}

fn item(label: &str, kind: CompletionKind, detail: impl Into<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind,
        detail: detail.into(),
        insert: None,
    }
}

/// What the text before the cursor asks for.
#[derive(Debug, PartialEq, Eq)]
enum Context<'t> {
    StdModule,
    LabelKey {
        namespace: Option<String>,
    },
    LabelValue {
        key: &'t str,
        namespace: Option<String>,
        quoted: bool,
    },
    Port {
        target: &'t str,
    },
    /// Inside the `cluster` block: its statements' words.
    ClusterRanges,
    Anything,
}

/// Completions at byte `offset` of `text` (a file of `program`).
pub fn completions(
    program: &Program,
    manifests: &Manifests,
    text: &str,
    offset: usize,
) -> Vec<CompletionItem> {
    let offset = floor_char_boundary(text, offset);
    let before = text.get(..offset).unwrap_or_default();
    let after = text.get(offset..).unwrap_or_default();
    let mut out = match context(before, after) {
        Context::StdModule => crate::stdlib::MODULES
            .iter()
            .map(|(name, path, _)| item(name, CompletionKind::Module, *path))
            .collect(),
        Context::LabelKey { namespace } => label_keys(manifests, namespace.as_deref()),
        Context::LabelValue {
            key,
            namespace,
            quoted,
        } => label_values(manifests, key, namespace.as_deref(), quoted),
        Context::Port { target } => ports(program, manifests, target),
        Context::ClusterRanges => ["pods", "services"]
            .iter()
            .map(|k| item(k, CompletionKind::Keyword, "keyword"))
            .collect(),
        Context::Anything => anything(program),
    };
    out.sort();
    out.dedup();
    out
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

fn context<'t>(before: &'t str, after: &'t str) -> Context<'t> {
    let line = before.rsplit('\n').next().unwrap_or_default();
    let trimmed = line.trim_start();
    if let Some(rest) = trimmed.strip_prefix("use std::")
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Context::StdModule;
    }
    if in_cluster_block(before) {
        return Context::ClusterRanges;
    }
    // Inside a selector: `select …` in a service body, or `pods { … }` / `namespaces { … }`.
    let in_select = trimmed.starts_with("select ");
    let open_brace = line.rfind('{');
    let in_braces = open_brace.is_some_and(|b| !line.get(b..).unwrap_or_default().contains('}'));
    if in_select || in_braces {
        let start = if in_select {
            line.find("select ").map_or(0, |i| i + "select ".len())
        } else {
            open_brace.map_or(0, |b| b + 1)
        };
        let clause = line.get(start..).unwrap_or_default();
        let current = current_requirement(clause);
        let namespaces_sel = !in_select
            && line
                .get(..open_brace.unwrap_or(0))
                .unwrap_or_default()
                .trim_end()
                .ends_with("namespaces");
        let namespace = if namespaces_sel {
            None
        } else if in_select {
            enclosing_service_namespace(before)
        } else {
            // `pods { … } in namespace NS` names the namespace after the braces.
            let rest_of_line = after.split('\n').next().unwrap_or_default();
            rest_of_line
                .split_once("in namespace ")
                .and_then(|(_, ns)| ns.split(|c: char| !is_word(c)).next())
                .filter(|ns| !ns.is_empty())
                .map(str::to_string)
        };
        let namespace = if namespaces_sel {
            Some(NAMESPACE_LABELS.to_string())
        } else {
            namespace
        };
        return match value_position(current) {
            Some((key, quoted)) => Context::LabelValue {
                key,
                namespace,
                quoted,
            },
            None => Context::LabelKey { namespace },
        };
    }
    // `target:` or `target:par` after an arrow, or in a test assertion.
    if line.contains("->") {
        let word_start = line.char_indices().rev().find(|(_, c)| !is_word(*c));
        if let Some((i, ':')) = word_start {
            let head = line.get(..i).unwrap_or_default();
            let target = head
                .rsplit(|c: char| !is_word(c))
                .next()
                .unwrap_or_default();
            if !target.is_empty() {
                return Context::Port { target };
            }
        }
    }
    Context::Anything
}

/// The requirement being typed: the text after the last comma outside parentheses.
/// Whether the innermost open `{` before the cursor is the one of a `cluster` block.
fn in_cluster_block(before: &str) -> bool {
    let Some(open) = before.rfind('{') else {
        return false;
    };
    if before.get(open..).is_some_and(|rest| rest.contains('}')) {
        return false;
    }
    let head = before.get(..open).unwrap_or_default().trim_end();
    let line = head.rsplit('\n').next().unwrap_or_default();
    line == "cluster"
}

fn current_requirement(clause: &str) -> &str {
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in clause.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => start = i + 1,
            _ => {}
        }
    }
    clause.get(start..).unwrap_or_default()
}

/// A marker namespace: the labels of namespaces, for `namespaces { … }`.
const NAMESPACE_LABELS: &str = "\u{0}namespaces";

/// In `key = "va`, `key != va`, `key in ("a", "b`: the key, and whether a quote is open.
fn value_position(current: &str) -> Option<(&str, bool)> {
    let quotes = current.matches('"').count();
    let quoted = quotes % 2 == 1;
    // Strip the partial value.
    let head = if quoted {
        current
            .get(..current.rfind('"').unwrap_or(0))
            .unwrap_or_default()
    } else {
        current.trim_end_matches(|c: char| is_word(c))
    };
    let head = head.trim_end();
    let key_part = if let Some(h) = head.strip_suffix("!=") {
        h
    } else if let Some(h) = head.strip_suffix('=') {
        h
    } else if let Some(open) = head.rfind('(') {
        // `key in (` or `key not in ("a", `
        let before = head.get(..open).unwrap_or_default().trim_end();
        let inner = head.get(open..).unwrap_or_default();
        if inner.contains(')') {
            return None;
        }
        before
            .strip_suffix(" in")
            .map(|b| b.strip_suffix(" not").unwrap_or(b))?
    } else {
        return None;
    };
    let key = key_part
        .trim_end()
        .rsplit(|c: char| !is_word(c))
        .next()
        .unwrap_or_default();
    (!key.is_empty()).then_some((key, quoted))
}

/// The namespace of the `service NAME in NS {` the cursor is in.
fn enclosing_service_namespace(before: &str) -> Option<String> {
    let decl = before.rsplit('\n').find(|l| {
        l.starts_with("service ") || (!l.is_empty() && !l.starts_with([' ', '\t', '}']))
    })?;
    let mut words = decl.split_whitespace();
    (words.next()? == "service").then_some(())?;
    words.next()?;
    (words.next()? == "in").then_some(())?;
    let ns = words.next()?.trim_end_matches('{');
    (!ns.is_empty()).then(|| ns.to_string())
}

fn label_sets<'m>(
    manifests: &'m Manifests,
    namespace: Option<&'m str>,
) -> Box<dyn Iterator<Item = (&'m std::collections::BTreeMap<String, String>, String)> + 'm> {
    match namespace {
        Some(NAMESPACE_LABELS) => Box::new(
            manifests
                .namespaces
                .iter()
                .map(|n| (&n.labels, format!("namespace {}", n.name))),
        ),
        Some(ns) => Box::new(
            manifests
                .in_namespace(ns)
                .map(|w| (&w.labels, format!("{}/{}", w.namespace, w.display()))),
        ),
        None => Box::new(
            manifests
                .workloads
                .iter()
                .map(|w| (&w.labels, format!("{}/{}", w.namespace, w.display()))),
        ),
    }
}

fn label_keys(manifests: &Manifests, namespace: Option<&str>) -> Vec<CompletionItem> {
    let mut keys: Vec<(String, usize)> = Vec::new();
    for (labels, _) in label_sets(manifests, namespace) {
        for k in labels.keys() {
            match keys.iter_mut().find(|(x, _)| x == k) {
                Some((_, n)) => *n += 1,
                None => keys.push((k.clone(), 1)),
            }
        }
    }
    if namespace == Some(NAMESPACE_LABELS) {
        keys.push(("kubernetes.io/metadata.name".to_string(), 0));
    }
    keys.iter()
        .map(|(k, n)| {
            item(
                k,
                CompletionKind::LabelKey,
                if *n == 0 {
                    "set on every namespace by Kubernetes".to_string()
                } else {
                    format!("label on {n} object{}", if *n == 1 { "" } else { "s" })
                },
            )
        })
        .collect()
}

fn label_values(
    manifests: &Manifests,
    key: &str,
    namespace: Option<&str>,
    quoted: bool,
) -> Vec<CompletionItem> {
    let mut values: Vec<(String, Vec<String>)> = Vec::new();
    for (labels, who) in label_sets(manifests, namespace) {
        if let Some(v) = labels.get(key) {
            match values.iter_mut().find(|(x, _)| x == v) {
                Some((_, w)) => w.push(who),
                None => values.push((v.clone(), vec![who])),
            }
        }
    }
    if namespace == Some(NAMESPACE_LABELS) && key == "kubernetes.io/metadata.name" {
        for n in &manifests.namespaces {
            values.push((n.name.clone(), vec![format!("namespace {}", n.name)]));
        }
    }
    values
        .into_iter()
        .map(|(v, who)| CompletionItem {
            insert: Some(if quoted {
                v.clone()
            } else {
                format!("\"{v}\"")
            }),
            label: v,
            kind: CompletionKind::LabelValue,
            detail: who.join(", "),
        })
        .collect()
}

fn ports(program: &Program, manifests: &Manifests, target: &str) -> Vec<CompletionItem> {
    let mut out = Vec::new();
    let service = program.services.iter().position(|s| s.name == target);
    if let Some(s) = service.and_then(|i| program.services.get(i)) {
        for p in &s.ports {
            out.push(item(
                &p.name,
                CompletionKind::Port,
                format!("{} (port of `{}`)", super::show_ports(&p.values), s.name),
            ));
        }
    }
    for p in program.ports.values() {
        out.push(item(
            &p.name,
            CompletionKind::Port,
            super::show_ports(&p.values),
        ));
    }
    // The container port names of the workloads the target selects.
    let set = service
        .map(PeerKind::Service)
        .or_else(|| {
            program
                .groups
                .iter()
                .position(|g| g.name == target)
                .map(PeerKind::Group)
        })
        .and_then(|k| program.pod_set(&k));
    if let Some(set) = set {
        let mut names: BTreeSet<(String, String)> = BTreeSet::new();
        for w in &manifests.workloads {
            let in_ns = match &set.ns {
                crate::resolve::hir::NsScope::Named(n) => &w.namespace == n,
                crate::resolve::hir::NsScope::Selector(_) => true,
            };
            if in_ns && set.pods.matches(&w.labels) {
                for p in &w.ports {
                    if let Some(n) = &p.name {
                        names.insert((
                            n.clone(),
                            format!(
                                "{}/{} (container port of {})",
                                p.port,
                                p.protocol,
                                w.display()
                            ),
                        ));
                    }
                }
            }
        }
        for (n, detail) in names {
            out.push(item(&n, CompletionKind::Port, detail));
        }
    }
    out
}

fn anything(program: &Program) -> Vec<CompletionItem> {
    let mut out: Vec<CompletionItem> = KEYWORDS
        .iter()
        .map(|k| item(k, CompletionKind::Keyword, "keyword"))
        .collect();
    for s in &program.services {
        out.push(item(
            &s.name,
            CompletionKind::Service,
            format!("service in {}", s.namespace),
        ));
    }
    for g in &program.groups {
        out.push(item(
            &g.name,
            CompletionKind::Group,
            crate::resolve::hir::describe_set(&g.set),
        ));
    }
    for e in &program.externals {
        out.push(item(&e.name, CompletionKind::External, "external"));
    }
    for n in program.namespaces.keys() {
        out.push(item(n, CompletionKind::Namespace, "namespace"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts() {
        let ctx = |s: &'static str| {
            let (b, a) = s.split_once("$0").unwrap();
            context(b, a)
        };
        assert_eq!(ctx("use std::d$0"), Context::StdModule);
        assert_eq!(
            ctx("service a in shop {\n  select app = \"fr$0\"\n}"),
            Context::LabelValue {
                key: "app",
                namespace: Some("shop".into()),
                quoted: true
            }
        );
        assert_eq!(
            ctx("service a in shop {\n  select app = \"x\", ro$0\n}"),
            Context::LabelKey {
                namespace: Some("shop".into())
            }
        );
        assert_eq!(
            ctx("group g = pods { tier in (\"a\", $0 } in namespace data"),
            Context::LabelValue {
                key: "tier",
                namespace: Some("data".into()),
                quoted: false
            }
        );
        assert_eq!(
            ctx("group g = namespaces { team = $0 }"),
            Context::LabelValue {
                key: "team",
                namespace: Some(NAMESPACE_LABELS.into()),
                quoted: false
            }
        );
        assert_eq!(ctx("web -> api:ht$0"), Context::Port { target: "api" });
        assert_eq!(ctx("web -> a$0"), Context::Anything);
        assert_eq!(ctx("se$0"), Context::Anything);
        assert_eq!(ctx("cluster { p$0"), Context::ClusterRanges);
        assert_eq!(
            ctx("cluster {\n  pods 10.244.0.0/16\n  s$0\n}"),
            Context::ClusterRanges
        );
        assert_eq!(ctx("cluster {\n}\nse$0"), Context::Anything);
        assert_eq!(
            ctx("group g = pods { a$0"),
            Context::LabelKey { namespace: None }
        );
    }
}
