//! Hover text (Markdown): what a name stands for, in the cluster's own terms.

use super::{Abs, NameAt, port_values, show_ports};
use crate::db::EmittedPolicy;
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::{Conn, Def, PortSel, Program, describe_set};
use crate::span::{FileId, Span};
use std::fmt::Write;

/// At most this many matching workloads are listed by name.
const MAX_LISTED: usize = 20;

/// The hover text at `offset`: a name's meaning, or a connection's rules. `emitted` is the
/// compiled YAML (absent while the program has errors).
pub fn hover(
    program: &Program,
    manifests: &Manifests,
    emitted: Option<&[EmittedPolicy]>,
    abs: Abs<'_>,
    file: FileId,
    offset: usize,
) -> Option<(Span, String)> {
    if let Some(NameAt { span, def }) = super::name_at(program, abs, file, offset) {
        return Some((span, def_hover(program, manifests, emitted, &def)));
    }
    let conns: Vec<(Span, &Conn)> = program
        .connections
        .iter()
        .map(|c| (abs(c.span), c))
        .filter(|(s, _)| s.file == file && s.contains(offset))
        .collect();
    let (span, _) = conns.first()?;
    let conns: Vec<&Conn> = conns.iter().map(|(_, c)| *c).collect();
    Some((*span, conn_hover(program, emitted, &conns)))
}

fn def_hover(
    program: &Program,
    manifests: &Manifests,
    emitted: Option<&[EmittedPolicy]>,
    def: &Def,
) -> String {
    let mut out = String::new();
    match def {
        Def::Service(i) => {
            let Some(s) = program.services.get(*i) else {
                return out;
            };
            let _ = writeln!(
                out,
                "```netpol\nservice {} in {}\n```\n\nselects `{}` (isolates {})\n",
                s.name,
                s.namespace,
                s.selector.display(),
                s.isolate.describe()
            );
            if !s.ports.is_empty() {
                out.push_str("ports:\n");
                for p in &s.ports {
                    let _ = writeln!(out, "- `{}` = {}", p.name, show_ports(&p.values));
                }
                out.push('\n');
            }
            workloads_section(&mut out, manifests, &s.namespace, |l| s.selector.matches(l));
            if let Some(docs) = emitted {
                for d in docs
                    .iter()
                    .filter(|d| d.namespace == s.namespace && d.name == s.name)
                {
                    let _ = write!(out, "\ncompiles to:\n\n```yaml\n{}```\n", d.yaml);
                }
            }
        }
        Def::Group(i) => {
            let Some(g) = program.groups.get(*i) else {
                return out;
            };
            let _ = writeln!(
                out,
                "```netpol\ngroup {} = {}\n```\n",
                g.name,
                describe_set(&g.set)
            );
            if let Some(m) = &g.module {
                let _ = writeln!(out, "from `{m}`\n");
            }
            if let crate::resolve::hir::NsScope::Named(ns) = &g.set.ns {
                workloads_section(&mut out, manifests, ns, |l| g.set.pods.matches(l));
            }
        }
        Def::External(i) => {
            let Some(e) = program.externals.get(*i) else {
                return out;
            };
            let _ = writeln!(out, "```netpol\nexternal {}\n```\n", e.name);
            for b in &e.blocks {
                let _ = write!(out, "- `{}`", b.cidr);
                if !b.except.is_empty() {
                    let ex: Vec<String> = b.except.iter().map(ToString::to_string).collect();
                    let _ = write!(out, " except `{}`", ex.join("`, `"));
                }
                out.push('\n');
            }
            if let Some(m) = &e.module {
                let _ = writeln!(out, "\nfrom `{m}`");
            }
        }
        Def::Namespace(n) => {
            let _ = writeln!(out, "```netpol\nnamespace {n}\n```\n");
            if let Some(d) = program.namespaces.get(n) {
                let _ = writeln!(out, "isolates {}\n", d.isolate.describe());
            }
            let count = manifests.in_namespace(n).count();
            let _ = writeln!(out, "{count} workloads in the manifests");
        }
        Def::Port(n) | Def::ServicePort(_, n) => {
            let values = port_values(program, def).unwrap_or_default();
            let owner = match def {
                Def::ServicePort(i, _) => program
                    .services
                    .get(*i)
                    .map(|s| format!(" (of service `{}`)", s.name))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "```netpol\nport {n} = {}\n```\n{owner}",
                show_ports(&values)
            );
        }
    }
    out
}

fn workloads_section(
    out: &mut String,
    manifests: &Manifests,
    namespace: &str,
    matches: impl Fn(&std::collections::BTreeMap<String, String>) -> bool,
) {
    let matched: Vec<_> = manifests
        .in_namespace(namespace)
        .filter(|w| matches(&w.labels))
        .collect();
    let _ = writeln!(
        out,
        "matches {} workload{} in `{namespace}`",
        matched.len(),
        if matched.len() == 1 { "" } else { "s" }
    );
    for w in matched.iter().take(MAX_LISTED) {
        let ports: Vec<String> = w
            .ports
            .iter()
            .map(|p| match &p.name {
                Some(n) => format!("{n}={}/{}", p.port, p.protocol),
                None => format!("{}/{}", p.port, p.protocol),
            })
            .collect();
        if ports.is_empty() {
            let _ = writeln!(out, "- `{}`", w.display());
        } else {
            let _ = writeln!(out, "- `{}` ({})", w.display(), ports.join(", "));
        }
    }
    if matched.len() > MAX_LISTED {
        let _ = writeln!(out, "- … {} more", matched.len() - MAX_LISTED);
    }
}

fn conn_hover(program: &Program, emitted: Option<&[EmittedPolicy]>, conns: &[&Conn]) -> String {
    let mut out = String::from("connection:\n");
    let mut policies: Vec<(String, String)> = Vec::new();
    for c in conns {
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|(p, _)| match p {
                PortSel::All => "every port".to_string(),
                PortSel::AllOf(proto) => format!("every {proto} port"),
                PortSel::Range(r) => show_ports(std::slice::from_ref(r)),
                PortSel::Named { protocol, name } => format!("{name}/{protocol} (container port)"),
            })
            .collect();
        let _ = writeln!(
            out,
            "- `{}` → `{}` on {}",
            program.peer_name(&c.source.kind),
            program.peer_name(&c.target.kind),
            if ports.is_empty() {
                "no port".to_string()
            } else {
                ports.join(", ")
            }
        );
        for (peer, dir) in [(&c.source, "egress"), (&c.target, "ingress")] {
            if let crate::resolve::hir::PeerKind::Service(i) = &peer.kind
                && let Some(s) = program.services.get(*i)
                && s.isolate.describe().contains(dir)
            {
                policies.push((s.namespace.clone(), s.name.clone()));
            }
        }
    }
    policies.sort();
    policies.dedup();
    if let Some(docs) = emitted {
        for (ns, name) in &policies {
            for d in docs
                .iter()
                .filter(|d| &d.namespace == ns && &d.name == name)
            {
                let _ = write!(
                    out,
                    "\nbecomes rules of `{ns}/{name}`:\n\n```yaml\n{}```\n",
                    d.yaml
                );
            }
        }
    } else {
        out.push_str("\n(the compiled rules show once the program has no errors)\n");
    }
    out
}
