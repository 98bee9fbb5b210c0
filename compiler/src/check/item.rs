//! The checks of one item against the workloads: a service's selector and ports, a
//! connection item's ports and broad peers. Each reads its own item's resolution and what
//! it names (the pod sets of its peers), never the whole program, so the database runs
//! them per item (`db::check_item`).

use super::selector_checks;
use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::Protocol;
use crate::k8s::names::did_you_mean;
use crate::k8s::workloads::{Manifests, Workload, WorkloadIndex};
use crate::resolve::ContainerPortRef;
use crate::resolve::hir::*;
use crate::span::Span;
use std::collections::{BTreeSet, HashMap};

/// What a connection's checks read of the rest of the program: the peers it names.
pub struct PeerView<'a> {
    /// The declarations' program: its groups and externals.
    pub declarations: &'a Program,
    /// Services by index (their ports are not read).
    pub service: &'a dyn Fn(usize) -> Option<&'a Service>,
}

impl PeerView<'_> {
    /// As [`Program::pod_set`].
    fn pod_set(&self, kind: &PeerKind) -> Option<PodSet> {
        match kind {
            PeerKind::Service(i) => (self.service)(*i).map(Service::pod_set),
            other => self.declarations.pod_set(other),
        }
    }

    /// As [`Program::peer_name`].
    fn peer_name(&self, kind: &PeerKind) -> String {
        match kind {
            PeerKind::Service(i) => (self.service)(*i)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            other => self.declarations.peer_name(other),
        }
    }
}

/// The first five services, in program order, isolated for ingress and for egress: the
/// services the help of a `cluster` peer names.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IsolatedServices {
    pub ingress: Vec<String>,
    pub egress: Vec<String>,
}

impl IsolatedServices {
    pub fn of(services: &[Service]) -> IsolatedServices {
        let names = |isolated: fn(&Service) -> bool| {
            services
                .iter()
                .filter(|s| isolated(s))
                .map(|s| s.name.clone())
                .take(5)
                .collect()
        };
        IsolatedServices {
            ingress: names(|s| s.isolate.ingress),
            egress: names(|s| s.isolate.egress),
        }
    }
}

/// A service's checks: its selector against the workloads of its namespace, and its ports
/// against the containers it selects.
pub fn check_service(
    svc: &Service,
    manifests: &Manifests,
    index: &WorkloadIndex<'_>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    selector_checks(
        &mut out,
        index,
        &svc.namespace,
        &svc.selector,
        svc.selector_span,
        &svc.name,
        "service",
    );
    // Ports that no container of the service exposes.
    let pods = matching(manifests, index, Some(svc.pod_set()));
    if !pods.is_empty() {
        for def in &svc.ports {
            for r in &def.values {
                if !exposed(&pods, r) {
                    out.push(not_exposed(def.span, r, &svc.name, &pods));
                }
            }
        }
    }
    out
}

/// The checks of one connection item (`connections`, with the item's `references`): numeric
/// ports that no container of the target exposes, and peers or ports that allow too much.
/// `isolated` is asked for only when a `cluster` peer needs it. Spans are relative to the
/// item, so what is deduplicated here is deduplicated program-wide.
pub fn check_connections<'m>(
    connections: &[Conn],
    references: &[Reference],
    view: &PeerView<'_>,
    isolated: &dyn Fn() -> IsolatedServices,
    manifests: &'m Manifests,
    index: &'m WorkloadIndex<'m>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut matched = Matcher::new(manifests, index, view);
    let service_port_refs: BTreeSet<Span> = references
        .iter()
        .filter(|r| matches!(r.def, Def::ServicePort(..)))
        .map(|r| r.span)
        .collect();
    let mut seen_port_spans = BTreeSet::new();
    for c in connections {
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
                out.push(not_exposed(
                    *span,
                    r,
                    &view.peer_name(&c.target.kind),
                    &pods,
                ));
            }
        }
    }
    broad_peers(&mut out, connections, view, isolated);
    out
}

/// The container ports of an item's port names that the program does not declare
/// ([`ContainerPortRef`]): for each, in order, its ports (one named port per protocol its
/// containers declare it with), and E011 or E015 for those no container declares.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ContainerPorts {
    pub found: Vec<Vec<PortSel>>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Looks up each container port reference of an item in the containers of its target.
pub fn container_ports(
    refs: &[ContainerPortRef],
    manifests: &Manifests,
    index: &WorkloadIndex<'_>,
) -> ContainerPorts {
    let mut out = ContainerPorts::default();
    for r in refs {
        let workloads = matching(manifests, index, r.pods.clone());
        let mut protos: BTreeSet<Protocol> = BTreeSet::new();
        let mut declared: BTreeSet<&str> = BTreeSet::new();
        for w in &workloads {
            for p in &w.ports {
                if let Some(n) = &p.name {
                    declared.insert(n);
                    if *n == r.name && r.protocol.is_none_or(|want| want == p.protocol) {
                        protos.insert(p.protocol);
                    }
                }
            }
        }
        out.found.push(
            protos
                .iter()
                .map(|protocol| PortSel::Named {
                    protocol: *protocol,
                    name: r.name.clone(),
                })
                .collect(),
        );
        if protos.is_empty()
            && let Some(d) = undeclared(r, &workloads, &declared, index)
        {
            out.diagnostics.push(d);
        }
    }
    out
}

