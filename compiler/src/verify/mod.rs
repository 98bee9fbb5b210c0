//! `compile --verify`: translation validation. Proves that a set of NetworkPolicies (the YAML
//! a compile wrote, read back) means exactly the program, for every cluster, or names a
//! counterexample.
//!
//! A connection is allowed iff the source's egress side and the destination's ingress side
//! both allow it, in the program's meaning ([`crate::semantics`]) as in Kubernetes
//! ([`crate::k8s::eval`]). `verify` proves the stronger, per-side statement: for each side,
//! every pod the side can belong to and every other end, the evaluator's verdict on the
//! policies equals the program's. Nothing is sampled; everything is split into classes that
//! no selector, block or port range can tell apart, and one member of each class is decided by
//! the evaluator and by the reference semantics:
//!
//! * namespaces: every name the program or the policies mention and one they do not, times
//!   the classes of labels the namespace selectors tell apart (`kubernetes.io/metadata.name`
//!   is always set, as the control plane sets it);
//! * per namespace and side, the pods the side belongs to: the classes of labels that the
//!   namespace's policies' pod selectors, the program's services and the program's
//!   connection ends tell apart (each class a conjunction of label constraints, so labels
//!   the selectors never mention, other values and absent keys are all covered);
//! * per such class (a "destination policy group" for ingress), only the other ends that
//!   matter to it: the namespaces its rules' peers and its connections tell apart, the pod
//!   classes their selectors tell apart there, and one address of every piece of the address
//!   space that its blocks split (IPv4-mapped IPv6 included);
//! * ports: every protocol, split at every range boundary of its rules and connections, and
//!   at each piece every subset of the port names those rules mention declared there by the
//!   destination pod (so a name on several protocols or ports is covered).
//!
//! Pods are modelled without IP addresses: whether an `ipBlock` matches pod IPs depends on the
//! network plugin, and the language says externals are outside the cluster.
//!
//! No I/O; never panics. The work is bounded: beyond [`MAX_CLASSES`] classes in one split or
//! [`MAX_NAMES`] port names at one port it stops and says so.

mod classes;

use crate::k8s::eval::{
    self, Cluster, ContainerPort, Direction, Endpoint, Namespace, Pod, Protocol, policy_namespace,
};
use crate::k8s::selector::Sel;
use crate::k8s::workloads::{Manifests, NamespaceInfo};
use crate::resolve::hir::{Conn, NsScope, PeerKind, PodSet, PortSel, Program};
use crate::semantics;
use crate::span::{FileId, Span};
use classes::{NsClass, Ports, Regions};
use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many classes come out of one split (of namespaces, or of one namespace's
/// pods for one side); beyond it `verify` stops with [`Failure::TooLarge`].
pub const MAX_CLASSES: usize = 50_000;

/// At most this many port names may resolve at one port of one destination class (every
/// subset of them is checked).
pub const MAX_NAMES: usize = 10;

/// What a successful verification covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Namespace classes.
    pub namespaces: usize,
    /// Pod classes a side was checked for (per namespace class, per direction).
    pub holders: usize,
    /// Single verdicts compared (a class, another end, a port, the names declared there).
    pub verdicts: usize,
}

/// A connection on which the policies and the program disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// The side that disagrees: the source's egress or the destination's ingress.
    pub side: Direction,
    /// The source: a class of pods (`pods { app = "web" } in namespace shop`) or an address.
    pub source: String,
    /// The destination, likewise.
    pub destination: String,
    pub protocol: Protocol,
    pub port: u16,
    /// The container port names the destination pod declares at that port, if any.
    pub port_names: Vec<String>,
    /// The program's verdict (the policies say the opposite).
    pub program_allows: bool,
    /// The policies' reason: the rules that admit it, or the policies that isolate the side.
    pub policies_reason: String,
}

/// Why verification did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Mismatch(Box<Counterexample>),
    /// The input splits into more classes than verification examines.
    TooLarge(String),
}

