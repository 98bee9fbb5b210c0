//! `graph`: a program's service graph as plain data (nodes, edges, namespace clusters), and
//! its renderings as Graphviz DOT and Mermaid. No I/O: the driver turns DOT into SVG.
//!
//! Nodes are the program's services, groups, externals and pods written in place; edges are
//! its connections (one per pair of peers, labelled with every port between them). Nodes in
//! one namespace are drawn in a cluster, which says whether the namespace is isolated. DNS
//! (`std::dns`) and internet (`std::net`, or any block holding a `/0`) nodes are drawn apart;
//! the edges and nodes of broad-peer (W103) and internet-and-cluster (W109) warnings are
//! highlighted.

use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::{self, Pod, Protocol};
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::{self, Dirs, NsScope, PeerKind, PortSel, Program};
use crate::span::Span;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Service,
    Group,
    External,
    /// Pods written in place: `namespace shop`, `cluster`, `pods { … } in …`.
    Pods,
    /// Cluster DNS (a group of `std::dns`).
    Dns,
    /// Public addresses: an external of `std::net`, or one with a `/0` block.
    Internet,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Stable identifier, safe in DOT, Mermaid and HTML: `n0`, `n1`, ….
    pub id: String,
    pub name: String,
    pub kind: NodeKind,
    /// The namespace cluster it is drawn in, if it lives in one namespace.
    pub namespace: Option<String>,
    /// What it stands for: a selector, address blocks.
    pub detail: String,
    /// Warnings about it (`W109: …`).
    pub warnings: Vec<String>,
    /// The policies (`namespace/name`) selecting its pods.
    pub policies: Vec<String>,
    /// Unchanged edges to DNS, drawn as a line of the node's label (`DNS: 53, 53/udp`)
    /// rather than as edges, so that the picture stays readable (see [`drawing`]).
    #[serde(skip)]
    pub dns: Vec<String>,
}

/// How an edge differs from the picture it is compared with (`graph --diff`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeStatus {
    Same,
    Added,
    Removed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// Every port between the two, in the program's words: `8080`, `53/udp`, `*`.
    pub ports: Vec<String>,
    pub status: EdgeStatus,
    pub warnings: Vec<String>,
}

impl Edge {
    pub fn label(&self) -> String {
        self.ports.join(", ")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamespaceCluster {
    pub name: String,
    #[serde(serialize_with = "dirs_text")]
    pub isolated: Dirs,
}

fn dirs_text<S: serde::Serializer>(d: &Dirs, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.describe())
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Graph {
    pub namespaces: Vec<NamespaceCluster>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The nodes drawn in namespace `ns`'s cluster.
    pub fn members(&self, ns: &str) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|n| n.namespace.as_deref() == Some(ns))
            .collect()
    }
}

fn port_text(sel: &PortSel) -> String {
    let suffix = |p: Protocol| match p {
        Protocol::Tcp => String::new(),
        other => format!("/{}", other.as_str().to_lowercase()),
    };
    match sel {
        PortSel::All => "*".to_string(),
        PortSel::AllOf(p) => format!("*/{}", p.as_str().to_lowercase()),
        PortSel::Range(r) if r.start == r.end => format!("{}{}", r.start, suffix(r.protocol)),
        PortSel::Range(r) => format!("{}-{}{}", r.start, r.end, suffix(r.protocol)),
        PortSel::Named { protocol, name } => format!("{name}{}", suffix(*protocol)),
    }
}

fn is_internet(e: &hir::External) -> bool {
    matches!(e.module.as_deref(), Some("net" | "std::net"))
        || e.blocks.iter().any(|b| b.cidr.prefix_len() == 0)
}

fn contains(outer: Span, inner: Span) -> bool {
    outer.file == inner.file && outer.start <= inner.start && inner.end <= outer.end
}

