//! The optimizer: removes every redundant grant and policy, then groups grants into the
//! fewest rule entries. Every step keeps the set of allowed connections unchanged (the
//! property tests check this with the evaluator on random clusters).
//!
//! 1. Within a policy direction, a grant is dropped when another grant of that direction
//!    covers both its peer and its port.
//! 2. A grant is dropped when another policy of the namespace selects every pod this one
//!    selects, isolates the same direction, and has a covering grant.
//! 3. A direction with no grants is dropped from `policyTypes` when another policy already
//!    isolates all these pods in it; a policy left with no direction is dropped.
//! 4. Grants become rules: peers with equal port sets share a rule, or ports with equal
//!    peer sets share one, whichever gives fewer entries; then peers that differ in one
//!    label's value merge into one `In` selector.

use crate::backend::ir::*;
use crate::backend::lower::Targets;
use crate::k8s::eval::Protocol;
use crate::k8s::selector::Sel;
use crate::resolve::hir::{Dirs, IpBlock};
use std::collections::{BTreeMap, BTreeSet};

pub fn optimize(lowered: &Targets) -> Policies {
    let mut policies: Vec<PolicyIr> = lowered.values().cloned().collect();
    for p in &mut policies {
        for ingress in [true, false] {
            // Sequentially: a grant goes only while another one that covers it stays, so two
            // grants that cover each other (the same peer written two ways) keep one.
            let mut kept: BTreeSet<Grant> = p.grants(ingress).clone();
            for g in p.grants(ingress) {
                let covered = kept
                    .iter()
                    .any(|h| h != g && grant_covers(h, g, &p.namespace));
                if covered {
                    kept.remove(g);
                }
            }
            *p.grants_mut(ingress) = kept;
        }
    }
    // Cross-policy redundancy, in a fixed order so the result is deterministic. For each
    // policy, the other policies of its namespace that select all of its pods.
    let supersets: Vec<Vec<usize>> = (0..policies.len())
        .map(|i| {
            policies
                .iter()
                .enumerate()
                .filter(|(j, y)| *j != i && policies.get(i).is_some_and(|x| selects_all_of(y, x)))
                .map(|(j, _)| j)
                .collect()
        })
        .collect();
    for (i, sup) in supersets.iter().enumerate() {
        if sup.is_empty() {
            continue;
        }
        for ingress in [true, false] {
            let Some(x) = policies.get(i).cloned() else {
                continue;
            };
            for g in x.grants(ingress) {
                let covered = sup.iter().filter_map(|j| policies.get(*j)).any(|y| {
                    has_dir(y.types, ingress)
                        && y.grants(ingress)
                            .iter()
                            .any(|h| grant_covers(h, g, &y.namespace))
                });
                if covered && let Some(x) = policies.get_mut(i) {
                    x.grants_mut(ingress).remove(g);
                }
            }
        }
    }
    // Directions and policies that only repeat another policy's isolation.
    let mut i = 0;
    while i < policies.len() {
        for ingress in [true, false] {
            let Some(x) = policies.get(i) else { break };
            if !has_dir(x.types, ingress) || !x.grants(ingress).is_empty() {
                continue;
            }
            let isolated_elsewhere = policies
                .iter()
                .enumerate()
                .any(|(j, y)| j != i && has_dir(y.types, ingress) && selects_all_of(y, x));
            if isolated_elsewhere && let Some(x) = policies.get_mut(i) {
                if ingress {
                    x.types.ingress = false;
                } else {
                    x.types.egress = false;
                }
            }
        }
        if policies.get(i).is_some_and(|x| !x.types.any()) {
            policies.remove(i);
        } else {
            i += 1;
        }
    }
    policies
        .into_iter()
        .map(|p| {
            let policy = Policy {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                pods: p.pods.clone(),
                types: p.types,
                ingress: group_rules(&p.ingress),
                egress: group_rules(&p.egress),
                origin: p.origin.clone(),
            };
            ((p.namespace, p.name), policy)
        })
        .collect()
}

fn has_dir(types: Dirs, ingress: bool) -> bool {
    if ingress { types.ingress } else { types.egress }
}

/// `y` selects every pod that `x` selects.
fn selects_all_of(y: &PolicyIr, x: &PolicyIr) -> bool {
    y.namespace == x.namespace && x.pods.implies(&y.pods)
}

/// The namespace part of a pod peer as a selector (the policy's own namespace by name).
fn ns_sel(ns: &Option<Sel>, policy_ns: &str) -> Sel {
    ns.clone().unwrap_or_else(|| ns_by_name(policy_ns))
}