impl Failure {
    /// The message, in the house style.
    pub fn message(&self) -> String {
        match self {
            Failure::TooLarge(what) => format!("the output was not verified: {what}"),
            Failure::Mismatch(c) => {
                let names = if c.port_names.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (the destination names that port {})",
                        c.port_names
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let (program, policies) = if c.program_allows {
                    ("allows", "deny")
                } else {
                    ("denies", "allow")
                };
                let side = match c.side {
                    Direction::Egress => "the egress side of the source",
                    Direction::Ingress => "the ingress side of the destination",
                };
                format!(
                    "the compiled policies do not mean the program: from {} to {} on {}/{}{names}, the program {program} it and the policies {policies} it ({side}: {})",
                    c.source, c.destination, c.port, c.protocol, c.policies_reason
                )
            }
        }
    }
}

/// Proves that `policies` mean exactly `program`, side by side, for every cluster.
pub fn verify(program: &Program, policies: &[NetworkPolicy]) -> Result<Stats, Failure> {
    let namespaces = namespace_classes(program, policies)?;
    let mut by_ns: BTreeMap<&str, Vec<&NetworkPolicy>> = BTreeMap::new();
    for p in policies {
        by_ns.entry(policy_namespace(p)).or_default().push(p);
    }
    let ctx = Ctx {
        program,
        namespaces: &namespaces,
        by_ns,
    };
    let mut stats = Stats {
        namespaces: namespaces.len(),
        ..Stats::default()
    };
    for direction in [Direction::Ingress, Direction::Egress] {
        for n in &namespaces {
            ctx.check_namespace(direction, n, &mut stats)?;
        }
    }
    Ok(stats)
}

/// Every namespace name the program or the policies mention, and every namespace selector.
fn namespace_classes(
    program: &Program,
    policies: &[NetworkPolicy],
) -> Result<Vec<NsClass>, Failure> {
    let mut names: BTreeSet<String> = program.namespaces.keys().cloned().collect();
    let mut sels: Vec<Sel> = Vec::new();
    let mut scope = |ns: &NsScope| match ns {
        NsScope::Named(n) => {
            names.insert(n.clone());
        }
        NsScope::Selector(s) => sels.push(s.clone()),
    };
    for s in &program.services {
        scope(&NsScope::Named(s.namespace.clone()));
    }
    for g in &program.groups {
        scope(&g.set.ns);
    }
    for c in &program.connections {
        for end in [&c.source, &c.target] {
            if let Some(set) = program.pod_set(&end.kind) {
                scope(&set.ns);
            }
        }
    }
    for p in policies {
        names.insert(policy_namespace(p).to_string());
        for (peers, _) in rules(p, Direction::Ingress).chain(rules(p, Direction::Egress)) {
            for peer in peers.into_iter().flatten() {
                if let Some(s) = peer.namespace_selector.as_ref().and_then(classes::sel_of) {
                    sels.push(s);
                }
            }
        }
    }
    classes::namespace_classes(&names, &sels, MAX_CLASSES).ok_or_else(|| {
        Failure::TooLarge(format!(
            "the namespace names and selectors tell more than {MAX_CLASSES} classes of namespaces apart"
        ))
    })
}

/// The rules of `policy` for `direction`, as (peers, ports).
fn rules(
    policy: &NetworkPolicy,
    direction: Direction,
) -> impl Iterator<Item = (Option<&[NetworkPolicyPeer]>, Option<&[NetworkPolicyPort]>)> {
    let spec = policy.spec.as_ref();
    let ingress = spec
        .and_then(|s| s.ingress.as_ref())
        .filter(|_| direction == Direction::Ingress)
        .into_iter()
        .flatten()
        .map(|r| (r.from.as_deref(), r.ports.as_deref()));
    let egress = spec
        .and_then(|s| s.egress.as_ref())
        .filter(|_| direction == Direction::Egress)
        .into_iter()
        .flatten()
        .map(|r| (r.to.as_deref(), r.ports.as_deref()));
    ingress.chain(egress)
}

struct Ctx<'a> {
    program: &'a Program,
    namespaces: &'a [NsClass],
    by_ns: BTreeMap<&'a str, Vec<&'a NetworkPolicy>>,
}

/// A peer that matches pods: where (which namespaces) and which pods.
enum PodPeer<'a> {
    /// A peer of a rule of a policy in `policy_ns`.
    Policy {
        policy_ns: &'a str,
        namespaces: Option<&'a LabelSelector>,
        pods: Sel,
    },
    /// An end of a connection of the program.
    Program(PodSet),
}

