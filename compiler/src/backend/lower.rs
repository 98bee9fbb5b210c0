//! Lowering: the resolved program to policy targets with exact grants.
//!
//! Every pod that the program isolates in a direction belongs to a *unit*: a service (its
//! selector, in its namespace) or an isolated namespace (every pod in it). For a connection
//! `A -> B:ports`, each egress-isolated unit U that can hold pods of A gets the grant
//! (B, ports): on U's own policy when every pod of U is in A, otherwise on a policy that
//! selects exactly U ∩ A (a subset of U's pods, so it isolates no pod that U does not).
//! Ingress is the same with the roles swapped. This is exact for any cluster: a pod gets a
//! grant iff it is an isolated pod of the connection's source (egress) or target (ingress).

use crate::backend::ir::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::selector::Sel;
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::*;
use crate::resolve::namespace_labels;
use crate::span::Span;
use std::collections::BTreeMap;

/// The policies before optimisation, keyed by (namespace, name).
pub type Targets = BTreeMap<(String, String), PolicyIr>;

/// What lowering gives: the policies, and the names it could not give (E021).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Lowered {
    pub policies: Targets,
    pub diagnostics: Vec<Diagnostic>,
}

pub struct Lowering<'a> {
    program: &'a Program,
    manifests: &'a Manifests,
    policies: Targets,
    /// (namespace, pods) -> name of the policy that selects exactly those pods.
    by_target: BTreeMap<(String, Sel), String>,
    /// The units (namespaces' and services' policies) by namespace: (name, pods, types).
    units: BTreeMap<String, Vec<(String, Sel, Dirs)>>,
    diagnostics: Vec<Diagnostic>,
    /// False when only the policies' names and selections are wanted (see [`policy_names`]).
    grants: bool,
}

pub fn lower(program: &Program, manifests: &Manifests) -> Lowered {
    lowering(program, manifests, true)
}

/// The policies lowering makes, with their names and pods but no grants, and the names it
/// could not give (E021): what the diagnostics need, without building the rules.
pub fn policy_names(program: &Program, manifests: &Manifests) -> Lowered {
    lowering(program, manifests, false)
}

fn lowering(program: &Program, manifests: &Manifests, grants: bool) -> Lowered {
    let mut l = Lowering {
        program,
        manifests,
        policies: BTreeMap::new(),
        by_target: BTreeMap::new(),
        units: BTreeMap::new(),
        diagnostics: Vec::new(),
        grants,
    };
    for ns in program.namespaces.values() {
        if ns.isolate.any() {
            l.unit(&ns.name, Sel::all(), "default-deny", ns.isolate, ns.span);
        }
    }
    for svc in &program.services {
        if svc.isolate.any() && !svc.selector.is_unsat() {
            l.unit(
                &svc.namespace,
                svc.selector.clone(),
                &svc.name,
                svc.isolate,
                svc.name_span,
            );
        }
    }
    // Units are the namespaces' and the services' policies, not the intersections made
    // while lowering connections (those are subsets of a unit, which is considered instead).
    for p in l.policies.values() {
        l.units.entry(p.namespace.clone()).or_default().push((
            p.name.clone(),
            p.pods.clone(),
            p.types,
        ));
    }
    for conn in &program.connections {
        l.connection(conn);
    }
    Lowered {
        policies: l.policies,
        diagnostics: l.diagnostics,
    }
}

/// A short stable hash, for naming policies of pods written in place.
fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

