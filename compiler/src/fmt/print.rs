//! The printers: the text of each declaration, statement and expression, on one line (or
//! wrapped, for a long connection). The engine in `mod.rs` places them and their comments.

use super::{CONTINUATION, Line, MAX_WIDTH};
use crate::span::Span;
use crate::syntax::ast::*;

/// The one-line form of a connection, unaligned.
fn connection_line(c: &Connection) -> String {
    format!(
        "{} -> {}",
        c.sources.iter().map(peer).collect::<Vec<_>>().join(", "),
        c.targets.iter().map(target).collect::<Vec<_>>().join(", ")
    )
}

pub(in crate::fmt) fn connection_too_long(c: &Connection) -> bool {
    connection_line(c).chars().count() > MAX_WIDTH
}

/// A connection on several lines: filled greedily up to [`MAX_WIDTH`] columns, broken only
/// after the commas between sources and between targets, so the last source, the `->` and
/// the first target stay together.
pub(in crate::fmt) fn wrap_connection(c: &Connection) -> Vec<String> {
    let mut atoms: Vec<String> = Vec::new();
    let sources = c.sources.len();
    for (i, p) in c.sources.iter().enumerate() {
        let mut s = peer(p);
        if i.saturating_add(1) < sources {
            s.push(',');
        }
        atoms.push(s);
    }
    let targets = c.targets.len();
    for (i, t) in c.targets.iter().enumerate() {
        let mut s = target(t);
        if i.saturating_add(1) < targets {
            s.push(',');
        }
        if i == 0 {
            s = match atoms.pop() {
                Some(last) => format!("{last} -> {s}"),
                None => format!("-> {s}"),
            };
        }
        atoms.push(s);
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut width = 0usize;
    let mut empty = true;
    for atom in atoms {
        let w = atom.chars().count();
        if empty {
            line.push_str(&atom);
            width = width.saturating_add(w);
            empty = false;
        } else if width.saturating_add(1).saturating_add(w) <= MAX_WIDTH {
            line.push(' ');
            line.push_str(&atom);
            width = width.saturating_add(1).saturating_add(w);
        } else {
            lines.push(std::mem::take(&mut line));
            line = format!("{CONTINUATION}{atom}");
            width = CONTINUATION.len().saturating_add(w);
        }
    }
    lines.push(line);
    lines
}

/// The one-line form of an item, or `None` for items laid out as blocks.
pub(in crate::fmt) fn single_line(item: &Item) -> Option<Line> {
    Some(match item {
        Item::Use(u) => {
            let mut path = u
                .path
                .iter()
                .map(|n| n.text.as_str())
                .collect::<Vec<_>>()
                .join("::");
            if let Some(names) = &u.names {
                path.push_str(&format!(
                    "::{{{}}}",
                    names
                        .iter()
                        .map(|n| n.text.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Line {
                kind: 0,
                head: format!("use {path}"),
                tail: String::new(),
            }
        }
        Item::Workloads(w) => {
            let mut s = format!(
                "workloads {}",
                w.globs
                    .iter()
                    .map(|g| quote(&g.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(ns) = &w.namespace {
                s.push_str(&format!(" in namespace {}", ns.text));
            }
            Line {
                kind: 1,
                head: s,
                tail: String::new(),
            }
        }
        Item::Namespace(n) if n.isolate.is_empty() => Line {
            kind: 2,
            head: format!("namespace {}", n.name.text),
            tail: String::new(),
        },
        Item::Namespace(n) if n.isolate.len() == 1 => Line {
            kind: 2,
            head: format!("namespace {}", n.name.text),
            tail: format!(
                "{{ {} }}",
                n.isolate.iter().map(isolate).collect::<Vec<_>>().join("; ")
            ),
        },
        Item::Group(g) => Line {
            kind: 3,
            head: format!("group {}", g.name.text),
            tail: format!("= {}", pod_set(&g.set)),
        },
        Item::External(e) => {
            let mut tail = format!("= {}", cidrs(&e.blocks));
            if !e.except.is_empty() {
                tail.push_str(&format!(" except {}", cidrs(&e.except)));
            }
            Line {
                kind: 4,
                head: format!("external {}", e.name.text),
                tail,
            }
        }
        Item::Port(p) => {
            let full = port_decl(p);
            let (head, tail) = full.split_once(" = ").unwrap_or((&full, ""));
            Line {
                kind: 5,
                head: head.to_string(),
                tail: format!("= {tail}"),
            }
        }
        Item::Connection(c) => Line {
            kind: 6,
            head: c.sources.iter().map(peer).collect::<Vec<_>>().join(", "),
            tail: format!(
                "-> {}",
                c.targets.iter().map(target).collect::<Vec<_>>().join(", ")
            ),
        },
        _ => return None,
    })
}

pub(crate) fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub(crate) fn selector(s: &Selector) -> String {
    s.requirements
        .iter()
        .map(|r| {
            let k = &r.key.value;
            let list = |vs: &[Str]| {
                vs.iter()
                    .map(|v| quote(&v.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match &r.op {
                ReqOp::Eq(v) => format!("{k} = {}", quote(&v.value)),
                ReqOp::Ne(v) => format!("{k} != {}", quote(&v.value)),
                ReqOp::In(vs) => format!("{k} in ({})", list(vs)),
                ReqOp::NotIn(vs) => format!("{k} not in ({})", list(vs)),
                ReqOp::Exists => k.clone(),
                ReqOp::NotExists => format!("!{k}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn braces(s: &Option<Selector>) -> String {
    match s {
        Some(s) if !s.requirements.is_empty() => format!("{{ {} }}", selector(s)),
        _ => "{}".to_string(),
    }
}

fn pod_set(s: &PodSet) -> String {
    match s {
        PodSet::Pods {
            selector, scope, ..
        } => {
            let scope = match scope {
                Scope::Namespace(n) => format!("namespace {}", n.text),
                Scope::Namespaces { selector, .. } => format!("namespaces {}", braces(selector)),
                Scope::Cluster(_) => "cluster".to_string(),
            };
            format!("pods {} in {scope}", braces(selector))
        }
        PodSet::Namespace { name, .. } => format!("namespace {}", name.text),
        PodSet::Namespaces { selector, .. } => format!("namespaces {}", braces(selector)),
    }
}

pub(crate) fn peer(p: &Peer) -> String {
    match p {
        Peer::Ref(n) => n.text.clone(),
        Peer::Set(s) => pod_set(s),
        Peer::Cluster(_) => "cluster".to_string(),
        Peer::Services(_) => "services".to_string(),
        Peer::Narrowed { name, scope, .. } => match scope {
            Scope::Namespace(n) => format!("{} in namespace {}", name.text, n.text),
            Scope::Namespaces { selector, .. } => {
                format!("{} in namespaces {}", name.text, braces(selector))
            }
            Scope::Cluster(_) => name.text.clone(),
        },
    }
}

fn protocol(p: &Option<(Proto, Span)>) -> String {
    match p {
        Some((Proto::Tcp, _)) | None => String::new(),
        Some((p, _)) => format!("/{}", p.as_str()),
    }
}

pub(crate) fn port_item(p: &PortItem) -> String {
    let base = match &p.kind {
        PortItemKind::Any => "*".to_string(),
        PortItemKind::Number(n) => n.to_string(),
        PortItemKind::Range(a, b) => format!("{a}..{b}"),
        PortItemKind::Name(n) => n.text.clone(),
        PortItemKind::PodPort(s) => quote(&s.value),
    };
    // `/tcp` is the default only for numbers, ranges and container port names: `*` and a
    // declared name without a protocol mean every protocol, so their `/tcp` stays.
    let proto = match (&p.kind, &p.protocol) {
        (PortItemKind::Any | PortItemKind::Name(_), Some((Proto::Tcp, _))) => "/tcp".to_string(),
        _ => protocol(&p.protocol),
    };
    format!("{base}{proto}")
}

pub(in crate::fmt) fn target(t: &Target) -> String {
    match &t.ports {
        None => peer(&t.peer),
        Some(items) if items.len() == 1 => format!(
            "{}:{}",
            peer(&t.peer),
            items.iter().map(port_item).collect::<String>()
        ),
        Some(items) => format!(
            "{}:({})",
            peer(&t.peer),
            items.iter().map(port_item).collect::<Vec<_>>().join(", ")
        ),
    }
}

pub(in crate::fmt) fn port_decl(p: &PortDecl) -> String {
    let values = p
        .values
        .iter()
        .map(|v| {
            let base = match v.end {
                Some(e) => format!("{}..{e}", v.start),
                None => v.start.to_string(),
            };
            format!("{base}{}", protocol(&v.protocol))
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("port {} = {values}", p.name.text)
}

pub(in crate::fmt) fn isolate(i: &Isolate) -> String {
    format!(
        "isolate {}",
        i.directions
            .iter()
            .map(|(d, _)| d.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `pods 10.244.0.0/16, fd00:10:244::/56`, a statement of the `cluster` block.
pub(in crate::fmt) fn cluster_ranges(r: &ClusterRanges) -> String {
    let cidrs: Vec<&str> = r.cidrs.iter().map(|c| c.value.as_str()).collect();
    format!("{} {}", r.kind.as_str(), cidrs.join(", "))
}

fn cidrs(items: &[CidrItem]) -> String {
    items
        .iter()
        .map(|c| match c {
            CidrItem::Cidr(s) => s.value.clone(),
            CidrItem::Name(n) => n.text.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
