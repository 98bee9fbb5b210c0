//! `netpol import`: NetworkPolicy YAML in, a readable `.netpol` program out, whose compiled
//! policies allow exactly the connections that the imported ones allow.
//!
//! ## Why one rule is not one connection
//!
//! A NetworkPolicy rule speaks for one side of a connection: an egress rule lets the pods of
//! its policy open connections, and the destination's ingress still has to agree. A netpol
//! connection `A -> B:p` speaks for both sides: it yields an egress rule for A's isolated pods
//! *and* an ingress rule for B's. Writing every rule as a connection would widen the other end
//! whenever it is isolated too. So the importer writes, for a policy S:
//!
//! 1. an egress rule towards peers X as `S -> X':ports`, where X' is X without the pods that
//!    some unit of the program isolates for ingress;
//! 2. an ingress rule from peers Y as `Y' -> S:ports`, where Y' is Y without the pods that some
//!    unit isolates for egress;
//! 3. for an egress rule (S, X, Q) and an ingress rule (T, Y, R) whose pods meet at both ends,
//!    the connections that both rules admit: `S ∩ Y -> X ∩ T:Q ∩ R`.
//!
//! Every pod is then treated as Kubernetes treats it: a connection from an egress-isolated pod
//! to a pod that is not ingress-isolated needs an egress rule (1), the reverse needs an ingress
//! rule (2), and one between two isolated pods needs both (3).
//!
//! ## The compiler's view of namespaces
//!
//! The compiler decides which namespaces a `namespaces { … }` set covers from the namespace
//! labels the workloads declare (and `kubernetes.io/metadata.name`); peers themselves are
//! emitted as selectors and matched on the live cluster. The subtractions in (1) and (2) are
//! made in the compiler's view, which is exact on any cluster: a pod set the compiler does not
//! see covering a namespace gets no rule there, and the ingress (egress) rule it then carries
//! is the imported rule itself. Where (3) depends on labels of a namespace that holds isolated
//! pods, it is written so that the label test is made on the cluster where that is possible
//! (a condition on the destination's namespace can ride on the egress rule's peer, one on the
//! source's namespace on the ingress rule's peer). The one case that cannot be written, a
//! label condition on one namespace while the other end's namespace is seen as covered, is
//! decided in the compiler's view and reported in a note.
//!
//! The importer does no I/O and never panics.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::backend::ir::{RulePort, merge_ranges};
use crate::k8s::eval::{self, NAMESPACE_NAME_LABEL as NAME, Protocol};
use crate::k8s::selector::{Constraint, Sel, Values};
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::Dirs;
use crate::resolve::namespace_labels;
use crate::syntax::keywords;

mod read;
pub use read::{Input, Read, read};

/// What [`import`] produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The program, formatted.
    pub program: String,
    /// What could not be said exactly, or only under an assumption, one line each. The program
    /// carries each of them as a `// netpol import:` comment too.
    pub notes: Vec<String>,
    /// The NetworkPolicies read.
    pub policies: usize,
    /// The policies that are not imported, as `file:line:column: why`: invalid ones (an
    /// unknown field, a value the API server rejects) and those netpol cannot say exactly.
    /// The program holds every other policy; the command exits 1 when this is not empty.
    pub errors: Vec<String>,
    /// `namespace/name` of each valid policy that is not imported (an error says why).
    pub left_out: Vec<String>,
}

/// Imports NetworkPolicy YAML (`(file name, text)` pairs). `manifests` describe the cluster
/// (namespace labels, pods and their named ports) and `workloads` are the patterns they were
/// read from, written into the program's `workloads` line; both may be empty.
pub fn import(
    files: &[(String, String)],
    manifests: &Manifests,
    workloads: &[String],
) -> Result<Imported, String> {
    let read = read(files)?;
    let names: Vec<String> = files.iter().map(|(f, _)| f.clone()).collect();
    let mut imported = import_policies(&read.inputs, &names, read.notes, manifests, workloads);
    // Invalid policies count as read too.
    imported.policies += read.errors.len();
    let mut errors = read.errors;
    errors.append(&mut imported.errors);
    imported.errors = errors;
    Ok(imported)
}

/// Imports policies already read. `files` names the inputs in the program's header; `notes`
/// are carried into the result. A policy that netpol cannot say exactly is left out with an
/// error, and the rest is imported again without it (leaving a policy out changes which pods
/// are isolated), until every policy left is said exactly.
pub fn import_policies(
    inputs: &[Input],
    files: &[String],
    notes: Vec<String>,
    manifests: &Manifests,
    workloads: &[String],
) -> Imported {
    let mut kept: Vec<Input> = inputs.to_vec();
    let mut errors = Vec::new();
    let mut left_out = Vec::new();
    loop {
        let mut imp = Importer {
            manifests,
            pols: Vec::new(),
            services: Vec::new(),
            ns_isolation: BTreeMap::new(),
            namespaces: BTreeSet::new(),
            externals: Vec::new(),
            used: BTreeSet::new(),
            notes: notes.clone(),
            refused: BTreeMap::new(),
        };
        imp.read_policies(&kept);
        imp.declare();
        let mut sections = Vec::new();
        for index in 0..imp.pols.len() {
            sections.push(imp.policy_section(index));
        }
        let pairs = imp.pairs();
        if !imp.refused.is_empty() {
            let refused = std::mem::take(&mut imp.refused);
            let mut next = Vec::new();
            for (index, input) in kept.into_iter().enumerate() {
                match refused.get(&index) {
                    Some(why) => {
                        let id = imp.short(index);
                        left_out.push(id.clone());
                        errors.push(format!(
                            "{}:{}: NetworkPolicy `{id}` is not imported: {why}",
                            input.file, input.line
                        ));
                    }
                    None => next.push(input),
                }
            }
            kept = next;
            continue;
        }
        let text = imp.render(files, workloads, &errors, &sections, &pairs);
        let program = match crate::fmt::format(&text) {
            Ok(formatted) => formatted,
            Err(_) => text,
        };
        return Imported {
            program,
            notes: imp.notes,
            policies: inputs.len(),
            errors,
            left_out,
        };
    }
}

