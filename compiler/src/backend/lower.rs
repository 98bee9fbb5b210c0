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
use crate::k8s::selector::{OverlapIndex, Sel};
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::*;
use crate::span::Span;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
    /// Every service's pods (`Service::pod_set`), built once.
    service_sets: &'a [PodSet],
    /// The selectors of rule peers, shared by every grant that names them: a service's or a
    /// group's pods, a group's namespaces (by index), and namespaces by name.
    service_pods: Vec<Arc<Sel>>,
    group_pods: Vec<(Arc<Sel>, Option<Arc<Sel>>)>,
    ns_by_name: HashMap<String, Arc<Sel>>,
    policies: Targets,
    /// namespace -> pods -> name of the policy that selects exactly those pods (looked up
    /// by reference, without building a key per lookup).
    by_target: HashMap<String, BTreeMap<Sel, String>>,
    /// The units (namespaces' and services' policies) by namespace, fixed once the
    /// connections are lowered: shared, so that a connection reads them while it adds
    /// policies.
    units: Arc<BTreeMap<String, NsUnits>>,
    diagnostics: Vec<Diagnostic>,
    /// The grants of each policy (ingress, egress) as they are found, duplicates included:
    /// sorted into the policies' sets once, at the end, rather than inserted one by one.
    pending: HashMap<(String, String), (Vec<Grant>, Vec<Grant>)>,
    /// False when only the policies' names and selections are wanted (see [`policy_names`]).
    grants: bool,
}

pub fn lower(program: &Program, manifests: &Manifests) -> Lowered {
    lowering(program, manifests, None)
}

/// The policies lowering makes, with their names and pods but no grants, and the names it
/// could not give (E021): what the diagnostics need, without building the rules.
pub fn policy_names(program: &Program, manifests: &Manifests) -> Lowered {
    let has_ports: Vec<bool> = program
        .connections
        .iter()
        .map(|c| !c.ports.is_empty())
        .collect();
    policy_names_of(program, &has_ports, manifests)
}

/// [`policy_names`] of a program whose connections may be given without their ports:
/// `has_ports[k]` says whether connection `k` has any, which is all that naming reads of
/// them (the diagnostics name the policies of the program's outline, `check::Outline`).
pub fn policy_names_of(program: &Program, has_ports: &[bool], manifests: &Manifests) -> Lowered {
    lowering(program, manifests, Some(has_ports))
}

