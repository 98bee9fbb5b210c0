//! The program-wide lints: what one service's connections, taken together, allow or miss
//! (DNS, the internet beside the cluster, scrapes and ingress backends), services that
//! overlap, names never used, groups that span tenants; and the checks of the declarations
//! (groups' selectors, namespaces the manifests never mention).
//!
//! They read the program's [`Outline`], built from one small [`ItemOutline`] per item: the
//! database backdates an item's outline when an edit leaves it equal (a port number, a
//! selector written differently), and then runs none of the lints.

use super::{generated_label_check, selector_checks};
use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::Protocol;
use crate::k8s::selector::Sel;
use crate::k8s::workloads::{Manifests, Workload, WorkloadIndex};
use crate::resolve::hir::*;
use crate::resolve::{ItemResolution, Used};
use crate::span::Span;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the lints read of a connection's ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConnFacts {
    /// Some port of it may be DNS (53/udp, a named port with `dns` in its name, …).
    pub reaches_dns: bool,
    /// All its ports are DNS (53, or a named port with `dns` in its name).
    pub only_dns: bool,
    /// It has any port (lowering gives a connection without ports no rule and no name).
    pub has_ports: bool,
}

impl ConnFacts {
    pub fn of(c: &Conn) -> ConnFacts {
        ConnFacts {
            reaches_dns: reaches_dns(&c.ports),
            only_dns: c.ports.iter().all(|(sel, _)| match sel {
                PortSel::Range(r) => r.start == 53 && r.end == 53,
                PortSel::Named { name, .. } => name.contains("dns"),
                _ => false,
            }),
            has_ports: !c.ports.is_empty(),
        }
    }
}

/// What the lints and policy naming read of one item: its service without its ports, its
/// connections without their ports (with their [`ConnFacts`]), the definitions it refers to
/// and the names it used. Equal across edits that change only ports, positions inside the
/// item, or how a selector is written.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ItemOutline {
    pub service: Option<Service>,
    pub connections: Vec<(Conn, ConnFacts)>,
    /// The definitions the item refers to, each once, in first-use order.
    pub refers_to: Vec<Def>,
    pub used: Used,
}

/// The outline of a resolved item.
pub fn outline_item(r: &ItemResolution) -> ItemOutline {
    let mut refers_to: Vec<Def> = Vec::new();
    for reference in &r.program.references {
        if !refers_to.contains(&reference.def) {
            refers_to.push(reference.def.clone());
        }
    }
    ItemOutline {
        service: r.service.as_ref().map(|(_, s)| Service {
            ports: Vec::new(),
            ..s.clone()
        }),
        connections: r
            .program
            .connections
            .iter()
            .map(|c| {
                (
                    Conn {
                        ports: Vec::new(),
                        ..c.clone()
                    },
                    ConnFacts::of(c),
                )
            })
            .collect(),
        refers_to,
        used: r.used().clone(),
    }
}

/// The program as the lints and policy naming read it: the declarations, the services
/// without their ports, the connections without their ports (`facts` in the same order),
/// no tests and no references (`used` says which definitions are referred to).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outline {
    pub program: Program,
    pub facts: Vec<ConnFacts>,
    /// Every definition referred to (by the declarations or an item), each once.
    pub used: Vec<Def>,
    pub unused_imports: Vec<(String, Span)>,
}

/// The program-wide lints and the checks of the declarations, against the cluster's
/// workloads by namespace (the database's `namespace_index`, built once per cluster).
pub fn lints(outline: &Outline, index: &WorkloadIndex<'_>) -> Vec<Diagnostic> {
    let p = &outline.program;
    let manifests = index.manifests();
    let mut out = Vec::new();
    let have_workloads = !manifests.workloads.is_empty() || !manifests.namespaces.is_empty();
    let sources = SourceIndex::new(p, &outline.facts);

    // Groups' selectors against the workloads of their namespace.
    for g in p.groups.iter().filter(|g| g.module.is_none()) {
        if let NsScope::Named(ns) = &g.set.ns {
            selector_checks(
                &mut out,
                index,
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

    dns_lint(&mut out, p, &sources);
    internet_and_cluster_lint(&mut out, p, &sources);
    needed_by_lints(&mut out, p, manifests, index);
    overlap_lint(&mut out, p, index);
    unused_lints(&mut out, outline);
    tenant_lint(&mut out, p);
    super::cluster_ranges::lint(&mut out, p);
    out
}

/// The connections by source, so that a lint about one service's egress looks at the
/// connections that may come from it rather than at all of them.
struct SourceIndex<'p> {
    connections: &'p [Conn],
    facts: &'p [ConnFacts],
    /// Indexes of the connections whose source is service `i`.
    by_service: Vec<Vec<usize>>,
    /// Indexes of the connections whose source is a group or pods written in place (any
    /// service may be in them).
    other: Vec<usize>,
}

impl<'p> SourceIndex<'p> {
    fn new(p: &'p Program, facts: &'p [ConnFacts]) -> SourceIndex<'p> {
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
            facts,
            by_service,
            other,
        }
    }

    /// The connections whose source is service `i` or may hold its pods, in program order,
    /// filtered by `covers`, with their facts.
    fn outgoing(
        &self,
        i: usize,
        covers: impl Fn(&PeerKind) -> bool,
    ) -> Vec<(&'p Conn, &'p ConnFacts)> {
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
            .filter_map(|k| self.connections.get(k).zip(self.facts.get(k)))
            .filter(|(c, _)| covers(&c.source.kind))
            .collect()
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
        if outgoing.is_empty() || outgoing.iter().any(|(_, f)| f.reaches_dns) {
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

fn unused_lints(out: &mut Vec<Diagnostic>, outline: &Outline) {
    let p = &outline.program;
    let used: HashSet<&Def> = outline.used.iter().collect();
    let is_used = |d: Def| used.contains(&d);
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
    for (name, span) in &outline.unused_imports {
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
        let internet = outgoing.iter().find(|(c, _)| match &c.target.kind {
            PeerKind::External(e) => p
                .externals
                .get(*e)
                .is_some_and(|ext| probes.iter().any(|ip| in_blocks(&ext.blocks, *ip))),
            _ => false,
        });
        let cluster = outgoing
            .iter()
            .find(|(c, f)| !matches!(c.target.kind, PeerKind::External(_)) && !f.only_dns);
        if let (Some((net, _)), Some((inside, _))) = (internet, cluster) {
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