// ------------------------------------------------------------------ the normalised input

/// A set of pods: those matching `pods` in the namespaces whose labels match `ns`. A single
/// namespace is `ns = {kubernetes.io/metadata.name = N}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::import) struct PodSet {
    pub(in crate::import) ns: Sel,
    pub(in crate::import) pods: Sel,
}

impl PodSet {
    pub(in crate::import) fn named(ns: &str, pods: Sel) -> PodSet {
        PodSet {
            ns: named(ns),
            pods: pod_norm(pods),
        }
    }

    pub(in crate::import) fn cluster() -> PodSet {
        PodSet {
            ns: Sel::all(),
            pods: Sel::all(),
        }
    }

    pub(in crate::import) fn is_unsat(&self) -> bool {
        self.ns.is_unsat() || self.pods.is_unsat()
    }

    pub(in crate::import) fn implies(&self, other: &PodSet) -> bool {
        self.is_unsat() || (self.ns.implies(&other.ns) && self.pods.implies(&other.pods))
    }
}

/// An address block, normalised: no host bits, every `except` inside the block, none inside
/// another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::import) struct Block {
    pub(in crate::import) cidr: IpNet,
    pub(in crate::import) except: Vec<IpNet>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::import) enum Peer {
    Pods(PodSet),
    Block(Block),
    /// Every address (`0.0.0.0/0` and `::/0`), from an absent or empty `from`/`to`.
    Anywhere,
}

#[derive(Clone, Debug)]
pub(in crate::import) struct Rule {
    /// 1-based, as people count the rules of a policy.
    pub(in crate::import) number: usize,
    pub(in crate::import) peers: Vec<Peer>,
    /// An absent or empty peer list: every pod and every address.
    pub(in crate::import) every_peer: bool,
    /// `[RulePort::All]` for every port.
    pub(in crate::import) ports: Vec<RulePort>,
    /// Comments about what was dropped because it matches nothing.
    pub(in crate::import) comments: Vec<String>,
}

#[derive(Clone, Debug)]
pub(in crate::import) struct Pol {
    /// `namespace/name`.
    pub(in crate::import) id: String,
    pub(in crate::import) file: String,
    pub(in crate::import) ns: String,
    pub(in crate::import) set: PodSet,
    pub(in crate::import) dirs: Dirs,
    pub(in crate::import) ingress: Vec<Rule>,
    pub(in crate::import) egress: Vec<Rule>,
    /// The service that holds it; `None` for a policy of every pod of its namespace.
    pub(in crate::import) service: Option<usize>,
    /// Why it is not imported (it selects no pod or isolates nothing).
    pub(in crate::import) skipped: Option<String>,
    /// Comments on dropped rules.
    pub(in crate::import) comments: Vec<String>,
}

#[derive(Clone, Debug)]
pub(in crate::import) struct Service {
    pub(in crate::import) name: String,
    pub(in crate::import) ns: String,
    pub(in crate::import) sel: Sel,
    /// The directions the service says it isolates: its policy's, plus its namespace's.
    pub(in crate::import) isolate: Dirs,
    pub(in crate::import) policy: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::import) enum ExternalKind {
    Anywhere,
    Block(Block),
}

#[derive(Clone, Debug)]
pub(in crate::import) struct External {
    pub(in crate::import) name: String,
    pub(in crate::import) kind: ExternalKind,
}

/// A peer as written in a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::import) enum PeerRef {
    Service(usize),
    Pods(PodSet),
    External(usize),
}

/// One connection with the comments above it.
#[derive(Clone, Debug, Default)]
pub(in crate::import) struct Stmt {
    pub(in crate::import) comments: Vec<String>,
    /// For a one-sided line: (policy, ingress?, rule number) and the units its peers lost.
    pub(in crate::import) origin: Option<(usize, bool, usize)>,
    pub(in crate::import) removed: Vec<String>,
    /// For a line of both ends: the two rules, as in `origin`.
    pub(in crate::import) pair_of: Vec<(usize, bool, usize)>,
    pub(in crate::import) sources: Vec<PeerRef>,
    /// Targets with their ports, already written out.
    pub(in crate::import) targets: Vec<(PeerRef, String)>,
}

