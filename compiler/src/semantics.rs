//! The meaning of a program, computed directly from the resolved program and a cluster
//! model: the reference that compiled policies are checked against. It follows the
//! language's normative rules (docs/language.md, "What a program means") and shares no
//! code with lowering or optimisation.

use crate::k8s::eval::{Cluster, Endpoint, Pod, Protocol};
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::*;

/// Is the connection `from -> to` on `protocol`/`port` allowed by the program?
pub fn allowed(
    p: &Program,
    manifests: &Manifests,
    cluster: &Cluster,
    from: &Endpoint,
    to: &Endpoint,
    protocol: Protocol,
    port: u16,
) -> bool {
    let all: Vec<&Conn> = p.connections.iter().collect();
    side(p, &all, manifests, cluster, from, to, protocol, port, false)
        && side(p, &all, manifests, cluster, to, from, protocol, port, true)
}

/// One side of a connection, as the program decides it: `holder`'s egress (`ingress` false;
/// `other` is the destination) or ingress (`other` is the source). A side the program does
/// not isolate allows everything; an isolated side allows what some connection of `conns`
/// allows. `conns` must hold every connection of the program whose `holder` end (target for
/// ingress, source for egress) covers the holder: `verify` passes only those.
#[allow(clippy::too_many_arguments)]
pub fn side(
    p: &Program,
    conns: &[&Conn],
    manifests: &Manifests,
    cluster: &Cluster,
    holder: &Endpoint,
    other: &Endpoint,
    protocol: Protocol,
    port: u16,
    ingress: bool,
) -> bool {
    let Endpoint::Pod(i) = holder else {
        return true;
    };
    let Some(pod) = cluster.pods.get(*i) else {
        return true;
    };
    if !isolated(p, pod, ingress) {
        return true;
    }
    let dst = if ingress {
        Some(pod)
    } else {
        endpoint_pod(cluster, other)
    };
    conns.iter().any(|c| {
        let (mine, theirs) = if ingress {
            (&c.target, &c.source)
        } else {
            (&c.source, &c.target)
        };
        in_peer(p, manifests, &mine.kind, holder, cluster)
            && in_peer(p, manifests, &theirs.kind, other, cluster)
            && c.ports
                .iter()
                .any(|(sel, _)| port_matches(sel, dst, protocol, port))
    })
}

fn endpoint_pod<'c>(cluster: &'c Cluster, e: &Endpoint) -> Option<&'c Pod> {
    match e {
        Endpoint::Pod(i) => cluster.pods.get(*i),
        Endpoint::External(_) => None,
    }
}

/// Is the pod managed (isolated by the program) in that direction?
pub fn isolated(p: &Program, pod: &Pod, ingress: bool) -> bool {
    let want = |d: Dirs| if ingress { d.ingress } else { d.egress };
    want(p.namespace_isolation(&pod.namespace))
        || p.services.iter().any(|s| {
            want(s.isolate) && s.namespace == pod.namespace && s.selector.matches(&pod.labels)
        })
}

fn in_peer(
    p: &Program,
    manifests: &Manifests,
    kind: &PeerKind,
    e: &Endpoint,
    cluster: &Cluster,
) -> bool {
    match (kind, e) {
        (PeerKind::External(i), Endpoint::External(ip)) => p
            .externals
            .get(*i)
            .is_some_and(|ext| in_blocks(&ext.blocks, *ip)),
        (PeerKind::External(_), Endpoint::Pod(_)) | (_, Endpoint::External(_)) => false,
        (kind, Endpoint::Pod(i)) => {
            let (Some(set), Some(pod)) = (p.pod_set(kind), cluster.pods.get(*i)) else {
                return false;
            };
            set.contains(&pod.namespace, &pod.labels, || {
                manifests.namespace_labels(&pod.namespace)
            })
        }
    }
}

fn port_matches(sel: &PortSel, dst: Option<&Pod>, protocol: Protocol, port: u16) -> bool {
    match sel {
        PortSel::All => true,
        PortSel::AllOf(p) => *p == protocol,
        PortSel::Range(r) => r.protocol == protocol && r.start <= port && port <= r.end,
        PortSel::Named { protocol: p, name } => {
            *p == protocol
                && dst.is_some_and(|pod| {
                    pod.ports.iter().any(|cp| {
                        cp.name.as_deref() == Some(name.as_str())
                            && cp.protocol == protocol
                            && cp.port == port
                    })
                })
        }
    }
}

/// A cluster model with one pod per workload, and the program's and manifests' namespaces.
pub fn cluster_from_manifests(p: &Program, manifests: &Manifests) -> Cluster {
    let names: Vec<String> = p.namespaces.keys().cloned().collect();
    crate::explain::cluster(manifests, &names)
}
