//! Exactness planning: which connections the program must write so that it allows exactly
//! what the policies allow (the three parts of the module doc), and the selector algebra
//! that takes isolated pods out of a peer.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use crate::backend::ir::{RulePort, merge_ranges};
use crate::k8s::eval::{NAMESPACE_NAME_LABEL as NAME, Protocol};
use crate::k8s::selector::{Constraint, Sel, Values};
use crate::resolve::hir::Dirs;

use super::model::{
    External, ExternalKind, Importer, Peer, PeerRef, PodSet, Pol, Rule, Stmt, cond_of, named,
    ns_norm, pod_norm,
};
use super::names::{sanitize, unique};
use super::render::{describe, pod_port_text, port_range_text, sel_text};

impl Importer<'_> {
    /// The units the compiler isolates in `ingress` (or egress): isolated namespaces first.
    fn units(&self, ingress: bool) -> Vec<(String, Sel, String)> {
        let has = |d: Dirs| if ingress { d.ingress } else { d.egress };
        let mut out: Vec<(String, Sel, String)> = self
            .ns_isolation
            .iter()
            .filter(|(_, d)| has(**d))
            .map(|(ns, _)| (ns.clone(), Sel::all(), format!("namespace {ns}")))
            .collect();
        out.extend(
            self.services
                .iter()
                .filter(|s| has(s.isolate))
                .map(|s| (s.ns.clone(), s.sel.clone(), s.name.clone())),
        );
        out
    }

    /// [`Importer::units`] with an index by namespace, built once (the units are fixed once
    /// the services are declared).
    fn units_by_ns(&self, ingress: bool) -> &Units {
        let cell = if ingress {
            &self.cache.ingress_units
        } else {
            &self.cache.egress_units
        };
        cell.get_or_init(|| {
            let list = self.units(ingress);
            let mut by_ns: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (at, (ns, _, _)) in list.iter().enumerate() {
                by_ns.entry(ns.clone()).or_default().push(at);
            }
            Units { list, by_ns }
        })
    }

    /// `set` without the pods of the units isolated in that direction that the compiler sees
    /// it cover. Returns the pieces and the names of the units taken out.
    fn subtract(&self, set: &PodSet, ingress: bool) -> (Vec<PodSet>, Vec<String>) {
        let mut by_ns: BTreeMap<String, Vec<Sel>> = BTreeMap::new();
        let mut removed = Vec::new();
        let units = self.units_by_ns(ingress);
        // A set of named namespaces covers no unit of another namespace (the compiler sees
        // every namespace carry its name label), so only those namespaces' units are tried,
        // in the order of the list.
        let tried: Vec<usize> = match ns_names(&set.ns) {
            Some(names) => {
                let mut v: Vec<usize> = names
                    .iter()
                    .filter_map(|n| units.by_ns.get(n))
                    .flatten()
                    .copied()
                    .collect();
                v.sort_unstable();
                v
            }
            None => (0..units.list.len()).collect(),
        };
        let mut covers: BTreeMap<&str, bool> = BTreeMap::new();
        // Namespaces whose every pod is already taken out (an isolated namespace covered):
        // their other units change nothing, neither the pieces (`diff` of a set minus every
        // pod is empty) nor the names of the units removed.
        let mut whole: BTreeSet<&str> = BTreeSet::new();
        for (ns, sel, name) in tried.iter().filter_map(|at| units.list.get(*at)) {
            if whole.contains(ns.as_str()) {
                continue;
            }
            let covered = *covers
                .entry(ns.as_str())
                .or_insert_with(|| set.ns.matches(&self.cl(ns)));
            if covered && set.pods.overlaps(sel) {
                by_ns.entry(ns.clone()).or_default().push(sel.clone());
                removed.push(name.clone());
                if sel.is_all() {
                    whole.insert(ns.as_str());
                }
            }
        }
        if by_ns.is_empty() {
            return (vec![set.clone()], removed);
        }
        let mut elsewhere = set.ns.clone();
        elsewhere.require(NAME, Constraint::not_in(by_ns.keys().map(String::as_str)));
        let mut pieces = vec![PodSet {
            ns: ns_norm(elsewhere),
            pods: set.pods.clone(),
        }];
        for (ns, sels) in &by_ns {
            let inside = ns_norm(set.ns.and(&named(ns)));
            for pods in diff(&set.pods, sels) {
                pieces.push(PodSet {
                    ns: inside.clone(),
                    pods: pod_norm(pods),
                });
            }
        }
        (simplify(pieces), removed)
    }

    pub(in crate::import) fn external(&mut self, kind: ExternalKind) -> usize {
        if let Some(i) = self.externals.iter().position(|e| e.kind == kind) {
            return i;
        }
        let base = match &kind {
            ExternalKind::Anywhere => "anywhere".to_string(),
            ExternalKind::Block(b) => {
                let mut n = match b.cidr {
                    IpNet::V4(v) if v.prefix_len() == 0 => "any-ipv4".to_string(),
                    IpNet::V6(v) if v.prefix_len() == 0 => "any-ipv6".to_string(),
                    c => sanitize(&format!("net-{c}")),
                };
                if !b.except.is_empty() {
                    n.push_str("-except");
                }
                n
            }
        };
        let name = unique(base, &mut self.used);
        self.externals.push(External { name, kind });
        self.externals.len() - 1
    }

    pub(in crate::import) fn peer_set(&self, peer: &PeerRef) -> Option<PodSet> {
        match peer {
            PeerRef::Service(i) => self
                .services
                .get(*i)
                .map(|s| PodSet::named(&s.ns, s.sel.clone())),
            PeerRef::Pods(set) => Some(set.clone()),
            PeerRef::External(_) => None,
        }
    }

    /// Writes the ports of one target, resolving port names as the compiler will. `None`
    /// when nothing is left.
    pub(in crate::import) fn ports_text(
        &mut self,
        target: &PeerRef,
        ports: &[RulePort],
        comments: &mut Vec<String>,
        context: &str,
    ) -> Option<String> {
        if ports.contains(&RulePort::All) {
            return Some("*".to_string());
        }
        let set = self.peer_set(target);
        let mut items: BTreeSet<String> = BTreeSet::new();
        let mut ranges: BTreeMap<Protocol, Vec<(u16, u16)>> = BTreeMap::new();
        for p in ports {
            match p {
                RulePort::All => {}
                RulePort::Range {
                    protocol,
                    start,
                    end,
                } => ranges.entry(*protocol).or_default().push((*start, *end)),
                RulePort::Named { protocol, name } => {
                    if set.is_none() {
                        comments.push(format!(
                            "{context}: port `{name}` is left out towards addresses: a port name \
                             never matches an address"
                        ));
                        continue;
                    }
                    // Carried to the output unresolved: Kubernetes resolves it on each
                    // destination pod.
                    items.insert(pod_port_text(*protocol, name));
                }
            }
        }
        for (protocol, list) in ranges {
            for (start, end) in merge_ranges(list) {
                items.insert(port_range_text(protocol, start, end));
            }
        }
        let items: Vec<String> = items.into_iter().collect();
        match items.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            many => Some(format!("({})", many.join(", "))),
        }
    }

    /// The one-sided lines of one policy's rules (parts 1 and 2 of the module doc).
    pub(in crate::import) fn policy_section(&mut self, index: usize) -> Vec<Stmt> {
        let Some(pol) = self.pols.get_mut(index) else {
            return Vec::new();
        };
        if pol.skipped.is_some() {
            return Vec::new();
        }
        // The rules are lent out of the policy while its lines are written (`one_sided` needs
        // the importer mutably), rather than the whole policy cloned.
        let egress = std::mem::take(&mut pol.egress);
        let ingress = std::mem::take(&mut pol.ingress);
        let short = pol.id.clone();
        let holder = holder(pol);
        let mut out = Vec::new();
        for rule in &egress {
            let mut s = self.one_sided(&short, &holder, rule, false);
            s.origin = Some((index, false, rule.number));
            out.push(s);
        }
        for rule in &ingress {
            let mut s = self.one_sided(&short, &holder, rule, true);
            s.origin = Some((index, true, rule.number));
            out.push(s);
        }
        if let Some(pol) = self.pols.get_mut(index) {
            pol.egress = egress;
            pol.ingress = ingress;
        }
        out
    }

    /// `namespace/name` of a policy, for comments.
    pub(in crate::import) fn short(&self, index: usize) -> String {
        self.pols
            .get(index)
            .map(|p| p.id.clone())
            .unwrap_or_default()
    }

    /// An egress rule `holder -> peers'` or an ingress rule `peers' -> holder`.
    fn one_sided(&mut self, short: &str, holder: &PeerRef, rule: &Rule, ingress: bool) -> Stmt {
        let dir = if ingress { "ingress" } else { "egress" };
        let context = format!("{short} {dir} rule {}", rule.number);
        let mut stmt = Stmt::default();
        let mut head = format!("{short}: {dir} rule {}", rule.number);
        if rule.every_peer {
            head.push_str(if ingress {
                ", from every pod and address"
            } else {
                ", to every pod and address"
            });
        }
        stmt.comments.push(head);
        stmt.comments.extend(rule.comments.iter().cloned());
        let mut others: Vec<PeerRef> = Vec::new();
        let mut removed_all: Vec<String> = Vec::new();
        for peer in &rule.peers {
            match peer {
                Peer::Pods(set) => {
                    // The other end's units: ingress-isolated ones for an egress rule.
                    let (pieces, removed) = self.subtract(set, !ingress);
                    for r in removed {
                        if !removed_all.contains(&r) {
                            removed_all.push(r);
                        }
                    }
                    for p in pieces {
                        let r = PeerRef::Pods(p);
                        if !others.contains(&r) {
                            others.push(r);
                        }
                    }
                }
                Peer::Block(b) => {
                    let e = self.external(ExternalKind::Block(b.clone()));
                    others.push(PeerRef::External(e));
                }
                Peer::Anywhere => {
                    let e = self.external(ExternalKind::Anywhere);
                    others.push(PeerRef::External(e));
                }
            }
        }
        stmt.removed = removed_all;
        if others.is_empty() {
            return stmt;
        }
        let mut comments = Vec::new();
        if ingress {
            stmt.sources = others;
            if let Some(ports) = self.ports_text(holder, &rule.ports, &mut comments, &context) {
                stmt.targets.push((holder.clone(), ports));
            }
        } else {
            stmt.sources = vec![holder.clone()];
            for t in others {
                if let Some(ports) = self.ports_text(&t, &rule.ports, &mut comments, &context) {
                    stmt.targets.push((t, ports));
                }
            }
        }
        dedup_push(&mut stmt.comments, comments);
        stmt
    }

    /// The connections between pods isolated at both ends (part 3 of the module doc).
    pub(in crate::import) fn pairs(&mut self) -> Vec<Stmt> {
        let mut out = Vec::new();
        // The policies are lent out of the importer while the pairs are built (`pair` needs
        // the importer mutably), rather than cloned; they are put back below.
        let pols = std::mem::take(&mut self.pols);
        // The pod peers of every rule of one direction, with the policy and rule they are in.
        let pod_peers = |rules: fn(&Pol) -> &Vec<Rule>| -> Vec<(usize, &Rule, PodSet)> {
            pols.iter()
                .enumerate()
                .filter(|(_, p)| p.skipped.is_none())
                .flat_map(|(i, p)| {
                    rules(p).iter().flat_map(move |r| {
                        r.peers.iter().filter_map(move |peer| match peer {
                            Peer::Pods(set) => Some((i, r, set.clone())),
                            _ => None,
                        })
                    })
                })
                .collect()
        };
        let egress = pod_peers(|p| &p.egress);
        let ingress = pod_peers(|p| &p.ingress);
        let index = PairIndex::new(&pols, &ingress);
        for (pe_i, e, x) in &egress {
            let Some(pe) = pols.get(*pe_i) else {
                continue;
            };
            for at in index.candidates(&ingress, pe, x) {
                let Some((pi_i, i, y)) = ingress.get(at) else {
                    continue;
                };
                let Some(pi) = pols.get(*pi_i) else {
                    continue;
                };
                for mut s in self.pair(pe, *pe_i, e, x, pi, *pi_i, i, y) {
                    s.pair_of = vec![(*pe_i, false, e.number), (*pi_i, true, i.number)];
                    out.push(s);
                }
            }
        }
        drop(index);
        drop(egress);
        drop(ingress);
        self.pols = pols;
        out
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one egress rule and one ingress rule, each with its policy and peer"
    )]
    fn pair(
        &mut self,
        pe: &Pol,
        pe_i: usize,
        e: &Rule,
        x: &PodSet,
        pi: &Pol,
        pi_i: usize,
        i: &Rule,
        y: &PodSet,
    ) -> Vec<Stmt> {
        let a = PodSet {
            ns: ns_norm(y.ns.and(&named(&pe.ns))),
            pods: pod_norm(pe.set.pods.and(&y.pods)),
        };
        let b = PodSet {
            ns: ns_norm(x.ns.and(&named(&pi.ns))),
            pods: pod_norm(x.pods.and(&pi.set.pods)),
        };
        if a.is_unsat() || b.is_unsat() {
            return Vec::new();
        }
        let ca = a.ns.matches(&self.cl(&pe.ns));
        let cb = b.ns.matches(&self.cl(&pi.ns));
        if !ca && !cb {
            // Neither rule lost these pods: the one-sided lines say it all.
            return Vec::new();
        }
        // `self.pols` is lent out to `pairs`: the ids come from the policies given.
        let short_e = pe.id.clone();
        let short_i = pi.id.clone();
        let head = format!(
            "{short_e} egress rule {} and {short_i} ingress rule {}",
            e.number, i.number
        );
        let context = head.clone();
        let a_named = PodSet {
            ns: named(&pe.ns),
            pods: a.pods.clone(),
        };
        let b_named = PodSet {
            ns: named(&pi.ns),
            pods: b.pods.clone(),
        };
        let mut out = Vec::new();
        if pe.ns == pi.ns {
            let gamma = ns_norm(a.ns.and(&b.ns));
            if gamma.is_unsat() {
                return Vec::new();
            }
            let a_g = PodSet {
                ns: gamma.clone(),
                pods: a.pods.clone(),
            };
            let b_g = PodSet {
                ns: gamma.clone(),
                pods: b.pods.clone(),
            };
            if ca && cb {
                out.extend(self.single(&head, &context, a_g, b_g, &e.ports, &i.ports, pi_i));
            } else {
                let why = format!(
                    "whether namespace `{}` has labels `{}` is decided on the cluster, so each \
                     side of the connection is written on its own line",
                    pe.ns,
                    sel_text(&cond_of(&gamma))
                );
                if cb {
                    let mut s = Stmt {
                        comments: vec![format!("{head}: the egress side"), why.clone()],
                        sources: vec![self.as_ref(a_named.clone())],
                        ..Stmt::default()
                    };
                    let t = self.as_ref(b_g.clone());
                    let mut comments = Vec::new();
                    if let Some(p) = self.ports_text(&t, &e.ports, &mut comments, &context) {
                        s.targets.push((t, p));
                    }
                    dedup_push(&mut s.comments, comments);
                    out.push(s);
                }
                if ca {
                    let mut s = Stmt {
                        comments: vec![format!("{head}: the ingress side"), why.clone()],
                        sources: vec![self.as_ref(a_g)],
                        ..Stmt::default()
                    };
                    let t = self.as_ref(b_named);
                    let mut comments = Vec::new();
                    if let Some(p) = self.ports_text(&t, &i.ports, &mut comments, &context) {
                        s.targets.push((t, p));
                    }
                    dedup_push(&mut s.comments, comments);
                    out.push(s);
                }
            }
        } else if ca && cb {
            out.extend(self.single(&head, &context, a, b, &e.ports, &i.ports, pi_i));
        } else {
            let (ns, cond) = if ca {
                (pi.ns.clone(), cond_of(&b.ns))
            } else {
                (pe.ns.clone(), cond_of(&a.ns))
            };
            // The condition is on the namespace of one end while the other end's namespace
            // is seen as covered: netpol decides which namespaces a label selector covers from
            // the workloads' Namespace objects, so the line would hold only on clusters whose
            // namespaces carry exactly those labels. The policy whose rule holds the condition
            // is left out.
            let culprit = if ca { pe_i } else { pi_i };
            self.refuse(
                culprit,
                format!(
                    "{head}: whether connections from `{}` to `{}` are allowed depends on whether \
                     namespace `{ns}` has labels `{}`, which netpol can only decide from the \
                     workloads' Namespace objects, not on the cluster",
                    describe(&a_named),
                    describe(&b_named),
                    sel_text(&cond)
                ),
            );
        }
        out
    }

    /// `a -> b` on the ports both rules admit; policy `culprit` is left out when netpol
    /// cannot write them.
    #[allow(
        clippy::too_many_arguments,
        reason = "the two ends, the two rules' ports, and who to blame"
    )]
    fn single(
        &mut self,
        head: &str,
        context: &str,
        a: PodSet,
        b: PodSet,
        pe: &[RulePort],
        pi: &[RulePort],
        culprit: usize,
    ) -> Option<Stmt> {
        let comments = vec![format!("{head}: both ends isolated")];
        let ports = self.intersect_ports(pe, pi, context, culprit);
        if ports.is_empty() {
            return None;
        }
        let source = self.as_ref(a);
        let target = self.as_ref(b);
        let mut more = Vec::new();
        let text = self.ports_text(&target, &ports, &mut more, context);
        let mut comments = comments;
        dedup_push(&mut comments, more);
        let mut s = Stmt {
            comments,
            sources: vec![source],
            ..Stmt::default()
        };
        if let Some(p) = text {
            s.targets.push((target, p));
        }
        Some(s)
    }

    /// A pod set as a peer: the service with exactly these pods, if any.
    pub(in crate::import) fn as_ref(&self, set: PodSet) -> PeerRef {
        // The first service with these pods, from an index built once the services are
        // declared.
        let by_set = self.cache.services_by_set.get_or_init(|| {
            let mut by_set = BTreeMap::new();
            for (i, s) in self.services.iter().enumerate() {
                by_set
                    .entry(PodSet::named(&s.ns, s.sel.clone()))
                    .or_insert(i);
            }
            by_set
        });
        match by_set.get(&set) {
            Some(i) => PeerRef::Service(*i),
            None => PeerRef::Pods(set),
        }
    }

    /// The ports that both lists admit. A port name meets a number only on the pods that give
    /// the name to a number in the range, which no netpol port list can say (unless the range
    /// is every port of the name's protocol), and two different names meet on the pods that
    /// give both to one port: in both cases policy `culprit` is left out.
    fn intersect_ports(
        &mut self,
        a: &[RulePort],
        b: &[RulePort],
        context: &str,
        culprit: usize,
    ) -> Vec<RulePort> {
        let mut out = Vec::new();
        for p in a {
            for q in b {
                match (p, q) {
                    (RulePort::All, other) | (other, RulePort::All) => out.push(other.clone()),
                    (
                        RulePort::Range {
                            protocol: pp,
                            start: a1,
                            end: b1,
                        },
                        RulePort::Range {
                            protocol: qp,
                            start: a2,
                            end: b2,
                        },
                    ) => {
                        let (s, t) = ((*a1).max(*a2), (*b1).min(*b2));
                        if pp == qp && s <= t {
                            out.push(RulePort::Range {
                                protocol: *pp,
                                start: s,
                                end: t,
                            });
                        }
                    }
                    (
                        RulePort::Named {
                            protocol: pp,
                            name: n1,
                        },
                        RulePort::Named {
                            protocol: qp,
                            name: n2,
                        },
                    ) => {
                        if pp != qp {
                            continue;
                        }
                        if n1 == n2 {
                            out.push(p.clone());
                        } else {
                            self.refuse(
                                culprit,
                                format!(
                                    "{context}: one rule allows port `{n1}`, the other `{n2}`: \
                                     they meet on pods that give both names to one port, which \
                                     netpol cannot write"
                                ),
                            );
                        }
                    }
                    (
                        RulePort::Named { protocol, name },
                        RulePort::Range {
                            protocol: rp,
                            start,
                            end,
                        },
                    )
                    | (
                        RulePort::Range {
                            protocol: rp,
                            start,
                            end,
                        },
                        RulePort::Named { protocol, name },
                    ) => {
                        if protocol != rp {
                            continue;
                        }
                        if *start == 1 && *end == 65535 {
                            out.push(RulePort::Named {
                                protocol: *protocol,
                                name: name.clone(),
                            });
                            continue;
                        }
                        self.refuse(
                            culprit,
                            format!(
                                "{context}: one rule allows port `{name}`, the other {}: they \
                                 meet where a pod gives the name `{name}` to a number in the \
                                 range, which netpol cannot write",
                                port_range_text(*rp, *start, *end)
                            ),
                        );
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The units of one direction (namespace, pods, name), and their indexes by namespace.
pub(in crate::import) struct Units {
    list: Vec<(String, Sel, String)>,
    by_ns: BTreeMap<String, Vec<usize>>,
}

/// What [`Importer`] computes once its services are declared, on first use.
#[derive(Default)]
pub(in crate::import) struct Cache {
    ingress_units: OnceCell<Units>,
    egress_units: OnceCell<Units>,
    services_by_set: OnceCell<BTreeMap<PodSet, usize>>,
}

/// The names a namespace selector allows, when it allows only named namespaces (`None`: it
/// may allow any name).
fn ns_names(ns: &Sel) -> Option<&BTreeSet<String>> {
    match ns.keys.get(NAME) {
        Some(Constraint {
            values: Values::In(names),
            ..
        }) => Some(names),
        _ => None,
    }
}

/// The ingress pod peers of [`Importer::pairs`] by the namespace of their policy and, within
/// a policy, by the namespace name their peer requires: an egress rule's peer is paired only
/// with the ingress peers whose two ends it can meet. A pair left out is one for which
/// [`Importer::pair`] finds an end unsatisfiable and writes nothing: the namespace of one
/// end is not a name the other's selector allows, or a policy's pods and the other rule's
/// peer share no labels (`x ∧ T` or `S ∧ y` unsatisfiable); `ns_norm` and `pod_norm` never
/// make an unsatisfiable selector satisfiable.
struct PairIndex<'p> {
    /// Namespace -> policies with ingress pod peers, each with its peers: those whose
    /// namespace selector names namespaces, by name, and the others.
    by_ns: BTreeMap<&'p str, Vec<PolicyPeers<'p>>>,
}

struct PolicyPeers<'p> {
    pods: &'p Sel,
    by_source_ns: BTreeMap<&'p str, Vec<usize>>,
    any_source_ns: Vec<usize>,
}

impl<'p> PairIndex<'p> {
    fn new(pols: &'p [Pol], ingress: &'p [(usize, &Rule, PodSet)]) -> PairIndex<'p> {
        let mut by_policy: BTreeMap<usize, PolicyPeers<'p>> = BTreeMap::new();
        for (at, (pi_i, _, y)) in ingress.iter().enumerate() {
            let Some(pi) = pols.get(*pi_i) else {
                continue;
            };
            let entry = by_policy.entry(*pi_i).or_insert_with(|| PolicyPeers {
                pods: &pi.set.pods,
                by_source_ns: BTreeMap::new(),
                any_source_ns: Vec::new(),
            });
            match ns_names(&y.ns) {
                Some(names) => {
                    for n in names {
                        entry.by_source_ns.entry(n.as_str()).or_default().push(at);
                    }
                }
                None => entry.any_source_ns.push(at),
            }
        }
        let mut by_ns: BTreeMap<&'p str, Vec<PolicyPeers<'p>>> = BTreeMap::new();
        for (pi_i, peers) in by_policy {
            if let Some(pi) = pols.get(pi_i) {
                by_ns.entry(pi.ns.as_str()).or_default().push(peers);
            }
        }
        PairIndex { by_ns }
    }

    /// The ingress peers (indexes, ascending) that egress peer `x` of policy `pe` may pair
    /// with: every other pair has an unsatisfiable end.
    fn candidates(&self, ingress: &[(usize, &Rule, PodSet)], pe: &Pol, x: &PodSet) -> Vec<usize> {
        let mut out = Vec::new();
        // The source end holds `pe`'s pods that the ingress peer admits: `pe.set.pods ∧ y.pods`.
        let meets_source = |at: &usize| {
            ingress
                .get(*at)
                .is_some_and(|(_, _, y)| pe.set.pods.overlaps(&y.pods))
        };
        let mut visit = |policies: &Vec<PolicyPeers<'_>>| {
            for p in policies {
                if !x.pods.overlaps(p.pods) {
                    continue;
                }
                if let Some(v) = p.by_source_ns.get(pe.ns.as_str()) {
                    out.extend(v.iter().filter(|at| meets_source(at)));
                }
                out.extend(p.any_source_ns.iter().filter(|at| meets_source(at)));
            }
        };
        match ns_names(&x.ns) {
            Some(names) => {
                for n in names {
                    if let Some(policies) = self.by_ns.get(n.as_str()) {
                        visit(policies);
                    }
                }
            }
            None => self.by_ns.values().for_each(&mut visit),
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The peer that stands for a policy's pods: its service, or the pods of its namespace.
fn holder(pol: &Pol) -> PeerRef {
    match pol.service {
        Some(s) => PeerRef::Service(s),
        None => PeerRef::Pods(pol.set.clone()),
    }
}

fn dedup_push(into: &mut Vec<String>, more: Vec<String>) {
    for m in more {
        if !into.contains(&m) {
            into.push(m);
        }
    }
}

/// The requirements that together match exactly the labels `c` does not match, each one
/// writable as one netpol requirement.
pub(in crate::import) fn negations(c: &Constraint) -> Vec<Constraint> {
    match (&c.values, c.absent_ok) {
        (Values::In(s), false) => vec![Constraint {
            absent_ok: true,
            values: Values::NotIn(s.clone()),
        }],
        (Values::NotIn(s), true) => {
            if s.is_empty() {
                Vec::new()
            } else {
                vec![Constraint {
                    absent_ok: false,
                    values: Values::In(s.clone()),
                }]
            }
        }
        (Values::NotIn(s), false) => {
            let mut out = vec![Constraint::does_not_exist()];
            if !s.is_empty() {
                out.push(Constraint {
                    absent_ok: false,
                    values: Values::In(s.clone()),
                });
            }
            out
        }
        (Values::In(s), true) => vec![Constraint {
            absent_ok: false,
            values: Values::NotIn(s.clone()),
        }],
    }
}

/// The pods of `p` that none of `units` selects, as selectors whose union is exactly that.
///
/// Where the units require values of a key (`app = "a"`, `app in (b, c)`), `p` is split by
/// that key's values first (one piece per value, one for every other value), so that a
/// namespace minus many services stays one piece per service rather than one per choice of a
/// requirement of each. Units that require no value are taken out by negating their
/// requirements one at a time.
pub(in crate::import) fn diff(p: &Sel, units: &[Sel]) -> Vec<Sel> {
    let units: Vec<&Sel> = units.iter().filter(|u| p.overlaps(u)).collect();
    if units.is_empty() {
        return vec![p.clone()];
    }
    if units.iter().any(|u| p.implies(u)) {
        return Vec::new();
    }
    // The key most units require values of, that `p` does not settle already.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for u in &units {
        for (k, c) in &u.keys {
            let open = p.keys.get(k).is_none_or(|pc| {
                let mut alone = Sel::all();
                alone.require(k, pc.clone());
                let mut theirs = Sel::all();
                theirs.require(k, c.clone());
                !alone.implies(&theirs)
            });
            if !c.absent_ok && matches!(c.values, Values::In(_)) && open {
                *counts.entry(k.as_str()).or_default() += 1;
            }
        }
    }
    let owned: Vec<Sel> = units.iter().map(|u| (*u).clone()).collect();
    if let Some((key, _)) = counts
        .iter()
        .max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k)))
    {
        let values: BTreeSet<String> = units
            .iter()
            .filter_map(|u| match u.keys.get(*key) {
                Some(Constraint {
                    absent_ok: false,
                    values: Values::In(s),
                }) => Some(s.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect();
        let mut out = Vec::new();
        for v in &values {
            let mut q = p.clone();
            q.require(key, Constraint::eq(v));
            if !q.is_unsat() {
                out.extend(diff(&q, &owned));
            }
        }
        let mut rest = p.clone();
        rest.require(key, Constraint::not_in(values.iter().map(String::as_str)));
        if !rest.is_unsat() {
            out.extend(diff(&pod_norm(rest), &owned));
        }
        return out;
    }
    let Some((first, others)) = owned.split_first() else {
        return vec![p.clone()];
    };
    let mut out = Vec::new();
    for (k, c) in &first.keys {
        for n in negations(c) {
            let mut q = p.clone();
            q.require(k, n);
            let q = pod_norm(q);
            if !q.is_unsat() {
                out.extend(diff(&q, others));
            }
        }
    }
    out
}

/// Drops unsatisfiable pieces and pieces another piece contains.
fn simplify(pieces: Vec<PodSet>) -> Vec<PodSet> {
    let pieces: Vec<PodSet> = pieces.into_iter().filter(|p| !p.is_unsat()).collect();
    let mut out: Vec<PodSet> = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let covered = pieces
            .iter()
            .enumerate()
            .any(|(j, q)| j != i && p.implies(q) && (!q.implies(p) || j < i));
        if !covered {
            out.push(p.clone());
        }
    }
    out
}
