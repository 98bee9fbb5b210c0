//! The program's outline split by namespace, so that the lints and policy naming of one
//! namespace read only what may concern its pods: an edit that adds a connection between two
//! services of one namespace changes that namespace's part and no other, and the database
//! (`db::namespace_lints`, `db::namespace_policy_names`) runs again only over that part.
//!
//! A part holds the namespace's services (in program order), the connections with a side
//! that may hold pods of the namespace, and the services of other namespaces that those
//! connections name, as peers: without their isolation, so that they are never units of
//! the part (their own part has them as units). Which connections may hold pods of a
//! namespace errs on the side of too many: a side that selects namespaces by label is in
//! every part whose namespace it may select (on the manifests' labels, or by a label the
//! manifests may not show), so every finding over the whole program is a finding of one
//! part.

use super::ConnFacts;
use super::lints::Outline;
use crate::k8s::names::NAMESPACE_NAME_LABEL;
use crate::k8s::selector::Sel;
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::*;
use std::collections::{BTreeMap, HashMap};

/// One namespace's part of the outline.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NamespacePart {
    pub namespace: String,
    /// The namespace's services in program order (the first [`NamespacePart::own`]), then the
    /// services of other namespaces that its connections name, without their isolation.
    pub services: Vec<Service>,
    pub own: usize,
    /// The position in the program of each of `services`.
    pub index: Vec<usize>,
    /// The connections with a side that may hold pods of the namespace, in program order,
    /// their services renumbered into `services`; `facts` in the same order.
    pub connections: Vec<Conn>,
    pub facts: Vec<ConnFacts>,
}

/// May a side that selects namespaces with `s` hold pods of namespace `ns` (whose labels in
/// the manifests are `labels`)? Yes when it matches them, or reads a label other than the
/// name (a namespace's labels on the cluster may differ from its manifest's).
fn may_select(s: &Sel, labels: &BTreeMap<String, String>) -> bool {
    s.keys.keys().any(|k| k != NAMESPACE_NAME_LABEL) || s.matches(labels)
}

/// The parts of the outline, by namespace name: one for every namespace the program
/// declares or places a service in.
pub fn split(outline: &Outline, manifests: &Manifests) -> Vec<NamespacePart> {
    let p = &outline.program;
    let mut parts: BTreeMap<&str, NamespacePart> = BTreeMap::new();
    for ns in p.namespaces.keys() {
        parts.entry(ns.as_str()).or_default();
    }
    // Each service's position in its own part.
    let mut local: Vec<usize> = Vec::with_capacity(p.services.len());
    for (i, s) in p.services.iter().enumerate() {
        let part = parts.entry(s.namespace.as_str()).or_default();
        local.push(part.services.len());
        part.services.push(s.clone());
        part.index.push(i);
        part.own += 1;
    }
    let names: Vec<&str> = parts.keys().copied().collect();
    let labels: Vec<BTreeMap<String, String>> = names
        .iter()
        .map(|ns| manifests.namespace_labels(ns))
        .collect();
    // The foreign services each part has taken in, by program position.
    let mut foreign: HashMap<&str, HashMap<usize, usize>> = HashMap::new();
    let mut touched: Vec<&str> = Vec::new();
    for (k, c) in p.connections.iter().enumerate() {
        touched.clear();
        for side in [&c.source.kind, &c.target.kind] {
            match side {
                PeerKind::External(_) => {}
                PeerKind::Service(i) => {
                    if let Some(s) = p.services.get(*i) {
                        touched.push(s.namespace.as_str());
                    }
                }
                other => match p.pod_set(other).map(|set| set.ns) {
                    Some(NsScope::Named(n)) => {
                        if let Some((name, _)) = parts.get_key_value(n.as_str()) {
                            touched.push(name);
                        }
                    }
                    Some(NsScope::Selector(s)) => {
                        for (name, labels) in names.iter().zip(&labels) {
                            if may_select(&s, labels) {
                                touched.push(name);
                            }
                        }
                    }
                    None => {}
                },
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let facts = outline.facts.get(k).copied().unwrap_or_default();
        for ns in &touched {
            let Some(part) = parts.get_mut(ns) else {
                continue;
            };
            let taken = foreign.entry(ns).or_default();
            let mut conn = c.clone();
            for peer in [&mut conn.source, &mut conn.target] {
                let PeerKind::Service(i) = &mut peer.kind else {
                    continue;
                };
                *i = match p.services.get(*i) {
                    Some(s) if s.namespace == *ns => local.get(*i).copied().unwrap_or(*i),
                    Some(s) => *taken.entry(*i).or_insert_with(|| {
                        part.services.push(Service {
                            isolate: Dirs::default(),
                            ..s.clone()
                        });
                        part.index.push(*i);
                        part.services.len() - 1
                    }),
                    None => *i,
                };
            }
            part.connections.push(conn);
            part.facts.push(facts);
        }
    }
    parts
        .into_iter()
        .map(|(name, mut part)| {
            part.namespace = name.to_string();
            part
        })
        .collect()
}

/// The program that a part stands for: its namespace's declaration, its services and
/// connections, and the program's groups and externals (what its peers name).
pub fn part_program(part: &NamespacePart, declarations: &Program) -> Program {
    Program {
        namespaces: declarations
            .namespaces
            .get_key_value(&part.namespace)
            .map(|(k, v)| (k.clone(), v.clone()))
            .into_iter()
            .collect(),
        services: part.services.clone(),
        groups: declarations.groups.clone(),
        externals: declarations.externals.clone(),
        connections: part.connections.clone(),
        ..Program::default()
    }
}
