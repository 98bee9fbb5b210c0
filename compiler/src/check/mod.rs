//! Checks against the workloads, and lints. Name resolution reports what is wrong with the
//! program on its own; this module reports what is wrong with it against the cluster its
//! manifests describe, and what is legal but probably a mistake.

use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::Protocol;
use crate::k8s::names::suggest;
use crate::k8s::selector::{Sel, Values};
use crate::k8s::workloads::{Manifests, Workload, WorkloadIndex};
use crate::resolve::hir::*;
use crate::resolve::{Resolved, namespace_labels};
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub mod cluster_ranges;

/// Labels that controllers add to pods; selecting on them ties a policy to one rollout.
const GENERATED_LABELS: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
];

pub fn check(resolved: &Resolved, manifests: &Manifests) -> Vec<Diagnostic> {
    let p = &resolved.program;
    let mut out = Vec::new();
    let have_workloads = !manifests.workloads.is_empty() || !manifests.namespaces.is_empty();
    let index = WorkloadIndex::new(manifests);
    let sources = SourceIndex::new(p);

    // Selectors against the workloads of their namespace.
    for svc in &p.services {
        selector_checks(
            &mut out,
            &index,
            &svc.namespace,
            &svc.selector,
            svc.selector_span,
            &svc.name,
            "service",
        );
    }
    for g in p.groups.iter().filter(|g| g.module.is_none()) {
        if let NsScope::Named(ns) = &g.set.ns {
            selector_checks(
                &mut out,
                &index,
                ns,
                &g.set.pods,
                g.name_span,
                &g.name,
                "group",
            );
        } else {
            generated_label_check(&mut out, &g.set.pods, g.name_span);
        }
    }

    // Namespaces the manifests never mention.
    if have_workloads {
        for ns in p.namespaces.values() {
            if !index.mentions_namespace(&ns.name) {
                out.push(
                    Diagnostic::new(
                        Code::NamespaceNotInManifests,
                        ns.span,
                        format!("no workload manifest mentions namespace `{}`", ns.name),
                    )
                    .label("its selectors cannot be checked")
                    .help("add the namespace's manifests to `workloads`, or check the name"),
                );
            }
        }
    }

    // Ports that no container of the destination exposes.
    let mut matched = Matcher::new(manifests, &index, p);
    for (i, svc) in p.services.iter().enumerate() {
        let pods = matched.get(&PeerKind::Service(i));
        if pods.is_empty() {
            continue;
        }
        for def in &svc.ports {
            for r in &def.values {
                if !exposed(&pods, r) {
                    out.push(not_exposed(def.span, r, &svc.name, &pods));
                }
            }
        }
    }
    let service_port_refs: BTreeSet<Span> = p
        .references
        .iter()
        .filter(|r| matches!(r.def, Def::ServicePort(..)))
        .map(|r| r.span)
        .collect();
    let mut seen_port_spans = BTreeSet::new();
    for c in &p.connections {
        // The cheap tests first: only a numeric port not already reported needs the pods.
        if !c.ports.iter().any(|(sel, span)| {
            matches!(sel, PortSel::Range(_))
                && !service_port_refs.contains(span)
                && !seen_port_spans.contains(&(*span, c.target.span))
        }) {
            continue;
        }
        let pods = matched.get(&c.target.kind);
        for (sel, span) in &c.ports {
            if let PortSel::Range(r) = sel
                && !pods.is_empty()
                && !service_port_refs.contains(span)
                && !exposed(&pods, r)
                && seen_port_spans.insert((*span, c.target.span))
            {
                out.push(not_exposed(*span, r, &p.peer_name(&c.target.kind), &pods));
            }
        }
    }

    broad_peers(&mut out, p);
    dns_lint(&mut out, p, &sources);
    internet_and_cluster_lint(&mut out, p, &sources);
    needed_by_lints(&mut out, p, manifests, &index);
    overlap_lint(&mut out, p, &index);
    unused_lints(&mut out, resolved);
    tenant_lint(&mut out, p);
    cluster_ranges::lint(&mut out, p);
    out
}

/// The connections by source, so that a lint about one service's egress looks at the
/// connections that may come from it rather than at all of them.
struct SourceIndex<'p> {
    connections: &'p [Conn],
    /// Indexes of the connections whose source is service `i`.
    by_service: Vec<Vec<usize>>,
    /// Indexes of the connections whose source is a group or pods written in place (any
    /// service may be in them).
    other: Vec<usize>,
}

