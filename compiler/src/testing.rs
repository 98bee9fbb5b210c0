//! `test` blocks: each assertion is checked with the NetworkPolicy evaluator against the
//! compiled policies, over the cluster the workloads describe plus one synthesized pod for
//! every service, group or in-place set of pods that no workload matches (so a program
//! without workloads can be tested too).

use crate::k8s::eval::{self, Cluster, ContainerPort, Endpoint, Namespace, Pod, Protocol};
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::*;
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
    let bounds = Boundaries::of(program, policies);
    program
        .tests
        .iter()
        .map(|t| TestResult {
            name: t.name.clone(),
            span: t.span,
            assertions: t
                .assertions
                .iter()
                .map(|a| check(program, manifests, &cluster, &bounds, policies, a))
                .collect(),
        })
        .collect()
}

/// Where verdicts can change: every address block and `except` of the program and of the
/// policies, and every port range boundary of the policies, per protocol. Between two
/// boundaries every address (port) gets the same verdict, so one probe per piece decides
/// for all of them.
#[derive(Clone, Debug, Default)]
pub struct Boundaries {
    /// Start points of pieces of the address space: (is IPv6, address as a number).
    addresses: std::collections::BTreeSet<(bool, u128)>,
    /// Start points of pieces of the port space, per protocol.
    ports: std::collections::BTreeMap<Protocol, std::collections::BTreeSet<u32>>,
}

fn net_range(net: &ipnet::IpNet) -> (bool, u128, u128) {
    match net {
        ipnet::IpNet::V4(n) => (
            false,
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        ipnet::IpNet::V6(n) => (true, u128::from(n.network()), u128::from(n.broadcast())),
    }
}

fn to_ip(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::from(n))
    } else {
        IpAddr::V4(std::net::Ipv4Addr::from(
            u32::try_from(n).unwrap_or(u32::MAX),
        ))
    }
}

