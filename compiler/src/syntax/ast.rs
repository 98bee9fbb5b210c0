//! The abstract syntax tree: owned data, lowered from pest's tree inside the parse query.
//! Every node carries the span of the text it came from.

use crate::span::Span;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// A string literal or bare word (label keys and values, globs, test names), unquoted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SourceFile {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    Use(UseDecl),
    Workloads(WorkloadsDecl),
    Namespace(NamespaceDecl),
    Service(ServiceDecl),
    Group(GroupDecl),
    External(ExternalDecl),
    Port(PortDecl),
    Test(TestDecl),
    Connection(Connection),
    Cluster(ClusterDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Use(d) => d.span,
            Item::Workloads(d) => d.span,
            Item::Namespace(d) => d.span,
            Item::Service(d) => d.span,
            Item::Group(d) => d.span,
            Item::External(d) => d.span,
            Item::Port(d) => d.span,
            Item::Test(d) => d.span,
            Item::Connection(d) => d.span,
            Item::Cluster(d) => d.span,
        }
    }
}

/// `use std::dns` or `use std::net::{internet, private}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UseDecl {
    pub span: Span,
    pub path: Vec<Name>,
    pub names: Option<Vec<Name>>,
}

/// `workloads "k8s/*.yaml", "more/*.yaml"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkloadsDecl {
    pub span: Span,
    pub globs: Vec<Str>,
    /// Where manifests without `metadata.namespace` go.
    pub namespace: Option<Name>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// `isolate ingress, egress`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Isolate {
    pub span: Span,
    pub directions: Vec<(Direction, Span)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NamespaceDecl {
    pub span: Span,
    pub name: Name,
    pub isolate: Vec<Isolate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceDecl {
    pub span: Span,
    pub name: Name,
    pub namespace: Name,
    pub selects: Vec<Selector>,
    pub ports: Vec<PortDecl>,
    pub isolate: Vec<Isolate>,
    /// A statement of the body did not parse (a syntax error says so): what the body lacks
    /// (a `select`) may be in that statement, so it is not reported again.
    pub broken: bool,
}

/// Requirements joined by commas; all must hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    pub span: Span,
    pub requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub span: Span,
    pub key: Str,
    pub op: ReqOp,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReqOp {
    Eq(Str),
    Ne(Str),
    In(Vec<Str>),
    NotIn(Vec<Str>),
    Exists,
    NotExists,
}

/// A set of pods written in place: `pods {…} in namespace N`, `namespace N`,
/// `namespaces {…}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PodSet {
    Pods {
        span: Span,
        selector: Option<Selector>,
        scope: Scope,
    },
    Namespace {
        span: Span,
        name: Name,
    },
    Namespaces {
        span: Span,
        selector: Option<Selector>,
    },
}

impl PodSet {
    pub fn span(&self) -> Span {
        match self {
            PodSet::Pods { span, .. } | PodSet::Namespace { span, .. } => *span,
            PodSet::Namespaces { span, .. } => *span,
        }
    }
}

/// Where the pods of `pods {…}` live.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Namespace(Name),
    Namespaces {
        span: Span,
        selector: Option<Selector>,
    },
    Cluster(Span),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupDecl {
    pub span: Span,
    pub name: Name,
    pub set: PodSet,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CidrItem {
    Cidr(Str),
    Name(Name),
}

impl CidrItem {
    pub fn span(&self) -> Span {
        match self {
            CidrItem::Cidr(s) => s.span,
            CidrItem::Name(n) => n.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExternalDecl {
    pub span: Span,
    pub name: Name,
    pub blocks: Vec<CidrItem>,
    pub except: Vec<CidrItem>,
}

/// `cluster { pods 10.244.0.0/16  services 10.96.0.0/12 }`: the address ranges the cluster
/// gives pods and Services, so that the overlap lint knows them (one per program).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterDecl {
    pub span: Span,
    /// The span of the word `cluster`.
    pub keyword: Span,
    pub ranges: Vec<ClusterRanges>,
}

/// What a cluster range holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RangeKind {
    Pods,
    Services,
}

impl RangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RangeKind::Pods => "pods",
            RangeKind::Services => "services",
        }
    }
}

/// `pods 10.244.0.0/16, fd00:10:244::/56`, a statement of a `cluster` block.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterRanges {
    pub span: Span,
    pub kind: RangeKind,
    pub cidrs: Vec<Str>,
}

/// `port http = 8080` (in a service) or a program-wide port name (at top level).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortDecl {
    pub span: Span,
    pub name: Name,
    pub values: Vec<PortValue>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
    pub fn k8s(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
            Proto::Sctp => "SCTP",
        }
    }
    pub const ALL: [Proto; 3] = [Proto::Tcp, Proto::Udp, Proto::Sctp];
}

/// A number or a range, with an optional protocol. Numbers are kept as written (saturated at
/// `u64::MAX`) so that the checker can say which are out of range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortValue {
    pub span: Span,
    pub start: u64,
    pub end: Option<u64>,
    pub protocol: Option<(Proto, Span)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Connection {
    pub span: Span,
    pub sources: Vec<Peer>,
    pub targets: Vec<Target>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A service, group or external, by name.
    Ref(Name),
    /// Pods written in place.
    Set(PodSet),
    /// Every pod of the cluster.
    Cluster(Span),
    /// Every service of the program.
    Services(Span),
    /// A service or group narrowed to a namespace or a set of namespaces
    /// (`prometheus in namespace monitoring`).
    Narrowed {
        span: Span,
        name: Name,
        scope: Scope,
    },
}

impl Peer {
    pub fn span(&self) -> Span {
        match self {
            Peer::Ref(n) => n.span,
            Peer::Set(s) => s.span(),
            Peer::Cluster(s) | Peer::Services(s) => *s,
            Peer::Narrowed { span, .. } => *span,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub span: Span,
    pub peer: Peer,
    /// `None` when the target has no `:ports` (an error the checker reports).
    pub ports: Option<Vec<PortItem>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortItem {
    pub span: Span,
    pub kind: PortItemKind,
    pub protocol: Option<(Proto, Span)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PortItemKind {
    Any,
    Number(u64),
    Range(u64, u64),
    Name(Name),
    /// `"http"`: a container port name, resolved by Kubernetes on the destination pod.
    PodPort(Str),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TestDecl {
    pub span: Span,
    pub name: Str,
    pub assertions: Vec<Assertion>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Assertion {
    pub span: Span,
    pub expect_allowed: bool,
    pub from: Peer,
    pub to: Target,
}