impl<'p> SourceIndex<'p> {
    fn new(p: &'p Program) -> SourceIndex<'p> {
        let mut by_service = vec![Vec::new(); p.services.len()];
        let mut other = Vec::new();
        for (k, c) in p.connections.iter().enumerate() {
            match &c.source.kind {
                PeerKind::Service(i) => {
                    if let Some(v) = by_service.get_mut(*i) {
                        v.push(k);
                    }
                }
                PeerKind::External(_) => {}
                _ => other.push(k),
            }
        }
        SourceIndex {
            connections: &p.connections,
            by_service,
            other,
        }
    }

    /// The connections whose source is service `i` or may hold its pods, in program order,
    /// filtered by `covers`.
    fn outgoing(&self, i: usize, covers: impl Fn(&PeerKind) -> bool) -> Vec<&'p Conn> {
        let mut ks: Vec<usize> = self
            .by_service
            .get(i)
            .into_iter()
            .flatten()
            .chain(self.other.iter())
            .copied()
            .collect();
        ks.sort_unstable();
        ks.into_iter()
            .filter_map(|k| self.connections.get(k))
            .filter(|c| covers(&c.source.kind))
            .collect()
    }
}

/// The workloads whose pods a peer stands for, computed once per service and group.
struct Matcher<'m, 'p> {
    manifests: &'m Manifests,
    index: &'m WorkloadIndex<'m>,
    program: &'p Program,
    cache: HashMap<PeerKind, Vec<&'m Workload>>,
}

impl<'m, 'p> Matcher<'m, 'p> {
    fn new(manifests: &'m Manifests, index: &'m WorkloadIndex<'m>, program: &'p Program) -> Self {
        Matcher {
            manifests,
            index,
            program,
            cache: HashMap::new(),
        }
    }

    fn get(&mut self, kind: &PeerKind) -> Vec<&'m Workload> {
        if let Some(v) = self.cache.get(kind) {
            return v.clone();
        }
        let v = matching(self.manifests, self.index, self.program, kind);
        if !matches!(kind, PeerKind::Pods(_)) {
            self.cache.insert(kind.clone(), v.clone());
        }
        v
    }
}

/// W112: in a program that isolates several namespaces (tenants), a group used in a
/// connection that selects pods in every namespace: anyone who can label a pod in any tenant
/// namespace joins it.
fn tenant_lint(out: &mut Vec<Diagnostic>, p: &Program) {
    let isolated: Vec<&str> = p
        .namespaces
        .values()
        .filter(|n| n.isolate.any())
        .map(|n| n.name.as_str())
        .collect();
    if isolated.len() < 2 {
        return;
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &p.connections {
        for peer in [&c.source, &c.target] {
            let PeerKind::Group(i) = peer.kind else {
                continue;
            };
            let Some(g) = p.groups.get(i) else { continue };
            if g.set.ns != NsScope::all() || g.set.pods.is_all() || !seen.insert(i) {
                continue;
            }
            out.push(
                Diagnostic::new(
                    Code::GroupSpansTenants,
                    peer.span,
                    format!(
                        "group `{}` spans every namespace, and this program isolates {} \
                         namespaces",
                        g.name,
                        isolated.len()
                    ),
                )
                .label("a pod labelled like it in any namespace joins it")
                .help(format!(
                    "narrow it to the namespace it runs in: `{} in namespace <name>`",
                    g.name
                )),
            );
        }
    }
}

/// The workloads whose pods a peer stands for.
fn matching<'m>(
    manifests: &'m Manifests,
    index: &WorkloadIndex<'m>,
    p: &Program,
    kind: &PeerKind,
) -> Vec<&'m Workload> {
    let Some(set) = p.pod_set(kind) else {
        return Vec::new();
    };
    match &set.ns {
        NsScope::Named(n) => index
            .in_namespace(n)
            .iter()
            .copied()
            .filter(|w| set.pods.matches(&w.labels))
            .collect(),
        NsScope::Selector(s) => {
            let mut ns_ok: HashMap<&str, bool> = HashMap::new();
            manifests
                .workloads
                .iter()
                .filter(|w| {
                    *ns_ok
                        .entry(w.namespace.as_str())
                        .or_insert_with(|| s.matches(&namespace_labels(manifests, &w.namespace)))
                        && set.pods.matches(&w.labels)
                })
                .collect()
        }
    }
}

