//! `diff`: what a change to network policy does, in connection terms, computed from meaning.
//!
//! Two policy sets are evaluated (with [`crate::k8s::eval`]) over one cluster:
//!
//! * every ordered pair of the cluster's pods on every container port of the destination:
//!   exactly the cells of [`explain::matrix`], so a tool diffing two matrices gets the same
//!   answer;
//! * every pod to and from one address of each region of the address space that the policies'
//!   `ipBlock`s (and the program's externals) can tell apart, on one port of each range of
//!   ports the policies can tell apart;
//! * pods that do not exist yet: for each namespace, every class of label sets that the
//!   policies' selectors can tell apart (each key a selector mentions takes each value some
//!   selector names, another value, or no value). A class that no existing pod of the
//!   namespace behaves like shows changes the workloads cannot; such changes are reported as
//!   "any new pod with `labels` in `namespace`", with the label condition computed exactly
//!   (it covers precisely the classes that see the change).
//!
//! The result is grouped for people by service pairs and port sets, and kept raw for tools.
//! No I/O; never panics.

use crate::explain;
use crate::k8s::eval::{self, Cluster, Endpoint, Pod, Protocol};
use crate::k8s::selector::{Constraint, Sel, Values};
use crate::resolve::hir::{IpBlock, Program};
use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::str::FromStr;

/// At most this many label classes are enumerated per namespace for pods that do not exist
/// yet; beyond it, the namespace's future pods are not analysed and a note says so.
pub const MAX_CLASSES: usize = 20_000;

/// How pods and addresses are named in the grouped report.
#[derive(Clone, Debug, Default)]
pub struct Naming {
    /// Per pod of the cluster (same order): the group it is reported in (`shop/frontend`, the
    /// service selecting it), or `None` to report it as itself.
    pub pod_groups: Vec<Option<String>>,
    /// Named address blocks (the programs' externals), in order of preference.
    pub externals: Vec<(String, Vec<IpBlock>)>,
}

impl Naming {
    /// Names pods after the services of `programs` (newest first) that select them
    /// (`namespace/service`, the first program that has one wins) and addresses after their
    /// externals.
    pub fn from_programs(programs: &[&Program], cluster: &Cluster) -> Naming {
        let pod_groups = cluster
            .pods
            .iter()
            .map(|pod| {
                programs.iter().find_map(|p| {
                    let names: Vec<&str> = p
                        .services
                        .iter()
                        .filter(|s| s.namespace == pod.namespace && s.selector.matches(&pod.labels))
                        .map(|s| s.name.as_str())
                        .collect();
                    (!names.is_empty()).then(|| format!("{}/{}", pod.namespace, names.join("+")))
                })
            })
            .collect();
        // An external of a later program whose name an earlier one gives other blocks is
        // named `name (before)`.
        let mut externals: Vec<(String, Vec<IpBlock>)> = Vec::new();
        for (i, p) in programs.iter().enumerate() {
            for e in &p.externals {
                match externals.iter().find(|(n, _)| *n == e.name) {
                    None => externals.push((e.name.clone(), e.blocks.clone())),
                    Some((_, blocks)) if *blocks != e.blocks && i > 0 => {
                        externals.push((format!("{} (before)", e.name), e.blocks.clone()));
                    }
                    Some(_) => {}
                }
            }
        }
        Naming {
            pod_groups,
            externals,
        }
    }
}

/// Whether a connection starts or stops being allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
        }
    }
}

/// Pods that do not exist yet, as one end of a connection.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FuturePods {
    pub namespace: String,
    /// The labels they carry, in netpol selector syntax (`{}`: any labels).
    pub labels: String,
    /// The same, as a selector.
    #[serde(skip)]
    pub selector: Sel,
}

/// One connection that changed. Exactly one of each `from*` and `to*` field is set: `from`
/// and `to` name a pod (`namespace/pod`, as `explain --matrix` does) or an address; an
/// address also has `*_external`, the block it stands for; pods that do not exist yet have
/// `*_future`. `end_port` is set when the entry stands for a range of ports that no policy
/// tells apart.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Connection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_external: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_future: Option<FuturePods>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_external: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_future: Option<FuturePods>,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
    pub protocol: String,
}

/// One line of the grouped report: a pair of groups and a set of ports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Line {
    pub change: Change,
    pub from: String,
    pub to: String,
    pub ports: String,
    /// The raw connections (pod or address pairs times ports) the line stands for.
    pub connections: usize,
    /// The address regions `from` (or `to`) stands for, when it is addresses.
    #[serde(skip)]
    from_regions: BTreeSet<usize>,
    #[serde(skip)]
    to_regions: BTreeSet<usize>,
}

/// Merges lines that differ only in the addresses at one end into one line naming them all
/// (`any address` when they are every region).
fn merge_addresses(lines: Vec<Line>, regions: &[Region]) -> Vec<Line> {
    type Key = (Change, Option<String>, Option<String>, String);
    let mut merged: BTreeMap<Key, Line> = BTreeMap::new();
    let mut out = Vec::new();
    for l in lines {
        let key: Key = match (l.from_regions.is_empty(), l.to_regions.is_empty()) {
            (true, false) => (l.change, Some(l.from.clone()), None, l.ports.clone()),
            (false, true) => (l.change, None, Some(l.to.clone()), l.ports.clone()),
            _ => {
                out.push(l);
                continue;
            }
        };
        match merged.get_mut(&key) {
            Some(m) => {
                m.from_regions.extend(l.from_regions.iter().copied());
                m.to_regions.extend(l.to_regions.iter().copied());
                m.connections += l.connections;
            }
            None => {
                merged.insert(key, l);
            }
        }
    }
    let name = |set: &BTreeSet<usize>| -> String {
        if set.len() == regions.len() {
            return "any address".to_string();
        }
        // Externals whose every region is in the set name those regions (largest first);
        // the rest are named one by one.
        let names = |keep: bool| {
            let chosen: BTreeSet<usize> = (0..regions.len())
                .filter(|r| set.contains(r) == keep)
                .collect();
            let mut externals: Vec<(&str, BTreeSet<usize>)> = Vec::new();
            for g in regions {
                for n in &g.within {
                    if !externals.iter().any(|(m, _)| m == n) {
                        let of: BTreeSet<usize> = (0..regions.len())
                            .filter(|r| regions.get(*r).is_some_and(|x| x.within.contains(n)))
                            .collect();
                        externals.push((n.as_str(), of));
                    }
                }
            }
            externals.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
            let mut left = chosen.clone();
            let mut v: Vec<String> = Vec::new();
            for (n, of) in externals {
                if of.len() > 1 && of.is_subset(&chosen) && !of.is_disjoint(&left) {
                    v.push(n.to_string());
                    left = left.difference(&of).copied().collect();
                }
            }
            v.extend(
                left.iter()
                    .filter_map(|r| regions.get(*r).map(|g| g.name.clone())),
            );
            v.sort();
            v.join(", ")
        };
        if set.len() * 2 > regions.len() {
            format!("any address except {}", names(false))
        } else {
            names(true)
        }
    };
    for (_, mut l) in merged {
        if !l.from_regions.is_empty() {
            l.from = name(&l.from_regions);
        }
        if !l.to_regions.is_empty() {
            l.to = name(&l.to_regions);
        }
        out.push(l);
    }
    out
}