impl Lowering<'_> {
    fn unit(&mut self, ns: &str, pods: Sel, name: &str, types: Dirs, span: Span) -> Option<String> {
        let key = (ns.to_string(), name.to_string());
        if let Some(existing) = self.policies.get(&key) {
            if existing.pods != pods {
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::PolicyNameClash,
                        span,
                        format!("two policies would be named `{name}` in namespace `{ns}`"),
                    )
                    .label("this one")
                    .secondary(existing.origin.span, "and this one")
                    .help("rename one of the declarations"),
                );
                return None;
            }
            let merged = existing.types.union(types);
            if let Some(p) = self.policies.get_mut(&key) {
                p.types = merged;
            }
            return Some(name.to_string());
        }
        self.by_target
            .entry((ns.to_string(), pods.clone()))
            .or_insert_with(|| name.to_string());
        self.policies.insert(
            key,
            PolicyIr {
                namespace: ns.to_string(),
                name: name.to_string(),
                pods,
                types,
                ingress: Default::default(),
                egress: Default::default(),
                origin: Origin { span },
            },
        );
        Some(name.to_string())
    }

    /// Does `set` contain pods of namespace `ns`?
    fn covers_namespace(&self, set: &PodSet, ns: &str) -> bool {
        set.ns.contains(ns, || namespace_labels(self.manifests, ns))
    }

    fn peer_label(&self, kind: &PeerKind) -> String {
        match kind {
            PeerKind::Service(_) | PeerKind::Group(_) | PeerKind::External(_) => {
                self.program.peer_name(kind)
            }
            PeerKind::Pods(set) => format!("pods-{}", short_hash(&describe_set(set))),
        }
    }

    fn peer_span(&self, peer: &Peer) -> Span {
        match &peer.kind {
            PeerKind::Service(i) => self
                .program
                .services
                .get(*i)
                .map_or(peer.span, |s| s.name_span),
            PeerKind::Group(i) => self
                .program
                .groups
                .get(*i)
                .map_or(peer.span, |g| g.name_span),
            _ => peer.span,
        }
    }

    /// The rule peers that stand for `peer`, as seen from a policy in namespace `ns`.
    fn rule_peers(&self, peer: &Peer, ns: &str) -> Vec<RulePeer> {
        match &peer.kind {
            PeerKind::External(i) => self
                .program
                .externals
                .get(*i)
                .map(|e| e.blocks.iter().cloned().map(RulePeer::Block).collect())
                .unwrap_or_default(),
            kind => match self.program.pod_set(kind) {
                Some(set) => {
                    let ns_sel = match &set.ns {
                        NsScope::Named(n) if n == ns => None,
                        NsScope::Named(n) => Some(ns_by_name(n)),
                        NsScope::Selector(s) => Some(s.clone()),
                    };
                    vec![RulePeer::Pods {
                        ns: ns_sel,
                        pods: set.pods,
                    }]
                }
                None => Vec::new(),
            },
        }
    }

    fn rule_ports(ports: &[(PortSel, Span)]) -> Vec<RulePort> {
        ports
            .iter()
            .map(|(p, _)| match p {
                PortSel::All => RulePort::All,
                PortSel::AllOf(protocol) => RulePort::Range {
                    protocol: *protocol,
                    start: 1,
                    end: 65535,
                },
                PortSel::Range(r) => RulePort::Range {
                    protocol: r.protocol,
                    start: r.start,
                    end: r.end,
                },
                PortSel::Named { protocol, name } => RulePort::Named {
                    protocol: *protocol,
                    name: name.clone(),
                },
            })
            .collect()
    }

    fn connection(&mut self, conn: &Conn) {
        let ports = Self::rule_ports(&conn.ports);
        if ports.is_empty() {
            return;
        }
        self.side(conn, &conn.source, &conn.target, false, &ports);
        self.side(conn, &conn.target, &conn.source, true, &ports);
    }

    /// Adds the grants for the isolated pods of `holder` (the source for egress, the target
    /// for ingress) towards `other`.
    fn side(
        &mut self,
        conn: &Conn,
        holder: &Peer,
        other: &Peer,
        ingress: bool,
        ports: &[RulePort],
    ) {
        let Some(set) = self.program.pod_set(&holder.kind) else {
            return; // externals get no policy
        };
        let want = Dirs {
            ingress,
            egress: !ingress,
        };
        let namespaces: Vec<&String> = match &set.ns {
            NsScope::Named(n) => self
                .units
                .get_key_value(n)
                .map(|(k, _)| k)
                .into_iter()
                .collect(),
            NsScope::Selector(_) => self
                .units
                .keys()
                .filter(|ns| self.covers_namespace(&set, ns))
                .collect(),
        };
        let units: Vec<(String, String, Sel)> = namespaces
            .into_iter()
            .flat_map(|ns| {
                self.units
                    .get(ns)
                    .into_iter()
                    .flatten()
                    .filter(|(_, pods, types)| types.contains(want) && pods.overlaps(&set.pods))
                    .map(move |(name, pods, _)| (ns.clone(), name.clone(), pods.clone()))
            })
            .collect();
        for (ns, name, pods) in units {
            if !self.covers_namespace(&set, &ns) || !pods.overlaps(&set.pods) {
                continue;
            }
            let target_name = if pods.implies(&set.pods) {
                Some(name.clone())
            } else {
                let inter = pods.and(&set.pods);
                let dirs = Dirs {
                    ingress,
                    egress: !ingress,
                };
                match self.by_target.get(&(ns.clone(), inter.clone())).cloned() {
                    Some(existing) => {
                        if let Some(p) = self.policies.get_mut(&(ns.clone(), existing.clone())) {
                            p.types = p.types.union(dirs);
                        }
                        Some(existing)
                    }
                    None => {
                        let label = self.peer_label(&holder.kind);
                        let new_name = if pods.is_all() {
                            label
                        } else {
                            format!("{name}.{label}")
                        };
                        let span = match &holder.kind {
                            PeerKind::Pods(_) => conn.span,
                            _ => self.peer_span(holder),
                        };
                        self.unit(&ns, inter, &new_name, dirs, span)
                    }
                }
            };
            let Some(target_name) = target_name else {
                continue;
            };
            if !self.grants {
                continue;
            }
            let peers = self.rule_peers(other, &ns);
            if let Some(policy) = self.policies.get_mut(&(ns.clone(), target_name)) {
                let grants = policy.grants_mut(ingress);
                for peer in &peers {
                    for port in ports {
                        grants.insert(Grant {
                            peer: peer.clone(),
                            port: port.clone(),
                        });
                    }
                }
            }
        }
    }
}
