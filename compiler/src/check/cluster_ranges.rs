//! W113: an external that a connection uses, whose addresses meet the cluster's pod or
//! Service ranges. Whether an ipBlock matches traffic of pods depends on the network plugin:
//! some match pod IPs, others never do, and a connection to a Service's cluster IP may be
//! checked before or after the address is rewritten to a pod's. With a `cluster` block the
//! ranges are the declared ones; without one, the ranges clusters commonly use.
//! `netpol import` gives the same warning for the ipBlocks of the policies it reads.

use crate::diagnostic::{Code, Diagnostic};
use crate::resolve::hir::{AddrSet, ClusterDef, IpBlock, PeerKind, Program};
use crate::span::Span;
use ipnet::IpNet;
use std::collections::BTreeSet;

/// The ranges clusters commonly give pods and Services: RFC 1918, RFC 6598 (shared address
/// space) and the IPv6 unique local block that dual-stack clusters use.
pub const COMMON_RANGES: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fd00::/8",
];

/// What a range of the cluster holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeKind {
    /// A declared pod range.
    Pods,
    /// A declared Service range.
    Services,
    /// One of [`COMMON_RANGES`] (no `cluster` block).
    Common,
}

/// One range an ipBlock is checked against, with where it is declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterRange {
    pub net: IpNet,
    pub kind: RangeKind,
    pub span: Option<Span>,
}

/// The ranges to check against: the declared ones, or the common ones when the program
/// declares none.
pub fn ranges(cluster: Option<&ClusterDef>) -> Vec<ClusterRange> {
    match cluster {
        Some(c) => declared(&c.pods, &c.services),
        None => COMMON_RANGES
            .iter()
            .filter_map(|r| r.parse().ok())
            .map(|net| ClusterRange {
                net,
                kind: RangeKind::Common,
                span: None,
            })
            .collect(),
    }
}

/// Declared pod and Service ranges, in that order.
pub fn declared(pods: &[(IpNet, Span)], services: &[(IpNet, Span)]) -> Vec<ClusterRange> {
    let with = |list: &[(IpNet, Span)], kind| {
        list.iter()
            .map(|(net, span)| ClusterRange {
                net: *net,
                kind,
                span: Some(*span),
            })
            .collect::<Vec<_>>()
    };
    let mut out = with(pods, RangeKind::Pods);
    out.extend(with(services, RangeKind::Services));
    out
}

/// The ranges that share an address with `blocks` (each block without its exceptions).
pub fn overlapping<'r>(blocks: &[IpBlock], ranges: &'r [ClusterRange]) -> Vec<&'r ClusterRange> {
    let set = AddrSet::of_blocks(blocks);
    ranges
        .iter()
        .filter(|r| set.meets(&AddrSet::of_net(&r.net)))
        .collect()
}

/// `the cluster's pod range `a`` or `` `a`, where clusters commonly put pods ``: what the
/// ranges are, for a message.
pub fn describe(hits: &[&ClusterRange]) -> String {
    let list = |items: Vec<String>| match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    if hits.iter().all(|r| r.kind == RangeKind::Common) {
        let nets = list(hits.iter().map(|r| format!("`{}`", r.net)).collect());
        let what = if hits.len() == 1 { "a range" } else { "ranges" };
        return format!("{nets}, {what} where clusters commonly put pods and Services");
    }
    let word = |k: RangeKind| match k {
        RangeKind::Pods => "pod",
        RangeKind::Services => "service",
        RangeKind::Common => "common",
    };
    let items = hits
        .iter()
        .map(|r| format!("{} range `{}`", word(r.kind), r.net))
        .collect();
    format!("the cluster's {}", list(items))
}

/// Why an overlap matters, and what to do: the help of the warning.
pub const WHY: &str = "whether an ipBlock matches traffic of pods depends on the network plugin: \
     some match pod IPs and others never do, and a Service's cluster IP may be matched before or \
     after it is rewritten to a pod's, so an `except` of the pod range does not carve the pods \
     out; name pods as a service, group or `pods {…}` and keep the block outside the cluster's \
     ranges";

/// W113 for every external that a connection uses and that meets the cluster's ranges.
pub fn lint(out: &mut Vec<Diagnostic>, p: &Program) {
    let ranges = ranges(p.cluster.as_ref());
    let mut seen = BTreeSet::new();
    for c in &p.connections {
        for peer in [&c.source, &c.target] {
            let PeerKind::External(i) = peer.kind else {
                continue;
            };
            let Some(e) = p.externals.get(i) else {
                continue;
            };
            if !seen.insert(i) {
                continue;
            }
            let hits = overlapping(&e.blocks, &ranges);
            if hits.is_empty() {
                continue;
            }
            // The user's own external is reported where it is declared, a standard one
            // where it is first used.
            let at = if e.module.is_none() {
                e.name_span
            } else {
                peer.span
            };
            let mut d = Diagnostic::new(
                Code::BlockOverlapsCluster,
                at,
                format!("external `{}` overlaps {}", e.name, describe(&hits)),
            )
            .label("this ipBlock may or may not match pod traffic")
            .help(if p.cluster.is_none() {
                format!(
                    "{WHY}; declare the cluster's own ranges (`cluster {{ pods 10.244.0.0/16  \
                     services 10.96.0.0/12 }}`) to check against those instead"
                )
            } else {
                WHY.to_string()
            });
            for r in &hits {
                let what = match r.kind {
                    RangeKind::Services => "the cluster's Services are here",
                    _ => "the cluster's pods are here",
                };
                if let Some(span) = r.span {
                    d = d.secondary(span, what);
                }
            }
            out.push(d);
        }
    }
}
