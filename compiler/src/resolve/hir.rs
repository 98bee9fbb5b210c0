//! The resolved program: every name looked up, every selector and address block in its
//! semantic form. Built by [`crate::resolve`]; read by the checker, the lowering and the
//! language server.

use crate::k8s::eval::Protocol;
use crate::k8s::selector::Sel;
use crate::span::Span;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Directions a set of pods is isolated in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Dirs {
    pub ingress: bool,
    pub egress: bool,
}

impl Dirs {
    pub const BOTH: Dirs = Dirs {
        ingress: true,
        egress: true,
    };
    pub fn union(self, o: Dirs) -> Dirs {
        Dirs {
            ingress: self.ingress || o.ingress,
            egress: self.egress || o.egress,
        }
    }
    pub fn contains(self, o: Dirs) -> bool {
        (self.ingress || !o.ingress) && (self.egress || !o.egress)
    }
    pub fn any(self) -> bool {
        self.ingress || self.egress
    }
    pub fn describe(self) -> &'static str {
        match (self.ingress, self.egress) {
            (true, true) => "ingress, egress",
            (true, false) => "ingress",
            (false, true) => "egress",
            (false, false) => "nothing",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NamespaceDef {
    pub name: String,
    pub span: Span,
    pub isolate: Dirs,
}

/// Which namespaces a set of pods lives in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NsScope {
    Named(String),
    Selector(Sel),
}

impl NsScope {
    pub fn all() -> NsScope {
        NsScope::Selector(Sel::all())
    }

    /// Whether namespace `ns` is in scope; `labels` gives its labels, asked for only when
    /// the scope selects namespaces by label.
    pub fn contains(&self, ns: &str, labels: impl FnOnce() -> BTreeMap<String, String>) -> bool {
        match self {
            NsScope::Named(n) => n == ns,
            NsScope::Selector(s) => s.matches(&labels()),
        }
    }
}

/// A set of pods: those matching `pods` in the namespaces of `ns`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodSet {
    pub ns: NsScope,
    pub pods: Sel,
}

impl PodSet {
    /// Whether a pod of namespace `ns` with labels `pod_labels` is in the set; `ns_labels`
    /// gives the namespace's labels, asked for only when the set selects namespaces by label.
    pub fn contains(
        &self,
        ns: &str,
        pod_labels: &BTreeMap<String, String>,
        ns_labels: impl FnOnce() -> BTreeMap<String, String>,
    ) -> bool {
        self.pods.matches(pod_labels) && self.ns.contains(ns, ns_labels)
    }
}