/// What is wrong with a container port name no container of the target declares: E011 when
/// the target has no workload, E015 when it has some; nothing when E014 already says that the
/// target's selector matches no workload (once it does, the port resolves or E015 names the
/// ports its containers declare).
fn undeclared(
    r: &ContainerPortRef,
    workloads: &[&Workload],
    declared: &BTreeSet<&str>,
    index: &WorkloadIndex<'_>,
) -> Option<Diagnostic> {
    // The nearest of the program's names and the containers' (`suggest` takes the nearest, then
    // the first in order, of any set: so of the two nearest).
    let nearest = r.nearest_declared.iter().map(String::as_str);
    let suggestion = did_you_mean(&r.name, nearest.chain(declared.iter().copied()));
    let target_name = &r.target_name;
    if workloads.is_empty() {
        let reported_empty = r.selector_checked
            && r.pods.as_ref().is_some_and(|set| {
                matches!(&set.ns, NsScope::Named(ns) if index.mentions_namespace(ns))
                    && !set.pods.is_unsat()
            });
        if reported_empty {
            return None;
        }
        return Some(
            Diagnostic::new(Code::UnknownPort, r.name_span, format!("unknown port `{}` on `{target_name}`", r.name))
                .label("no port of this name")
                .help(suggestion.unwrap_or_else(|| {
                    format!("declare it in the service (`port {} = …`), use a number, or give the workloads that declare it", r.name)
                })),
        );
    }
    let listed = if declared.is_empty() {
        "they declare no named ports".to_string()
    } else {
        format!("they declare {}", ticked(declared))
    };
    Some(
        Diagnostic::new(
            Code::NamedPortNotDeclared,
            r.name_span,
            format!(
                "no container of `{target_name}` declares a port named `{}`",
                r.name
            ),
        )
        .label("not declared by the destination's containers")
        .help(suggestion.unwrap_or(listed)),
    )
}

/// The workloads whose pods a peer stands for, computed once per service and group.
struct Matcher<'m, 'p, 'v> {
    manifests: &'m Manifests,
    index: &'m WorkloadIndex<'m>,
    view: &'p PeerView<'v>,
    cache: HashMap<PeerKind, Vec<&'m Workload>>,
}

impl<'m, 'p, 'v> Matcher<'m, 'p, 'v> {
    fn new(manifests: &'m Manifests, index: &'m WorkloadIndex<'m>, view: &'p PeerView<'v>) -> Self {
        Matcher {
            manifests,
            index,
            view,
            cache: HashMap::new(),
        }
    }

    fn get(&mut self, kind: &PeerKind) -> Vec<&'m Workload> {
        if let Some(v) = self.cache.get(kind) {
            return v.clone();
        }
        let v = matching(self.manifests, self.index, self.view.pod_set(kind));
        if !matches!(kind, PeerKind::Pods(_)) {
            self.cache.insert(kind.clone(), v.clone());
        }
        v
    }
}

/// The workloads whose pods a peer stands for.
fn matching<'m>(
    manifests: &'m Manifests,
    index: &WorkloadIndex<'m>,
    set: Option<PodSet>,
) -> Vec<&'m Workload> {
    let Some(set) = set else {
        return Vec::new();
    };
    match &set.ns {
        NsScope::Named(n) => index
            .in_namespace(n)
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
                        .or_insert_with(|| s.matches(&manifests.namespace_labels(&w.namespace)))
                        && set.pods.matches(&w.labels)
                })
                .collect()
        }
    }
}

/// `` `a`, `b` ``: names in backticks, joined by commas.
fn ticked<T: std::fmt::Display>(names: impl IntoIterator<Item = T>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
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
            ticked(&exposed)
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

fn broad_peers(
    out: &mut Vec<Diagnostic>,
    connections: &[Conn],
    view: &PeerView<'_>,
    isolated: &dyn Fn() -> IsolatedServices,
) {
    let mut seen = BTreeSet::new();
    for c in connections {
        for peer in [&c.source, &c.target] {
            if !seen.insert(peer.span) {
                continue;
            }
            match &peer.kind {
                PeerKind::Pods(set) if set.pods.is_all() && set.ns == NsScope::all() => {
                    let as_target = std::ptr::eq(peer, &c.target);
                    let isolated = isolated();
                    let managed: Vec<String> = if as_target {
                        &isolated.ingress
                    } else {
                        &isolated.egress
                    }
                    .iter()
                    .map(|name| format!("`{name}`"))
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
                    if let Some(e) = view.declarations.externals.get(*i)
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