/// Policy objects that changed, as `namespace/name`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PolicyChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Same name, different `spec` (annotations such as the source line are not compared).
    pub modified: Vec<String>,
}

impl PolicyChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.modified.is_empty()
    }
}

/// The whole difference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub added: Vec<Connection>,
    pub removed: Vec<Connection>,
    pub policies: PolicyChanges,
    /// The grouped report, for people.
    pub summary: Vec<Line>,
    /// What could not be analysed (too many label classes), said rather than skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Diff {
    /// Whether the allowed set changed (for `--exit-code`).
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }
}

/// A port class: `start..=end` on `protocol`, all ports no policy tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Ports {
    protocol: Protocol,
    start: u16,
    end: u16,
}

/// One end of a changed connection, before naming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum End {
    Pod(usize),
    Address(usize),
}

/// A region of the address space: a representative address and what it stands for.
#[derive(Clone, Debug)]
struct Region {
    address: IpAddr,
    block: String,
    name: String,
    /// The externals that hold the whole region.
    within: Vec<String>,
}

/// The difference between `old` and `new` over `cluster`.
pub fn diff(
    old: &[NetworkPolicy],
    new: &[NetworkPolicy],
    cluster: &Cluster,
    naming: &Naming,
) -> Diff {
    let both: Vec<&NetworkPolicy> = old.iter().chain(new.iter()).collect();
    let ports = port_classes(&both);
    let regions = regions(&both, naming);
    let mut changes: Vec<(Change, End, End, Ports)> = Vec::new();

    // Pod to pod: the cells of the matrix.
    let (m_old, m_new) = (explain::matrix(old, cluster), explain::matrix(new, cluster));
    for ((i, j, protocol, port), (a, b)) in explain::cells(cluster)
        .into_iter()
        .zip(m_old.iter().zip(m_new.iter()))
    {
        if a.allowed != b.allowed {
            let change = if b.allowed {
                Change::Added
            } else {
                Change::Removed
            };
            let p = Ports {
                protocol,
                start: port,
                end: port,
            };
            changes.push((change, End::Pod(i), End::Pod(j), p));
        }
    }

    // Pods to and from addresses.
    for (i, pod) in cluster.pods.iter().enumerate() {
        for (r, region) in regions.iter().enumerate() {
            let address = Endpoint::External(region.address);
            for p in &ports {
                let verdicts = verdict_pair(old, new, cluster, &Endpoint::Pod(i), &address, p);
                if let Some(change) = verdicts {
                    changes.push((change, End::Pod(i), End::Address(r), *p));
                }
            }
            for (protocol, port) in container_ports(pod) {
                let p = Ports {
                    protocol,
                    start: port,
                    end: port,
                };
                if let Some(change) =
                    verdict_pair(old, new, cluster, &address, &Endpoint::Pod(i), &p)
                {
                    changes.push((change, End::Address(r), End::Pod(i), p));
                }
            }
        }
    }

    let mut out = Diff {
        policies: policy_changes(old, new),
        ..Diff::default()
    };
    let show = |e: End| -> (String, Option<String>) {
        match e {
            End::Pod(i) => (explain::show(cluster, &Endpoint::Pod(i)), None),
            End::Address(r) => regions.get(r).map_or((String::new(), None), |g| {
                (g.address.to_string(), Some(g.block.clone()))
            }),
        }
    };
    for (change, from, to, p) in &changes {
        let (from, from_external) = show(*from);
        let (to, to_external) = show(*to);
        let c = Connection {
            from: Some(from),
            from_external,
            from_future: None,
            to: Some(to),
            to_external,
            to_future: None,
            port: p.start,
            end_port: (p.end != p.start).then_some(p.end),
            protocol: p.protocol.to_string(),
        };
        match change {
            Change::Added => out.added.push(c),
            Change::Removed => out.removed.push(c),
        }
    }
    out.summary = group_lines(&changes, cluster, naming, &regions);

    future_pods(
        (old, new),
        (cluster, naming),
        (&regions, &ports),
        &changes,
        &mut out,
    );

    out.added = merge_ranges(std::mem::take(&mut out.added));
    out.removed = merge_ranges(std::mem::take(&mut out.removed));
    out.summary.sort();
    out
}