impl PodPeer<'_> {
    fn ns_matches(&self, m: &NsClass) -> bool {
        match self {
            PodPeer::Policy {
                policy_ns,
                namespaces,
                ..
            } => match namespaces {
                None => m.name == *policy_ns,
                Some(s) => eval::selector_matches(s, &m.labels),
            },
            PodPeer::Program(set) => set.ns.contains(&m.name, || m.labels.clone()),
        }
    }

    fn pods(&self) -> &Sel {
        match self {
            PodPeer::Policy { pods, .. } => pods,
            PodPeer::Program(set) => &set.pods,
        }
    }
}

/// The other end of a connection: pods of a class, or an address.
enum Other<'a> {
    Pods { ns: &'a NsClass, class: Sel },
    Address(std::net::IpAddr),
}

fn ns_text(m: &NsClass) -> String {
    let mut sel = m.sel.clone();
    sel.keys.remove(eval::NAMESPACE_NAME_LABEL);
    let base = if m.named {
        format!("namespace `{}`", m.name)
    } else {
        format!(
            "a namespace neither the program nor the policies name (such as `{}`)",
            m.name
        )
    };
    if sel.is_all() {
        base
    } else {
        format!("{base} labelled `{}`", sel.display())
    }
}

fn pods_text(class: &Sel, m: &NsClass) -> String {
    if class.is_all() {
        format!("any pod in {}", ns_text(m))
    } else {
        format!("pods `{}` in {}", class.display(), ns_text(m))
    }
}

fn too_large(what: &str) -> Failure {
    Failure::TooLarge(format!(
        "{what} tell more than {MAX_CLASSES} classes of pods apart"
    ))
}

fn holder_end(c: &Conn, ingress: bool) -> &PeerKind {
    if ingress {
        &c.target.kind
    } else {
        &c.source.kind
    }
}

fn other_end(c: &Conn, ingress: bool) -> &PeerKind {
    if ingress {
        &c.source.kind
    } else {
        &c.target.kind
    }
}

