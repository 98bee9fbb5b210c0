//! `test` blocks: each assertion is checked with the NetworkPolicy evaluator against the
//! compiled policies, over the cluster the workloads describe plus one synthesized pod for
//! every service, group or in-place set of pods that no workload matches (so a program
//! without workloads can be tested too).

use crate::k8s::eval::{self, Cluster, ContainerPort, Endpoint, Namespace, Pod, Protocol};
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::*;
use crate::resolve::namespace_labels;
use crate::semantics::in_blocks;
use crate::span::Span;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionResult {
    pub span: Span,
    pub passed: bool,
    /// Connections (pod or address pairs, on each port) checked.
    pub checked: usize,
    /// Why it failed: the first counterexample.
    pub failure: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub span: Span,
    pub assertions: Vec<AssertionResult>,
}

/// Runs every test of the program against `policies`.
pub fn run(
    program: &Program,
    manifests: &Manifests,
    policies: &[NetworkPolicy],
) -> Vec<TestResult> {
    let cluster = test_cluster(program, manifests);
    program
        .tests
        .iter()
        .map(|t| TestResult {
            name: t.name.clone(),
            span: t.span,
            assertions: t
                .assertions
                .iter()
                .map(|a| check(program, manifests, &cluster, policies, a))
                .collect(),
        })
        .collect()
}

fn check(
    program: &Program,
    manifests: &Manifests,
    cluster: &Cluster,
    policies: &[NetworkPolicy],
    a: &Assertion,
) -> AssertionResult {
    let froms = endpoints(program, manifests, cluster, &a.from.kind);
    let tos = endpoints(program, manifests, cluster, &a.to.kind);
    let mut checked = 0;
    let mut failure = None;
    if froms.is_empty() || tos.is_empty() {
        failure = Some("no pod or address stands for one side of this assertion".to_string());
    }
    'outer: for from in &froms {
        for to in &tos {
            if from == to {
                continue; // a pod may always reach itself
            }
            for (protocol, port) in probes(cluster, to, &a.ports) {
                let Some(port) = port else {
                    if a.expect_allowed {
                        failure =
                            Some(format!("{} declares no such named port", show(cluster, to)));
                        break 'outer;
                    }
                    continue;
                };
                checked += 1;
                let v = eval::evaluate(policies, cluster, from, to, protocol, port);
                if v.allowed != a.expect_allowed {
                    failure = Some(explain_failure(cluster, from, to, protocol, port, &v));
                    break 'outer;
                }
            }
        }
    }
    AssertionResult {
        span: a.span,
        passed: failure.is_none(),
        checked,
        failure,
    }
}