/// Every address or pod that `inner` matches, `outer` matches too.
pub fn peer_covers(outer: &RulePeer, inner: &RulePeer, policy_ns: &str) -> bool {
    match (outer, inner) {
        (RulePeer::Pods { ns: on, pods: op }, RulePeer::Pods { ns: inn, pods: ip }) => {
            ip.implies(op) && ns_sel(inn, policy_ns).implies(&ns_sel(on, policy_ns))
        }
        (RulePeer::Block(o), RulePeer::Block(i)) => block_covers(o, i),
        _ => false,
    }
}

fn block_covers(outer: &IpBlock, inner: &IpBlock) -> bool {
    if !outer.cidr.contains(&inner.cidr) {
        return false;
    }
    outer.except.iter().all(|e| {
        if e.contains(&inner.cidr) {
            return false;
        }
        if !inner.cidr.contains(e) {
            return true; // disjoint
        }
        inner.except.iter().any(|f| f.contains(e))
    })
}

fn port_covers(outer: &RulePort, inner: &RulePort) -> bool {
    match (outer, inner) {
        (RulePort::All, _) => true,
        (_, RulePort::All) => false,
        (
            RulePort::Range {
                protocol: p,
                start: a,
                end: b,
            },
            RulePort::Range {
                protocol: q,
                start: c,
                end: d,
            },
        ) => p == q && a <= c && d <= b,
        (
            RulePort::Range {
                protocol: p,
                start: 1,
                end: 65535,
            },
            RulePort::Named { protocol: q, .. },
        ) => p == q,
        (RulePort::Named { .. }, RulePort::Named { .. }) => outer == inner,
        _ => false,
    }
}

fn grant_covers(outer: &Grant, inner: &Grant, policy_ns: &str) -> bool {
    peer_covers(&outer.peer, &inner.peer, policy_ns) && port_covers(&outer.port, &inner.port)
}

/// A normalised set of ports: every port, or per-protocol disjoint sorted ranges plus
/// named ports.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
struct PortSet {
    all: bool,
    ranges: BTreeMap<Protocol, Vec<(u16, u16)>>,
    named: BTreeSet<(Protocol, String)>,
}

impl PortSet {
    fn add(&mut self, port: &RulePort) {
        match port {
            RulePort::All => self.all = true,
            RulePort::Range {
                protocol,
                start,
                end,
            } => self
                .ranges
                .entry(*protocol)
                .or_default()
                .push((*start, *end)),
            RulePort::Named { protocol, name } => {
                self.named.insert((*protocol, name.clone()));
            }
        }
    }

    fn normalize(mut self) -> PortSet {
        if self.all {
            return PortSet {
                all: true,
                ..Default::default()
            };
        }
        for ranges in self.ranges.values_mut() {
            *ranges = merge_ranges(ranges.iter().copied());
        }
        let full: BTreeSet<Protocol> = self
            .ranges
            .iter()
            .filter(|(_, r)| r.as_slice() == [(1, 65535)])
            .map(|(p, _)| *p)
            .collect();
        self.named.retain(|(p, _)| !full.contains(p));
        self
    }

