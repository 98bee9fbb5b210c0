//! An exact evaluator of Kubernetes `networking.k8s.io/v1` NetworkPolicy semantics.
//!
//! Given a set of [`NetworkPolicy`] objects, a [`Cluster`] (namespaces and pods with their
//! labels, IPs and container ports) and one connection (source, destination, protocol and
//! destination port), [`evaluate`] answers whether Kubernetes allows the connection and why:
//! which policies isolate each side and which rules admit it.
//!
//! Every rule implemented here is written down, with the Kubernetes sentence it follows, in
//! `docs/semantics.md`. In short:
//!
//! * a connection is allowed iff the source pod's egress side **and** the destination pod's
//!   ingress side both allow it;
//! * a side is isolated iff some policy selecting the pod has that direction in its effective
//!   `policyTypes`; a non-isolated side allows everything, an isolated side allows exactly the
//!   union of the selecting policies' rules for that direction;
//! * external endpoints (plain IP addresses) have no policies: their side always allows.
//!
//! Constructs that the API server would reject (an unknown operator, `endPort` with a named
//! port, a peer with no selector, …) never widen what is allowed: they match nothing.
//!
//! The evaluator does no I/O and never panics.

mod rules;
mod selector;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};

pub use self::rules::{ip_block_contains, peer_matches, port_matches};
pub use self::selector::selector_matches;

/// The label the control plane sets on every namespace, whose value is the namespace's name.
pub use crate::k8s::names::NAMESPACE_NAME_LABEL;

/// The namespace of an object whose `metadata.namespace` is absent.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A transport protocol a NetworkPolicy can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Every protocol, in a fixed order.
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// Parses `TCP`, `UDP` or `SCTP`, ignoring ASCII case.
    pub fn parse(text: &str) -> Option<Protocol> {
        Protocol::ALL
            .into_iter()
            .find(|protocol| protocol.as_str().eq_ignore_ascii_case(text))
    }

    /// The Kubernetes spelling: `TCP`, `UDP` or `SCTP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// Parses a protocol exactly as the API server accepts it in a NetworkPolicyPort: only the
    /// upper-case spellings `TCP`, `UDP` and `SCTP`.
    pub fn parse_api(text: &str) -> Option<Protocol> {
        Protocol::ALL
            .into_iter()
            .find(|protocol| protocol.as_str() == text)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port one of a pod's containers declares (`spec.containers[].ports[]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

/// A namespace and its labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A pod: where it lives, its labels, its IP (if known) and its container ports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ip: Option<IpAddr>,
    pub ports: Vec<ContainerPort>,
}

/// The namespaces and pods policies are evaluated against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    pub namespaces: Vec<Namespace>,
    pub pods: Vec<Pod>,
}

impl Cluster {
    /// The labels of namespace `ns`, as a namespaceSelector sees them.
    ///
    /// A listed namespace has its own labels plus `kubernetes.io/metadata.name=<name>` (the
    /// control plane always sets that label to the name, overriding any other value); a
    /// namespace that is not listed has just `kubernetes.io/metadata.name=<ns>`. If a name is
    /// listed twice, the first entry wins.
    pub fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut labels = self
            .namespaces
            .iter()
            .find(|namespace| namespace.name == ns)
            .map(|namespace| namespace.labels.clone())
            .unwrap_or_default();
        labels.insert(NAMESPACE_NAME_LABEL.to_owned(), ns.to_owned());
        labels
    }

    /// The pod an [`Endpoint::Pod`] index refers to, if the index is in range.
    pub fn pod(&self, index: usize) -> Option<&Pod> {
        self.pods.get(index)
    }

    /// The index of pod `namespace/name`, if the cluster has it.
    pub fn find_pod(&self, namespace: &str, name: &str) -> Option<usize> {
        self.pods
            .iter()
            .position(|pod| pod.namespace == namespace && pod.name == name)
    }
}

/// One end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// A pod, by index into [`Cluster::pods`]. An index out of range denotes no known pod: no
    /// policy selects it and no peer matches it.
    Pod(usize),
    /// An address outside the cluster's pods. It has no policies of its own; it is matched
    /// by `ipBlock` peers only.
    External(IpAddr),
}

/// A traffic direction, seen from the pod a policy selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// The `policyTypes` spelling: `Ingress` or `Egress`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule of a policy: `spec.ingress[rule]` or `spec.egress[rule]` of `namespace/policy`,
/// depending on the side of the [`Verdict`] it appears in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleRef {
    pub namespace: String,
    pub policy: String,
    pub rule: usize,
}

/// What one side of a connection decides: the source pod's egress, or the destination pod's
/// ingress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideVerdict {
    /// Some policy selecting the pod has this direction in its effective policyTypes.
    pub isolated: bool,
    /// This side lets the connection through: not isolated, or some rule admits it.
    pub allowed: bool,
    /// Every rule (of a policy in `isolated_by`) that admits the connection, in input order.
    pub allowed_by: Vec<RuleRef>,
    /// Every policy that isolates the pod in this direction, as `namespace/name`, in input
    /// order.
    pub isolated_by: Vec<String>,
}

impl SideVerdict {
    /// The verdict of a side no policy isolates: everything is allowed.
    pub fn open() -> SideVerdict {
        SideVerdict {
            isolated: false,
            allowed: true,
            allowed_by: Vec::new(),
            isolated_by: Vec::new(),
        }
    }
}

/// The decision on one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `egress.allowed && ingress.allowed`.
    pub allowed: bool,
    /// The source side: egress of the source pod.
    pub egress: SideVerdict,
    /// The destination side: ingress to the destination pod.
    pub ingress: SideVerdict,
}

