//! Matching one ingress or egress rule: its peers (`from`/`to`) and its ports.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Cluster, Endpoint, Pod, Protocol, selector_matches};

/// The connection being decided.
pub(super) struct Connection<'a> {
    pub(super) cluster: &'a Cluster,
    pub(super) from: &'a Endpoint,
    pub(super) to: &'a Endpoint,
    pub(super) protocol: Protocol,
    pub(super) port: u16,
}

impl Connection<'_> {
    /// The destination pod, against which named ports resolve (`None` for an external
    /// destination or an out-of-range index).
    fn destination_pod(&self) -> Option<&Pod> {
        match self.to {
            Endpoint::Pod(index) => self.cluster.pod(*index),
            Endpoint::External(_) => None,
        }
    }
}

/// Whether a rule of a policy in `namespace`, with these peers (`from` of an ingress rule,
/// `to` of an egress rule) and ports, admits `connection`, whose other end is `peer`.
///
/// An absent or empty peer list matches every peer; an absent or empty port list matches
/// every port and protocol. Otherwise at least one item of each list must match.
pub(super) fn rule_admits(
    namespace: &str,
    peers: Option<&[NetworkPolicyPeer]>,
    ports: Option<&[NetworkPolicyPort]>,
    peer: &Endpoint,
    connection: &Connection<'_>,
) -> bool {
    let peers_match = match peers {
        None | Some([]) => true,
        Some(peers) => peers
            .iter()
            .any(|item| peer_matches(item, namespace, connection.cluster, peer)),
    };
    let ports_match = match ports {
        None | Some([]) => true,
        Some(ports) => ports.iter().any(|item| {
            port_matches(
                item,
                connection.destination_pod(),
                connection.protocol,
                connection.port,
            )
        }),
    };
    peers_match && ports_match
}

/// Whether one `from`/`to` item of a policy in `namespace` matches `endpoint`.
///
/// * podSelector only: pods of the policy's own namespace matching it;
/// * namespaceSelector only: every pod of the namespaces matching it;
/// * both: pods matching podSelector in namespaces matching namespaceSelector;
/// * ipBlock only: addresses (of external endpoints, or the IP of a pod that has one) in
///   `cidr` and in no `except`.
///
/// An item the API server rejects (no field set, or ipBlock together with a selector) matches
/// nothing.
pub fn peer_matches(
    peer: &NetworkPolicyPeer,
    namespace: &str,
    cluster: &Cluster,
    endpoint: &Endpoint,
) -> bool {
    match (&peer.pod_selector, &peer.namespace_selector, &peer.ip_block) {
        (None, None, None) => false,
        (None, None, Some(block)) => {
            endpoint_ip(cluster, endpoint).is_some_and(|ip| ip_block_contains(block, ip))
        }
        (_, _, Some(_)) => false,
        (pod_selector, namespace_selector, None) => {
            let Endpoint::Pod(index) = endpoint else {
                return false;
            };
            let Some(pod) = cluster.pod(*index) else {
                return false;
            };
            let namespace_ok = match namespace_selector {
                None => pod.namespace == namespace,
                Some(selector) => {
                    selector_matches(selector, &cluster.namespace_labels(&pod.namespace))
                }
            };
            let pod_ok = match pod_selector {
                None => true,
                Some(selector) => selector_matches(selector, &pod.labels),
            };
            namespace_ok && pod_ok
        }
    }
}

/// The IP address `endpoint` is reached at, if known.
fn endpoint_ip(cluster: &Cluster, endpoint: &Endpoint) -> Option<IpAddr> {
    match endpoint {
        Endpoint::External(ip) => Some(*ip),
        Endpoint::Pod(index) => cluster.pod(*index).and_then(|pod| pod.ip),
    }
}

/// Whether `ip` lies in `block.cidr` and in none of `block.except`.
///
/// A block whose `cidr` or any `except` entry does not parse as a CIDR matches nothing. An
/// IPv4-mapped IPv6 address is compared as the IPv4 address it maps (as Go's `net.IP` does).
pub fn ip_block_contains(block: &IPBlock, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    let Ok(cidr) = IpNet::from_str(&block.cidr) else {
        return false;
    };
    if !cidr.contains(&ip) {
        return false;
    }
    for except in block.except.iter().flatten() {
        match IpNet::from_str(except) {
            Ok(except) if except.contains(&ip) => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Whether one `ports` item admits a connection on `protocol`/`port` to `destination`.
///
/// The item's protocol (default TCP) must equal the connection's. Then: no port = every port;
/// a number = that port, or with `endPort` the inclusive range; a name = the destination pod
/// has a container port of that name **and protocol** whose number is `port` (never for an
/// external destination). Forms the API server rejects match nothing: a protocol other than
/// `TCP`/`UDP`/`SCTP`, a number outside 1–65535, `endPort` below `port`, `endPort` without
/// `port`, and `endPort` with a named port.
pub fn port_matches(
    item: &NetworkPolicyPort,
    destination: Option<&Pod>,
    protocol: Protocol,
    port: u16,
) -> bool {
    let item_protocol = match item.protocol.as_deref() {
        None => Protocol::Tcp,
        Some(text) => match Protocol::parse_api(text) {
            Some(parsed) => parsed,
            None => return false,
        },
    };
    if item_protocol != protocol {
        return false;
    }
    match (&item.port, item.end_port) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(IntOrString::Int(number)), None) => valid_port(*number) && *number == i32::from(port),
        (Some(IntOrString::Int(start)), Some(end)) => {
            valid_port(*start)
                && valid_port(end)
                && *start <= end
                && (*start..=end).contains(&i32::from(port))
        }
        (Some(IntOrString::String(_)), Some(_)) => false,
        (Some(IntOrString::String(name)), None) => destination.is_some_and(|pod| {
            pod.ports.iter().any(|declared| {
                declared.name.as_deref() == Some(name.as_str())
                    && declared.protocol == item_protocol
                    && declared.port == port
            })
        }),
    }
}

/// A port number the API server accepts: 1–65535.
fn valid_port(number: i32) -> bool {
    (1..=65535).contains(&number)
}
