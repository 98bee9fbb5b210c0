//! Checks against the workloads, and lints. Name resolution reports what is wrong with the
//! program on its own; this module reports what is wrong with it against the cluster its
//! manifests describe, and what is legal but probably a mistake.

use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::Protocol;
use crate::k8s::names::suggest;
use crate::k8s::selector::{Sel, Values};
use crate::k8s::workloads::{Manifests, Workload};
use crate::resolve::hir::*;
use crate::resolve::{Resolved, namespace_labels};
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet};

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

    // Selectors against the workloads of their namespace.
    for svc in &p.services {
        selector_checks(
            &mut out,
            manifests,
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
                manifests,
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
            if !manifests.mentions_namespace(&ns.name) {
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
    for (i, svc) in p.services.iter().enumerate() {
        let pods = matching(manifests, p, &PeerKind::Service(i));
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
        let pods = matching(manifests, p, &c.target.kind);
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
    dns_lint(&mut out, p);
    internet_and_cluster_lint(&mut out, p);
    needed_by_lints(&mut out, p, manifests);
    overlap_lint(&mut out, p, manifests);
    unused_lints(&mut out, resolved);
    out
}

/// The workloads whose pods a peer stands for.
fn matching<'m>(manifests: &'m Manifests, p: &Program, kind: &PeerKind) -> Vec<&'m Workload> {
    let Some(set) = p.pod_set(kind) else {
        return Vec::new();
    };
    manifests
        .workloads
        .iter()
        .filter(|w| {
            set.contains(&w.namespace, &w.labels, || {
                namespace_labels(manifests, &w.namespace)
            })
        })
        .collect()
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
    manifests: &Manifests,
    ns: &str,
    sel: &Sel,
    span: Span,
    name: &str,
    what: &str,
) {
    generated_label_check(out, sel, span);
    if !manifests.mentions_namespace(ns) || sel.is_unsat() {
        return;
    }
    let in_ns: Vec<&Workload> = manifests.in_namespace(ns).collect();
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

fn dns_lint(out: &mut Vec<Diagnostic>, p: &Program) {
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
        let outgoing: Vec<&Conn> = p
            .connections
            .iter()
            .filter(|c| covers(&c.source.kind))
            .collect();
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

fn overlap_lint(out: &mut Vec<Diagnostic>, p: &Program, manifests: &Manifests) {
    for (i, a) in p.services.iter().enumerate() {
        for b in p.services.iter().skip(i + 1) {
            // An empty selector comes from an error reported elsewhere.
            let degenerate = |s: &Sel| s.is_unsat() || s.is_all();
            if a.namespace != b.namespace || degenerate(&a.selector) || degenerate(&b.selector) {
                continue;
            }
            let overlap = a.selector.implies(&b.selector)
                || b.selector.implies(&a.selector)
                || manifests
                    .in_namespace(&a.namespace)
                    .any(|w| a.selector.matches(&w.labels) && b.selector.matches(&w.labels));
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
    for (i, svc) in p.services.iter().enumerate() {
        let mentioned = p.connections.iter().any(|c| {
            c.source.kind == PeerKind::Service(i) || c.target.kind == PeerKind::Service(i)
        });
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

fn internet_and_cluster_lint(out: &mut Vec<Diagnostic>, p: &Program) {
    let probes: Vec<std::net::IpAddr> = PUBLIC_PROBES
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    for (i, svc) in p.services.iter().enumerate() {
        if !svc.isolate.egress {
            continue;
        }
        let outgoing: Vec<&Conn> = p
            .connections
            .iter()
            .filter(|c| covers_service(p, &c.source.kind, i))
            .collect();
        let internet = outgoing.iter().find(|c| match &c.target.kind {
            PeerKind::External(e) => p.externals.get(*e).is_some_and(|ext| {
                probes
                    .iter()
                    .any(|ip| crate::semantics::in_blocks(&ext.blocks, *ip))
            }),
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
fn needed_by_lints(out: &mut Vec<Diagnostic>, p: &Program, manifests: &Manifests) {
    let module_groups = |m: &str| -> Vec<usize> {
        p.groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.module.as_deref() == Some(m))
            .map(|(i, _)| i)
            .collect()
    };
    let reached_from = |groups: &[usize], i: usize| {
        p.connections.iter().any(|c| {
            matches!(c.source.kind, PeerKind::Group(g) if groups.contains(&g))
                && covers_service(p, &c.target.kind, i)
        })
    };
    let scrapers = module_groups("monitoring");
    let controllers = module_groups("ingress");
    for (i, svc) in p.services.iter().enumerate() {
        if !svc.isolate.ingress {
            continue;
        }
        let pods: Vec<&Workload> = manifests
            .in_namespace(&svc.namespace)
            .filter(|w| svc.selector.matches(&w.labels))
            .collect();
        if !scrapers.is_empty()
            && !reached_from(&scrapers, i)
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
        if !controllers.is_empty() && !reached_from(&controllers, i) {
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