pub(in crate::import) struct Importer<'a> {
    pub(in crate::import) manifests: &'a Manifests,
    pub(in crate::import) pols: Vec<Pol>,
    pub(in crate::import) services: Vec<Service>,
    pub(in crate::import) ns_isolation: BTreeMap<String, Dirs>,
    /// Namespaces to declare: every namespace that holds an imported policy.
    pub(in crate::import) namespaces: BTreeSet<String>,
    pub(in crate::import) externals: Vec<External>,
    /// Names of the peer name set (services and externals).
    pub(in crate::import) used: BTreeSet<String>,
    pub(in crate::import) notes: Vec<String>,
    /// Policies (by index) that netpol cannot say exactly, and why; they are left out and
    /// the rest imported again.
    pub(in crate::import) refused: BTreeMap<usize, String>,
}

impl Importer<'_> {
    /// The namespace labels the compiler sees for `ns`.
    pub(in crate::import) fn cl(&self, ns: &str) -> BTreeMap<String, String> {
        namespace_labels(self.manifests, ns)
    }

    /// Leaves policy `index` out: netpol cannot say it exactly.
    pub(in crate::import) fn refuse(&mut self, index: usize, why: String) {
        self.refused.entry(index).or_insert(why);
    }

    fn note(&mut self, note: String) -> String {
        if !self.notes.contains(&note) {
            self.notes.push(note.clone());
        }
        format!("netpol import: {note}")
    }

    pub(in crate::import) fn read_policies(&mut self, inputs: &[Input]) {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (index, input) in inputs.iter().enumerate() {
            let p = &input.policy;
            let ns = eval::policy_namespace(p).to_string();
            let name = p.metadata.name.clone().unwrap_or_default();
            let id = format!("{ns}/{name}");
            *seen.entry(id.clone()).or_default() += 1;
            let dirs = {
                let t = eval::effective_policy_types(p);
                Dirs {
                    ingress: t.ingress,
                    egress: t.egress,
                }
            };
            let spec = p.spec.clone().unwrap_or_default();
            let mut comments = Vec::new();
            let mut skipped = None;
            let sel = match selector(spec.pod_selector.as_ref(), false) {
                Ok(sel) => sel,
                Err(why) => {
                    skipped = Some(format!("its podSelector matches no pod ({why})"));
                    Sel::all()
                }
            };
            if !is_name(&ns) {
                let why = format!(
                    "netpol cannot name its namespace `{ns}` (a name starts with a letter and \
                     is not a keyword)"
                );
                self.refuse(index, why.clone());
                skipped = Some(why);
            }
            if skipped.is_none()
                && let Err(key) = expressible(&sel)
            {
                let why = format!(
                    "its podSelector uses the label key `{key}`, which netpol cannot write (it \
                     is a keyword)"
                );
                self.refuse(index, why.clone());
                skipped = Some(why);
            }
            if skipped.is_none() && !dirs.any() {
                skipped = Some("its `policyTypes` names neither `Ingress` nor `Egress`".into());
            }
            if skipped.is_none() && !sel.is_all() && self.manifests.mentions_namespace(&ns) {
                let matches = self
                    .manifests
                    .in_namespace(&ns)
                    .any(|w| sel.matches(&w.labels));
                if !matches {
                    let why = format!(
                        "its podSelector matches no workload of namespace `{ns}` in the \
                         workloads, so netpol would reject the service (E014); import without \
                         `--workloads` to keep it"
                    );
                    self.refuse(index, why.clone());
                    skipped = Some(why);
                }
            }
            let mut ingress = Vec::new();
            let mut egress = Vec::new();
            if skipped.is_none() {
                if dirs.ingress {
                    for (i, r) in spec.ingress.iter().flatten().enumerate() {
                        let what = format!("ingress rule {}", i + 1);
                        match self.rule(
                            index,
                            i + 1,
                            r.from.as_deref(),
                            r.ports.as_deref(),
                            &ns,
                            &what,
                        ) {
                            Ok(rule) => ingress.push(rule),
                            Err(why) => comments.push(format!("{what} matches nothing: {why}")),
                        }
                    }
                } else if spec.ingress.as_ref().is_some_and(|r| !r.is_empty()) {
                    comments.push(
                        "its ingress rules are ignored: `policyTypes` does not list `Ingress`"
                            .into(),
                    );
                }
                if dirs.egress {
                    for (i, r) in spec.egress.iter().flatten().enumerate() {
                        let what = format!("egress rule {}", i + 1);
                        match self.rule(
                            index,
                            i + 1,
                            r.to.as_deref(),
                            r.ports.as_deref(),
                            &ns,
                            &what,
                        ) {
                            Ok(rule) => egress.push(rule),
                            Err(why) => comments.push(format!("{what} matches nothing: {why}")),
                        }
                    }
                } else if spec.egress.as_ref().is_some_and(|r| !r.is_empty()) {
                    comments.push(
                        "its egress rules are ignored: `policyTypes` does not list `Egress`".into(),
                    );
                }
            }
            // Comments name the file alone; the header has the paths as given.
            let file = input
                .file
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or_default()
                .to_string();
            self.pols.push(Pol {
                id,
                file,
                ns: ns.clone(),
                set: PodSet::named(&ns, sel),
                dirs,
                ingress,
                egress,
                service: None,
                skipped,
                comments,
            });
        }
        for (id, count) in seen {
            if count > 1 {
                self.note(format!(
                    "{count} policies are named `{id}`: all of them are imported, as if each \
                     had its own name (Kubernetes keeps only the one applied last)"
                ));
            }
        }
    }

    /// Normalises one rule; `Err` when it matches nothing.
    fn rule(
        &mut self,
        index: usize,
        number: usize,
        peers: Option<&[NetworkPolicyPeer]>,
        ports: Option<&[NetworkPolicyPort]>,
        ns: &str,
        what: &str,
    ) -> Result<Rule, String> {
        let mut comments = Vec::new();
        let (every_peer, peers) = match peers {
            None | Some([]) => (true, vec![Peer::Pods(PodSet::cluster()), Peer::Anywhere]),
            Some(list) => {
                let mut out = Vec::new();
                for (i, p) in list.iter().enumerate() {
                    match peer(p, ns) {
                        Ok(Peer::Pods(set)) => {
                            match expressible(&set.pods).and_then(|()| expressible(&set.ns)) {
                                Ok(()) => out.push(Peer::Pods(set)),
                                Err(key) => self.refuse(
                                    index,
                                    format!(
                                        "peer {} of its {what} uses the label key `{key}`, which \
                                         netpol cannot write (it is a keyword)",
                                        i + 1
                                    ),
                                ),
                            }
                        }
                        Ok(other) => out.push(other),
                        Err(why) => comments.push(format!("peer {} matches nothing: {why}", i + 1)),
                    }
                }
                if out.is_empty() {
                    return Err(comments.join("; "));
                }
                (false, out)
            }
        };
        let ports = match ports {
            None | Some([]) => vec![RulePort::All],
            Some(list) => {
                let mut out = Vec::new();
                for (i, p) in list.iter().enumerate() {
                    match port(p) {
                        Ok(p) => out.push(p),
                        Err(why) => comments.push(format!("port {} matches nothing: {why}", i + 1)),
                    }
                }
                if out.is_empty() {
                    return Err(comments.join("; "));
                }
                out
            }
        };
        Ok(Rule {
            number,
            peers,
            every_peer,
            ports,
            comments,
        })
    }

    /// Namespaces, services and their names.
    pub(in crate::import) fn declare(&mut self) {
        for p in &self.pols {
            self.namespaces.insert(p.ns.clone());
            if !is_name(&p.ns) {
                continue;
            }
            if p.skipped.is_none() && p.set.pods.is_all() {
                let d = self.ns_isolation.entry(p.ns.clone()).or_default();
                *d = d.union(p.dirs);
            }
        }
        // Base names; a policy name used in several namespaces gets the namespace added.
        let bases: Vec<Option<String>> = self
            .pols
            .iter()
            .map(|p| {
                (p.skipped.is_none() && !p.set.pods.is_all()).then(|| {
                    let name = p.id.split_once('/').map_or("", |(_, n)| n);
                    sanitize(name)
                })
            })
            .collect();
        let mut namespaces_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (p, base) in self.pols.iter().zip(&bases) {
            if let Some(b) = base {
                namespaces_of
                    .entry(b.as_str())
                    .or_default()
                    .insert(p.ns.as_str());
            }
        }
        let mut names = Vec::new();
        for (p, base) in self.pols.iter().zip(&bases) {
            let Some(b) = base else {
                names.push(None);
                continue;
            };
            let mut name = if namespaces_of.get(b.as_str()).is_some_and(|s| s.len() > 1) {
                sanitize(&format!("{b}-{}", p.ns))
            } else {
                b.clone()
            };
            // `default-deny` is the policy of an isolated namespace.
            if name == "default-deny" && self.ns_isolation.get(&p.ns).is_some_and(|d| d.any()) {
                name = "default-deny-policy".to_string();
            }
            names.push(Some(unique(name, &mut self.used)));
        }
        for (index, name) in names.into_iter().enumerate() {
            let Some(name) = name else { continue };
            let Some(p) = self.pols.get(index) else {
                continue;
            };
            let ns_dirs = self.ns_isolation.get(&p.ns).copied().unwrap_or_default();
            let service = Service {
                name,
                ns: p.ns.clone(),
                sel: p.set.pods.clone(),
                isolate: p.dirs.union(ns_dirs),
                policy: index,
            };
            let svc_index = self.services.len();
            self.services.push(service);
            if let Some(p) = self.pols.get_mut(index) {
                p.service = Some(svc_index);
            }
        }
    }

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

    /// `set` without the pods of the units isolated in that direction that the compiler sees
    /// it cover. Returns the pieces and the names of the units taken out.
    fn subtract(&self, set: &PodSet, ingress: bool) -> (Vec<PodSet>, Vec<String>) {
        let mut by_ns: BTreeMap<String, Vec<Sel>> = BTreeMap::new();
        let mut removed = Vec::new();
        for (ns, sel, name) in self.units(ingress) {
            if set.ns.matches(&self.cl(&ns)) && set.pods.overlaps(&sel) {
                let whole = by_ns.get(&ns).is_some_and(|s| s.iter().any(Sel::is_all));
                by_ns.entry(ns).or_default().push(sel);
                if !whole {
                    removed.push(name);
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

    pub(in crate::import) fn holder(&self, pol: &Pol) -> PeerRef {
        match pol.service {
            Some(s) => PeerRef::Service(s),
            None => PeerRef::Pods(pol.set.clone()),
        }
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
                    items.insert(match protocol {
                        Protocol::Tcp => quote(name),
                        p => format!("{}/{}", quote(name), p.as_str().to_lowercase()),
                    });
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
        let Some(pol) = self.pols.get(index).cloned() else {
            return Vec::new();
        };
        if pol.skipped.is_some() {
            return Vec::new();
        }
        let holder = self.holder(&pol);
        let short = self.short(index);
        let mut out = Vec::new();
        for rule in &pol.egress {
            let mut s = self.one_sided(&short, &holder, rule, false);
            s.origin = Some((index, false, rule.number));
            out.push(s);
        }
        for rule in &pol.ingress {
            let mut s = self.one_sided(&short, &holder, rule, true);
            s.origin = Some((index, true, rule.number));
            out.push(s);
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
        let pols = self.pols.clone();
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
        for (pe_i, e, x) in &egress {
            for (pi_i, i, y) in &ingress {
                let (Some(pe), Some(pi)) = (pols.get(*pe_i), pols.get(*pi_i)) else {
                    continue;
                };
                for mut s in self.pair(pe, *pe_i, e, x, pi, *pi_i, i, y) {
                    s.pair_of = vec![(*pe_i, false, e.number), (*pi_i, true, i.number)];
                    out.push(s);
                }
            }
        }
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
        let short_e = self.short(pe_i);
        let short_i = self.short(pi_i);
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
        match self
            .services
            .iter()
            .position(|s| PodSet::named(&s.ns, s.sel.clone()) == set)
        {
            Some(i) => PeerRef::Service(i),
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
                    .map(|w| quote(w))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        // Namespaces, with the policies that isolate every pod of them.
        for ns in &self.namespaces {
            for p in self.pols.iter().filter(|p| &p.ns == ns) {
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
        let paired: BTreeSet<(usize, bool, usize)> = pairs
            .iter()
            .filter(|s| self.stmt_text(s).is_some())
            .flat_map(|s| s.pair_of.iter().copied())
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
        let pair_lines: Vec<(&Stmt, Option<String>)> =
            pairs.iter().map(|s| (s, self.stmt_text(s))).collect();
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

fn dedup_push(into: &mut Vec<String>, more: Vec<String>) {
    for m in more {
        if !into.contains(&m) {
            into.push(m);
        }
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

// ------------------------------------------------------------------ selectors

/// The selector of one namespace.
pub(in crate::import) fn named(ns: &str) -> Sel {
    let mut s = Sel::all();
    s.require(NAME, Constraint::eq(ns));
    s
}

/// Drops requirements that every label set satisfies.
pub(in crate::import) fn pod_norm(mut s: Sel) -> Sel {
    s.keys.retain(|_, c| !is_trivial(c));
    s
}

fn is_trivial(c: &Constraint) -> bool {
    c.absent_ok && matches!(&c.values, Values::NotIn(v) if v.is_empty())
}

/// A namespace selector in canonical form: every namespace carries the name label, so its
/// presence is never in question (`NotIn` reads `!=`, `DoesNotExist` matches nothing).
pub(in crate::import) fn ns_norm(mut s: Sel) -> Sel {
    if let Some(c) = s.keys.get_mut(NAME) {
        c.absent_ok = matches!(c.values, Values::NotIn(_));
    }
    pod_norm(s)
}

/// The part of a namespace selector that is not about the name.
pub(in crate::import) fn cond_of(ns: &Sel) -> Sel {
    let mut s = ns.clone();
    s.keys.remove(NAME);
    s
}

/// Converts a Kubernetes selector (`None`: absent, which selects everything). `Err` when it
/// matches nothing: invalid as the API server sees it, or unsatisfiable.
pub(in crate::import) fn selector(
    sel: Option<&LabelSelector>,
    namespaces: bool,
) -> Result<Sel, String> {
    let Some(k8s) = sel else {
        return Ok(Sel::all());
    };
    let mut out = Sel::all();
    for (k, v) in k8s.match_labels.iter().flatten() {
        out.require(k, Constraint::eq(v));
    }
    for r in k8s.match_expressions.iter().flatten() {
        let values = r.values.iter().flatten().map(String::as_str);
        let c = match r.operator.as_str() {
            "In" => Constraint::is_in(values),
            "NotIn" => Constraint::not_in(values),
            "Exists" => Constraint::exists(),
            "DoesNotExist" => Constraint::does_not_exist(),
            other => return Err(format!("`{other}` is not a selector operator")),
        };
        out.require(&r.key, c);
    }
    if out.is_unsat() {
        return Err("no labels satisfy it".into());
    }
    // The evaluator's own validity test: a valid selector matches this witness (taken before
    // normalising, which drops requirements every namespace meets).
    if !out
        .witness()
        .is_some_and(|w| eval::selector_matches(k8s, &w))
    {
        return Err("the API server would reject it".into());
    }
    let out = if namespaces {
        ns_norm(out)
    } else {
        pod_norm(out)
    };
    if out.is_unsat() {
        return Err("no labels satisfy it".into());
    }
    Ok(out)
}

/// Label keys the grammar cannot write (`in` and `not` start a clause).
fn expressible(sel: &Sel) -> Result<(), String> {
    match sel.keys.keys().find(|k| *k == "in" || *k == "not") {
        Some(k) => Err(k.clone()),
        None => Ok(()),
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

pub(in crate::import) fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn values_text(s: &BTreeSet<String>) -> String {
    s.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")
}

/// A selector in netpol syntax (`{}` is the empty string).
pub(in crate::import) fn sel_text(sel: &Sel) -> String {
    let mut parts = Vec::new();
    for (k, c) in &sel.keys {
        match (&c.values, c.absent_ok) {
            (Values::In(s), false) if s.len() == 1 => {
                parts.push(format!("{k} = {}", values_text(s)));
            }
            (Values::In(s), false) => parts.push(format!("{k} in ({})", values_text(s))),
            (Values::In(s), true) if s.is_empty() => parts.push(format!("!{k}")),
            // Absent or one of the values: never built by the importer; a superset is safer
            // than nothing, and the tests would catch it.
            (Values::In(s), true) => parts.push(format!("{k} in ({})", values_text(s))),
            (Values::NotIn(s), true) if s.len() == 1 => {
                parts.push(format!("{k} != {}", values_text(s)));
            }
            (Values::NotIn(s), true) => parts.push(format!("{k} not in ({})", values_text(s))),
            (Values::NotIn(s), false) if s.is_empty() => parts.push(k.clone()),
            (Values::NotIn(s), false) if s.len() == 1 => {
                parts.push(format!("{k}, {k} != {}", values_text(s)));
            }
            (Values::NotIn(s), false) => {
                parts.push(format!("{k}, {k} not in ({})", values_text(s)));
            }
        }
    }
    parts.join(", ")
}

fn braces(sel: &Sel) -> String {
    let t = sel_text(sel);
    if t.is_empty() {
        "{}".into()
    } else {
        format!("{{ {t} }}")
    }
}

/// A pod set in netpol syntax.
pub(in crate::import) fn describe(set: &PodSet) -> String {
    let single = match set.ns.keys.get(NAME) {
        Some(Constraint {
            absent_ok: false,
            values: Values::In(s),
        }) if s.len() == 1 && set.ns.keys.len() == 1 => {
            s.iter().next().filter(|n| is_name(n)).cloned()
        }
        _ => None,
    };
    let scope = match (&single, set.ns.is_all()) {
        (Some(n), _) => format!("namespace {n}"),
        (None, true) => "cluster".to_string(),
        (None, false) => format!("namespaces {}", braces(&set.ns)),
    };
    if set.pods.is_all() {
        scope
    } else {
        format!("pods {} in {scope}", braces(&set.pods))
    }
}

// ------------------------------------------------------------------ peers and ports

fn peer(p: &NetworkPolicyPeer, ns: &str) -> Result<Peer, String> {
    match (&p.pod_selector, &p.namespace_selector, &p.ip_block) {
        (None, None, None) => Err("it has no selector and no ipBlock".into()),
        (None, None, Some(b)) => block(b).map(Peer::Block),
        (_, _, Some(_)) => Err("it has an ipBlock and a selector".into()),
        (pods, namespaces, None) => {
            let pods = selector(pods.as_ref(), false)
                .map_err(|e| format!("its podSelector matches no pod: {e}"))?;
            let ns = match namespaces {
                None => named(ns),
                Some(s) => selector(Some(s), true)
                    .map_err(|e| format!("its namespaceSelector matches no namespace: {e}"))?,
            };
            Ok(Peer::Pods(PodSet { ns, pods }))
        }
    }
}

pub(in crate::import) fn block(b: &IPBlock) -> Result<Block, String> {
    let cidr = IpNet::from_str(&b.cidr)
        .map_err(|_| format!("`{}` is not an address block", b.cidr))?
        .trunc();
    let mut except: Vec<IpNet> = Vec::new();
    for e in b.except.iter().flatten() {
        let net = IpNet::from_str(e)
            .map_err(|_| format!("its except `{e}` is not an address block"))?
            .trunc();
        if net.contains(&cidr) {
            return Err(format!("its except `{e}` covers the whole block"));
        }
        if cidr.contains(&net) {
            except.push(net);
        }
    }
    except.sort();
    except.dedup();
    let nested: Vec<IpNet> = except
        .iter()
        .filter(|e| except.iter().any(|f| f != *e && f.contains(*e)))
        .copied()
        .collect();
    except.retain(|e| !nested.contains(e));
    Ok(Block { cidr, except })
}

pub(in crate::import) fn port(p: &NetworkPolicyPort) -> Result<RulePort, String> {
    let protocol = match p.protocol.as_deref() {
        None => Protocol::Tcp,
        Some(t) => Protocol::parse_api(t)
            .ok_or_else(|| format!("protocol `{t}` is not `TCP`, `UDP` or `SCTP`"))?,
    };
    let valid = |n: i32| u16::try_from(n).ok().filter(|n| *n >= 1);
    match (&p.port, p.end_port) {
        (None, None) => Ok(RulePort::Range {
            protocol,
            start: 1,
            end: 65535,
        }),
        (None, Some(_)) => Err("`endPort` without `port`".into()),
        (Some(IntOrString::Int(n)), None) => valid(*n)
            .map(|n| RulePort::Range {
                protocol,
                start: n,
                end: n,
            })
            .ok_or_else(|| format!("port {n} is not 1 to 65535")),
        (Some(IntOrString::Int(a)), Some(b)) => match (valid(*a), valid(b)) {
            (Some(s), Some(e)) if s <= e => Ok(RulePort::Range {
                protocol,
                start: s,
                end: e,
            }),
            _ => Err(format!("{a}..{b} is not a port range")),
        },
        (Some(IntOrString::String(_)), Some(_)) => Err("`endPort` with a port name".into()),
        (Some(IntOrString::String(name)), None) => Ok(RulePort::Named {
            protocol,
            name: name.clone(),
        }),
    }
}

/// A namespace name netpol can write after `namespace`: it starts with a letter and is not a
/// reserved word (Kubernetes also allows a leading digit).
pub(in crate::import) fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic()) && !keywords::is_reserved(name)
}

pub(in crate::import) fn port_range_text(protocol: Protocol, start: u16, end: u16) -> String {
    let suffix = match protocol {
        Protocol::Tcp => String::new(),
        p => format!("/{}", p.as_str().to_lowercase()),
    };
    if start == 1 && end == 65535 {
        format!("*/{}", protocol.as_str().to_lowercase())
    } else if start == end {
        format!("{start}{suffix}")
    } else {
        format!("{start}..{end}{suffix}")
    }
}

// ------------------------------------------------------------------ names

/// A policy name as an RFC 1123 label that the grammar reads as a name.
pub(in crate::import) fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        let c = ch.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    let mut s = if trimmed.is_empty() {
        "policy".to_string()
    } else {
        trimmed.to_string()
    };
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s = format!("np-{s}");
    }
    if keywords::is_keyword(&s) {
        s.push_str("-policy");
    }
    truncate(&s, 63)
}

fn truncate(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    cut.trim_end_matches('-').to_string()
}

/// `base`, or `base-2`, `base-3`, … when taken.
pub(in crate::import) fn unique(base: String, used: &mut BTreeSet<String>) -> String {
    if used.insert(base.clone()) {
        return base;
    }
    let mut n = 2usize;
    loop {
        let suffix = format!("-{n}");
        let candidate = format!(
            "{}{suffix}",
            truncate(&base, 63usize.saturating_sub(suffix.len()))
        );
        if used.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        reason = "test code: a failure should stop the test"
    )]

    use super::*;

    #[test]
    fn negations_match_exactly_the_complement() {
        let cs = [
            Constraint::eq("a"),
            Constraint::is_in(["a", "b"]),
            Constraint::not_in(["a"]),
            Constraint::exists(),
            Constraint::does_not_exist(),
            Constraint::exists().clone(),
        ];
        let mut exists_not_a = Sel::all();
        exists_not_a.require("k", Constraint::exists());
        exists_not_a.require("k", Constraint::not_in(["a"]));
        let mut all: Vec<Constraint> = cs.to_vec();
        all.push(exists_not_a.keys["k"].clone());
        for c in &all {
            let negs = negations(c);
            for value in [None, Some("a"), Some("b"), Some("c")] {
                let matched = c.matches(value);
                let neg = negs.iter().any(|n| n.matches(value));
                assert_eq!(matched, !neg, "{c:?} on {value:?}");
            }
        }
    }

    #[test]
    fn diff_removes_exactly_the_units() {
        let sel = |pairs: &[(&str, Constraint)]| {
            let mut s = Sel::all();
            for (k, c) in pairs {
                s.require(k, c.clone());
            }
            s
        };
        let units: Vec<Sel> = (0..8)
            .map(|i| {
                sel(&[
                    ("app", Constraint::eq(&format!("a{i}"))),
                    ("tier", Constraint::eq(&format!("t{}", i % 3))),
                ])
            })
            .chain([
                sel(&[
                    ("role", Constraint::exists()),
                    ("app", Constraint::not_in(["a1"])),
                ]),
                sel(&[
                    ("canary", Constraint::does_not_exist()),
                    ("app", Constraint::is_in(["a2", "b"])),
                ]),
            ])
            .collect();
        let p = sel(&[("zone", Constraint::not_in(["z1"]))]);
        let pieces = diff(&p, &units);
        assert!(pieces.len() < 40, "{} pieces", pieces.len());
        let values = |k: &str| -> Vec<Option<String>> {
            let mut v: Vec<Option<String>> = (0..9).map(|i| Some(format!("{k}{i}"))).collect();
            v.extend([
                None,
                Some("b".into()),
                Some("t0".into()),
                Some("t1".into()),
                Some("z1".into()),
            ]);
            v
        };
        for app in values("a") {
            for tier in [None, Some("t0"), Some("t1"), Some("t2")] {
                for role in [None, Some("r")] {
                    for canary in [None, Some("c")] {
                        for zone in [None, Some("z1"), Some("z2")] {
                            let mut l = BTreeMap::new();
                            for (k, v) in [
                                ("app", app.as_deref()),
                                ("tier", tier),
                                ("role", role),
                                ("canary", canary),
                                ("zone", zone),
                            ] {
                                if let Some(v) = v {
                                    l.insert(k.to_string(), v.to_string());
                                }
                            }
                            let want = p.matches(&l) && !units.iter().any(|u| u.matches(&l));
                            let got = pieces.iter().any(|q| q.matches(&l));
                            assert_eq!(got, want, "{l:?}: {pieces:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn selectors_read_like_the_evaluator() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
                {"key": "canary", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        let s = selector(Some(&sel), false).unwrap();
        assert_eq!(sel_text(&s), "app = \"web\", !canary, tier != \"db\"");
        let bad: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["x"]}]
        }))
        .unwrap();
        assert!(selector(Some(&bad), false).is_err());
        let unknown: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchExpressions": [{"key": "tier", "operator": "in", "values": ["x"]}]
        }))
        .unwrap();
        assert!(selector(Some(&unknown), false).is_err());
    }

    #[test]
    fn names_are_labels_the_grammar_reads() {
        assert_eq!(sanitize("web-allow-all"), "web-allow-all");
        assert_eq!(sanitize("Allow_DNS.v2"), "allow-dns-v2");
        assert_eq!(sanitize("01-deny"), "np-01-deny");
        assert_eq!(sanitize("namespace"), "namespace-policy");
        assert_eq!(sanitize("---"), "policy");
        assert_eq!(sanitize(&"a".repeat(80)).len(), 63);
        let mut used = BTreeSet::new();
        assert_eq!(unique("a".into(), &mut used), "a");
        assert_eq!(unique("a".into(), &mut used), "a-2");
    }

    #[test]
    fn blocks_are_normalised() {
        let b: IPBlock = serde_json::from_value(serde_json::json!({
            "cidr": "10.0.0.9/8",
            "except": ["10.1.0.0/16", "10.1.2.0/24", "192.168.0.0/16", "::/0"]
        }))
        .unwrap();
        let b = block(&b).unwrap();
        assert_eq!(b.cidr.to_string(), "10.0.0.0/8");
        assert_eq!(
            b.except.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.1.0.0/16"]
        );
        let whole: IPBlock = serde_json::from_value(serde_json::json!({
            "cidr": "10.1.0.0/16", "except": ["10.0.0.0/8"]
        }))
        .unwrap();
        assert!(block(&whole).is_err());
    }

    #[test]
    fn ports_read_like_the_evaluator() {
        let p = |v: serde_json::Value| port(&serde_json::from_value(v).unwrap());
        assert_eq!(
            p(serde_json::json!({"port": 53, "protocol": "UDP"})).unwrap(),
            RulePort::Range {
                protocol: Protocol::Udp,
                start: 53,
                end: 53
            }
        );
        assert!(p(serde_json::json!({"port": 53, "protocol": "udp"})).is_err());
        assert!(p(serde_json::json!({"endPort": 53})).is_err());
        assert!(p(serde_json::json!({"port": 90, "endPort": 80})).is_err());
        assert!(p(serde_json::json!({"port": "http", "endPort": 80})).is_err());
        assert_eq!(port_range_text(Protocol::Udp, 1, 65535), "*/udp");
        assert_eq!(port_range_text(Protocol::Tcp, 80, 90), "80..90");
        assert_eq!(port_range_text(Protocol::Sctp, 7, 7), "7/sctp");
    }

    #[test]
    fn a_simple_policy_reads_as_one_service() {
        let yaml = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-allow, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 8080}]
"#;
        let out = import(
            &[("np.yaml".into(), yaml.into())],
            &Manifests::default(),
            &[],
        )
        .unwrap();
        assert!(out.notes.is_empty(), "{:?}", out.notes);
        assert!(
            out.program.contains("service api-allow in shop {"),
            "{}",
            out.program
        );
        assert!(
            out.program
                .contains("pods { app = \"web\" } in namespace shop -> api-allow:8080"),
            "{}",
            out.program
        );
    }

    #[test]
    fn lists_are_read_and_other_kinds_skipped() {
        let yaml = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicyList
items:
- metadata: {name: a, namespace: x}
  spec: {podSelector: {}}
---
apiVersion: v1
kind: List
items:
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: b}}
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: c}
"#;
        let Read {
            inputs,
            notes,
            errors,
        } = read(&[("l.yaml".into(), yaml.into())]).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<String> = inputs.iter().map(|i| eval::policy_id(&i.policy)).collect();
        assert_eq!(names, ["x/a", "default/b"]);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("skipped CiliumNetworkPolicy `c`"),
            "{notes:?}"
        );
    }

    #[test]
    fn input_without_policies_is_an_error() {
        let e = import(
            &[("d.yaml".into(), "kind: Deployment\n".into())],
            &Manifests::default(),
            &[],
        )
        .unwrap_err();
        assert!(e.contains("no NetworkPolicy in `d.yaml`"), "{e}");
        let e = import(
            &[("x.yaml".into(), "a: [\n".into())],
            &Manifests::default(),
            &[],
        )
        .unwrap_err();
        assert!(e.starts_with("`x.yaml` is not YAML"), "{e}");
    }
}