    fn entries(&self) -> Vec<RulePort> {
        if self.all {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (protocol, ranges) in &self.ranges {
            for (start, end) in ranges {
                out.push(RulePort::Range {
                    protocol: *protocol,
                    start: *start,
                    end: *end,
                });
            }
        }
        for (protocol, name) in &self.named {
            out.push(RulePort::Named {
                protocol: *protocol,
                name: name.clone(),
            });
        }
        out
    }
}

/// Groups grants into rules with the fewest entries.
fn group_rules(grants: &BTreeSet<Grant>) -> Vec<Rule> {
    let mut by_peer: BTreeMap<RulePeer, PortSet> = BTreeMap::new();
    for g in grants {
        by_peer.entry(g.peer.clone()).or_default().add(&g.port);
    }
    let by_peer: BTreeMap<RulePeer, PortSet> = by_peer
        .into_iter()
        .map(|(p, s)| (p, s.normalize()))
        .collect();

    // A: peers with equal port sets share a rule.
    let mut a: BTreeMap<PortSet, Vec<RulePeer>> = BTreeMap::new();
    for (peer, ports) in &by_peer {
        a.entry(ports.clone()).or_default().push(peer.clone());
    }
    let rules_a: Vec<Rule> = a
        .into_iter()
        .map(|(ports, peers)| Rule {
            peers,
            ports: ports.entries(),
        })
        .collect();

    // B: ports with equal peer sets share a rule (not when a peer allows every port).
    let rules = if by_peer.values().any(|s| s.all) {
        rules_a
    } else {
        let rules_b = group_by_port(&by_peer);
        if entry_count(&rules_b) < entry_count(&rules_a) {
            rules_b
        } else {
            rules_a
        }
    };
    let mut rules: Vec<Rule> = rules
        .into_iter()
        .map(|r| Rule {
            peers: merge_peers(r.peers),
            ports: r.ports,
        })
        .collect();
    rules.sort();
    rules
}

fn entry_count(rules: &[Rule]) -> usize {
    rules.iter().map(|r| r.peers.len() + r.ports.len()).sum()
}

fn group_by_port(by_peer: &BTreeMap<RulePeer, PortSet>) -> Vec<Rule> {
    // Elementary intervals per protocol, each with the peers that allow it.
    let mut atoms: BTreeMap<Vec<RulePeer>, PortSet> = BTreeMap::new();
    let protocols: BTreeSet<Protocol> = by_peer
        .values()
        .flat_map(|s| s.ranges.keys().copied())
        .collect();
    for protocol in protocols {
        let mut bounds: BTreeSet<u32> = BTreeSet::new();
        for s in by_peer.values() {
            for (a, b) in s.ranges.get(&protocol).into_iter().flatten() {
                bounds.insert(u32::from(*a));
                bounds.insert(u32::from(*b) + 1);
            }
        }
        let bounds: Vec<u32> = bounds.into_iter().collect();
        for w in bounds.windows(2) {
            let (Some(&lo), Some(&hi)) = (w.first(), w.get(1)) else {
                continue;
            };
            let (Ok(lo16), Ok(hi16)) = (u16::try_from(lo), u16::try_from(hi - 1)) else {
                continue;
            };
            let peers: Vec<RulePeer> = by_peer
                .iter()
                .filter(|(_, s)| {
                    s.ranges
                        .get(&protocol)
                        .is_some_and(|rs| rs.iter().any(|(a, b)| *a <= lo16 && hi16 <= *b))
                })
                .map(|(p, _)| p.clone())
                .collect();
            if !peers.is_empty() {
                atoms.entry(peers).or_default().add(&RulePort::Range {
                    protocol,
                    start: lo16,
                    end: hi16,
                });
            }
        }
    }
    let named: BTreeSet<(Protocol, String)> = by_peer
        .values()
        .flat_map(|s| s.named.iter().cloned())
        .collect();
    for (protocol, name) in named {
        let peers: Vec<RulePeer> = by_peer
            .iter()
            .filter(|(_, s)| s.named.contains(&(protocol, name.clone())))
            .map(|(p, _)| p.clone())
            .collect();
        atoms
            .entry(peers)
            .or_default()
            .add(&RulePort::Named { protocol, name });
    }
    atoms
        .into_iter()
        .map(|(peers, ports)| Rule {
            peers,
            ports: ports.normalize().entries(),
        })
        .collect()
}

/// Merges peers that differ only in one label's value into one `In` selector, and drops
/// peers another peer of the rule covers.
fn merge_peers(mut peers: Vec<RulePeer>) -> Vec<RulePeer> {
    loop {
        let mut merged = None;
        'search: for (i, a) in peers.iter().enumerate() {
            for (j, b) in peers.iter().enumerate().skip(i + 1) {
                if let Some(m) = merge_pair(a, b) {
                    merged = Some((i, j, m));
                    break 'search;
                }
            }
        }
        match merged {
            Some((i, j, m)) => {
                peers.remove(j);
                peers.remove(i);
                peers.push(m);
            }
            None => break,
        }
    }
    peers.sort();
    peers
}

fn merge_pair(a: &RulePeer, b: &RulePeer) -> Option<RulePeer> {
    match (a, b) {
        (RulePeer::Pods { ns: an, pods: ap }, RulePeer::Pods { ns: bn, pods: bp }) => {
            if an == bn {
                ap.merge_in(bp).map(|pods| RulePeer::Pods {
                    ns: an.clone(),
                    pods,
                })
            } else if ap == bp {
                match (an, bn) {
                    (Some(x), Some(y)) => x.merge_in(y).map(|ns| RulePeer::Pods {
                        ns: Some(ns),
                        pods: ap.clone(),
                    }),
                    _ => None,
                }
            } else {
                None
            }
        }
        _ => None,
    }
}