/// Lowers `program`; with `names_only` (which connections have ports), the policies'
/// names and selections only, without grants.
fn lowering(program: &Program, manifests: &Manifests, names_only: Option<&[bool]>) -> Lowered {
    let service_sets: Vec<PodSet> = program.services.iter().map(Service::pod_set).collect();
    let mut l = Lowering {
        program,
        manifests,
        service_sets: &service_sets,
        service_pods: service_sets
            .iter()
            .map(|s| Arc::new(s.pods.clone()))
            .collect(),
        group_pods: program
            .groups
            .iter()
            .map(|g| {
                let ns = match &g.set.ns {
                    NsScope::Selector(s) => Some(Arc::new(s.clone())),
                    NsScope::Named(_) => None,
                };
                (Arc::new(g.set.pods.clone()), ns)
            })
            .collect(),
        ns_by_name: HashMap::new(),
        pending: HashMap::new(),
        policies: BTreeMap::new(),
        by_target: HashMap::new(),
        units: Arc::default(),
        diagnostics: Vec::new(),
        grants: names_only.is_none(),
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
    let mut units: BTreeMap<String, Vec<(String, Arc<Sel>, Dirs)>> = BTreeMap::new();
    for p in l.policies.values() {
        units.entry(p.namespace.clone()).or_default().push((
            p.name.clone(),
            Arc::new(p.pods.clone()),
            p.types,
        ));
    }
    l.units = Arc::new(
        units
            .into_iter()
            .map(|(ns, list)| {
                let index = OverlapIndex::new(list.iter().map(|(_, s, _)| &**s));
                (ns, NsUnits { list, index })
            })
            .collect(),
    );
    for (k, conn) in program.connections.iter().enumerate() {
        match names_only {
            Some(has_ports) => {
                if has_ports.get(k).copied().unwrap_or(false) {
                    l.sides(conn, &[]);
                }
            }
            None => l.connection(conn),
        }
    }
    let mut policies = l.policies;
    for (key, (ingress, egress)) in l.pending {
        if let Some(p) = policies.get_mut(&key) {
            for (set, found) in [(&mut p.ingress, ingress), (&mut p.egress, egress)] {
                if set.is_empty() {
                    // Sorted and built in one pass.
                    *set = found.into_iter().collect();
                } else {
                    set.extend(found);
                }
            }
        }
    }
    Lowered {
        policies,
        diagnostics: l.diagnostics,
    }
}

/// The units of one namespace: (name, pods, types), and the same indexed by label value, so
/// that a connection looks only at the units that may overlap its pods.
struct NsUnits {
    list: Vec<(String, Arc<Sel>, Dirs)>,
    index: OverlapIndex,
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

impl<'a> Lowering<'a> {
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
        let by_pods = match self.by_target.get_mut(ns) {
            Some(m) => m,
            None => self.by_target.entry(ns.to_string()).or_default(),
        };
        by_pods
            .entry(pods.clone())
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
        set.ns.contains(ns, || self.manifests.namespace_labels(ns))
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

    /// The pods of a peer that is not an external (borrowed for the lowering's life).
    fn holder_set(&self, kind: &'a PeerKind) -> Option<&'a PodSet> {
        let program: &'a Program = self.program;
        let service_sets: &'a [PodSet] = self.service_sets;
        match kind {
            PeerKind::Service(i) => service_sets.get(*i),
            PeerKind::Group(i) => program.groups.get(*i).map(|g| &g.set),
            PeerKind::External(_) => None,
            PeerKind::Pods(set) => Some(set),
        }
    }

    /// The shared selector of namespace `name`.
    fn namespace_sel(&mut self, name: &str) -> Arc<Sel> {
        if let Some(s) = self.ns_by_name.get(name) {
            return s.clone();
        }
        let s = Arc::new(ns_by_name(name));
        self.ns_by_name.insert(name.to_string(), s.clone());
        s
    }

    /// The rule peers that stand for `peer`, as seen from a policy in namespace `ns`.
    fn rule_peers(&mut self, peer: &'a Peer, ns: &str) -> Vec<RulePeer> {
        if let PeerKind::External(i) = &peer.kind {
            return self
                .program
                .externals
                .get(*i)
                .map(|e| e.blocks.iter().cloned().map(RulePeer::Block).collect())
                .unwrap_or_default();
        }
        let Some(set) = self.holder_set(&peer.kind) else {
            return Vec::new();
        };
        let (pods, selected_ns) = match &peer.kind {
            PeerKind::Service(i) => (self.service_pods.get(*i).cloned(), None),
            PeerKind::Group(i) => self
                .group_pods
                .get(*i)
                .map_or((None, None), |(p, n)| (Some(p.clone()), n.clone())),
            _ => (None, None),
        };
        let pods = pods.unwrap_or_else(|| Arc::new(set.pods.clone()));
        let ns_sel = match &set.ns {
            NsScope::Named(n) if n == ns => None,
            NsScope::Named(n) => Some(self.namespace_sel(n)),
            NsScope::Selector(s) => Some(selected_ns.unwrap_or_else(|| Arc::new(s.clone()))),
        };
        vec![RulePeer::Pods { ns: ns_sel, pods }]
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

    fn connection(&mut self, conn: &'a Conn) {
        let ports = Self::rule_ports(&conn.ports);
        if !ports.is_empty() {
            self.sides(conn, &ports);
        }
    }

    /// The egress side of a connection, then its ingress side.
    fn sides(&mut self, conn: &'a Conn, ports: &[RulePort]) {
        self.side(conn, &conn.source, &conn.target, false, ports);
        self.side(conn, &conn.target, &conn.source, true, ports);
    }

    /// Adds the grants for the isolated pods of `holder` (the source for egress, the target
    /// for ingress) towards `other`.
    fn side(
        &mut self,
        conn: &'a Conn,
        holder: &'a Peer,
        other: &'a Peer,
        ingress: bool,
        ports: &[RulePort],
    ) {
        let Some(set) = self.holder_set(&holder.kind) else {
            return; // externals get no policy
        };
        let want = Dirs {
            ingress,
            egress: !ingress,
        };
        // The units are fixed while connections are lowered (only policies are added), so
        // they are read through a shared handle while `self` adds policies.
        let units = Arc::clone(&self.units);
        let namespaces: Vec<(&String, &NsUnits)> = match &set.ns {
            NsScope::Named(n) => units.get_key_value(n).into_iter().collect(),
            NsScope::Selector(_) => units
                .iter()
                .filter(|(ns, _)| self.covers_namespace(set, ns))
                .collect(),
        };
        for (ns, in_ns) in namespaces {
            for i in in_ns.index.candidates(&set.pods) {
                let Some((name, pods, types)) = in_ns.list.get(i) else {
                    continue;
                };
                if !types.contains(want) || !pods.overlaps(&set.pods) {
                    continue;
                }
                let target_name = if pods.implies(&set.pods) {
                    Some(name.to_string())
                } else {
                    let inter = pods.and(&set.pods);
                    let existing = self.by_target.get(ns).and_then(|m| m.get(&inter)).cloned();
                    match existing {
                        Some(existing) => {
                            if let Some(p) =
                                self.policies.get_mut(&(ns.to_string(), existing.clone()))
                            {
                                p.types = p.types.union(want);
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
                            self.unit(ns, inter, &new_name, want, span)
                        }
                    }
                };
                let Some(target_name) = target_name else {
                    continue;
                };
                if !self.grants {
                    continue;
                }
                let peers = self.rule_peers(other, ns);
                let key = (ns.to_string(), target_name);
                if self.policies.contains_key(&key) {
                    let (in_grants, out_grants) = self.pending.entry(key).or_default();
                    let grants = if ingress { in_grants } else { out_grants };
                    for peer in &peers {
                        for port in ports {
                            grants.push(Grant {
                                peer: peer.clone(),
                                port: port.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
}