/// The graph of `program`. `diagnostics` are the program's (warnings are highlighted);
/// `policies` and `manifests` say which policies select each node's pods.
pub fn build(
    program: &Program,
    diagnostics: &[Diagnostic],
    policies: &[NetworkPolicy],
    manifests: &Manifests,
) -> Graph {
    let mut keys: BTreeMap<NodeKey, usize> = BTreeMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut add = |key: &NodeKey, nodes: &mut Vec<Node>| -> usize {
        if let Some(i) = keys.get(key) {
            return *i;
        }
        let i = nodes.len();
        keys.insert(key.clone(), i);
        nodes.push(match key {
            NodeKey::Peer(kind) => node(program, kind, i, policies, manifests),
            NodeKey::Several(names) => several(program, names, i),
        });
        i
    };
    // Every service is a node, connected or not; then the peers in program order.
    for i in 0..program.services.len() {
        add(&NodeKey::Peer(PeerKind::Service(i)), &mut nodes);
    }
    // A peer written once that stands for several (`services`) is one node.
    let mut written: BTreeMap<Span, BTreeSet<PeerKind>> = BTreeMap::new();
    for c in &program.connections {
        written
            .entry(c.source.span)
            .or_default()
            .insert(c.source.kind.clone());
        written
            .entry(c.target.span)
            .or_default()
            .insert(c.target.kind.clone());
    }
    let key_of = |peer: &hir::Peer| -> NodeKey {
        match written.get(&peer.span) {
            Some(kinds) if kinds.len() > 1 => NodeKey::Several(kinds.iter().cloned().collect()),
            _ => NodeKey::Peer(peer.kind.clone()),
        }
    };
    let mut ends: Vec<(usize, usize)> = Vec::new();
    let mut edges: BTreeMap<(usize, usize), BTreeSet<String>> = BTreeMap::new();
    for c in &program.connections {
        let a = add(&key_of(&c.source), &mut nodes);
        let b = add(&key_of(&c.target), &mut nodes);
        ends.push((a, b));
        edges
            .entry((a, b))
            .or_default()
            .extend(c.ports.iter().map(|(p, _)| port_text(p)));
    }
    let mut edges: Vec<Edge> = edges
        .into_iter()
        .map(|((a, b), ports)| Edge {
            from: format!("n{a}"),
            to: format!("n{b}"),
            ports: sort_ports(ports),
            status: EdgeStatus::Same,
            warnings: Vec::new(),
        })
        .collect();
    // Highlight warnings: W103 on the connection holding the peer or port; W109 on the
    // service and the connections it names.
    for d in diagnostics {
        if !matches!(d.code, Code::BroadPeer | Code::InternetAndCluster) {
            continue;
        }
        let text = format!("{}: {}", d.code.as_str(), d.message);
        let spans: Vec<Span> = std::iter::once(d.primary.span)
            .chain(d.secondary.iter().map(|l| l.span))
            .collect();
        for (c, (a, b)) in program.connections.iter().zip(&ends) {
            let touched = spans.iter().any(|s| {
                contains(c.source.span, *s)
                    || contains(c.target.span, *s)
                    || c.ports.iter().any(|(_, p)| contains(*p, *s))
            });
            if !touched {
                continue;
            }
            let (from, to) = (format!("n{a}"), format!("n{b}"));
            if let Some(e) = edges.iter_mut().find(|e| e.from == from && e.to == to)
                && !e.warnings.contains(&text)
            {
                e.warnings.push(text.clone());
            }
        }
        for (i, s) in program.services.iter().enumerate() {
            if contains(s.span, d.primary.span)
                && let Some(n) = keys
                    .get(&NodeKey::Peer(PeerKind::Service(i)))
                    .and_then(|n| nodes.get_mut(*n))
                && !n.warnings.contains(&text)
            {
                n.warnings.push(text.clone());
            }
        }
    }
    edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    let mut used: BTreeSet<String> = nodes.iter().filter_map(|n| n.namespace.clone()).collect();
    used.extend(program.namespaces.keys().cloned());
    let namespaces = used
        .into_iter()
        .map(|name| NamespaceCluster {
            isolated: program.namespace_isolation(&name),
            name,
        })
        .collect();
    Graph {
        namespaces,
        nodes,
        edges,
    }
}

/// Numbers first (in numeric order), then names.
fn sort_ports(ports: BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = ports.into_iter().collect();
    v.sort_by_key(|p| {
        let n: String = p.chars().take_while(char::is_ascii_digit).collect();
        (n.is_empty(), n.parse::<u32>().unwrap_or(0), p.clone())
    });
    v
}

/// What a node stands for: one peer, or several written as one (`services`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum NodeKey {
    Peer(PeerKind),
    Several(Vec<PeerKind>),
}