fn exposed(pods: &[&Workload], r: &PortRange) -> bool {
    pods.iter().any(|w| {
        w.ports
            .iter()
            .any(|cp| cp.protocol == r.protocol && r.start <= cp.port && cp.port <= r.end)
    })
}

fn not_exposed(span: Span, r: &PortRange, target: &str, pods: &[&Workload]) -> Diagnostic {
    let port = if r.start == r.end {
        r.start.to_string()
    } else {
        format!("{}..{}", r.start, r.end)
    };
    let proto = r.protocol.as_str().to_lowercase();
    let mut exposed: Vec<String> = pods
        .iter()
        .flat_map(|w| {
            w.ports
                .iter()
                .map(|cp| format!("{}/{}", cp.port, cp.protocol.as_str().to_lowercase()))
        })
        .collect();
    exposed.sort();
    exposed.dedup();
    let help = if exposed.is_empty() {
        "its containers declare no ports".to_string()
    } else {
        format!(
            "its containers expose {}; policies apply to container ports, not Service ports",
            exposed
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Diagnostic::new(
        Code::PortNotExposed,
        span,
        format!("no container of `{target}` exposes port `{port}/{proto}`"),
    )
    .label("not a container port of the destination")
    .help(help)
}

fn generated_label_check(out: &mut Vec<Diagnostic>, sel: &Sel, span: Span) {
    for key in sel.keys.keys() {
        if GENERATED_LABELS.contains(&key.as_str()) {
            out.push(
                Diagnostic::new(
                    Code::GeneratedLabel,
                    span,
                    format!("`{key}` is a label that controllers generate"),
                )
                .label("selects one rollout's pods only")
                .help("select on labels you set in the pod template, such as `app`"),
            );
        }
    }
}

fn selector_checks(
    out: &mut Vec<Diagnostic>,
    index: &WorkloadIndex<'_>,
    ns: &str,
    sel: &Sel,
    span: Span,
    name: &str,
    what: &str,
) {
    generated_label_check(out, sel, span);
    if !index.mentions_namespace(ns) || sel.is_unsat() {
        return;
    }
    let in_ns: &[&Workload] = index.in_namespace(ns);
    if in_ns.iter().any(|w| sel.matches(&w.labels)) {
        return;
    }
    // The closest workload: the one satisfying most requirements.
    let score = |w: &Workload| {
        sel.keys
            .iter()
            .filter(|(k, c)| c.matches(w.labels.get(*k).map(String::as_str)))
            .count()
    };
    // Ties go to the workload whose values are nearest to the wanted ones.
    let distance = |w: &Workload| -> usize {
        sel.keys
            .iter()
            .map(|(k, c)| match (&c.values, w.labels.get(k)) {
                (Values::In(vals), Some(v)) => vals
                    .iter()
                    .map(|x| strsim::levenshtein(x, v))
                    .min()
                    .unwrap_or(0),
                (_, None) => 64,
                _ => 0,
            })
            .sum()
    };
    let closest = in_ns.iter().max_by_key(|w| {
        (
            score(w),
            std::cmp::Reverse(distance(w)),
            std::cmp::Reverse(w.display()),
        )
    });
    let mut d = Diagnostic::new(
        Code::SelectorMatchesNothing,
        span,
        format!("the selector of {what} `{name}` matches no workload in namespace `{ns}`"),
    )
    .label(format!("`{}` matches nothing", sel.display()));
    if let Some(w) = closest {
        let labels = w
            .labels
            .iter()
            .map(|(k, v)| format!("{k} = \"{v}\""))
            .collect::<Vec<_>>()
            .join(", ");
        // A did-you-mean for the first failing equality.
        let mut hint = None;
        for (k, c) in &sel.keys {
            if c.matches(w.labels.get(k).map(String::as_str)) {
                continue;
            }
            if let Values::In(vals) = &c.values {
                let values: BTreeSet<&str> = in_ns
                    .iter()
                    .filter_map(|w| w.labels.get(k).map(String::as_str))
                    .collect();
                if let Some(v) = vals.iter().next()
                    && let Some(s) = suggest(v, values.iter().copied())
                {
                    hint = Some(format!("did you mean `{k} = \"{s}\"`?"));
                    break;
                }
                let keys: BTreeSet<&str> = in_ns
                    .iter()
                    .flat_map(|w| w.labels.keys().map(String::as_str))
                    .collect();
                if let Some(s) = suggest(k, keys.iter().copied()) {
                    hint = Some(format!("did you mean the label `{s}`?"));
                    break;
                }
            }
        }
        d = d.help(match hint {
            Some(h) => format!(
                "{h} (the closest workload, `{}`, has labels `{labels}`)",
                w.display()
            ),
            None => format!(
                "the closest workload is `{}`, with labels `{labels}`",
                w.display()
            ),
        });
    }
    out.push(d);
}

fn broad_peers(out: &mut Vec<Diagnostic>, p: &Program) {
    let mut seen = BTreeSet::new();
    for c in &p.connections {
        for peer in [&c.source, &c.target] {
            if !seen.insert(peer.span) {
                continue;
            }
            match &peer.kind {
                PeerKind::Pods(set) if set.pods.is_all() && set.ns == NsScope::all() => {
                    let as_target = std::ptr::eq(peer, &c.target);
                    let managed: Vec<String> = p
                        .services
                        .iter()
                        .filter(|s| {
                            if as_target {
                                s.isolate.ingress
                            } else {
                                s.isolate.egress
                            }
                        })
                        .map(|s| format!("`{}`", s.name))
                        .take(5)
                        .collect();
                    let help = if managed.is_empty() {
                        "name the services or groups that need this connection".to_string()
                    } else if as_target {
                        format!(
                            "as a target, `cluster` includes this program's own services: {} accept this connection too; name the services or groups that need it",
                            managed.join(", ")
                        )
                    } else {
                        format!(
                            "as a source, `cluster` includes this program's own services: {} may open this connection too; name the services or groups that need it",
                            managed.join(", ")
                        )
                    };
                    out.push(
                        Diagnostic::new(
                            Code::BroadPeer,
                            peer.span,
                            "`cluster` stands for every pod of every namespace",
                        )
                        .label("a very broad peer")
                        .help(help),
                    )
                }
                PeerKind::External(i) => {
                    if let Some(e) = p.externals.get(*i)
                        && e.blocks
                            .iter()
                            .any(|b| b.cidr.prefix_len() == 0 && b.except.is_empty())
                    {
                        out.push(
                                Diagnostic::new(Code::BroadPeer, peer.span, format!("`{}` is every address", e.name))
                                    .label("a `/0` block without `except`")
                                    .help("for the public internet without private ranges, use `std::net`'s `internet`"),
                            );
                    }
                }
                _ => {}
            }
        }
        for (sel, span) in &c.ports {
            if matches!(sel, PortSel::All) && seen.insert(*span) {
                out.push(
                    Diagnostic::new(Code::BroadPeer, *span, "`*` allows every port and protocol")
                        .label("every port")
                        .help("list the ports the destination serves"),
                );
            }
        }
    }
}

fn reaches_dns(ports: &[(PortSel, Span)]) -> bool {
    ports.iter().any(|(s, _)| match s {
        PortSel::All => true,
        PortSel::AllOf(p) => *p == Protocol::Udp,
        PortSel::Range(r) => r.protocol == Protocol::Udp && r.start <= 53 && 53 <= r.end,
        PortSel::Named { protocol, name } => *protocol == Protocol::Udp && name.contains("dns"),
    })
}

fn dns_lint(out: &mut Vec<Diagnostic>, p: &Program, sources: &SourceIndex<'_>) {
    for (i, svc) in p.services.iter().enumerate() {
        if !svc.isolate.egress {
            continue;
        }
        let covers = |kind: &PeerKind| match kind {
            PeerKind::Service(j) => *j == i,
            other => p.pod_set(other).is_some_and(|set| {
                let ns_ok = match &set.ns {
                    NsScope::Named(n) => *n == svc.namespace,
                    NsScope::Selector(_) => false,
                };
                ns_ok && svc.selector.implies(&set.pods)
            }),
        };
        let outgoing = sources.outgoing(i, covers);
        if outgoing.is_empty() || outgoing.iter().any(|c| reaches_dns(&c.ports)) {
            continue;
        }
        out.push(
            Diagnostic::new(Code::NoDnsEgress, svc.name_span, format!("service `{}` cannot reach DNS", svc.name))
                .label("egress-isolated, with no connection to port 53/udp")
                .help(if p.namespace_isolation(&svc.namespace).egress {
                    format!("add `use std::dns` and `{} -> kube-dns:dns`", svc.name)
                } else {
                    format!("add `use std::dns` and `{} -> kube-dns:dns`, or `isolate ingress` if its egress should stay open", svc.name)
                }),
        );
    }
}

fn overlap_lint(out: &mut Vec<Diagnostic>, p: &Program, index: &WorkloadIndex<'_>) {
    // Only services of one namespace can overlap: compare within each namespace, in program
    // order, with the workloads each one matches computed once.
    let mut by_ns: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in p.services.iter().enumerate() {
        by_ns.entry(s.namespace.as_str()).or_default().push(i);
    }
    let matched: Vec<HashSet<usize>> = p
        .services
        .iter()
        .map(|s| {
            index
                .in_namespace(&s.namespace)
                .iter()
                .enumerate()
                .filter(|(_, w)| s.selector.matches(&w.labels))
                .map(|(k, _)| k)
                .collect()
        })
        .collect();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for members in by_ns.values() {
        for (x, &i) in members.iter().enumerate() {
            for &j in members.iter().skip(x + 1) {
                pairs.push((i, j));
            }
        }
    }
    pairs.sort_unstable();
    for (i, j) in pairs {
        let (Some(a), Some(b)) = (p.services.get(i), p.services.get(j)) else {
            continue;
        };
        {
            // An empty selector comes from an error reported elsewhere.
            let degenerate = |s: &Sel| s.is_unsat() || s.is_all();
            if degenerate(&a.selector) || degenerate(&b.selector) {
                continue;
            }
            let overlap = a.selector.implies(&b.selector)
                || b.selector.implies(&a.selector)
                || matched
                    .get(i)
                    .zip(matched.get(j))
                    .is_some_and(|(x, y)| !x.is_disjoint(y));
            if overlap {
                out.push(
                    Diagnostic::new(
                        Code::OverlappingServices,
                        b.selector_span,
                        format!("services `{}` and `{}` select the same pods", a.name, b.name),
                    )
                    .label(format!("overlaps `{}`", a.name))
                    .secondary(a.selector_span, format!("`{}` selects here", a.name))
                    .help("a pod in both gets the union of their connections; make the selectors disjoint"),
                );
            }
        }
    }
}

fn unused_lints(out: &mut Vec<Diagnostic>, resolved: &Resolved) {
    let p = &resolved.program;
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    for r in &p.references {
        *used.entry(format!("{:?}", r.def)).or_default() += 1;
    }
    let is_used = |d: Def| used.contains_key(&format!("{d:?}"));
    // Services a connection names, and the other pod sets connections stand for (deduplicated,
    // by the namespace they are in, or among those selecting namespaces), with the direction
    // they are used in: a service named nowhere is compared with the pod sets of its own
    // namespace only, not with every connection.
    let mut named: HashSet<usize> = HashSet::new();
    let mut sets: HashSet<(&PeerKind, bool)> = HashSet::new();
    for c in &p.connections {
        for (kind, as_source) in [(&c.source.kind, true), (&c.target.kind, false)] {
            if let PeerKind::Service(i) = kind {
                named.insert(*i);
            }
            if !matches!(kind, PeerKind::External(_)) {
                sets.insert((kind, as_source));
            }
        }
    }
    let mut sets_in: HashMap<String, Vec<(bool, PodSet)>> = HashMap::new();
    let mut sets_anywhere: Vec<(bool, PodSet)> = Vec::new();
    for (kind, as_source) in sets {
        let Some(set) = p.pod_set(kind) else { continue };
        match &set.ns {
            NsScope::Named(n) => sets_in.entry(n.clone()).or_default().push((as_source, set)),
            NsScope::Selector(_) => sets_anywhere.push((as_source, set)),
        }
    }
    for (i, svc) in p.services.iter().enumerate() {
        // Named, or reached through a set of pods that can hold some of its pods
        // (`namespace shop`, `pods { … } in cluster`); a namespace selector other than by
        // name may cover its namespace on the cluster, so it counts too.
        // Only in a direction it isolates: a set of pods as the source gives its egress-isolated
        // pods rules, as the target its ingress-isolated ones.
        let reaches = |set: &PodSet, as_source: bool| {
            let isolated = if as_source {
                svc.isolate.egress
            } else {
                svc.isolate.ingress
            };
            isolated
                && match &set.ns {
                    NsScope::Named(n) => *n == svc.namespace,
                    NsScope::Selector(s) => {
                        s.keys
                            .keys()
                            .any(|k| k != crate::k8s::eval::NAMESPACE_NAME_LABEL)
                            || s.matches(&BTreeMap::from([(
                                crate::k8s::eval::NAMESPACE_NAME_LABEL.to_string(),
                                svc.namespace.clone(),
                            )]))
                    }
                }
                && set.pods.overlaps(&svc.selector)
        };
        let mentioned = named.contains(&i)
            || sets_in
                .get(svc.namespace.as_str())
                .into_iter()
                .flatten()
                .chain(&sets_anywhere)
                .any(|(as_source, set)| reaches(set, *as_source));
        if !mentioned {
            out.push(
                Diagnostic::new(
                    Code::ServiceWithoutConnections,
                    svc.name_span,
                    format!("service `{}` has no connections", svc.name),
                )
                .label("isolated, and nothing may reach it or leave it")
                .help("add the connections it needs, or remove it"),
            );
        }
    }
    for (i, g) in p.groups.iter().enumerate() {
        if g.module.is_none() && !is_used(Def::Group(i)) {
            out.push(unused(g.name_span, "group", &g.name));
        }
    }
    for (i, e) in p.externals.iter().enumerate() {
        if e.module.is_none() && !is_used(Def::External(i)) {
            out.push(unused(e.name_span, "external", &e.name));
        }
    }
    for (name, def) in &p.ports {
        if def.module.is_none() && !is_used(Def::Port(name.clone())) {
            out.push(unused(def.span, "port", name));
        }
    }
    for (name, span) in &resolved.unused_imports {
        out.push(
            Diagnostic::new(
                Code::Unused,
                *span,
                format!("`{name}` is imported but never used"),
            )
            .label("unused import")
            .help("remove it from the `use`"),
        );
    }
}

fn unused(span: Span, what: &str, name: &str) -> Diagnostic {
    Diagnostic::new(Code::Unused, span, format!("{what} `{name}` is never used"))
        .label("declared here")
        .help("use it in a connection, or remove it")
}

/// Does `kind` (a connection's peer) stand for every pod of service `i`?
fn covers_service(p: &Program, kind: &PeerKind, i: usize) -> bool {
    let Some(svc) = p.services.get(i) else {
        return false;
    };
    match kind {
        PeerKind::Service(j) => *j == i,
        other => p.pod_set(other).is_some_and(|set| {
            let ns_ok = match &set.ns {
                NsScope::Named(n) => *n == svc.namespace,
                NsScope::Selector(s) => s.is_all(),
            };
            ns_ok && svc.selector.implies(&set.pods)
        }),
    }
}

/// Well-known public addresses: an external holding one of them is "the internet".
const PUBLIC_PROBES: [&str; 2] = ["8.8.8.8", "2001:4860:4860::8888"];

fn internet_and_cluster_lint(out: &mut Vec<Diagnostic>, p: &Program, sources: &SourceIndex<'_>) {
    let probes: Vec<std::net::IpAddr> = PUBLIC_PROBES
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    for (i, svc) in p.services.iter().enumerate() {
        if !svc.isolate.egress {
            continue;
        }
        let outgoing = sources.outgoing(i, |kind| covers_service(p, kind, i));
        let internet = outgoing.iter().find(|c| match &c.target.kind {
            PeerKind::External(e) => p
                .externals
                .get(*e)
                .is_some_and(|ext| probes.iter().any(|ip| in_blocks(&ext.blocks, *ip))),
            _ => false,
        });
        let only_dns = |c: &Conn| {
            c.ports.iter().all(|(sel, _)| match sel {
                PortSel::Range(r) => r.start == 53 && r.end == 53,
                PortSel::Named { name, .. } => name.contains("dns"),
                _ => false,
            })
        };
        let cluster = outgoing
            .iter()
            .find(|c| !matches!(c.target.kind, PeerKind::External(_)) && !only_dns(c));
        if let (Some(net), Some(inside)) = (internet, cluster) {
            out.push(
                Diagnostic::new(
                    Code::InternetAndCluster,
                    svc.name_span,
                    format!("service `{}` reaches both the internet and pods of the cluster", svc.name),
                )
                .label("internet egress together with cluster access")
                .secondary(net.target.span, "the internet")
                .secondary(inside.target.span, "the cluster")
                .help(format!(
                    "a compromised `{}` could send out what it reads inside; give the internet-facing part its own service, or route its egress through a proxy",
                    svc.name
                )),
            );
        }
    }
}

/// Services that an ingress controller or Prometheus needs to reach, by the manifests, when
/// the program uses `std::ingress` or `std::monitoring`, and that no connection lets in.
fn needed_by_lints(
    out: &mut Vec<Diagnostic>,
    p: &Program,
    manifests: &Manifests,
    index: &WorkloadIndex<'_>,
) {
    let module_groups = |m: &str| -> Vec<usize> {
        p.groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.module.as_deref() == Some(m))
            .map(|(i, _)| i)
            .collect()
    };
    let scrapers = module_groups("monitoring");
    let controllers = module_groups("ingress");
    if scrapers.is_empty() && controllers.is_empty() {
        return;
    }
    // The targets of the connections from these groups: services by index, and the other
    // peers (deduplicated), so that each service looks at a few peers, not every connection.
    let targets_of = |groups: &[usize]| {
        let mut services: HashSet<usize> = HashSet::new();
        let mut others: Vec<&PeerKind> = Vec::new();
        for c in &p.connections {
            if !matches!(c.source.kind, PeerKind::Group(g) if groups.contains(&g)) {
                continue;
            }
            match &c.target.kind {
                PeerKind::Service(j) => {
                    services.insert(*j);
                }
                PeerKind::External(_) => {}
                other => {
                    if !others.contains(&other) {
                        others.push(other);
                    }
                }
            }
        }
        (services, others)
    };
    let scraped = targets_of(&scrapers);
    let routed = targets_of(&controllers);
    let reached_from = |(services, others): &(HashSet<usize>, Vec<&PeerKind>), i: usize| {
        services.contains(&i) || others.iter().any(|k| covers_service(p, k, i))
    };
    for (i, svc) in p.services.iter().enumerate() {
        if !svc.isolate.ingress {
            continue;
        }
        let pods: Vec<&Workload> = index
            .in_namespace(&svc.namespace)
            .iter()
            .copied()
            .filter(|w| svc.selector.matches(&w.labels))
            .collect();
        if !scrapers.is_empty()
            && !reached_from(&scraped, i)
            && let Some(w) = pods.iter().find(|w| {
                w.annotations
                    .get("prometheus.io/scrape")
                    .is_some_and(|v| v == "true")
            })
        {
            let port = w
                .annotations
                .get("prometheus.io/port")
                .cloned()
                .unwrap_or_else(|| "<port>".to_string());
            out.push(
                Diagnostic::new(
                    Code::ScrapeNotAllowed,
                    svc.name_span,
                    format!(
                        "`{}` asks to be scraped, but no monitoring group may reach `{}`",
                        w.display(),
                        svc.name
                    ),
                )
                .label("`prometheus.io/scrape: \"true\"` on its pods")
                .help(format!("add `prometheus -> {}:{port}`", svc.name)),
            );
        }
        if !controllers.is_empty() && !reached_from(&routed, i) {
            let served = manifests.ingresses.iter().find_map(|ing| {
                ing.backends.iter().find_map(|b| {
                    let s = manifests
                        .services
                        .iter()
                        .find(|s| s.name == *b && s.namespace == ing.namespace)?;
                    let selects = pods.iter().any(|w| {
                        w.namespace == s.namespace
                            && s.selector.iter().all(|(k, v)| w.labels.get(k) == Some(v))
                    });
                    selects.then(|| (ing.name.clone(), ing.namespace.clone(), s.name.clone()))
                })
            });
            if let Some((ingress, ns, backend)) = served {
                out.push(
                    Diagnostic::new(
                        Code::IngressBackendNotAllowed,
                        svc.name_span,
                        format!("Ingress `{ns}/{ingress}` routes to `{}`, but no ingress controller group may reach it", svc.name),
                    )
                    .label(format!("behind Service `{backend}`"))
                    .help(format!("add a connection from your controller, such as `ingress-nginx -> {}:<port>`", svc.name)),
                );
            }
        }
    }
}