/// Sorts, and joins entries to or from addresses or future pods whose port classes are
/// adjacent into one range (pod-to-pod entries stay one port each, as matrix cells are).
fn merge_ranges(mut list: Vec<Connection>) -> Vec<Connection> {
    // By ends, then protocol, then port: the ranges of one pair and protocol are neighbours.
    list.sort_by(|a, b| {
        let key = |c: &Connection| {
            (
                c.from.clone(),
                c.from_external.clone(),
                c.from_future.clone(),
                c.to.clone(),
                c.to_external.clone(),
                c.to_future.clone(),
                c.protocol.clone(),
                c.port,
                c.end_port,
            )
        };
        key(a).cmp(&key(b))
    });
    let mergeable = |c: &Connection| {
        c.from_external.is_some()
            || c.to_external.is_some()
            || c.from_future.is_some()
            || c.to_future.is_some()
    };
    let same_ends = |a: &Connection, b: &Connection| {
        a.from == b.from
            && a.from_external == b.from_external
            && a.from_future == b.from_future
            && a.to == b.to
            && a.to_external == b.to_external
            && a.to_future == b.to_future
            && a.protocol == b.protocol
    };
    let mut out: Vec<Connection> = Vec::new();
    for c in list {
        if let Some(last) = out.last_mut()
            && mergeable(&c)
            && same_ends(last, &c)
            && u32::from(last.end_port.unwrap_or(last.port)) + 1 == u32::from(c.port)
        {
            last.end_port = Some(c.end_port.unwrap_or(c.port));
            continue;
        }
        out.push(c);
    }
    out
}

/// The verdict change of one connection, if any.
fn verdict_pair(
    old: &[NetworkPolicy],
    new: &[NetworkPolicy],
    cluster: &Cluster,
    from: &Endpoint,
    to: &Endpoint,
    p: &Ports,
) -> Option<Change> {
    let a = eval::evaluate(old, cluster, from, to, p.protocol, p.start).allowed;
    let b = eval::evaluate(new, cluster, from, to, p.protocol, p.start).allowed;
    match (a, b) {
        (false, true) => Some(Change::Added),
        (true, false) => Some(Change::Removed),
        _ => None,
    }
}

/// The container ports of a pod, sorted and deduplicated, as `explain::matrix` probes them.
fn container_ports(pod: &Pod) -> Vec<(Protocol, u16)> {
    let mut ports: Vec<(Protocol, u16)> = pod.ports.iter().map(|c| (c.protocol, c.port)).collect();
    ports.sort();
    ports.dedup();
    ports
}

fn policy_changes(old: &[NetworkPolicy], new: &[NetworkPolicy]) -> PolicyChanges {
    let index = |ps: &[NetworkPolicy]| -> BTreeMap<String, serde_json::Value> {
        ps.iter()
            .map(|p| {
                (
                    eval::policy_id(p),
                    serde_json::to_value(&p.spec).unwrap_or_default(),
                )
            })
            .collect()
    };
    let (a, b) = (index(old), index(new));
    let mut out = PolicyChanges::default();
    for (name, spec) in &b {
        match a.get(name) {
            None => out.added.push(name.clone()),
            Some(s) if s != spec => out.modified.push(name.clone()),
            Some(_) => {}
        }
    }
    out.removed = a.keys().filter(|n| !b.contains_key(*n)).cloned().collect();
    out
}

// ---------------------------------------------------------------------------------------
// Ports and addresses the policies can tell apart.

/// A rule's peers (`from` or `to`) and ports.
type Rule<'a> = (
    Option<&'a [NetworkPolicyPeer]>,
    Option<&'a [NetworkPolicyPort]>,
);

/// Every ingress and egress rule of a policy.
fn all_rules(policy: &NetworkPolicy) -> Vec<Rule<'_>> {
    let mut out = Vec::new();
    if let Some(spec) = &policy.spec {
        for r in spec.ingress.iter().flatten() {
            out.push((r.from.as_deref(), r.ports.as_deref()));
        }
        for r in spec.egress.iter().flatten() {
            out.push((r.to.as_deref(), r.ports.as_deref()));
        }
    }
    out
}