/// The effective `policyTypes` of a policy, after API-server defaulting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PolicyTypes {
    pub ingress: bool,
    pub egress: bool,
}

impl PolicyTypes {
    /// Whether the policy applies to `direction`.
    pub fn has(self, direction: Direction) -> bool {
        match direction {
            Direction::Ingress => self.ingress,
            Direction::Egress => self.egress,
        }
    }
}

/// The effective `policyTypes` of `policy`.
///
/// A non-empty `spec.policyTypes` is used as written (values other than `Ingress` and
/// `Egress` are ignored; the API server rejects them). An absent **or empty** list is
/// defaulted as the API server does (`len(spec.PolicyTypes) == 0`): Ingress always, plus Egress
/// iff `spec.egress` is a non-empty list. A policy without a spec is `[Ingress]`.
pub fn effective_policy_types(policy: &NetworkPolicy) -> PolicyTypes {
    let Some(spec) = &policy.spec else {
        return PolicyTypes {
            ingress: true,
            egress: false,
        };
    };
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => PolicyTypes {
            ingress: types.iter().any(|t| t == Direction::Ingress.as_str()),
            egress: types.iter().any(|t| t == Direction::Egress.as_str()),
        },
        _ => PolicyTypes {
            ingress: true,
            egress: spec.egress.as_ref().is_some_and(|rules| !rules.is_empty()),
        },
    }
}

/// The namespace of `policy`: `metadata.namespace`, or `default` when absent or empty.
pub fn policy_namespace(policy: &NetworkPolicy) -> &str {
    match policy.metadata.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => ns,
        _ => DEFAULT_NAMESPACE,
    }
}

/// `namespace/name` of `policy` (an absent name is empty).
pub fn policy_id(policy: &NetworkPolicy) -> String {
    format!(
        "{}/{}",
        policy_namespace(policy),
        policy.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Whether `policy` selects `pod`: the pod lives in the policy's namespace and matches
/// `spec.podSelector` (absent or `{}` selects every pod of the namespace).
pub fn policy_selects(policy: &NetworkPolicy, pod: &Pod) -> bool {
    if pod.namespace != policy_namespace(policy) {
        return false;
    }
    match policy
        .spec
        .as_ref()
        .and_then(|spec| spec.pod_selector.as_ref())
    {
        Some(selector) => selector_matches(selector, &pod.labels),
        None => true,
    }
}

/// Decides whether `policies` allow a new connection from `from` to `to` on destination
/// `port` over `protocol`, and why.
pub fn evaluate(
    policies: &[NetworkPolicy],
    cluster: &Cluster,
    from: &Endpoint,
    to: &Endpoint,
    protocol: Protocol,
    port: u16,
) -> Verdict {
    let connection = rules::Connection {
        cluster,
        from,
        to,
        protocol,
        port,
    };
    let egress = match from {
        Endpoint::Pod(index) => side(policies, &connection, *index, Direction::Egress),
        Endpoint::External(_) => SideVerdict::open(),
    };
    let ingress = match to {
        Endpoint::Pod(index) => side(policies, &connection, *index, Direction::Ingress),
        Endpoint::External(_) => SideVerdict::open(),
    };
    Verdict {
        allowed: egress.allowed && ingress.allowed,
        egress,
        ingress,
    }
}

/// The verdict of pod `subject` for `direction` (egress of the source, ingress of the
/// destination).
fn side(
    policies: &[NetworkPolicy],
    connection: &rules::Connection<'_>,
    subject: usize,
    direction: Direction,
) -> SideVerdict {
    let Some(pod) = connection.cluster.pod(subject) else {
        return SideVerdict::open();
    };
    let mut isolated_by = Vec::new();
    let mut allowed_by = Vec::new();
    for policy in policies {
        if !policy_selects(policy, pod) || !effective_policy_types(policy).has(direction) {
            continue;
        }
        isolated_by.push(policy_id(policy));
        let Some(spec) = &policy.spec else {
            continue;
        };
        let namespace = policy_namespace(policy);
        for rule in admitting_rules(spec, namespace, connection, direction) {
            allowed_by.push(RuleRef {
                namespace: namespace.to_owned(),
                policy: policy.metadata.name.clone().unwrap_or_default(),
                rule,
            });
        }
    }
    let isolated = !isolated_by.is_empty();
    SideVerdict {
        isolated,
        allowed: !isolated || !allowed_by.is_empty(),
        allowed_by,
        isolated_by,
    }
}

/// The indices of the rules of `spec` for `direction` that admit `connection`.
fn admitting_rules(
    spec: &NetworkPolicySpec,
    namespace: &str,
    connection: &rules::Connection<'_>,
    direction: Direction,
) -> Vec<usize> {
    // Each rule as (peers, ports), and the end of the connection the peers must match.
    let (rules, peer): (Vec<_>, _) = match direction {
        Direction::Ingress => (
            spec.ingress
                .iter()
                .flatten()
                .map(|r| (r.from.as_deref(), r.ports.as_deref()))
                .collect(),
            connection.from,
        ),
        Direction::Egress => (
            spec.egress
                .iter()
                .flatten()
                .map(|r| (r.to.as_deref(), r.ports.as_deref()))
                .collect(),
            connection.to,
        ),
    };
    rules
        .into_iter()
        .enumerate()
        .filter(|(_, (peers, ports))| {
            rules::rule_admits(namespace, *peers, *ports, peer, connection)
        })
        .map(|(index, _)| index)
        .collect()
}