fn explain_failure(
    cluster: &Cluster,
    from: &Endpoint,
    to: &Endpoint,
    protocol: Protocol,
    port: u16,
    v: &eval::Verdict,
) -> String {
    let conn = format!(
        "{} -> {} on {port}/{protocol}",
        show(cluster, from),
        show(cluster, to)
    );
    if v.allowed {
        let by = |side: &eval::SideVerdict, dir: &str| {
            side.allowed_by.first().map(|r| {
                format!(
                    "{dir} rule {} of `{}/{}`",
                    r.rule + 1,
                    r.namespace,
                    r.policy
                )
            })
        };
        let reasons: Vec<String> = [
            by(&v.egress, "egress").or_else(|| {
                (!v.egress.isolated).then(|| "the source is not egress-isolated".to_string())
            }),
            by(&v.ingress, "ingress").or_else(|| {
                (!v.ingress.isolated).then(|| "the destination is not ingress-isolated".to_string())
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        format!("{conn} is allowed ({})", reasons.join("; "))
    } else {
        let side = if !v.egress.allowed {
            format!(
                "no egress rule of {} admits it",
                v.egress.isolated_by.join(", ")
            )
        } else {
            format!(
                "no ingress rule of {} admits it",
                v.ingress.isolated_by.join(", ")
            )
        };
        format!("{conn} is denied ({side})")
    }
}

fn show(cluster: &Cluster, e: &Endpoint) -> String {
    match e {
        Endpoint::Pod(i) => cluster
            .pods
            .get(*i)
            .map_or("?".to_string(), |p| format!("{}/{}", p.namespace, p.name)),
        Endpoint::External(ip) => ip.to_string(),
    }
}

/// (protocol, port) probes for a destination; `None` for a named port it does not declare.
fn probes(
    cluster: &Cluster,
    to: &Endpoint,
    ports: &[(PortSel, Span)],
) -> Vec<(Protocol, Option<u16>)> {
    let pod = match to {
        Endpoint::Pod(i) => cluster.pods.get(*i),
        Endpoint::External(_) => None,
    };
    let container = |p: Protocol| -> Vec<u16> {
        pod.map(|pod| {
            pod.ports
                .iter()
                .filter(|c| c.protocol == p)
                .map(|c| c.port)
                .collect()
        })
        .unwrap_or_default()
    };
    let mut out = Vec::new();
    for (sel, _) in ports {
        match sel {
            PortSel::All => {
                for p in Protocol::ALL {
                    out.extend(
                        [1, 65535]
                            .into_iter()
                            .chain(container(p))
                            .map(|n| (p, Some(n))),
                    );
                }
            }
            PortSel::AllOf(p) => out.extend(
                [1, 65535]
                    .into_iter()
                    .chain(container(*p))
                    .map(|n| (*p, Some(n))),
            ),
            PortSel::Range(r) => {
                out.push((r.protocol, Some(r.start)));
                if r.end != r.start {
                    out.push((r.protocol, Some(r.end)));
                }
            }
            PortSel::Named { protocol, name } => {
                let found = pod.and_then(|pod| {
                    pod.ports
                        .iter()
                        .find(|c| {
                            c.name.as_deref() == Some(name.as_str()) && c.protocol == *protocol
                        })
                        .map(|c| c.port)
                });
                out.push((*protocol, found));
            }
        }
    }
    out
}

/// The pods (or addresses) a peer stands for in the test cluster.
fn endpoints(
    program: &Program,
    manifests: &Manifests,
    cluster: &Cluster,
    kind: &PeerKind,
) -> Vec<Endpoint> {
    if let PeerKind::External(i) = kind {
        return program
            .externals
            .get(*i)
            .map(|e| representatives(&e.blocks))
            .unwrap_or_default()
            .into_iter()
            .map(Endpoint::External)
            .collect();
    }
    let Some(set) = program.pod_set(kind) else {
        return Vec::new();
    };
    cluster
        .pods
        .iter()
        .enumerate()
        .filter(|(_, pod)| in_set(&set, pod, cluster, manifests))
        .map(|(i, _)| Endpoint::Pod(i))
        .collect()
}

fn in_set(set: &PodSet, pod: &Pod, cluster: &Cluster, manifests: &Manifests) -> bool {
    set.contains(&pod.namespace, &pod.labels, || {
        cluster
            .namespaces
            .iter()
            .find(|n| n.name == pod.namespace)
            .map(|n| n.labels.clone())
            .unwrap_or_else(|| namespace_labels(manifests, &pod.namespace))
    })
}

/// One address per block, inside it and outside its excepts.
fn representatives(blocks: &[IpBlock]) -> Vec<IpAddr> {
    blocks
        .iter()
        .filter_map(|b| {
            b.cidr
                .hosts()
                .take(4096)
                .chain(std::iter::once(b.cidr.network()))
                .find(|ip| in_blocks(std::slice::from_ref(b), *ip))
        })
        .collect()
}

/// The workloads' pods, plus a synthesized pod for every service, group and in-place set of
/// pods of the program that no workload matches.
pub fn test_cluster(program: &Program, manifests: &Manifests) -> Cluster {
    let mut cluster = crate::semantics::cluster_from_manifests(program, manifests);
    let mut sets: Vec<(String, PodSet, Vec<ContainerPort>)> = Vec::new();
    for s in &program.services {
        let ports = s
            .ports
            .iter()
            .flat_map(|d| {
                d.values.iter().map(|r| ContainerPort {
                    name: Some(d.name.clone()),
                    port: r.start,
                    protocol: r.protocol,
                })
            })
            .collect();
        sets.push((s.name.clone(), s.pod_set(), ports));
    }
    for g in &program.groups {
        sets.push((g.name.clone(), g.set.clone(), Vec::new()));
    }
    let inline = program
        .connections
        .iter()
        .flat_map(|c| [&c.source, &c.target])
        .chain(
            program
                .tests
                .iter()
                .flat_map(|t| t.assertions.iter().flat_map(|a| [&a.from, &a.to])),
        );
    for peer in inline {
        if let PeerKind::Pods(set) = &peer.kind {
            sets.push(("pods".to_string(), set.clone(), Vec::new()));
        }
    }
    for (name, set, ports) in sets {
        if cluster
            .pods
            .iter()
            .any(|p| in_set(&set, p, &cluster, manifests))
        {
            continue;
        }
        let Some(labels) = set.pods.witness() else {
            continue;
        };
        let namespace = match &set.ns {
            NsScope::Named(n) => n.clone(),
            NsScope::Selector(s) => {
                match cluster.namespaces.iter().find(|n| s.matches(&n.labels)) {
                    Some(n) => n.name.clone(),
                    None => {
                        let Some(mut ns_labels) = s.witness() else {
                            continue;
                        };
                        let ns_name = format!("netpol-synthetic-{}", cluster.namespaces.len());
                        if ns_labels
                            .get("kubernetes.io/metadata.name")
                            .is_some_and(|v| *v != ns_name)
                        {
                            continue;
                        }
                        ns_labels
                            .insert("kubernetes.io/metadata.name".to_string(), ns_name.clone());
                        cluster.namespaces.push(Namespace {
                            name: ns_name.clone(),
                            labels: ns_labels,
                        });
                        ns_name
                    }
                }
            }
        };
        if !cluster.namespaces.iter().any(|n| n.name == namespace) {
            cluster.namespaces.push(Namespace {
                name: namespace.clone(),
                labels: namespace_labels(manifests, &namespace),
            });
        }
        cluster.pods.push(Pod {
            namespace,
            name: format!("{name} (synthesized)"),
            labels,
            ip: None,
            ports,
        });
    }
    cluster
}