/// A port name's value: ranges with protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub protocol: Protocol,
    pub start: u16,
    pub end: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortDef {
    pub name: String,
    pub span: Span,
    pub values: Vec<PortRange>,
    /// The module it comes from (`dns` for `std::dns`), when not the user's.
    pub module: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Service {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    pub namespace: String,
    pub selector: Sel,
    pub selector_span: Span,
    pub ports: Vec<PortDef>,
    /// Effective isolation: the service's own (default both) joined with its namespace's.
    pub isolate: Dirs,
}

impl Service {
    pub fn pod_set(&self) -> PodSet {
        PodSet {
            ns: NsScope::Named(self.namespace.clone()),
            pods: self.selector.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    pub set: PodSet,
    /// The module it comes from (`std::dns`), when not the user's.
    pub module: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpBlock {
    pub cidr: IpNet,
    pub except: Vec<IpNet>,
}

/// True when `ip` lies in one of `blocks` and in none of its exceptions. An IPv4-mapped IPv6
/// address is the IPv4 address it maps, as for Kubernetes (Go's `net.IP`) and the evaluator.
pub fn in_blocks(blocks: &[IpBlock], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    blocks
        .iter()
        .any(|b| b.cidr.contains(&ip) && !b.except.iter().any(|e| e.contains(&ip)))
}

/// A set of addresses as sorted, disjoint, non-adjacent intervals on one number line, where
/// an IPv4 address stands as its IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) so that both
/// families share the line. An IPv6 block never holds the mapped addresses themselves:
/// Kubernetes and the evaluator read those as IPv4 (see [`in_blocks`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AddrSet(Vec<(u128, u128)>);

/// The IPv4-mapped IPv6 addresses, `::ffff:0.0.0.0/96`, on the number line.
const MAPPED: (u128, u128) = (0xffff_0000_0000, 0xffff_ffff_ffff);

impl AddrSet {
    /// The addresses of one block.
    pub fn of_net(net: &IpNet) -> AddrSet {
        match net {
            IpNet::V4(n) => AddrSet(vec![(
                u128::from(n.network().to_ipv6_mapped()),
                u128::from(n.broadcast().to_ipv6_mapped()),
            )]),
            IpNet::V6(n) => AddrSet(vec![(u128::from(n.network()), u128::from(n.broadcast()))])
                .minus(&AddrSet(vec![MAPPED])),
        }
    }

    /// The addresses of ipBlocks: each block without its exceptions, joined.
    pub fn of_blocks(blocks: &[IpBlock]) -> AddrSet {
        let mut out = AddrSet::default();
        for b in blocks {
            let mut set = AddrSet::of_net(&b.cidr);
            for e in &b.except {
                set = set.minus(&AddrSet::of_net(e));
            }
            out = out.union(&set);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn union(&self, other: &AddrSet) -> AddrSet {
        let mut all: Vec<(u128, u128)> = self.0.iter().chain(&other.0).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(all.len());
        for (s, e) in all {
            match out.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        AddrSet(out)
    }

    pub fn minus(&self, other: &AddrSet) -> AddrSet {
        let mut out = Vec::new();
        for &(s, e) in &self.0 {
            let mut pieces = vec![(s, e)];
            for &(cs, ce) in &other.0 {
                pieces = pieces
                    .into_iter()
                    .flat_map(|(ps, pe)| {
                        if ce < ps || cs > pe {
                            return vec![(ps, pe)];
                        }
                        let mut left = Vec::new();
                        if cs > ps {
                            left.push((ps, cs - 1));
                        }
                        if ce < pe {
                            left.push((ce + 1, pe));
                        }
                        left
                    })
                    .collect();
            }
            out.extend(pieces);
        }
        AddrSet(out)
    }

    /// Whether the two sets share an address.
    pub fn meets(&self, other: &AddrSet) -> bool {
        self.0
            .iter()
            .any(|&(s, e)| other.0.iter().any(|&(os, oe)| s <= oe && os <= e))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct External {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    pub blocks: Vec<IpBlock>,
    pub module: Option<String>,
}

/// The address ranges that a program's `cluster` block declares, each with where it is
/// written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterDef {
    /// The word `cluster` of the block.
    pub span: Span,
    pub pods: Vec<(IpNet, Span)>,
    pub services: Vec<(IpNet, Span)>,
}

/// What a peer in a connection stands for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerKind {
    Service(usize),
    Group(usize),
    External(usize),
    /// Pods written in place (`namespace N`, `pods {…} in …`, `cluster`).
    Pods(PodSet),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub kind: PeerKind,
    pub span: Span,
}

/// One port selection of a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortSel {
    /// Every port of every protocol.
    All,
    /// Every port of one protocol.
    AllOf(Protocol),
    Range(PortRange),
    /// A container port name, resolved by Kubernetes on the destination pod.
    Named {
        protocol: Protocol,
        name: String,
    },
}

/// `source -> target:ports`, one per source and target of what was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Conn {
    pub span: Span,
    pub source: Peer,
    pub target: Peer,
    pub ports: Vec<(PortSel, Span)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Assertion {
    pub span: Span,
    pub expect_allowed: bool,
    pub from: Peer,
    pub to: Peer,
    pub ports: Vec<(PortSel, Span)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TestCase {
    pub name: String,
    pub span: Span,
    pub assertions: Vec<Assertion>,
}

/// What a name refers to, for hover, go-to-definition and messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Def {
    Service(usize),
    Group(usize),
    External(usize),
    Namespace(String),
    /// A program-wide port name.
    Port(String),
    /// A port of a service.
    ServicePort(usize, String),
}

/// A use of a name in the source, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    pub span: Span,
    pub def: Def,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Program {
    pub namespaces: BTreeMap<String, NamespaceDef>,
    pub services: Vec<Service>,
    pub groups: Vec<Group>,
    pub externals: Vec<External>,
    pub ports: BTreeMap<String, PortDef>,
    pub connections: Vec<Conn>,
    pub tests: Vec<TestCase>,
    pub references: Vec<Reference>,
    /// The cluster's pod and Service ranges, when the program declares them.
    pub cluster: Option<ClusterDef>,
}

impl Program {
    pub fn namespace_isolation(&self, ns: &str) -> Dirs {
        self.namespaces
            .get(ns)
            .map(|n| n.isolate)
            .unwrap_or_default()
    }

    /// The set of pods a peer stands for, or `None` for an external.
    pub fn pod_set(&self, kind: &PeerKind) -> Option<PodSet> {
        match kind {
            PeerKind::Service(i) => self.services.get(*i).map(Service::pod_set),
            PeerKind::Group(i) => self.groups.get(*i).map(|g| g.set.clone()),
            PeerKind::External(_) => None,
            PeerKind::Pods(set) => Some(set.clone()),
        }
    }

    /// A short human name of a peer: `frontend`, `namespace shop`, `cluster`.
    pub fn peer_name(&self, kind: &PeerKind) -> String {
        match kind {
            PeerKind::Service(i) => self.services.get(*i).map(|s| s.name.clone()),
            PeerKind::Group(i) => self.groups.get(*i).map(|s| s.name.clone()),
            PeerKind::External(i) => self.externals.get(*i).map(|s| s.name.clone()),
            PeerKind::Pods(set) => Some(describe_set(set)),
        }
        .unwrap_or_default()
    }

    pub fn def_name(&self, def: &Def) -> String {
        match def {
            Def::Service(i) => self.peer_name(&PeerKind::Service(*i)),
            Def::Group(i) => self.peer_name(&PeerKind::Group(*i)),
            Def::External(i) => self.peer_name(&PeerKind::External(*i)),
            Def::Namespace(n) | Def::Port(n) | Def::ServicePort(_, n) => n.clone(),
        }
    }
}

pub fn describe_set(set: &PodSet) -> String {
    match (&set.ns, set.pods.is_all()) {
        (NsScope::Named(n), true) => format!("namespace {n}"),
        (NsScope::Selector(s), true) if s.is_all() => "cluster".to_string(),
        (NsScope::Selector(s), true) => format!("namespaces {{ {} }}", s.display()),
        (NsScope::Named(n), false) => format!("pods {{ {} }} in namespace {n}", set.pods.display()),
        (NsScope::Selector(s), false) if s.is_all() => {
            format!("pods {{ {} }} in cluster", set.pods.display())
        }
        (NsScope::Selector(s), false) => format!(
            "pods {{ {} }} in namespaces {{ {} }}",
            set.pods.display(),
            s.display()
        ),
    }
}
