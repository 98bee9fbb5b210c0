//! The normalised input: policies, rules, peers and the services that hold them, read from
//! the NetworkPolicy objects and the cluster's manifests.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::backend::ir::RulePort;
use crate::k8s::eval::{self, NAMESPACE_NAME_LABEL as NAME, Protocol};
use crate::k8s::selector::{Constraint, Sel, Values};
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::Dirs;

use super::Input;
use super::names::{is_name, sanitize, unique};

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
    /// Indexes built on first use, after [`Importer::declare`].
    pub(in crate::import) cache: super::plan::Cache,
}

impl Importer<'_> {
    /// The namespace labels the compiler sees for `ns`.
    pub(in crate::import) fn cl(&self, ns: &str) -> BTreeMap<String, String> {
        self.manifests.namespace_labels(ns)
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
