//! The IR of allowed connections: for every policy target (a set of pods that some policy
//! selects), the grants (peer, port) it allows in each direction. Lowering fills it exactly;
//! the optimizer removes redundancy and groups grants into rules; the emitter writes YAML.

use crate::k8s::eval::Protocol;
use crate::k8s::selector::Sel;
use crate::resolve::hir::{Dirs, IpBlock};
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Port ranges `(start, end)` sorted and merged where they overlap or touch.
pub fn merge_ranges(ranges: impl IntoIterator<Item = (u16, u16)>) -> Vec<(u16, u16)> {
    let mut sorted: Vec<(u16, u16)> = ranges.into_iter().collect();
    sorted.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (s, e) in sorted {
        match out.last_mut() {
            Some((_, last)) if u32::from(s) <= u32::from(*last) + 1 => *last = (*last).max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The selector of one namespace by name.
pub fn ns_by_name(name: &str) -> Sel {
    let mut s = Sel::all();
    s.require(
        crate::k8s::names::NAMESPACE_NAME_LABEL,
        crate::k8s::selector::Constraint::eq(name),
    );
    s
}

/// A peer of a rule, relative to the namespace of its policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RulePeer {
    /// Pods matching `pods` in namespaces matching `ns` (`None`: the policy's own namespace).
    /// The selectors are shared: lowering gives every grant towards a service the same one,
    /// so a hub's thousands of grants hold one copy of each (order and equality are by value).
    Pods {
        ns: Option<Arc<Sel>>,
        pods: Arc<Sel>,
    },
    Block(IpBlock),
}

/// One port of a grant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RulePort {
    All,
    Range {
        protocol: Protocol,
        start: u16,
        end: u16,
    },
    Named {
        protocol: Protocol,
        name: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    pub peer: RulePeer,
    pub port: RulePort,
}

/// Why a policy exists, for its source annotation and for `explain`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub span: Span,
}

/// A policy before rule grouping.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyIr {
    pub namespace: String,
    pub name: String,
    pub pods: Sel,
    pub types: Dirs,
    pub ingress: BTreeSet<Grant>,
    pub egress: BTreeSet<Grant>,
    pub origin: Origin,
}

impl PolicyIr {
    pub fn grants(&self, ingress: bool) -> &BTreeSet<Grant> {
        if ingress { &self.ingress } else { &self.egress }
    }
    pub fn grants_mut(&mut self, ingress: bool) -> &mut BTreeSet<Grant> {
        if ingress {
            &mut self.ingress
        } else {
            &mut self.egress
        }
    }
}

/// A rule as emitted: peers (empty = every peer) and ports (empty = every port).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rule {
    pub peers: Vec<RulePeer>,
    pub ports: Vec<RulePort>,
}

/// A policy as emitted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    pub pods: Sel,
    pub types: Dirs,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    pub origin: Origin,
}

/// The policies of a program, keyed by (namespace, name) so iteration is sorted.
pub type Policies = BTreeMap<(String, String), Policy>;