/// Every protocol's ports cut at each number a policy's numbered port or range starts or ends
/// at: all ports of one class are admitted by the same numbered port items.
fn port_classes(policies: &[&NetworkPolicy]) -> Vec<Ports> {
    let mut cuts: BTreeMap<Protocol, BTreeSet<u32>> = Protocol::ALL
        .iter()
        .map(|p| (*p, BTreeSet::from([1, 65536])))
        .collect();
    for policy in policies {
        for (_, ports) in all_rules(policy) {
            for item in ports.into_iter().flatten() {
                let protocol = match item.protocol.as_deref() {
                    None => Protocol::Tcp,
                    Some(t) => match Protocol::parse_api(t) {
                        Some(p) => p,
                        None => continue,
                    },
                };
                if let Some(IntOrString::Int(start)) = item.port {
                    let end = item.end_port.unwrap_or(start);
                    if (1..=65535).contains(&start) && (start..=65535).contains(&end) {
                        let set = cuts.entry(protocol).or_default();
                        set.insert(u32::try_from(start).unwrap_or(1));
                        set.insert(u32::try_from(end).unwrap_or(65535) + 1);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (protocol, set) in cuts {
        let v: Vec<u32> = set.into_iter().collect();
        for w in v.windows(2) {
            if let [a, b] = w
                && let (Ok(start), Ok(end)) = (u16::try_from(*a), u16::try_from(*b - 1))
            {
                out.push(Ports {
                    protocol,
                    start,
                    end,
                });
            }
        }
    }
    out
}

fn parse_net(text: &str) -> Option<IpNet> {
    IpNet::from_str(text).ok().map(|n| n.trunc())
}

/// The regions of the address space that the `ipBlock`s and the named blocks tell apart:
/// each block minus the blocks nested in it, and the rest of each address family.
fn regions(policies: &[&NetworkPolicy], naming: &Naming) -> Vec<Region> {
    let mut nets: BTreeSet<IpNet> = BTreeSet::new();
    for root in ["0.0.0.0/0", "::/0"] {
        if let Some(n) = parse_net(root) {
            nets.insert(n);
        }
    }
    for policy in policies {
        for (peers, _) in all_rules(policy) {
            for peer in peers.into_iter().flatten() {
                if let Some(b) = &peer.ip_block {
                    nets.extend(parse_net(&b.cidr));
                    nets.extend(b.except.iter().flatten().filter_map(|e| parse_net(e)));
                }
            }
        }
    }
    let nets: Vec<IpNet> = nets.into_iter().collect();
    let mut out = Vec::new();
    for net in &nets {
        // The maximal blocks strictly inside `net`.
        let inner: Vec<&IpNet> = nets
            .iter()
            .filter(|n| *n != net && net.contains(*n))
            .collect();
        let children: Vec<IpNet> = inner
            .iter()
            .filter(|n| !inner.iter().any(|m| m != *n && m.contains(**n)))
            .map(|n| **n)
            .collect();
        let Some(address) = uncovered_address(net, &children) else {
            continue;
        };
        let block = if children.is_empty() {
            net.to_string()
        } else {
            let list: Vec<String> = children.iter().map(IpNet::to_string).collect();
            format!("{net} except {}", list.join(", "))
        };
        // The externals holding the whole region, by their most specific block holding it;
        // the most specific ones name the region. (Regions come from the policies alone, so
        // that the raw connections do not depend on how the sides were given.)
        let holding: Vec<(&str, u8)> = naming
            .externals
            .iter()
            .filter_map(|(n, blocks)| {
                blocks
                    .iter()
                    .filter(|b| {
                        b.cidr.contains(net)
                            && b.except.iter().all(|x| {
                                !(x.contains(net) || net.contains(x))
                                    || children.iter().any(|c| c.contains(x))
                            })
                    })
                    .map(|b| b.cidr.prefix_len())
                    .max()
                    .map(|len| (n.as_str(), len))
            })
            .collect();
        let best = holding.iter().map(|(_, l)| *l).max();
        let names: Vec<&str> = holding
            .iter()
            .filter(|(_, l)| Some(*l) == best)
            .map(|(n, _)| *n)
            .collect();
        let name = if names.is_empty() {
            block.clone()
        } else {
            format!("{} ({block})", names.join("/"))
        };
        let within = holding.iter().map(|(n, _)| (*n).to_string()).collect();
        out.push(Region {
            address,
            block,
            name,
            within,
        });
    }
    out
}

/// The first address of `net` outside every one of `children` (disjoint blocks inside it).
fn uncovered_address(net: &IpNet, children: &[IpNet]) -> Option<IpAddr> {
    let mut sorted: Vec<IpNet> = children.to_vec();
    sorted.sort_by_key(|n| to_u128(n.network()));
    let last = to_u128(net.broadcast());
    let mut candidate = to_u128(net.network());
    for c in &sorted {
        if candidate < to_u128(c.network()) {
            break;
        }
        if candidate <= to_u128(c.broadcast()) {
            candidate = to_u128(c.broadcast()).checked_add(1)?;
        }
    }
    (candidate <= last).then(|| from_u128(candidate, net.network()))
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(n: u128, family: IpAddr) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4(u32::try_from(n).unwrap_or(u32::MAX).into()),
        IpAddr::V6(_) => IpAddr::V6(n.into()),
    }
}

// ---------------------------------------------------------------------------------------
// Grouping for people.

/// Renders a set of port classes: `80/TCP, 8080-8090/TCP, 53/UDP`, `all TCP ports`,
/// `TCP ports except 80`.
fn ports_text(set: &BTreeSet<Ports>) -> String {
    let full = |protocol: Protocol| {
        set.iter()
            .filter(|p| p.protocol == protocol)
            .map(|p| u32::from(p.end) - u32::from(p.start) + 1)
            .sum::<u32>()
            == 65535
    };
    if Protocol::ALL.iter().all(|p| full(*p)) {
        return "all ports".to_string();
    }
    let mut parts = Vec::new();
    for protocol in Protocol::ALL {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for p in set.iter().filter(|p| p.protocol == protocol) {
            let (s, e) = (u32::from(p.start), u32::from(p.end));
            match ranges.last_mut() {
                Some(last) if last.1 + 1 >= s => last.1 = last.1.max(e),
                _ => ranges.push((s, e)),
            }
        }
        if ranges.is_empty() {
            continue;
        }
        let range = |(s, e): (u32, u32)| {
            if s == e {
                format!("{s}")
            } else {
                format!("{s}-{e}")
            }
        };
        if ranges == [(1, 65535)] {
            parts.push(format!("all {protocol} ports"));
            continue;
        }
        // The complement, when it is the shorter way to say it.
        let mut gaps = Vec::new();
        let mut next = 1;
        for (s, e) in &ranges {
            if *s > next {
                gaps.push((next, s - 1));
            }
            next = e + 1;
        }
        if next <= 65535 {
            gaps.push((next, 65535));
        }
        let covered: u32 = ranges.iter().map(|(s, e)| e - s + 1).sum();
        if covered > 32768 && gaps.len() < ranges.len() {
            let list: Vec<String> = gaps.into_iter().map(range).collect();
            parts.push(format!("{protocol} ports except {}", list.join(", ")));
        } else {
            for r in ranges {
                parts.push(format!("{}/{protocol}", range(r)));
            }
        }
    }
    parts.join(", ")
}

/// A group's name with how many of its pods the line covers: `shop/web (3 of 40 pods)`.
fn group_label(name: &str, changed: usize, total: usize) -> String {
    match (changed, total) {
        (_, 0 | 1) => name.to_string(),
        (c, t) if c == t => format!("{name} ({t} pods)"),
        (c, t) => format!("{name} ({c} of {t} pods)"),
    }
}

fn group_lines(
    changes: &[(Change, End, End, Ports)],
    cluster: &Cluster,
    naming: &Naming,
    regions: &[Region],
) -> Vec<Line> {
    let group_of = |e: End| -> String {
        match e {
            End::Pod(i) => naming
                .pod_groups
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| explain::show(cluster, &Endpoint::Pod(i))),
            End::Address(r) => regions.get(r).map(|g| g.name.clone()).unwrap_or_default(),
        }
    };
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..cluster.pods.len() {
        *sizes.entry(group_of(End::Pod(i))).or_default() += 1;
    }
    // (change, from, to) -> the ports of each pair.
    let mut pairs: BTreeMap<(Change, End, End), BTreeSet<Ports>> = BTreeMap::new();
    for (c, f, t, p) in changes {
        pairs.entry((*c, *f, *t)).or_default().insert(*p);
    }
    // (change, from group, to group, ports) -> the pairs.
    type Members = (BTreeSet<End>, BTreeSet<End>, usize);
    let mut lines: BTreeMap<(Change, String, String, String), Members> = BTreeMap::new();
    for ((c, f, t), ports) in &pairs {
        let key = (*c, group_of(*f), group_of(*t), ports_text(ports));
        // An address end keeps its region for merging (see `merge_addresses`).
        let entry = lines.entry(key).or_default();
        entry.0.insert(*f);
        entry.1.insert(*t);
        entry.2 += ports.len();
    }
    lines
        .into_iter()
        .map(|((change, from, to, ports), (fs, ts, n))| {
            let size = |g: &str| sizes.get(g).copied().unwrap_or(0);
            Line {
                change,
                from: group_label(&from, fs.len(), size(&from)),
                to: group_label(&to, ts.len(), size(&to)),
                ports,
                connections: n,
                from_regions: regions_of(&fs),
                to_regions: regions_of(&ts),
            }
        })
        .collect()
}

fn regions_of(ends: &BTreeSet<End>) -> BTreeSet<usize> {
    ends.iter()
        .filter_map(|e| match e {
            End::Address(r) => Some(*r),
            End::Pod(_) => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Pods that do not exist yet.

/// Every label selector of the policies, deduplicated (by their JSON form).
fn selectors(policies: &[&NetworkPolicy]) -> Vec<LabelSelector> {
    let mut seen: BTreeMap<String, LabelSelector> = BTreeMap::new();
    let mut add = |s: &LabelSelector| {
        seen.entry(serde_json::to_string(s).unwrap_or_default())
            .or_insert_with(|| s.clone());
    };
    for policy in policies {
        if let Some(s) = policy.spec.as_ref().and_then(|s| s.pod_selector.as_ref()) {
            add(s);
        }
        for (peers, _) in all_rules(policy) {
            for peer in peers.into_iter().flatten() {
                if let Some(s) = &peer.pod_selector {
                    add(s);
                }
            }
        }
    }
    seen.into_values().collect()
}

/// One option of a label key: a value some selector names, another value, or no value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LabelOption {
    Value(String),
    Other,
    Absent,
}

/// The keys the selectors mention, each with its options.
fn vocabulary(selectors: &[LabelSelector]) -> BTreeMap<String, Vec<LabelOption>> {
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in selectors {
        for (k, v) in s.match_labels.iter().flatten() {
            values.entry(k.clone()).or_default().insert(v.clone());
        }
        for e in s.match_expressions.iter().flatten() {
            values
                .entry(e.key.clone())
                .or_default()
                .extend(e.values.iter().flatten().cloned());
        }
    }
    values
        .into_iter()
        .map(|(k, vs)| {
            let mut options: Vec<LabelOption> = vs.into_iter().map(LabelOption::Value).collect();
            options.push(LabelOption::Other);
            options.push(LabelOption::Absent);
            (k, options)
        })
        .collect()
}

/// A value of `key` that no selector names.
fn other_value(options: &[LabelOption]) -> String {
    let named = |s: &str| options.contains(&LabelOption::Value(s.to_string()));
    let mut candidate = "other".to_string();
    let mut n = 0;
    while named(&candidate) {
        n += 1;
        candidate = format!("other-{n}");
    }
    candidate
}

fn labels_of(
    vocab: &[(&String, &Vec<LabelOption>, String)],
    class: &[usize],
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for ((key, options, other), o) in vocab.iter().zip(class) {
        match options.get(*o) {
            Some(LabelOption::Value(v)) => {
                labels.insert((*key).clone(), v.clone());
            }
            Some(LabelOption::Other) => {
                labels.insert((*key).clone(), other.clone());
            }
            _ => {}
        }
    }
    labels
}

/// A change seen from one pod: (change, the pod is the source, the other end, ports).
type Tuple = (Change, bool, End, Ports);

/// What decides how policies treat pod `slot`: for each policy, whether it selects the pod,
/// and for each peer of each rule, whether it matches the pod.
fn behaviour(policies: &[&NetworkPolicy], cluster: &Cluster, slot: usize) -> Vec<bool> {
    let mut out = Vec::new();
    let Some(pod) = cluster.pod(slot) else {
        return out;
    };
    for policy in policies {
        out.push(eval::policy_selects(policy, pod));
        let ns = eval::policy_namespace(policy);
        for (peers, _) in all_rules(policy) {
            for peer in peers.into_iter().flatten() {
                out.push(eval::peer_matches(peer, ns, cluster, &Endpoint::Pod(slot)));
            }
        }
    }
    out
}

/// Adds the changes that pods that do not exist yet would see.
fn future_pods(
    (old, new): (&[NetworkPolicy], &[NetworkPolicy]),
    (cluster, naming): (&Cluster, &Naming),
    (regions, ports): (&[Region], &[Ports]),
    changes: &[(Change, End, End, Ports)],
    out: &mut Diff,
) {
    let both: Vec<&NetworkPolicy> = old.iter().chain(new.iter()).collect();
    let sels = selectors(&both);
    // What each existing pod shows: (change, it is the source, the other end, ports).
    let mut shown: BTreeMap<usize, BTreeSet<Tuple>> = BTreeMap::new();
    for (c, from, to, p) in changes {
        if let End::Pod(i) = from {
            shown.entry(*i).or_default().insert((*c, true, *to, *p));
        }
        if let End::Pod(j) = to {
            shown.entry(*j).or_default().insert((*c, false, *from, *p));
        }
    }
    let vocab_map = vocabulary(&sels);
    let vocab: Vec<(&String, &Vec<LabelOption>, String)> = vocab_map
        .iter()
        .map(|(k, o)| (k, o, other_value(o)))
        .collect();
    let dims: Vec<usize> = vocab.iter().map(|(_, o, _)| o.len()).collect();
    let total = dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .unwrap_or(usize::MAX);
    let mut namespaces: Vec<String> = cluster.namespaces.iter().map(|n| n.name.clone()).collect();
    namespaces.extend(cluster.pods.iter().map(|p| p.namespace.clone()));
    namespaces.sort();
    namespaces.dedup();
    if total > MAX_CLASSES {
        out.notes.push(format!(
            "pods that do not exist yet were not analysed: the selectors tell {total} label classes apart (more than {MAX_CLASSES})"
        ));
        return;
    }
    let classes = enumerate(&dims);
    let group_of = |i: usize| -> String {
        naming
            .pod_groups
            .get(i)
            .cloned()
            .flatten()
            .unwrap_or_else(|| explain::show(cluster, &Endpoint::Pod(i)))
    };
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..cluster.pods.len() {
        *sizes.entry(group_of(i)).or_default() += 1;
    }
    let mut lines: Vec<Line> = Vec::new();
    let mut raw: Vec<(Change, Connection)> = Vec::new();
    for ns in &namespaces {
        // Classes by behaviour in this namespace: which policies select the pod, and which
        // peers of which rules match it.
        let mut probe = cluster.clone();
        let slot = probe.pods.len();
        probe.pods.push(Pod {
            namespace: ns.clone(),
            ..Pod::default()
        });
        let mut signature = |labels: &BTreeMap<String, String>| -> Vec<bool> {
            if let Some(p) = probe.pods.get_mut(slot) {
                p.labels = labels.clone();
            }
            behaviour(&both, &probe, slot)
        };
        let mut by_sig: BTreeMap<Vec<bool>, Vec<usize>> = BTreeMap::new();
        for (ci, class) in classes.iter().enumerate() {
            by_sig
                .entry(signature(&labels_of(&vocab, class)))
                .or_default()
                .push(ci);
        }
        // The changes each existing pod of the namespace shows, by its behaviour: a new pod's
        // change is visible only there when no existing pod that behaves alike shows it.
        let mut existing: BTreeMap<Vec<bool>, BTreeSet<Tuple>> = BTreeMap::new();
        for (i, p) in cluster.pods.iter().enumerate() {
            if p.namespace == *ns {
                let seen = existing.entry(signature(&p.labels)).or_default();
                seen.extend(shown.get(&i).into_iter().flatten().copied());
            }
        }
        // Per (change, the new pod is the source, peer group, ports): the classes that see it,
        // the peers, the raw count, and whether a class no existing pod behaves like sees it.
        // Keyed by the exact (peer, ports) pairs too: a line's classes all see all its pairs.
        type SeenKey = (Change, bool, String, String, BTreeSet<(End, Ports)>);
        let mut seen: BTreeMap<SeenKey, (BTreeSet<usize>, bool)> = BTreeMap::new();
        for (sig, members) in &by_sig {
            let Some(first) = members.first().and_then(|c| classes.get(*c)) else {
                continue;
            };
            let mut extended = cluster.clone();
            extended.pods.push(Pod {
                namespace: ns.clone(),
                name: "(new pod)".to_string(),
                labels: labels_of(&vocab, first),
                ip: None,
                ports: Vec::new(),
            });
            let me = Endpoint::Pod(cluster.pods.len());
            let mut found: Vec<(Change, bool, End, Ports)> = Vec::new();
            for (i, pod) in cluster.pods.iter().enumerate() {
                let peer = Endpoint::Pod(i);
                for (protocol, port) in container_ports(pod) {
                    let p = Ports {
                        protocol,
                        start: port,
                        end: port,
                    };
                    if let Some(c) = verdict_pair(old, new, &extended, &me, &peer, &p) {
                        found.push((c, true, End::Pod(i), p));
                    }
                }
                for p in ports {
                    if let Some(c) = verdict_pair(old, new, &extended, &peer, &me, p) {
                        found.push((c, false, End::Pod(i), *p));
                    }
                }
            }
            for (r, region) in regions.iter().enumerate() {
                let peer = Endpoint::External(region.address);
                for p in ports {
                    if let Some(c) = verdict_pair(old, new, &extended, &me, &peer, p) {
                        found.push((c, true, End::Address(r), *p));
                    }
                    if let Some(c) = verdict_pair(old, new, &extended, &peer, &me, p) {
                        found.push((c, false, End::Address(r), *p));
                    }
                }
            }
            let covered = existing.get(sig);
            let novel = |t: &Tuple| covered.is_none_or(|c| !c.contains(t));
            // Group this signature's changes by (change, direction, peer group) -> ports.
            let mut per: BTreeMap<(Change, bool, String), BTreeSet<(End, Ports)>> = BTreeMap::new();
            for (c, outgoing, peer, p) in &found {
                let g = match peer {
                    End::Pod(i) => group_of(*i),
                    End::Address(r) => regions.get(*r).map(|x| x.name.clone()).unwrap_or_default(),
                };
                per.entry((*c, *outgoing, g))
                    .or_default()
                    .insert((*peer, *p));
            }
            for ((c, outgoing, g), pairs) in per {
                let ps: BTreeSet<Ports> = pairs.iter().map(|(_, p)| *p).collect();
                let fresh = pairs
                    .iter()
                    .any(|(peer, p)| novel(&(c, outgoing, *peer, *p)));
                let e = seen
                    .entry((c, outgoing, g, ports_text(&ps), pairs))
                    .or_default();
                e.0.extend(members.iter().copied());
                e.1 |= fresh;
            }
        }
        for ((change, outgoing, group, ports_s, pairs), (members, novel)) in seen {
            if !novel {
                continue;
            }
            let set: BTreeSet<Vec<usize>> = members
                .iter()
                .filter_map(|c| classes.get(*c).cloned())
                .collect();
            let peer_pods: BTreeSet<usize> = pairs
                .iter()
                .filter_map(|(p, _)| match p {
                    End::Pod(i) => Some(*i),
                    End::Address(_) => None,
                })
                .collect();
            let peer_label = group_label(
                &group,
                peer_pods.len(),
                sizes.get(&group).copied().unwrap_or(0),
            );
            for sel in describe(&set, &vocab) {
                let who = FuturePods {
                    namespace: ns.clone(),
                    labels: sel.display(),
                    selector: sel.clone(),
                };
                let me = if sel.is_all() {
                    format!("any new pod in {ns}")
                } else {
                    format!("any new pod in {ns} with {}", sel.display())
                };
                let peer_regions = regions_of(&pairs.iter().map(|(e, _)| *e).collect());
                let (from, to, from_regions, to_regions) = if outgoing {
                    (me, peer_label.clone(), BTreeSet::new(), peer_regions)
                } else {
                    (peer_label.clone(), me, peer_regions, BTreeSet::new())
                };
                lines.push(Line {
                    change,
                    from,
                    to,
                    ports: ports_s.clone(),
                    connections: pairs.len(),
                    from_regions,
                    to_regions,
                });
                for (peer, p) in &pairs {
                    let (name, external) = match peer {
                        End::Pod(i) => (explain::show(cluster, &Endpoint::Pod(*i)), None),
                        End::Address(r) => regions.get(*r).map_or((String::new(), None), |g| {
                            (g.address.to_string(), Some(g.block.clone()))
                        }),
                    };
                    let mut c = Connection {
                        from: None,
                        from_external: None,
                        from_future: None,
                        to: None,
                        to_external: None,
                        to_future: None,
                        port: p.start,
                        end_port: (p.end != p.start).then_some(p.end),
                        protocol: p.protocol.to_string(),
                    };
                    if outgoing {
                        c.from_future = Some(who.clone());
                        c.to = Some(name);
                        c.to_external = external;
                    } else {
                        c.from = Some(name);
                        c.from_external = external;
                        c.to_future = Some(who.clone());
                    }
                    raw.push((change, c));
                }
            }
        }
    }
    out.summary.extend(lines);
    out.summary = merge_addresses(std::mem::take(&mut out.summary), regions);
    for (change, c) in raw {
        match change {
            Change::Added => out.added.push(c),
            Change::Removed => out.removed.push(c),
        }
    }
}

/// Every combination of options.
fn enumerate(dims: &[usize]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new()];
    for d in dims {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..*d).map(move |o| {
                    let mut v = prefix.clone();
                    v.push(o);
                    v
                })
            })
            .collect();
    }
    out
}

/// Exact descriptions of a set of classes: selectors whose union selects exactly them.
fn describe(
    set: &BTreeSet<Vec<usize>>,
    vocab: &[(&String, &Vec<LabelOption>, String)],
) -> Vec<Sel> {
    let dims: Vec<usize> = vocab.iter().map(|(_, o, _)| o.len()).collect();
    let mut out = Vec::new();
    for cube in cubes(set, &dims) {
        out.extend(cube_selectors(&cube, vocab));
    }
    out.sort_by_key(Sel::display);
    out
}

/// A partition of `set` into products of per-dimension option sets.
fn cubes(set: &BTreeSet<Vec<usize>>, dims: &[usize]) -> Vec<Vec<BTreeSet<usize>>> {
    let proj: Vec<BTreeSet<usize>> = (0..dims.len())
        .map(|d| set.iter().filter_map(|v| v.get(d).copied()).collect())
        .collect();
    let product = proj
        .iter()
        .try_fold(1usize, |acc, p| acc.checked_mul(p.len()))
        .unwrap_or(usize::MAX);
    if product == set.len() {
        return vec![proj];
    }
    // Split on the dimension with the most options, then merge parts that agree elsewhere.
    let Some(split) =
        (0..dims.len()).max_by_key(|d| (proj.get(*d).map_or(0, BTreeSet::len), usize::MAX - d))
    else {
        return vec![proj];
    };
    let mut parts: BTreeMap<usize, BTreeSet<Vec<usize>>> = BTreeMap::new();
    for v in set {
        if let Some(o) = v.get(split) {
            parts.entry(*o).or_default().insert(v.clone());
        }
    }
    let mut merged: Vec<Vec<BTreeSet<usize>>> = Vec::new();
    for part in parts.values() {
        for cube in cubes(part, dims) {
            let same = merged.iter_mut().find(|m| {
                m.iter()
                    .zip(&cube)
                    .enumerate()
                    .all(|(d, (a, b))| d == split || a == b)
            });
            match same {
                Some(m) => {
                    if let (Some(a), Some(b)) = (m.get_mut(split), cube.get(split)) {
                        a.extend(b.iter().copied());
                    }
                }
                None => merged.push(cube),
            }
        }
    }
    merged
}

/// A cube as selectors (one, or two when a key's options are some values or no value, which
/// one requirement cannot say).
fn cube_selectors(
    cube: &[BTreeSet<usize>],
    vocab: &[(&String, &Vec<LabelOption>, String)],
) -> Vec<Sel> {
    let mut sels = vec![Sel::all()];
    for (opts, (key, options, _)) in cube.iter().zip(vocab) {
        if opts.len() == options.len() {
            continue;
        }
        let chosen: Vec<&LabelOption> = opts.iter().filter_map(|o| options.get(*o)).collect();
        let absent = chosen.contains(&&LabelOption::Absent);
        let other = chosen.contains(&&LabelOption::Other);
        let named: BTreeSet<String> = chosen
            .iter()
            .filter_map(|o| match o {
                LabelOption::Value(v) => Some(v.clone()),
                _ => None,
            })
            .collect();
        let all_named: BTreeSet<String> = options
            .iter()
            .filter_map(|o| match o {
                LabelOption::Value(v) => Some(v.clone()),
                _ => None,
            })
            .collect();
        let constraints: Vec<Constraint> = if other {
            vec![Constraint {
                absent_ok: absent,
                values: Values::NotIn(all_named.difference(&named).cloned().collect()),
            }]
        } else if absent && !named.is_empty() {
            vec![
                Constraint {
                    absent_ok: false,
                    values: Values::In(named),
                },
                Constraint::does_not_exist(),
            ]
        } else {
            vec![Constraint {
                absent_ok: absent,
                values: Values::In(named),
            }]
        };
        sels = sels
            .into_iter()
            .flat_map(|s| {
                constraints.iter().map(move |c| {
                    let mut s = s.clone();
                    s.require(key, c.clone());
                    s
                })
            })
            .collect();
    }
    sels
}

// ---------------------------------------------------------------------------------------
// Rendering.

fn headline(d: &Diff) -> String {
    if !d.changed() {
        return "no change in allowed connections".to_string();
    }
    let lines = |c: Change| d.summary.iter().filter(|l| l.change == c).count();
    format!(
        "{} added, {} removed",
        plural(lines(Change::Added), "change"),
        lines(Change::Removed)
    )
}

/// How many raw connections the report stands for, known pods and addresses apart from pods
/// that do not exist yet.
fn counts(d: &Diff) -> String {
    let future = |c: &&Connection| c.from_future.is_some() || c.to_future.is_some();
    let (fa, fr) = (
        d.added.iter().filter(future).count(),
        d.removed.iter().filter(future).count(),
    );
    let (ka, kr) = (d.added.len() - fa, d.removed.len() - fr);
    let mut out = format!(
        "existing pods and addresses: {} added, {kr} removed",
        plural(ka, "connection")
    );
    if fa + fr > 0 {
        out.push_str(&format!(
            "; pods that do not exist yet: {fa} added, {fr} removed"
        ));
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn policies_text(p: &PolicyChanges) -> Vec<String> {
    let mut out = Vec::new();
    for (what, list) in [
        ("added", &p.added),
        ("removed", &p.removed),
        ("modified", &p.modified),
    ] {
        if !list.is_empty() {
            out.push(format!("{what} {}", list.join(", ")));
        }
    }
    out
}

/// The report for a terminal.
pub fn render_text(d: &Diff) -> String {
    let mut out = String::new();
    if d.changed() {
        // Columns are aligned, up to a width: a long name does not push every line right.
        let width = |f: &dyn Fn(&Line) -> usize| {
            d.summary
                .iter()
                .map(f)
                .filter(|w| *w <= 48)
                .max()
                .unwrap_or(0)
        };
        let wf = width(&|l| l.from.chars().count());
        let wt = width(&|l| l.to.chars().count());
        for l in &d.summary {
            out.push_str(&format!(
                "{:<7}  {:<wf$} -> {:<wt$}  {}\n",
                l.change.as_str(),
                l.from,
                l.to,
                l.ports
            ));
        }
    }
    out.push_str(&headline(d));
    if d.changed() {
        out.push_str(&format!(" ({})", counts(d)));
    }
    out.push('\n');
    let policies = policies_text(&d.policies);
    if policies.is_empty() {
        out.push_str("policy objects: unchanged\n");
    } else {
        out.push_str(&format!("policy objects: {}\n", policies.join("; ")));
    }
    for n in &d.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// At most this many connections are listed one by one in the markdown report.
const MAX_LISTED: usize = 100;

/// The report as a pull-request comment.
pub fn render_markdown(d: &Diff) -> String {
    let mut out = format!("### netpol diff: {}\n\n", headline(d));
    if d.changed() {
        out.push_str(&format!("{}\n\n", md_cell(&counts(d))));
        out.push_str("| change | from | to | ports |\n|---|---|---|---|\n");
        for l in &d.summary {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                l.change.as_str(),
                md_cell(&l.from),
                md_cell(&l.to),
                md_cell(&l.ports)
            ));
        }
        out.push('\n');
        for (title, list) in [("added", &d.added), ("removed", &d.removed)] {
            if list.is_empty() {
                continue;
            }
            let list: Vec<&Connection> = list
                .iter()
                .filter(|c| c.from_future.is_none() && c.to_future.is_none())
                .collect();
            if list.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "<details><summary>every connection {title} between existing pods and addresses ({})</summary>\n\n",
                list.len()
            ));
            for c in list.iter().take(MAX_LISTED) {
                out.push_str(&format!("- {}\n", md_cell(&connection_text(c))));
            }
            if list.len() > MAX_LISTED {
                out.push_str(&format!(
                    "- … and {} more (`--format json` lists every one)\n",
                    list.len() - MAX_LISTED
                ));
            }
            out.push_str("\n</details>\n\n");
        }
    }
    let policies = policies_text(&d.policies);
    let count = d.policies.added.len() + d.policies.removed.len() + d.policies.modified.len();
    out.push_str(&format!(
        "<details><summary>policy objects: {}</summary>\n\n",
        if count == 0 {
            "unchanged".to_string()
        } else {
            plural(count, "change")
        }
    ));
    for p in policies {
        out.push_str(&format!("- {}\n", md_cell(&p)));
    }
    out.push_str("\n</details>\n");
    for n in &d.notes {
        out.push_str(&format!("\n> note: {}\n", md_cell(n)));
    }
    out
}