impl<'a> Ctx<'a> {
    /// Checks `direction`'s side of every pod of namespace class `n`.
    fn check_namespace(
        &self,
        direction: Direction,
        n: &NsClass,
        stats: &mut Stats,
    ) -> Result<(), Failure> {
        let ingress = direction == Direction::Ingress;
        let p = self.program;
        let local: &[&NetworkPolicy] = self
            .by_ns
            .get(n.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let local: Vec<&NetworkPolicy> = local
            .iter()
            .copied()
            .filter(|pol| eval::effective_policy_types(pol).has(direction))
            .collect();
        // What tells this namespace's pods apart for this side.
        let mut sels: Vec<Sel> = Vec::new();
        for pol in &local {
            match pol.spec.as_ref().and_then(|s| s.pod_selector.as_ref()) {
                None => {}
                Some(s) => sels.extend(classes::sel_of(s)),
            }
        }
        for s in &p.services {
            let isolated = if ingress {
                s.isolate.ingress
            } else {
                s.isolate.egress
            };
            if isolated && s.namespace == n.name {
                sels.push(s.selector.clone());
            }
        }
        let mut conns_here: Vec<(&Conn, PodSet)> = Vec::new();
        for c in &p.connections {
            if let Some(set) = p.pod_set(holder_end(c, ingress))
                && set.ns.contains(&n.name, || n.labels.clone())
            {
                sels.push(set.pods.clone());
                conns_here.push((c, set));
            }
        }
        let refs: Vec<&Sel> = sels.iter().collect();
        let holders = classes::atoms(Sel::all(), &refs, MAX_CLASSES)
            .ok_or_else(|| too_large(&format!("the selectors of namespace `{}`", n.name)))?;
        for class in holders {
            let Some(labels) = class.witness() else {
                continue;
            };
            let pod = Pod {
                namespace: n.name.clone(),
                name: "verify-holder".to_string(),
                labels,
                ip: None,
                ports: Vec::new(),
            };
            let selecting: Vec<NetworkPolicy> = local
                .iter()
                .filter(|pol| eval::policy_selects(pol, &pod))
                .map(|pol| (*pol).clone())
                .collect();
            if selecting.is_empty() && !semantics::isolated(p, &pod, ingress) {
                continue; // open on both accounts
            }
            stats.holders += 1;
            let conns: Vec<&Conn> = conns_here
                .iter()
                .filter(|(_, set)| set.contains(&pod.namespace, &pod.labels, || n.labels.clone()))
                .map(|(c, _)| *c)
                .collect();
            self.check_holder(direction, n, &class, pod, &selecting, &conns, stats)?;
        }
        Ok(())
    }

    /// Checks one class of pods' side against every other end and port that matters to it.
    #[allow(clippy::too_many_arguments)]
    fn check_holder(
        &self,
        direction: Direction,
        n: &'a NsClass,
        class: &Sel,
        pod: Pod,
        selecting: &[NetworkPolicy],
        conns: &[&Conn],
        stats: &mut Stats,
    ) -> Result<(), Failure> {
        let ingress = direction == Direction::Ingress;
        let p = self.program;
        let mut peers: Vec<PodPeer<'_>> = Vec::new();
        let mut regions = Regions::new();
        let mut ports = Ports::default();
        for pol in selecting {
            let policy_ns = policy_namespace(pol);
            for (rule_peers, rule_ports) in rules(pol, direction) {
                for peer in rule_peers.into_iter().flatten() {
                    if let Some(block) = &peer.ip_block {
                        for text in
                            std::iter::once(&block.cidr).chain(block.except.iter().flatten())
                        {
                            if let Ok(net) = text.parse::<IpNet>() {
                                regions.add(&net);
                            }
                        }
                        continue;
                    }
                    let pods = match &peer.pod_selector {
                        None => Some(Sel::all()),
                        Some(s) => classes::sel_of(s),
                    };
                    let namespaces_valid = peer
                        .namespace_selector
                        .as_ref()
                        .is_none_or(|s| classes::sel_of(s).is_some());
                    if let Some(pods) = pods
                        && namespaces_valid
                    {
                        peers.push(PodPeer::Policy {
                            policy_ns,
                            namespaces: peer.namespace_selector.as_ref(),
                            pods,
                        });
                    }
                }
                for item in rule_ports.into_iter().flatten() {
                    let protocol = match item.protocol.as_deref() {
                        None => Protocol::Tcp,
                        Some(text) => match Protocol::parse_api(text) {
                            Some(pr) => pr,
                            None => continue,
                        },
                    };
                    match (&item.port, item.end_port) {
                        (Some(IntOrString::Int(start)), end) => {
                            let end = end.unwrap_or(*start);
                            if let (Ok(s), Ok(e)) = (u16::try_from(*start), u16::try_from(end))
                                && s >= 1
                                && s <= e
                            {
                                ports.range(protocol, s, e);
                            }
                        }
                        (Some(IntOrString::String(name)), None) => ports.name(protocol, name),
                        _ => {}
                    }
                }
            }
        }
        for c in conns {
            let kind = other_end(c, ingress);
            match kind {
                PeerKind::External(i) => {
                    for b in p.externals.get(*i).iter().flat_map(|e| e.blocks.iter()) {
                        regions.add(&b.cidr);
                        for x in &b.except {
                            regions.add(x);
                        }
                    }
                }
                _ => {
                    if let Some(set) = p.pod_set(kind) {
                        peers.push(PodPeer::Program(set));
                    }
                }
            }
            for (sel, _) in &c.ports {
                match sel {
                    PortSel::Range(r) => ports.range(r.protocol, r.start, r.end),
                    PortSel::Named { protocol, name } => ports.name(*protocol, name),
                    PortSel::All | PortSel::AllOf(_) => {}
                }
            }
        }
        // The other ends: per group of namespaces the peers treat alike, the pod classes
        // their selectors tell apart there; then one address of each region.
        let mut groups: BTreeMap<Vec<bool>, &NsClass> = BTreeMap::new();
        for m in self.namespaces {
            if m.name == n.name && m.sel != n.sel {
                continue; // one namespace has one set of labels
            }
            let signature: Vec<bool> = peers.iter().map(|peer| peer.ns_matches(m)).collect();
            groups.entry(signature).or_insert(m);
        }
        let mut others: Vec<Other<'_>> = Vec::new();
        for (signature, m) in groups {
            let sels: Vec<&Sel> = peers
                .iter()
                .zip(&signature)
                .filter(|(_, inside)| **inside)
                .map(|(peer, _)| peer.pods())
                .collect();
            let pod_classes = classes::atoms(Sel::all(), &sels, MAX_CLASSES)
                .ok_or_else(|| too_large("the peers of one class of pods"))?;
            others.extend(
                pod_classes
                    .into_iter()
                    .map(|class| Other::Pods { ns: m, class }),
            );
        }
        others.extend(regions.addresses().into_iter().map(Other::Address));
        let probes = ports.probes();
        for other in &others {
            let mut cluster = Cluster {
                namespaces: vec![Namespace {
                    name: n.name.clone(),
                    labels: n.labels.clone(),
                }],
                pods: vec![pod.clone()],
            };
            let mut manifests = Manifests {
                namespaces: vec![NamespaceInfo {
                    span: Span::new(FileId(0), 0, 0),
                    name: n.name.clone(),
                    labels: n.labels.clone(),
                }],
                ..Manifests::default()
            };
            let other_end = match other {
                Other::Address(ip) => Endpoint::External(*ip),
                Other::Pods { ns, class } => {
                    let Some(labels) = class.witness() else {
                        continue;
                    };
                    if ns.name != n.name {
                        cluster.namespaces.push(Namespace {
                            name: ns.name.clone(),
                            labels: ns.labels.clone(),
                        });
                        manifests.namespaces.push(NamespaceInfo {
                            span: Span::new(FileId(0), 0, 0),
                            name: ns.name.clone(),
                            labels: ns.labels.clone(),
                        });
                    }
                    cluster.pods.push(Pod {
                        namespace: ns.name.clone(),
                        name: "verify-other".to_string(),
                        labels,
                        ip: None,
                        ports: Vec::new(),
                    });
                    Endpoint::Pod(1)
                }
            };
            // The pod the port names resolve on.
            let destination = if ingress {
                Some(0)
            } else if matches!(other_end, Endpoint::Pod(_)) {
                Some(1)
            } else {
                None
            };
            let holder = Endpoint::Pod(0);
            let (from, to) = if ingress {
                (other_end, holder)
            } else {
                (holder, other_end)
            };
            for (protocol, port, names) in &probes {
                let subsets = if destination.is_some() {
                    classes::subsets(names, MAX_NAMES).ok_or_else(|| {
                        Failure::TooLarge(format!(
                            "more than {MAX_NAMES} port names may resolve to {port}/{protocol}"
                        ))
                    })?
                } else {
                    vec![Vec::new()]
                };
                for declared in subsets {
                    if let Some(slot) = destination.and_then(|d| cluster.pods.get_mut(d)) {
                        slot.ports = declared
                            .iter()
                            .map(|name| ContainerPort {
                                name: Some((*name).to_string()),
                                port: *port,
                                protocol: *protocol,
                            })
                            .collect();
                    }
                    let verdict = eval::evaluate(selecting, &cluster, &from, &to, *protocol, *port);
                    let got = if ingress {
                        &verdict.ingress
                    } else {
                        &verdict.egress
                    };
                    let want = semantics::side(
                        p, conns, &manifests, &cluster, &holder, &other_end, *protocol, *port,
                        ingress,
                    );
                    stats.verdicts += 1;
                    if want != got.allowed {
                        let holder_text = pods_text(class, n);
                        let other_text = match other {
                            Other::Address(ip) => format!("address `{ip}`"),
                            Other::Pods { ns, class } => pods_text(class, ns),
                        };
                        let (source, destination) = if ingress {
                            (other_text, holder_text)
                        } else {
                            (holder_text, other_text)
                        };
                        let policies_reason = if got.allowed && !got.isolated {
                            "no policy isolates it".to_string()
                        } else if got.allowed {
                            let by: Vec<String> = got
                                .allowed_by
                                .iter()
                                .map(|r| {
                                    format!(
                                        "{} rule {} of `{}/{}`",
                                        direction.as_str().to_lowercase(),
                                        r.rule + 1,
                                        r.namespace,
                                        r.policy
                                    )
                                })
                                .collect();
                            format!("admitted by {}", by.join(", "))
                        } else {
                            format!(
                                "isolated by `{}` and no rule admits it",
                                got.isolated_by.join("`, `")
                            )
                        };
                        return Err(Failure::Mismatch(Box::new(Counterexample {
                            side: direction,
                            source,
                            destination,
                            protocol: *protocol,
                            port: *port,
                            port_names: declared.iter().map(|s| (*s).to_string()).collect(),
                            program_allows: want,
                            policies_reason,
                        })));
                    }
                }
            }
        }
        Ok(())
    }
}
