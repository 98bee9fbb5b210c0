//! Rendering: the program text, with the comments that say where each line comes from.

use std::collections::{BTreeMap, BTreeSet};

use crate::fmt::unparse;
use crate::k8s::eval::{NAMESPACE_NAME_LABEL as NAME, Protocol};
use crate::k8s::selector::{Constraint, Sel, Values};
use crate::resolve::hir::Dirs;
use crate::span::{FileId, Span};
use crate::syntax::ast::{self, ReqOp};

use super::model::{ExternalKind, Importer, PeerRef, PodSet, Pol, Stmt};
use super::names::is_name;

impl Importer<'_> {
    // -------------------------------------------------------------- writing the program

    fn peer_text(&self, peer: &PeerRef, first_source: bool) -> String {
        match peer {
            PeerRef::Service(i) => self
                .services
                .get(*i)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            PeerRef::External(i) => self
                .externals
                .get(*i)
                .map(|e| e.name.clone())
                .unwrap_or_default(),
            PeerRef::Pods(set) => match self.as_ref(set.clone()) {
                PeerRef::Service(i) => self.peer_text(&PeerRef::Service(i), first_source),
                _ => {
                    let text = describe(set);
                    // A line starting `namespace N` is a namespace declaration.
                    if first_source && text.starts_with("namespace ") {
                        format!("pods {{}} in {text}")
                    } else {
                        text
                    }
                }
            },
        }
    }

    fn stmt_text(&self, s: &Stmt) -> Option<String> {
        if s.sources.is_empty() || s.targets.is_empty() {
            return None;
        }
        let sources: Vec<String> = s
            .sources
            .iter()
            .enumerate()
            .map(|(i, p)| self.peer_text(p, i == 0))
            .collect();
        let targets: Vec<String> = s
            .targets
            .iter()
            .map(|(t, ports)| format!("{}:{ports}", self.peer_text(t, false)))
            .collect();
        Some(format!("{} -> {}", sources.join(", "), targets.join(", ")))
    }

    pub(in crate::import) fn render(
        &mut self,
        files: &[String],
        workloads: &[String],
        cluster: &str,
        errors: &[String],
        sections: &[Vec<Stmt>],
        pairs: &[Stmt],
    ) -> String {
        let mut out = String::new();
        let count = self.pols.len();
        let left_out = match errors.len() {
            0 => String::new(),
            1 => " 1 more policy is not imported: netpol cannot say it exactly (below).".into(),
            n => format!(
                " {n} more policies are not imported: netpol cannot say them exactly (below)."
            ),
        };
        out.push_str(&comment_lines(
            &format!(
                "Imported by `netpol import` from {} ({count} NetworkPolic{}). Compiled, this \
                 program allows exactly the connections that those policies allow (see \
                 docs/import.md).{left_out}",
                {
                    let mut shown: Vec<String> =
                        files.iter().take(5).map(|f| format!("`{f}`")).collect();
                    if files.len() > 5 {
                        shown.push(format!("{} more files", files.len() - 5));
                    }
                    shown.join(", ")
                },
                if count == 1 { "y" } else { "ies" }
            ),
            "",
        ));
        if !self.notes.is_empty() || !errors.is_empty() {
            out.push_str("//\n");
            for e in errors {
                out.push_str(&comment_lines(&format!("netpol import: error: {e}"), ""));
            }
            for n in &self.notes {
                out.push_str(&comment_lines(&format!("netpol import: {n}"), ""));
            }
        }
        out.push('\n');
        if !workloads.is_empty() {
            out.push_str(&format!(
                "workloads {}\n\n",
                workloads
                    .iter()
                    .map(|w| unparse::quote(w))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !cluster.is_empty() {
            out.push_str(cluster);
            out.push('\n');
        }
        // Namespaces, with the policies that isolate every pod of them (in input order).
        let mut by_ns: BTreeMap<&str, Vec<&Pol>> = BTreeMap::new();
        for p in &self.pols {
            by_ns.entry(p.ns.as_str()).or_default().push(p);
        }
        for ns in &self.namespaces {
            for p in by_ns.get(ns.as_str()).into_iter().flatten() {
                if let Some(why) = &p.skipped {
                    out.push_str(&comment_lines(
                        &format!("{} ({}) is not imported: {why}", p.id, p.file),
                        "",
                    ));
                } else if p.set.pods.is_all() {
                    out.push_str(&comment_lines(
                        &format!(
                            "{} ({}): every pod of `{ns}`, isolated for {}",
                            p.id,
                            p.file,
                            dirs_words(p.dirs)
                        ),
                        "",
                    ));
                    for c in &p.comments {
                        out.push_str(&comment_lines(c, "  "));
                    }
                }
            }
            match self.ns_isolation.get(ns) {
                _ if !is_name(ns) => {}
                Some(d) if d.any() => {
                    out.push_str(&format!("namespace {ns} {{ isolate {} }}\n", d.describe()));
                }
                _ => out.push_str(&format!("namespace {ns}\n")),
            }
        }
        for s in &self.services {
            let Some(p) = self.pols.get(s.policy) else {
                continue;
            };
            out.push('\n');
            out.push_str(&comment_lines(
                &format!("{} ({}), isolated for {}", p.id, p.file, dirs_words(p.dirs)),
                "",
            ));
            let closed = Dirs {
                ingress: p.dirs.ingress && p.ingress.is_empty(),
                egress: p.dirs.egress && p.egress.is_empty(),
            };
            if closed.any() {
                let text = match (closed.ingress, closed.egress) {
                    (true, true) => "no rules: this policy lets no connection in or out",
                    (true, false) => "no ingress rule: this policy lets no connection in",
                    _ => "no egress rule: this policy lets no connection out",
                };
                out.push_str(&comment_lines(text, "  "));
            }
            for c in &p.comments {
                out.push_str(&comment_lines(c, "  "));
            }
            out.push_str(&format!("service {} in {} {{\n", s.name, s.ns));
            out.push_str(&format!("  select {}\n", sel_text(&s.sel)));
            if s.isolate != Dirs::BOTH {
                out.push_str(&format!("  isolate {}\n", s.isolate.describe()));
            } else if !p.dirs.ingress || !p.dirs.egress {
                out.push_str(&format!(
                    "  // isolated both ways: namespace `{}` isolates {}\n",
                    s.ns,
                    self.ns_isolation
                        .get(&s.ns)
                        .copied()
                        .unwrap_or_default()
                        .describe()
                ));
            }
            out.push_str("}\n");
        }
        if !self.externals.is_empty() {
            out.push('\n');
            for e in &self.externals {
                let value = match &e.kind {
                    ExternalKind::Anywhere => "0.0.0.0/0, ::/0".to_string(),
                    ExternalKind::Block(b) => {
                        let mut v = b.cidr.to_string();
                        if !b.except.is_empty() {
                            v.push_str(" except ");
                            v.push_str(
                                &b.except
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            );
                        }
                        v
                    }
                };
                out.push_str(&format!("external {} = {value}\n", e.name));
            }
        }
        let mut written: BTreeSet<String> = BTreeSet::new();
        let pair_lines: Vec<(&Stmt, Option<String>)> =
            pairs.iter().map(|s| (s, self.stmt_text(s))).collect();
        let paired: BTreeSet<(usize, bool, usize)> = pair_lines
            .iter()
            .filter(|(_, line)| line.is_some())
            .flat_map(|(s, _)| s.pair_of.iter().copied())
            .collect();
        for section in sections {
            for s in section {
                out.push('\n');
                for c in &s.comments {
                    out.push_str(&comment_lines(c, ""));
                }
                if !s.removed.is_empty() {
                    let ingress = s.origin.is_some_and(|(_, i, _)| i);
                    let which = s
                        .removed
                        .iter()
                        .map(|r| format!("`{r}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let (mine, theirs) = if ingress {
                        ("ingress", "egress")
                    } else {
                        ("egress", "ingress")
                    };
                    let rest = if s.origin.is_some_and(|o| paired.contains(&o)) {
                        format!(
                            "those that one of their {theirs} rules admits are under \"Both ends \
                             isolated\""
                        )
                    } else {
                        format!("none of their {theirs} rules admits this {mine}")
                    };
                    out.push_str(&comment_lines(
                        &format!("left out: the pods whose {theirs} is isolated ({which}); {rest}"),
                        "",
                    ));
                }
                if let Some(line) = self.stmt_text(s)
                    && written.insert(line.clone())
                {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
        if !pair_lines.is_empty() {
            out.push('\n');
            out.push_str(&comment_lines(
                "Both ends isolated. A connection from a pod whose egress is isolated to a pod \
                 whose ingress is isolated needs an egress rule of the first and an ingress rule \
                 of the second: each line below is what one such pair of rules admits.",
                "",
            ));
            for (s, line) in pair_lines {
                if let Some(l) = &line
                    && written.contains(l)
                {
                    continue;
                }
                out.push('\n');
                for c in &s.comments {
                    out.push_str(&comment_lines(c, ""));
                }
                if let Some(l) = line {
                    written.insert(l.clone());
                    out.push_str(&l);
                    out.push('\n');
                }
            }
        }
        out
    }
}

fn dirs_words(d: Dirs) -> &'static str {
    match (d.ingress, d.egress) {
        (true, true) => "ingress and egress",
        (true, false) => "ingress",
        (false, true) => "egress",
        (false, false) => "nothing",
    }
}

/// `// text`, wrapped at about 100 columns.
fn comment_lines(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + word.len() + indent.len() + 4 > 100 {
            out.push_str(&format!("// {indent}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("// {indent}{line}\n"));
    }
    out
}

// ------------------------------------------------------------------ syntax trees, printed by fmt

/// The importer's syntax trees are printed, never located.
const NOWHERE: Span = Span {
    file: FileId(0),
    start: 0,
    end: 0,
};

fn word(v: &str) -> ast::Str {
    ast::Str {
        value: v.to_string(),
        span: NOWHERE,
    }
}

/// The one value of a set of one.
fn single(s: &BTreeSet<String>) -> Option<&String> {
    s.iter().next().filter(|_| s.len() == 1)
}

/// A selector as the parser would read it from its netpol text.
pub(in crate::import) fn sel_ast(sel: &Sel) -> ast::Selector {
    let mut requirements = Vec::new();
    for (k, c) in &sel.keys {
        let values = |s: &BTreeSet<String>| s.iter().map(|v| word(v)).collect::<Vec<_>>();
        let ops = match (&c.values, c.absent_ok) {
            (Values::In(s), false) => match single(s) {
                Some(v) => vec![ReqOp::Eq(word(v))],
                None => vec![ReqOp::In(values(s))],
            },
            (Values::In(s), true) if s.is_empty() => vec![ReqOp::NotExists],
            // Absent or one of the values: never built by the importer; a superset is safer
            // than nothing, and the tests would catch it.
            (Values::In(s), true) => vec![ReqOp::In(values(s))],
            (Values::NotIn(s), true) => match single(s) {
                Some(v) => vec![ReqOp::Ne(word(v))],
                None => vec![ReqOp::NotIn(values(s))],
            },
            (Values::NotIn(s), false) if s.is_empty() => vec![ReqOp::Exists],
            (Values::NotIn(s), false) => match single(s) {
                Some(v) => vec![ReqOp::Exists, ReqOp::Ne(word(v))],
                None => vec![ReqOp::Exists, ReqOp::NotIn(values(s))],
            },
        };
        requirements.extend(ops.into_iter().map(|op| ast::Requirement {
            span: NOWHERE,
            key: word(k),
            op,
        }));
    }
    ast::Selector {
        span: NOWHERE,
        requirements,
    }
}

/// A selector in netpol syntax (`{}` is the empty string).
pub(in crate::import) fn sel_text(sel: &Sel) -> String {
    unparse::selector(&sel_ast(sel))
}

/// A pod set as a peer of a connection.
pub(in crate::import) fn peer_ast(set: &PodSet) -> ast::Peer {
    let single = match set.ns.keys.get(NAME) {
        Some(Constraint {
            absent_ok: false,
            values: Values::In(s),
        }) if s.len() == 1 && set.ns.keys.len() == 1 => {
            s.iter().next().filter(|n| is_name(n)).cloned()
        }
        _ => None,
    };
    let scope = match (single, set.ns.is_all()) {
        (Some(n), _) => ast::Scope::Namespace(ast::Name {
            text: n,
            span: NOWHERE,
        }),
        (None, true) => ast::Scope::Cluster(NOWHERE),
        (None, false) => ast::Scope::Namespaces {
            span: NOWHERE,
            selector: Some(sel_ast(&set.ns)),
        },
    };
    if !set.pods.is_all() {
        return ast::Peer::Set(ast::PodSet::Pods {
            span: NOWHERE,
            selector: Some(sel_ast(&set.pods)),
            scope,
        });
    }
    match scope {
        ast::Scope::Namespace(name) => ast::Peer::Set(ast::PodSet::Namespace {
            span: NOWHERE,
            name,
        }),
        ast::Scope::Namespaces { selector, .. } => ast::Peer::Set(ast::PodSet::Namespaces {
            span: NOWHERE,
            selector,
        }),
        ast::Scope::Cluster(_) => ast::Peer::Cluster(NOWHERE),
    }
}

/// A pod set in netpol syntax.
pub(in crate::import) fn describe(set: &PodSet) -> String {
    unparse::peer(&peer_ast(set))
}

fn port_text(kind: ast::PortItemKind, protocol: Protocol) -> String {
    let protocol = match protocol {
        Protocol::Tcp => ast::Proto::Tcp,
        Protocol::Udp => ast::Proto::Udp,
        Protocol::Sctp => ast::Proto::Sctp,
    };
    unparse::port_item(&ast::PortItem {
        span: NOWHERE,
        kind,
        protocol: Some((protocol, NOWHERE)),
    })
}

/// A port range in a port list: `*/udp` for every port of a protocol, `/tcp` left out.
pub(in crate::import) fn port_range_text(protocol: Protocol, start: u16, end: u16) -> String {
    let kind = if start == 1 && end == 65535 {
        ast::PortItemKind::Any
    } else if start == end {
        ast::PortItemKind::Number(start.into())
    } else {
        ast::PortItemKind::Range(start.into(), end.into())
    };
    port_text(kind, protocol)
}

/// A container port name in a port list, resolved by Kubernetes on the destination pod.
pub(in crate::import) fn pod_port_text(protocol: Protocol, name: &str) -> String {
    port_text(ast::PortItemKind::PodPort(word(name)), protocol)
}