fn several(program: &Program, kinds: &[PeerKind], index: usize) -> Node {
    let all_services = kinds.len() == program.services.len()
        && kinds.iter().all(|k| matches!(k, PeerKind::Service(_)));
    let names: Vec<String> = kinds.iter().map(|k| program.peer_name(k)).collect();
    Node {
        id: format!("n{index}"),
        name: if all_services {
            "services (every service)".to_string()
        } else {
            format!("{} peers", kinds.len())
        },
        kind: NodeKind::Pods,
        namespace: None,
        detail: names.join(", "),
        warnings: Vec::new(),
        policies: Vec::new(),
        dns: Vec::new(),
    }
}

fn node(
    program: &Program,
    kind: &PeerKind,
    index: usize,
    policies: &[NetworkPolicy],
    manifests: &Manifests,
) -> Node {
    let name = program.peer_name(kind);
    let (node_kind, namespace, detail) = match kind {
        PeerKind::Service(i) => {
            let s = program.services.get(*i);
            (
                NodeKind::Service,
                s.map(|s| s.namespace.clone()),
                s.map(|s| s.selector.display()).unwrap_or_default(),
            )
        }
        PeerKind::Group(i) => {
            let g = program.groups.get(*i);
            let dns = g.is_some_and(|g| matches!(g.module.as_deref(), Some("dns" | "std::dns")));
            (
                if dns { NodeKind::Dns } else { NodeKind::Group },
                g.and_then(|g| match &g.set.ns {
                    NsScope::Named(n) => Some(n.clone()),
                    NsScope::Selector(_) => None,
                }),
                g.map(|g| hir::describe_set(&g.set)).unwrap_or_default(),
            )
        }
        PeerKind::External(i) => {
            let e = program.externals.get(*i);
            let blocks: Vec<String> = e
                .map(|e| {
                    e.blocks
                        .iter()
                        .map(|b| {
                            if b.except.is_empty() {
                                b.cidr.to_string()
                            } else {
                                let ex: Vec<String> =
                                    b.except.iter().map(ToString::to_string).collect();
                                format!("{} except {}", b.cidr, ex.join(", "))
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                if e.is_some_and(is_internet) {
                    NodeKind::Internet
                } else {
                    NodeKind::External
                },
                None,
                blocks.join("; "),
            )
        }
        PeerKind::Pods(set) => (
            NodeKind::Pods,
            match &set.ns {
                NsScope::Named(n) => Some(n.clone()),
                NsScope::Selector(_) => None,
            },
            hir::describe_set(set),
        ),
    };
    Node {
        id: format!("n{index}"),
        name,
        kind: node_kind,
        namespace,
        detail,
        warnings: Vec::new(),
        policies: selecting_policies(program, kind, policies, manifests),
        dns: Vec::new(),
    }
}

/// The policies that select some workload of the node's pods.
fn selecting_policies(
    program: &Program,
    kind: &PeerKind,
    policies: &[NetworkPolicy],
    manifests: &Manifests,
) -> Vec<String> {
    let Some(set) = program.pod_set(kind) else {
        return Vec::new();
    };
    let mut out: BTreeSet<String> = BTreeSet::new();
    for w in &manifests.workloads {
        if !set.contains(&w.namespace, &w.labels, || {
            manifests.namespace_labels(&w.namespace)
        }) {
            continue;
        }
        let pod = Pod {
            namespace: w.namespace.clone(),
            name: w.name.clone(),
            labels: w.labels.clone(),
            ip: None,
            ports: w.ports.clone(),
        };
        out.extend(
            policies
                .iter()
                .filter(|p| eval::policy_selects(p, &pod))
                .map(eval::policy_id),
        );
    }
    out.into_iter().collect()
}

/// Marks the edges of `new` that `old` does not have as added, and adds `old`'s edges that
/// `new` lacks as removed (nodes matched by kind and name, ports compared as sets).
pub fn compare(old: &Graph, new: &Graph) -> Graph {
    let mut out = new.clone();
    // Nodes are matched by kind, name and namespace; externals by their blocks too (an
    // external that now means other addresses is another peer).
    let key = |g: &Graph, id: &str| {
        g.nodes.iter().find(|n| n.id == id).map(|n| {
            let blocks =
                matches!(n.kind, NodeKind::External | NodeKind::Internet).then(|| n.detail.clone());
            (n.kind, n.name.clone(), n.namespace.clone(), blocks)
        })
    };
    let same_node = |a: &Node, b: &Node| {
        a.kind == b.kind
            && a.name == b.name
            && a.namespace == b.namespace
            && (!matches!(a.kind, NodeKind::External | NodeKind::Internet) || a.detail == b.detail)
    };
    let edge_keys = |g: &Graph| -> BTreeMap<_, BTreeSet<String>> {
        g.edges
            .iter()
            .map(|e| {
                (
                    (key(g, &e.from), key(g, &e.to)),
                    e.ports.iter().cloned().collect(),
                )
            })
            .collect()
    };
    let (ok, nk) = (edge_keys(old), edge_keys(new));
    for e in &mut out.edges {
        let k = (key(new, &e.from), key(new, &e.to));
        let ports: BTreeSet<String> = e.ports.iter().cloned().collect();
        if ok.get(&k) != Some(&ports) {
            e.status = EdgeStatus::Added;
        }
    }
    for e in &old.edges {
        let k = (key(old, &e.from), key(old, &e.to));
        let ports: BTreeSet<String> = e.ports.iter().cloned().collect();
        if nk.get(&k) == Some(&ports) {
            continue;
        }
        // Find or add both ends in the new graph.
        let mut end = |id: &str| -> String {
            let Some(n) = old.nodes.iter().find(|n| n.id == id) else {
                return String::new();
            };
            if let Some(m) = out.nodes.iter().find(|m| same_node(m, n)) {
                return m.id.clone();
            }
            let mut m = n.clone();
            m.id = format!("n{}", out.nodes.len());
            out.nodes.push(m.clone());
            if let Some(ns) = &m.namespace
                && !out.namespaces.iter().any(|c| c.name == *ns)
            {
                out.namespaces.push(NamespaceCluster {
                    name: ns.clone(),
                    isolated: Dirs::default(),
                });
            }
            m.id
        };
        let (from, to) = (end(&e.from), end(&e.to));
        out.edges.push(Edge {
            from,
            to,
            ports: e.ports.clone(),
            status: EdgeStatus::Removed,
            warnings: Vec::new(),
        });
    }
    out.namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

// ---------------------------------------------------------------------------------------
// Rendering.

fn dot_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Look {
    shape: &'static str,
    fill: &'static str,
    border: &'static str,
}

fn look(kind: NodeKind) -> Look {
    let (shape, fill, border) = match kind {
        NodeKind::Service => ("box", "#dbe9f6", "#2f5d8a"),
        NodeKind::Group => ("box", "#eeeeee", "#666666"),
        NodeKind::Pods => ("box", "#f7f7f7", "#888888"),
        NodeKind::External => ("ellipse", "#fff4d6", "#a07a00"),
        NodeKind::Dns => ("cylinder", "#e3f4e1", "#3b7d34"),
        NodeKind::Internet => ("ellipse", "#fde2e1", "#b3261e"),
    };
    Look {
        shape,
        fill,
        border,
    }
}

fn namespace_label(c: &NamespaceCluster) -> String {
    if c.isolated.any() {
        format!("namespace {} (isolated: {})", c.name, c.isolated.describe())
    } else {
        format!("namespace {}", c.name)
    }
}

fn node_label(n: &Node) -> String {
    let tag = match n.kind {
        NodeKind::Dns if !n.name.contains("dns") => " (DNS)",
        NodeKind::Internet if !n.name.contains("internet") => " (internet)",
        _ => "",
    };
    let mut label = format!("{}{tag}", n.name);
    if n.kind == NodeKind::External && !n.detail.is_empty() {
        label.push('\n');
        label.push_str(&n.detail);
    }
    for d in &n.dns {
        label.push('\n');
        label.push_str(d);
    }
    if !n.warnings.is_empty() {
        label.push_str("\n⚠ ");
        label.push_str(
            &n.warnings
                .iter()
                .filter_map(|w| w.split(':').next())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    label
}

fn edge_colour(e: &Edge) -> (&'static str, &'static str, &'static str) {
    // (colour, style, pen width)
    match e.status {
        EdgeStatus::Added => ("#1a7f37", "bold", "2.5"),
        EdgeStatus::Removed => ("#cf222e", "dashed", "2.5"),
        EdgeStatus::Same if !e.warnings.is_empty() => ("#d4700a", "solid", "1.8"),
        EdgeStatus::Same => ("#444444", "solid", "1.2"),
    }
}

/// The graph as drawn: unchanged edges without warnings to a DNS node become a line of their
/// source's label (`DNS kube-dns: 53, 53/udp`), and a DNS node left without edges is not
/// drawn. Every service needs DNS, and a dozen edges into one node hide the rest.
pub fn drawing(g: &Graph) -> Graph {
    let mut out = g.clone();
    let dns: BTreeSet<String> = g
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Dns)
        .map(|n| n.id.clone())
        .collect();
    let mut kept = Vec::new();
    for e in &g.edges {
        let fold = dns.contains(&e.to) && e.status == EdgeStatus::Same && e.warnings.is_empty();
        let target = g
            .nodes
            .iter()
            .find(|n| n.id == e.to)
            .map(|n| n.name.clone());
        match (fold, target, out.nodes.iter_mut().find(|n| n.id == e.from)) {
            (true, Some(t), Some(source)) => source.dns.push(format!("DNS {t}: {}", e.label())),
            _ => kept.push(e.clone()),
        }
    }
    out.edges = kept;
    out.nodes.retain(|n| {
        n.kind != NodeKind::Dns
            || out.edges.iter().any(|e| e.from == n.id || e.to == n.id)
            || g.edges.iter().all(|e| e.from != n.id && e.to != n.id)
    });
    out
}

/// The graph in Graphviz DOT, clustered by namespace. With `clusters` false (for layout
/// engines that cannot nest), namespaces are written into the node labels instead.
pub fn to_dot(g: &Graph, clusters: bool) -> String {
    let g = &drawing(g);
    let mut out = String::from(
        "digraph netpol {\n  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, nodesep=0.5, ranksep=1.2, margin=0.2];\n  node [fontname=\"Helvetica\", fontsize=11, style=\"filled,rounded\", penwidth=1.2];\n  edge [fontname=\"Helvetica\", fontsize=10, arrowsize=0.7];\n",
    );
    let node_line = |n: &Node, indent: &str, with_ns: bool| {
        let l = look(n.kind);
        let mut label = node_label(n);
        if with_ns && let Some(ns) = &n.namespace {
            label = format!("{ns}/{label}");
        }
        let style = if n.kind == NodeKind::Service || n.kind == NodeKind::Pods {
            "filled,rounded"
        } else {
            "filled"
        };
        let border = if n.warnings.is_empty() {
            l.border
        } else {
            "#d4700a"
        };
        format!(
            "{indent}{} [id={}, label={}, shape={}, style={}, fillcolor={}, color={}{}];\n",
            n.id,
            dot_string(&n.id),
            dot_string(&label),
            l.shape,
            dot_string(style),
            dot_string(l.fill),
            dot_string(border),
            if n.warnings.is_empty() {
                ""
            } else {
                ", penwidth=2.5"
            }
        )
    };
    if clusters {
        for (ci, c) in g.namespaces.iter().enumerate() {
            let members = g.members(&c.name);
            if members.is_empty() {
                continue;
            }
            // The namespace's name is a node (a plain text one, stacked with the first member),
            // not the cluster's label: edges are routed around nodes but not around labels.
            out.push_str(&format!(
                "  subgraph cluster_{ci} {{\n    label=\"\";\n    margin=10;\n    style={};\n    color={};\n    bgcolor={};\n",
                dot_string(if c.isolated.any() { "rounded" } else { "rounded,dashed" }),
                dot_string(if c.isolated.any() { "#2f5d8a" } else { "#999999" }),
                dot_string(if c.isolated.any() { "#f3f8fc" } else { "#ffffff" }),
            ));
            out.push_str(&format!(
                "    ns{ci} [id={}, label={}, shape=plaintext, style=\"\", fontsize=12, fontcolor={}];\n",
                dot_string(&format!("ns{ci}")),
                dot_string(&namespace_label(c)),
                dot_string(if c.isolated.any() { "#2f5d8a" } else { "#555555" }),
            ));
            if let Some(first) = members.first() {
                out.push_str(&format!("    {{ rank=same; ns{ci}; {}; }}\n", first.id));
            }
            for n in members {
                out.push_str(&node_line(n, "    ", false));
            }
            out.push_str("  }\n");
        }
        for n in g.nodes.iter().filter(|n| n.namespace.is_none()) {
            out.push_str(&node_line(n, "  ", false));
        }
    } else {
        for n in &g.nodes {
            out.push_str(&node_line(n, "  ", true));
        }
    }
    for e in &g.edges {
        let (colour, style, width) = edge_colour(e);
        let mut label = e.label();
        match e.status {
            EdgeStatus::Added => label = format!("+ {label}"),
            EdgeStatus::Removed => label = format!("- {label}"),
            EdgeStatus::Same => {}
        }
        if !e.warnings.is_empty() {
            label.push_str(" ⚠");
        }
        out.push_str(&format!(
            "  {} -> {} [label={}, color={}, fontcolor={}, style={}, penwidth={width}];\n",
            e.from,
            e.to,
            dot_string(&label),
            dot_string(colour),
            dot_string(colour),
            style
        ));
    }
    out.push_str("}\n");
    out
}

fn mermaid_string(s: &str) -> String {
    // Mermaid labels are quoted; quotes and markup become entities.
    let mut out = String::new();
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' => out.push_str("<br/>"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The graph as a Mermaid flowchart (GitHub renders it in Markdown).
pub fn to_mermaid(g: &Graph) -> String {
    let g = &drawing(g);
    let mut out = String::from("flowchart LR\n");
    let node_line = |n: &Node| {
        let label = mermaid_string(&node_label(n));
        let shape = match n.kind {
            NodeKind::Service | NodeKind::Pods | NodeKind::Group => format!("(\"{label}\")"),
            NodeKind::Dns => format!("[(\"{label}\")]"),
            NodeKind::External | NodeKind::Internet => format!("([\"{label}\"])"),
        };
        let class = match n.kind {
            NodeKind::Service => "service",
            NodeKind::Group => "group",
            NodeKind::Pods => "pods",
            NodeKind::External => "external",
            NodeKind::Dns => "dns",
            NodeKind::Internet => "internet",
        };
        format!("{}{shape}:::{class}", n.id)
    };
    for (ci, c) in g.namespaces.iter().enumerate() {
        let members = g.members(&c.name);
        if members.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "  subgraph ns{ci}[\"{}\"]\n",
            mermaid_string(&namespace_label(c))
        ));
        for n in members {
            out.push_str(&format!("    {}\n", node_line(n)));
        }
        out.push_str("  end\n");
        out.push_str(&format!(
            "  style ns{ci} {}\n",
            if c.isolated.any() {
                "fill:#f3f8fc,stroke:#2f5d8a"
            } else {
                "fill:#ffffff,stroke:#999999,stroke-dasharray: 5 5"
            }
        ));
    }
    for n in g.nodes.iter().filter(|n| n.namespace.is_none()) {
        out.push_str(&format!("  {}\n", node_line(n)));
    }
    let mut styles = Vec::new();
    for (i, e) in g.edges.iter().enumerate() {
        let mut label = e.label();
        if !e.warnings.is_empty() {
            label.push_str(" ⚠");
        }
        let arrow = match e.status {
            EdgeStatus::Removed => "-.->",
            EdgeStatus::Added => "==>",
            EdgeStatus::Same => "-->",
        };
        out.push_str(&format!(
            "  {} {arrow}|\"{}\"| {}\n",
            e.from,
            mermaid_string(&label),
            e.to
        ));
        let (colour, _, width) = edge_colour(e);
        if e.status != EdgeStatus::Same || !e.warnings.is_empty() {
            styles.push(format!(
                "  linkStyle {i} stroke:{colour},stroke-width:{width}px,color:{colour}\n"
            ));
        }
    }
    for s in styles {
        out.push_str(&s);
    }
    for kind in [
        NodeKind::Service,
        NodeKind::Group,
        NodeKind::Pods,
        NodeKind::External,
        NodeKind::Dns,
        NodeKind::Internet,
    ] {
        let l = look(kind);
        let name = format!("{kind:?}").to_lowercase();
        out.push_str(&format!(
            "  classDef {name} fill:{},stroke:{}\n",
            l.fill, l.border
        ));
    }
    out.push_str("  classDef warned stroke:#d4700a,stroke-width:3px\n");
    let warned: Vec<&str> = g
        .nodes
        .iter()
        .filter(|n| !n.warnings.is_empty())
        .map(|n| n.id.as_str())
        .collect();
    if !warned.is_empty() {
        out.push_str(&format!("  class {} warned\n", warned.join(",")));
    }
    out
}

/// For the HTML page: each node's connections (in and out, with ports) and policies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeDetails<'g> {
    #[serde(flatten)]
    pub node: &'g Node,
    pub connections: Vec<String>,
}

pub fn details(g: &Graph) -> Vec<NodeDetails<'_>> {
    let names: HashMap<&str, String> = g
        .nodes
        .iter()
        .map(|n| {
            let name = match &n.namespace {
                Some(ns) if n.kind == NodeKind::Service => format!("{ns}/{}", n.name),
                _ => n.name.clone(),
            };
            (n.id.as_str(), name)
        })
        .collect();
    let name = |id: &str| names.get(id).cloned().unwrap_or_default();
    let mut connections: HashMap<&str, Vec<String>> = HashMap::new();
    for e in &g.edges {
        let status = match e.status {
            EdgeStatus::Same => "",
            EdgeStatus::Added => " (added)",
            EdgeStatus::Removed => " (removed)",
        };
        let label = e.label();
        connections
            .entry(e.from.as_str())
            .or_default()
            .push(format!("-> {} on {label}{status}", name(&e.to)));
        // A loop (from == to) is listed both ways, `->` first.
        connections
            .entry(e.to.as_str())
            .or_default()
            .push(format!("<- {} on {label}{status}", name(&e.from)));
    }
    g.nodes
        .iter()
        .map(|n| NodeDetails {
            node: n,
            connections: connections.remove(n.id.as_str()).unwrap_or_default(),
        })
        .collect()
}

/// A self-contained HTML page: the SVG inline, pan (drag) and zoom (wheel, buttons), and a
/// panel listing each node's connections and policies (click a node, or its name in the list).
/// It loads nothing from the network.
pub fn to_html(g: &Graph, svg: &str) -> String {
    let svg = svg.find("<svg").and_then(|i| svg.get(i..)).unwrap_or(svg);
    let data = serde_json::to_string(&details(g))
        .unwrap_or_else(|_| "[]".to_string())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let mut page = String::from(HTML_HEAD);
    page.push_str("<div id=\"view\">\n");
    page.push_str(svg.trim_end());
    page.push_str("\n</div>\n<aside id=\"panel\"><div class=\"tools\"><button id=\"zin\" title=\"zoom in\">+</button><button id=\"zout\" title=\"zoom out\">&minus;</button><button id=\"fit\" title=\"fit\">fit</button></div><div id=\"info\"><p class=\"hint\">Click a node (or a name below) to list its connections and policies. Drag to pan, scroll to zoom.</p></div><h3>Nodes</h3><ul id=\"nodes\"></ul></aside>\n");
    page.push_str("<script id=\"netpol-data\" type=\"application/json\">");
    page.push_str(&data);
    page.push_str("</script>\n<script>\n");
    page.push_str(HTML_SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    page
}

const HTML_HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>netpol graph</title>
<style>
html, body { margin: 0; height: 100%; font-family: Helvetica, Arial, sans-serif; }
body { display: flex; }
#view { flex: 1; overflow: hidden; cursor: grab; background: #fff; }
#view.dragging { cursor: grabbing; }
#view svg { width: 100%; height: 100%; }
#panel { width: 340px; overflow: auto; border-left: 1px solid #ccc; padding: 12px; box-sizing: border-box; font-size: 14px; }
#panel h2 { font-size: 16px; margin: 8px 0; }
#panel h3 { font-size: 14px; margin: 12px 0 4px; }
#panel ul { padding-left: 18px; margin: 4px 0; }
#nodes li { cursor: pointer; color: #2f5d8a; }
#nodes li:hover { text-decoration: underline; }
.tools button { font-size: 14px; min-width: 32px; margin-right: 4px; }
.hint { color: #666; }
.warn { color: #b35c00; }
g.node { cursor: pointer; }
g.node.selected polygon, g.node.selected ellipse, g.node.selected path { stroke-width: 3px; }
</style>
</head>
<body>
"#;

const HTML_SCRIPT: &str = r#"(function () {
  var data = JSON.parse(document.getElementById('netpol-data').textContent);
  var view = document.getElementById('view');
  var svg = view.querySelector('svg');
  var info = document.getElementById('info');
  var byId = {};
  data.forEach(function (n) { byId[n.id] = n; });
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function list(title, items, cls) {
    var frag = document.createDocumentFragment();
    frag.appendChild(el('h3', title));
    var ul = el('ul');
    if (items.length === 0) { ul.appendChild(el('li', 'none')); }
    items.forEach(function (i) { ul.appendChild(el('li', i, cls)); });
    frag.appendChild(ul);
    return frag;
  }
  function show(id) {
    var n = byId[id];
    if (!n) { return; }
    info.textContent = '';
    info.appendChild(el('h2', (n.namespace ? n.namespace + '/' : '') + n.name));
    info.appendChild(el('p', n.kind + (n.detail ? ': ' + n.detail : '')));
    if (n.warnings.length) { info.appendChild(list('Warnings', n.warnings, 'warn')); }
    info.appendChild(list('Connections', n.connections));
    info.appendChild(list('Policies selecting its pods', n.policies));
    Array.prototype.forEach.call(svg.querySelectorAll('g.node'), function (g) {
      g.classList.toggle('selected', g.id === id);
    });
  }
  var nodes = document.getElementById('nodes');
  data.slice().sort(function (a, b) {
    var x = (a.namespace || '') + '/' + a.name, y = (b.namespace || '') + '/' + b.name;
    return x < y ? -1 : x > y ? 1 : 0;
  }).forEach(function (n) {
    var li = el('li', (n.namespace ? n.namespace + '/' : '') + n.name);
    li.addEventListener('click', function () { show(n.id); });
    nodes.appendChild(li);
  });
  if (!svg) { return; }
  var nums = (svg.getAttribute('viewBox') || '').split(/[\s,]+/).map(parseFloat);
  var home = nums.length === 4 && nums.every(isFinite)
    ? { x: nums[0], y: nums[1], w: nums[2], h: nums[3] }
    : { x: 0, y: 0, w: parseFloat(svg.getAttribute('width')) || 1000, h: parseFloat(svg.getAttribute('height')) || 1000 };
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  var cur = { x: home.x, y: home.y, w: home.w, h: home.h };
  function apply() { svg.setAttribute('viewBox', cur.x + ' ' + cur.y + ' ' + cur.w + ' ' + cur.h); }
  function zoom(f, cx, cy) {
    var r = svg.getBoundingClientRect();
    var px = cx === undefined || !r.width ? 0.5 : (cx - r.left) / r.width;
    var py = cy === undefined || !r.height ? 0.5 : (cy - r.top) / r.height;
    var nw = cur.w * f, nh = cur.h * f;
    cur.x += (cur.w - nw) * px; cur.y += (cur.h - nh) * py; cur.w = nw; cur.h = nh;
    apply();
  }
  apply();
  view.addEventListener('wheel', function (e) {
    e.preventDefault();
    zoom(e.deltaY < 0 ? 0.85 : 1 / 0.85, e.clientX, e.clientY);
  }, { passive: false });
  var drag = null, moved = false;
  view.addEventListener('mousedown', function (e) {
    drag = { x: e.clientX, y: e.clientY }; moved = false; view.classList.add('dragging');
  });
  window.addEventListener('mousemove', function (e) {
    if (!drag) { return; }
    var r = svg.getBoundingClientRect();
    if (!r.width || !r.height) { return; }
    var dx = (e.clientX - drag.x) * cur.w / r.width, dy = (e.clientY - drag.y) * cur.h / r.height;
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 2) { moved = true; }
    cur.x -= dx; cur.y -= dy; drag = { x: e.clientX, y: e.clientY }; apply();
  });
  window.addEventListener('mouseup', function () { drag = null; view.classList.remove('dragging'); });
  svg.addEventListener('click', function (e) {
    if (moved) { return; }
    var g = e.target.closest ? e.target.closest('g.node') : null;
    if (g && byId[g.id]) { show(g.id); }
  });
  document.getElementById('zin').addEventListener('click', function () { zoom(0.8); });
  document.getElementById('zout').addEventListener('click', function () { zoom(1.25); });
  document.getElementById('fit').addEventListener('click', function () {
    cur = { x: home.x, y: home.y, w: home.w, h: home.h }; apply();
  });
})();
"#;
