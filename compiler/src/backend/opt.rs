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
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

pub fn optimize(lowered: &Targets) -> Policies {
    optimize_owned(lowered.clone())
}

/// [`optimize`], consuming the lowered policies (no copy of them is made).
pub fn optimize_owned(lowered: Targets) -> Policies {
    let mut policies: Vec<PolicyIr> = lowered.into_values().collect();
    for p in &mut policies {
        for ingress in [true, false] {
            // Sequentially: a grant goes only while another one that covers it stays, so two
            // grants that cover each other (the same peer written two ways) keep one.
            let grants: Vec<&Grant> = p.grants(ingress).iter().collect();
            let candidates = CoverIndex::new(&grants);
            let mut alive = vec![true; grants.len()];
            for (gi, g) in grants.iter().enumerate() {
                let covered = candidates.for_grant(g).into_iter().any(|hi| {
                    hi != gi
                        && alive.get(hi).copied().unwrap_or(false)
                        && grants
                            .get(hi)
                            .is_some_and(|h| grant_covers(h, g, &p.namespace))
                });
                if covered && let Some(a) = alive.get_mut(gi) {
                    *a = false;
                }
            }
            let kept: BTreeSet<Grant> = grants
                .iter()
                .zip(&alive)
                .filter(|(_, a)| **a)
                .map(|(g, _)| (*g).clone())
                .collect();
            *p.grants_mut(ingress) = kept;
        }
    }
    // Policies only ever cover policies of their own namespace: each policy is compared with
    // the policies of its namespace, not with every other (linear in the number of
    // namespaces, quadratic only within one).
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in policies.iter().enumerate() {
        groups.entry(p.namespace.as_str()).or_default().push(i);
    }
    let mut same_ns: Vec<Vec<usize>> = vec![Vec::new(); policies.len()];
    for members in groups.values() {
        for &i in members {
            if let Some(v) = same_ns.get_mut(i) {
                v.clone_from(members);
            }
        }
    }
    drop(groups);
    // Cross-policy redundancy, in a fixed order so the result is deterministic. For each
    // policy, the other policies of its namespace that select all of its pods.
    let supersets: Vec<Vec<usize>> = (0..policies.len())
        .map(|i| {
            same_ns
                .get(i)
                .into_iter()
                .flatten()
                .copied()
                .filter(|&j| {
                    j != i
                        && policies
                            .get(i)
                            .zip(policies.get(j))
                            .is_some_and(|(x, y)| selects_all_of(y, x))
                })
                .collect()
        })
        .collect();
    for (i, sup) in supersets.iter().enumerate() {
        if sup.is_empty() {
            continue;
        }
        for ingress in [true, false] {
            let Some(x) = policies.get(i) else {
                continue;
            };
            // `sup` never holds `i`, so removing grants of `i` changes no later test.
            let covered: Vec<Grant> = x
                .grants(ingress)
                .iter()
                .filter(|g| {
                    sup.iter().filter_map(|j| policies.get(*j)).any(|y| {
                        has_dir(y.types, ingress)
                            && y.grants(ingress)
                                .iter()
                                .any(|h| grant_covers(h, g, &y.namespace))
                    })
                })
                .cloned()
                .collect();
            if let Some(x) = policies.get_mut(i) {
                for g in &covered {
                    x.grants_mut(ingress).remove(g);
                }
            }
        }
    }
    // Directions and policies that only repeat another policy's isolation, in order: a
    // direction dropped here no longer isolates for the policies after it (a policy left
    // without directions isolates nothing, as if removed).
    for i in 0..policies.len() {
        for ingress in [true, false] {
            let Some(x) = policies.get(i) else { break };
            if !has_dir(x.types, ingress) || !x.grants(ingress).is_empty() {
                continue;
            }
            let isolated_elsewhere = same_ns.get(i).into_iter().flatten().any(|&j| {
                j != i
                    && policies
                        .get(j)
                        .is_some_and(|y| has_dir(y.types, ingress) && selects_all_of(y, x))
            });
            if isolated_elsewhere && let Some(x) = policies.get_mut(i) {
                if ingress {
                    x.types.ingress = false;
                } else {
                    x.types.egress = false;
                }
            }
        }
    }
    policies
        .into_iter()
        .filter(|x| x.types.any())
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

/// Which grants of a direction may cover a given one: an index by the first required label
/// value of the covering grant's pods, so that a hub with thousands of grants does not compare
/// every pair. A pod peer `h` covers `g` only if `g`'s pods imply `h`'s; when `h` requires
/// key `k` to be one of the values `V` (and present), `g` must require `k` to be among a subset
/// of `V`, so `h` is found under (`k`, the first of `g`'s values).
struct CoverIndex {
    by_value: std::collections::HashMap<(String, String), Vec<usize>>,
    /// Grants without such a requirement: candidates for every grant.
    wild: Vec<usize>,
    len: usize,
}

/// The first key whose constraint is "present, and one of these values", with the values.
fn first_required(sel: &Sel) -> Option<(&String, &BTreeSet<String>)> {
    sel.keys.iter().find_map(|(k, c)| match &c.values {
        crate::k8s::selector::Values::In(v) if !c.absent_ok && !v.is_empty() => Some((k, v)),
        _ => None,
    })
}

impl CoverIndex {
    fn new(grants: &[&Grant]) -> CoverIndex {
        let mut by_value: std::collections::HashMap<(String, String), Vec<usize>> =
            std::collections::HashMap::new();
        let mut wild = Vec::new();
        for (i, h) in grants.iter().enumerate() {
            match &h.peer {
                RulePeer::Pods { pods, .. } if !pods.is_unsat() => match first_required(pods) {
                    Some((k, values)) => {
                        for v in values {
                            by_value.entry((k.clone(), v.clone())).or_default().push(i);
                        }
                    }
                    None => wild.push(i),
                },
                _ => wild.push(i),
            }
        }
        CoverIndex {
            by_value,
            wild,
            len: grants.len(),
        }
    }

    /// The grants that may cover `g`, ascending.
    fn for_grant(&self, g: &Grant) -> Vec<usize> {
        let RulePeer::Pods { pods, .. } = &g.peer else {
            // Blocks are covered by blocks only, which are all in `wild`.
            return self.wild.clone();
        };
        if pods.is_unsat() {
            // Pods that match nothing are covered by anything.
            return (0..self.len).collect();
        }
        let mut out = self.wild.clone();
        for (k, c) in &pods.keys {
            if let crate::k8s::selector::Values::In(v) = &c.values
                && !c.absent_ok
                && let Some(first) = v.iter().next()
                && let Some(hs) = self.by_value.get(&(k.clone(), first.clone()))
            {
                out.extend(hs);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn has_dir(types: Dirs, ingress: bool) -> bool {
    if ingress { types.ingress } else { types.egress }
}

/// `y` selects every pod that `x` selects.
fn selects_all_of(y: &PolicyIr, x: &PolicyIr) -> bool {
    y.namespace == x.namespace && x.pods.implies(&y.pods)
}

/// The namespace part of a pod peer as a selector (the policy's own namespace by name).
fn ns_sel<'a>(ns: &'a Option<Arc<Sel>>, policy_ns: &str) -> Cow<'a, Sel> {
    match ns {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(ns_by_name(policy_ns)),
    }
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

/// Merges peers that differ only in one label's value into one `In` selector.
///
/// Repeatedly merges the first mergeable pair in order (the merged peer goes last), as a
/// search from the start would find it, without comparing every pair. Two peers merge exactly
/// when they share a *bucket*: the same namespace part, the same pod selector but for one key
/// `k` that both require to be present and one of a set of values, and different sets on `k`
/// (or the same with the roles of pods and namespaces swapped). So every member of a bucket
/// holding two different sets has a partner there, the first peer with a partner is the first
/// member of such a bucket, and its first partner the first member of its buckets with
/// another set. Linear in the peers times their keys, with a logarithmic factor.
fn merge_peers(peers: Vec<RulePeer>) -> Vec<RulePeer> {
    let (rest, stuck) = merge_indexed(peers);
    if stuck {
        // Unreachable (bucket mates always merge): finish the old way, from this state.
        return merge_peers_pairwise(rest);
    }
    let mut rest = rest;
    rest.sort();
    rest
}

/// The merges through buckets: the peers left, in order, and whether two bucket mates failed
/// to merge (then the peers are as they stood before that pair).
fn merge_indexed(peers: Vec<RulePeer>) -> (Vec<RulePeer>, bool) {
    let mut m = Merger::default();
    for p in peers {
        m.push(p);
    }
    // Each merge leaves one peer fewer, so this ends.
    while let Some(&(first, _)) = m.active.first() {
        let Some((partner, merged)) = m.partner(first) else {
            break;
        };
        m.remove(first);
        m.remove(partner);
        m.push(merged);
    }
    let rest = m.slots.into_iter().flatten().map(|(p, _)| p).collect();
    (rest, m.stuck)
}

/// Where two peers may merge: the part they share, and the key whose sets they join.
#[derive(Clone, PartialEq, Eq, Hash)]
enum BucketKey {
    /// Same namespace part; pod selectors equal but for `key`.
    Pods {
        ns: Option<Arc<Sel>>,
        rest: Sel,
        key: String,
    },
    /// Same pod selector; namespace selectors equal but for `key`.
    Ns {
        pods: Arc<Sel>,
        rest: Sel,
        key: String,
    },
}

#[derive(Default)]
struct Bucket {
    /// Members by position.
    members: BTreeSet<usize>,
    /// How many members have each set of values on the bucket's key.
    sets: HashMap<BTreeSet<String>, usize>,
}

/// A peer's buckets, each with the peer's set of values on the bucket's key.
type Memberships = Vec<(usize, BTreeSet<String>)>;

#[derive(Default)]
struct Merger {
    /// The peers by position (removed ones are `None`), each with its buckets and its set of
    /// values on each bucket's key.
    slots: Vec<Option<(RulePeer, Memberships)>>,
    ids: HashMap<BucketKey, usize>,
    buckets: Vec<Bucket>,
    /// Buckets with two different sets, by their first member.
    active: BTreeSet<(usize, usize)>,
    stuck: bool,
}

/// The keys of `sel` that it requires to be present with one of a set of values, with the set.
fn in_keys(sel: &Sel) -> impl Iterator<Item = (&String, &BTreeSet<String>)> {
    sel.keys.iter().filter_map(|(k, c)| match &c.values {
        crate::k8s::selector::Values::In(v) if !c.absent_ok => Some((k, v)),
        _ => None,
    })
}

fn without(sel: &Sel, key: &str) -> Sel {
    let mut rest = sel.clone();
    rest.keys.remove(key);
    rest
}

impl Merger {
    fn buckets_of(p: &RulePeer) -> Vec<(BucketKey, BTreeSet<String>)> {
        let RulePeer::Pods { ns, pods } = p else {
            return Vec::new();
        };
        let mut out: Vec<(BucketKey, BTreeSet<String>)> = in_keys(pods)
            .map(|(k, v)| {
                let key = BucketKey::Pods {
                    ns: ns.clone(),
                    rest: without(pods, k),
                    key: k.clone(),
                };
                (key, v.clone())
            })
            .collect();
        if let Some(ns) = ns {
            out.extend(in_keys(ns).map(|(k, v)| {
                let key = BucketKey::Ns {
                    pods: pods.clone(),
                    rest: without(ns, k),
                    key: k.clone(),
                };
                (key, v.clone())
            }));
        }
        out
    }

    fn first_member(&self, b: usize) -> Option<usize> {
        self.buckets.get(b)?.members.first().copied()
    }

    /// Runs `f` on bucket `b`, keeping `active` up to date.
    fn update(&mut self, b: usize, f: impl FnOnce(&mut Bucket)) {
        if let Some(first) = self.first_member(b) {
            self.active.remove(&(first, b));
        }
        if let Some(bucket) = self.buckets.get_mut(b) {
            f(bucket);
            if bucket.sets.len() >= 2
                && let Some(&first) = bucket.members.first()
            {
                self.active.insert((first, b));
            }
        }
    }

    fn push(&mut self, p: RulePeer) {
        let at = self.slots.len();
        let mut mine = Vec::new();
        for (key, set) in Self::buckets_of(&p) {
            let b = match self.ids.get(&key) {
                Some(&b) => b,
                None => {
                    self.buckets.push(Bucket::default());
                    let b = self.buckets.len() - 1;
                    self.ids.insert(key, b);
                    b
                }
            };
            let s = set.clone();
            self.update(b, |bucket| {
                bucket.members.insert(at);
                *bucket.sets.entry(s).or_default() += 1;
            });
            mine.push((b, set));
        }
        self.slots.push(Some((p, mine)));
    }

    fn remove(&mut self, at: usize) {
        let Some((_, mine)) = self.slots.get_mut(at).and_then(Option::take) else {
            return;
        };
        for (b, set) in mine {
            self.update(b, |bucket| {
                bucket.members.remove(&at);
                if let Some(n) = bucket.sets.get_mut(&set) {
                    *n -= 1;
                    if *n == 0 {
                        bucket.sets.remove(&set);
                    }
                }
            });
        }
    }

    /// The first partner of the peer at `at` and their merge.
    fn partner(&mut self, at: usize) -> Option<(usize, RulePeer)> {
        let (peer, mine) = self.slots.get(at)?.as_ref()?;
        let partner = mine
            .iter()
            .filter_map(|(b, set)| {
                self.buckets.get(*b)?.members.iter().copied().find(|&m| {
                    m != at
                        && self
                            .slots
                            .get(m)
                            .and_then(Option::as_ref)
                            .and_then(|(_, theirs)| theirs.iter().find(|(tb, _)| tb == b))
                            .is_some_and(|(_, theirs)| theirs != set)
                })
            })
            .min();
        let merged = partner.and_then(|j| {
            let (other, _) = self.slots.get(j)?.as_ref()?;
            merge_pair(peer, other).map(|m| (j, m))
        });
        if merged.is_none() {
            self.stuck = true;
            self.active.clear();
        }
        merged
    }
}

fn merge_pair(a: &RulePeer, b: &RulePeer) -> Option<RulePeer> {
    match (a, b) {
        (RulePeer::Pods { ns: an, pods: ap }, RulePeer::Pods { ns: bn, pods: bp }) => {
            if an == bn {
                ap.merge_in(bp).map(|pods| RulePeer::Pods {
                    ns: an.clone(),
                    pods: Arc::new(pods),
                })
            } else if ap == bp {
                match (an, bn) {
                    (Some(x), Some(y)) => x.merge_in(y).map(|ns| RulePeer::Pods {
                        ns: Some(Arc::new(ns)),
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

/// The merges of [`merge_peers`] found by comparing pairs: the reference it is tested against,
/// and where it finishes should a bucket ever hold peers that do not merge.
fn merge_peers_pairwise(mut peers: Vec<RulePeer>) -> Vec<RulePeer> {
    // Rows `..stable` are known to merge with no peer but (possibly) the last one.
    let mut stable = 0;
    loop {
        let mut merged = None;
        let last = peers.len().saturating_sub(1);
        if let Some(newest) = peers.last() {
            for (i, a) in peers.iter().enumerate().take(stable.min(last)) {
                if let Some(m) = merge_pair(a, newest) {
                    merged = Some((i, last, m));
                    break;
                }
            }
        }
        if merged.is_none() {
            'search: for (i, a) in peers.iter().enumerate().skip(stable) {
                for (j, b) in peers.iter().enumerate().skip(i + 1) {
                    if let Some(m) = merge_pair(a, b) {
                        merged = Some((i, j, m));
                        break 'search;
                    }
                }
            }
        }
        match merged {
            Some((i, j, m)) => {
                peers.remove(j);
                peers.remove(i);
                peers.push(m);
                stable = i;
            }
            None => break,
        }
    }
    peers.sort();
    peers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::selector::Constraint;
    use proptest::prelude::*;

    fn constraint() -> impl Strategy<Value = Constraint> {
        prop_oneof![
            4 => proptest::sample::subsequence(vec!["x", "y", "z", "w"], 1..3)
                .prop_map(Constraint::is_in),
            1 => Just(Constraint::exists()),
            1 => Just(Constraint::not_in(["x"])),
            1 => Just(Constraint::does_not_exist()),
        ]
    }

    fn selector(keys: &'static [&'static str]) -> impl Strategy<Value = Sel> {
        proptest::collection::vec(
            (proptest::sample::select(keys.to_vec()), constraint()),
            0..3,
        )
        .prop_map(|cs| {
            let mut s = Sel::all();
            for (k, c) in cs {
                s.keys.insert(k.to_string(), c);
            }
            s
        })
    }

    /// Peers over few keys and values, so that many pairs merge, in chains, and merges
    /// recreate peers that are already there.
    fn peer() -> impl Strategy<Value = RulePeer> {
        prop_oneof![
            6 => (
                proptest::option::of(selector(&["team", "env"])),
                selector(&["app", "tier"]),
            )
                .prop_map(|(ns, pods)| RulePeer::Pods {
                    ns: ns.map(Arc::new),
                    pods: Arc::new(pods),
                }),
            1 => Just(RulePeer::Block(IpBlock {
                cidr: "10.0.0.0/8".parse().unwrap(),
                except: Vec::new(),
            })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// The buckets find every merge the pairwise search finds, in the same order (so the
        /// same peers come out), and their mates always merge.
        #[test]
        fn merging_through_buckets_is_the_pairwise_search(
            peers in proptest::collection::vec(peer(), 0..40),
        ) {
            let (_, stuck) = merge_indexed(peers.clone());
            prop_assert!(!stuck);
            prop_assert_eq!(merge_peers(peers.clone()), merge_peers_pairwise(peers));
        }
    }
}