impl Boundaries {
    pub fn of(program: &Program, policies: &[NetworkPolicy]) -> Boundaries {
        let mut b = Boundaries::default();
        for e in &program.externals {
            for block in &e.blocks {
                b.add_net(&block.cidr);
                for x in &block.except {
                    b.add_net(x);
                }
            }
        }
        for p in policies {
            let Some(spec) = &p.spec else { continue };
            let ingress = spec
                .ingress
                .iter()
                .flatten()
                .map(|r| (r.from.as_deref(), r.ports.as_deref()));
            let egress = spec
                .egress
                .iter()
                .flatten()
                .map(|r| (r.to.as_deref(), r.ports.as_deref()));
            for (peers, ports) in ingress.chain(egress) {
                for peer in peers.into_iter().flatten() {
                    if let Some(block) = &peer.ip_block {
                        for text in
                            std::iter::once(&block.cidr).chain(block.except.iter().flatten())
                        {
                            if let Ok(net) = text.parse::<ipnet::IpNet>() {
                                b.add_net(&net.trunc());
                            }
                        }
                    }
                }
                for port in ports.into_iter().flatten() {
                    let protocol = port
                        .protocol
                        .as_deref()
                        .and_then(Protocol::parse_api)
                        .unwrap_or(Protocol::Tcp);
                    if let Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) =
                        &port.port
                    {
                        let end = port.end_port.unwrap_or(*n);
                        let set = b.ports.entry(protocol).or_default();
                        if let (Ok(s), Ok(e)) = (u32::try_from(*n), u32::try_from(end)) {
                            set.insert(s);
                            set.insert(e.saturating_add(1));
                        }
                    }
                }
            }
        }
        b
    }

    fn add_net(&mut self, net: &ipnet::IpNet) {
        let (v6, start, end) = net_range(net);
        self.addresses.insert((v6, start));
        if let Some(next) = end.checked_add(1)
            && (v6 || next <= u128::from(u32::MAX))
        {
            self.addresses.insert((v6, next));
        }
    }

    /// One address of every piece of the external's blocks.
    pub fn addresses_of(&self, blocks: &[IpBlock]) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for block in blocks {
            let (v6, start, end) = net_range(&block.cidr);
            let inner: Vec<u128> = if start < end {
                self.addresses
                    .range((v6, start + 1)..=(v6, end))
                    .map(|(_, n)| *n)
                    .collect()
            } else {
                Vec::new()
            };
            let points = std::iter::once(start).chain(inner);
            for n in points {
                let ip = to_ip(v6, n);
                if in_blocks(blocks, ip) && !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
        out
    }

    /// One port of every piece of `start..=end` of `protocol`, split also where a port of
    /// the destination pod starts or ends (a named port of a policy resolves to it).
    fn ports_in(&self, protocol: Protocol, start: u16, end: u16, pod: Option<&Pod>) -> Vec<u16> {
        let mut points: std::collections::BTreeSet<u32> = self
            .ports
            .get(&protocol)
            .filter(|_| start < end)
            .map(|s| {
                s.range(u32::from(start) + 1..=u32::from(end))
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        points.insert(u32::from(start));
        for c in pod.iter().flat_map(|p| p.ports.iter()) {
            if c.protocol == protocol {
                for n in [u32::from(c.port), u32::from(c.port) + 1] {
                    if (u32::from(start)..=u32::from(end)).contains(&n) {
                        points.insert(n);
                    }
                }
            }
        }
        points
            .into_iter()
            .filter_map(|n| u16::try_from(n).ok())
            .collect()
    }
}

fn check(
    program: &Program,
    manifests: &Manifests,
    cluster: &Cluster,
    bounds: &Boundaries,
    policies: &[NetworkPolicy],
    a: &Assertion,
) -> AssertionResult {
    let froms = endpoints(program, manifests, cluster, bounds, &a.from.kind);
    let tos = endpoints(program, manifests, cluster, bounds, &a.to.kind);
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
            for (protocol, port) in probes(cluster, bounds, to, &a.ports) {
                checked += 1;
                let v = eval::evaluate(policies, cluster, from, to, protocol, port);
                if v.allowed != a.expect_allowed {
                    failure = Some(explain_failure(cluster, from, to, protocol, port, &v));
                    break 'outer;
                }
            }
        }
    }
    if failure.is_none() && checked == 0 && a.expect_allowed {
        // Only a named port can leave no connection: no destination pod declares it.
        failure = Some(
            "the assertion describes no connection: no pod of the destination declares its \
             named port"
                .to_string(),
        );
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

/// (protocol, port) probes for a destination: one port of every piece of each selection
/// (split at every boundary of the policies and the destination's container ports), and for a
/// port name every port the destination gives that name on that protocol (none when it does
/// not declare it: that pod has no such connection).
fn probes(
    cluster: &Cluster,
    bounds: &Boundaries,
    to: &Endpoint,
    ports: &[(PortSel, Span)],
) -> Vec<(Protocol, u16)> {
    let pod = match to {
        Endpoint::Pod(i) => cluster.pods.get(*i),
        Endpoint::External(_) => None,
    };
    let mut out = Vec::new();
    for (sel, _) in ports {
        match sel {
            PortSel::All => {
                for p in Protocol::ALL {
                    out.extend(
                        bounds
                            .ports_in(p, 1, 65535, pod)
                            .into_iter()
                            .map(|n| (p, n)),
                    );
                }
            }
            PortSel::AllOf(p) => {
                out.extend(
                    bounds
                        .ports_in(*p, 1, 65535, pod)
                        .into_iter()
                        .map(|n| (*p, n)),
                );
            }
            PortSel::Range(r) => out.extend(
                bounds
                    .ports_in(r.protocol, r.start, r.end, pod)
                    .into_iter()
                    .map(|n| (r.protocol, n)),
            ),
            PortSel::Named { protocol, name } => {
                out.extend(
                    pod.iter()
                        .flat_map(|pod| pod.ports.iter())
                        .filter(|c| {
                            c.name.as_deref() == Some(name.as_str()) && c.protocol == *protocol
                        })
                        .map(|c| (*protocol, c.port)),
                );
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The pods (or addresses) a peer stands for in the test cluster.
fn endpoints(
    program: &Program,
    manifests: &Manifests,
    cluster: &Cluster,
    bounds: &Boundaries,
    kind: &PeerKind,
) -> Vec<Endpoint> {
    if let PeerKind::External(i) = kind {
        return program
            .externals
            .get(*i)
            .map(|e| bounds.addresses_of(&e.blocks))
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
            .unwrap_or_else(|| manifests.namespace_labels(&pod.namespace))
    })
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
                labels: manifests.namespace_labels(&namespace),
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