/// The raw connections as JSON (`{"added", "removed", "policies", "summary"}`).
pub fn render_json(d: &Diff) -> String {
    serde_json::to_string_pretty(d).unwrap_or_default() + "\n"
}

fn connection_text(c: &Connection) -> String {
    let end = |pod: &Option<String>, ext: &Option<String>, fut: &Option<FuturePods>| match (
        pod, ext, fut,
    ) {
        (Some(p), Some(e), _) => format!("{p} ({e})"),
        (Some(p), None, _) => p.clone(),
        (_, _, Some(f)) if f.labels == "{}" => format!("any new pod in {}", f.namespace),
        (_, _, Some(f)) => format!("any new pod in {} with {}", f.namespace, f.labels),
        _ => String::new(),
    };
    let port = match c.end_port {
        Some(e) => format!("{}-{e}/{}", c.port, c.protocol),
        None => format!("{}/{}", c.port, c.protocol),
    };
    format!(
        "{} -> {} {port}",
        end(&c.from, &c.from_external, &c.from_future),
        end(&c.to, &c.to_external, &c.to_future)
    )
}

/// Escapes what would break a table cell, and keeps text literal.
fn md_cell(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' | '_' | '`' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

/// The union of two clusters: the pods of `new`, then those of `old` that `new` has not
/// (by `namespace/name`); the namespaces of both (`new`'s labels win).
pub fn union_cluster(old: &Cluster, new: &Cluster) -> Cluster {
    let mut out = new.clone();
    for p in &old.pods {
        if out.find_pod(&p.namespace, &p.name).is_none() {
            out.pods.push(p.clone());
        }
    }
    for n in &old.namespaces {
        if !out.namespaces.iter().any(|m| m.name == n.name) {
            out.namespaces.push(n.clone());
        }
    }
    out.namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
