//! The program-wide lints: what one service's connections, taken together, allow or miss
//! (DNS, the internet beside the cluster, scrapes and ingress backends), services that
//! overlap, names never used, groups that span tenants; and the checks of the declarations
//! (groups' selectors, namespaces the manifests never mention).
//!
//! They read the program's [`Outline`], built from one small [`ItemOutline`] per item: the
//! database backdates an item's outline when an edit leaves it equal (a port number, a
//! selector written differently), and then runs none of the lints. The lints about services
//! run over one namespace's part of the outline at a time ([`namespace_lints`], see
//! [`super::parts`]); each finding carries a [`LintKey`] so that the parts' findings, merged,
//! come in the order of one pass over the whole program ([`lints_unsplit`]). None compares
//! every pair of anything: connections are looked up by source, overlapping services through
//! an [`OverlapIndex`] of their selectors, workloads by a label value a selector requires,
//! Ingresses by namespace and Services by name.

use super::{generated_label_check, selector_checks};
use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::Protocol;
use crate::k8s::selector::{OverlapIndex, Sel, required_values};
use crate::k8s::workloads::{IngressInfo, ServiceInfo, Workload, WorkloadIndex};
use crate::resolve::hir::*;
use crate::resolve::{ItemResolution, Used};
use crate::span::Span;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the lints read of a connection's ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConnFacts {
    /// Some port of it may be DNS (53/udp, a named port with `dns` in its name, …).
    pub reaches_dns: bool,
    /// All its ports are DNS (53, or a named port with `dns` in its name).
    pub only_dns: bool,
    /// It has any port (lowering gives a connection without ports no rule and no name).
    pub has_ports: bool,
}

impl ConnFacts {
    pub fn of(c: &Conn) -> ConnFacts {
        ConnFacts {
            reaches_dns: reaches_dns(&c.ports),
            only_dns: c.ports.iter().all(|(sel, _)| match sel {
                PortSel::Range(r) => r.start == 53 && r.end == 53,
                PortSel::Named { name, .. } => name.contains("dns"),
                _ => false,
            }),
            has_ports: !c.ports.is_empty(),
        }
    }
}

/// What the lints and policy naming read of one item: its service without its ports, its
/// connections without their ports (with their [`ConnFacts`]), the definitions it refers to
/// and the names it used. Equal across edits that change only ports, positions inside the
/// item, or how a selector is written.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ItemOutline {
    pub service: Option<Service>,
    pub connections: Vec<(Conn, ConnFacts)>,
    /// The definitions the item refers to, each once, in first-use order.
    pub refers_to: Vec<Def>,
    pub used: Used,
}

/// The outline of a resolved item whose connections (their container ports found) are
/// `connections`.
pub fn outline_item(r: &ItemResolution, connections: &[Conn]) -> ItemOutline {
    let mut refers_to: Vec<Def> = Vec::new();
    for reference in &r.program.references {
        if !refers_to.contains(&reference.def) {
            refers_to.push(reference.def.clone());
        }
    }
    ItemOutline {
        service: r.service.as_ref().map(|(_, s)| Service {
            ports: Vec::new(),
            ..s.clone()
        }),
        connections: connections
            .iter()
            .map(|c| {
                (
                    Conn {
                        ports: Vec::new(),
                        ..c.clone()
                    },
                    ConnFacts::of(c),
                )
            })
            .collect(),
        refers_to,
        used: r.used().clone(),
    }
}

/// The program as the lints and policy naming read it: the declarations, the services
/// without their ports, the connections without their ports (`facts` in the same order),
/// no tests and no references (`used` says which definitions are referred to).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outline {
    pub program: Program,
    pub facts: Vec<ConnFacts>,
    /// Every definition referred to (by the declarations or an item), each once.
    pub used: Vec<Def>,
    pub unused_imports: Vec<(String, Span)>,
}

/// Where a finding goes in the list of the lints: the lints run in this order (the kinds
/// below), each over the program's declarations or services in program order, so the
/// findings of the namespaces' parts, sorted by key, are the findings of one pass over the
/// whole program, in its order.
pub type LintKey = (u8, usize, usize);

/// Findings with their [`LintKey`].
pub type Found = Vec<(LintKey, Diagnostic)>;

const GROUP_SELECTORS: u8 = 0;
const NAMESPACES_NOT_IN_MANIFESTS: u8 = 1;
const NO_DNS: u8 = 2;
const INTERNET_AND_CLUSTER: u8 = 3;
const NEEDED_BY: u8 = 4;
const OVERLAP: u8 = 5;
const SERVICES_WITHOUT_CONNECTIONS: u8 = 6;
const UNUSED: u8 = 7;
const TENANTS: u8 = 8;
const CLUSTER_RANGES: u8 = 9;

/// The lints and the checks of the declarations, against the cluster's workloads by
/// namespace (the database's `namespace_index`, built once per cluster): the program's own
/// ([`program_lints`]) and each namespace part's ([`namespace_lints`]), merged.
pub fn lints(outline: &Outline, index: &WorkloadIndex<'_>) -> Vec<Diagnostic> {
    let parts = super::parts::split(outline, index.manifests());
    let found: Vec<Found> = parts
        .iter()
        .map(|part| namespace_lints(part, &outline.program, index))
        .collect();
    merge(
        &program_lints(outline, index),
        found.iter().map(Vec::as_slice),
    )
}

/// [`lints`] in one pass over the whole program, not split by namespace: what the split
/// must find (tests compare the two).
pub fn lints_unsplit(outline: &Outline, index: &WorkloadIndex<'_>) -> Vec<Diagnostic> {
    let p = &outline.program;
    let positions: Vec<usize> = (0..p.services.len()).collect();
    let scope = Scope::new(p, p.services.len(), &positions, &outline.facts);
    merge(
        &program_lints(outline, index),
        std::iter::once(scope.lints(index).as_slice()),
    )
}

/// The findings in the order of their keys (a stable sort: findings of one key keep the
/// order they were found in).
pub fn merge<'a>(
    program: &'a [(LintKey, Diagnostic)],
    parts: impl Iterator<Item = &'a [(LintKey, Diagnostic)]>,
) -> Vec<Diagnostic> {
    let mut all: Vec<&(LintKey, Diagnostic)> = program.iter().chain(parts.flatten()).collect();
    all.sort_by_key(|(key, _)| *key);
    all.into_iter().map(|(_, d)| d.clone()).collect()
}

/// The lints of one namespace's part: what its services' connections allow or miss, its
/// services that overlap, and those that nothing reaches.
pub fn namespace_lints(
    part: &super::parts::NamespacePart,
    declarations: &Program,
    index: &WorkloadIndex<'_>,
) -> Found {
    let p = super::parts::part_program(part, declarations);
    Scope::new(&p, part.own, &part.index, &part.facts).lints(index)
}

/// The lints that read the declarations and the whole program's uses of them: groups'
/// selectors, namespaces the manifests never mention, definitions never used, groups that
/// span tenants, externals that meet the cluster's ranges.
pub fn program_lints(outline: &Outline, index: &WorkloadIndex<'_>) -> Found {
    let p = &outline.program;
    let manifests = index.manifests();
    let mut found = Found::new();
    let mut keyed = |kind: u8, list: Vec<Diagnostic>| {
        found.extend(list.into_iter().enumerate().map(|(k, d)| ((kind, k, 0), d)));
    };
    let have_workloads = !manifests.workloads.is_empty() || !manifests.namespaces.is_empty();

    // Groups' selectors against the workloads of their namespace.
    let mut out = Vec::new();
    for g in p.groups.iter().filter(|g| g.module.is_none()) {
        if let NsScope::Named(ns) = &g.set.ns {
            selector_checks(
                &mut out,
                index,
                ns,
                &g.set.pods,
                g.name_span,
                &g.name,
                "group",
            );
        } else {
            generated_label_check(&mut out, &g.set.pods, g.name_span);
        }
    }
    keyed(GROUP_SELECTORS, out);

    // Namespaces the manifests never mention.
    let mut out = Vec::new();
    if have_workloads {
        for ns in p.namespaces.values() {
            if !index.mentions_namespace(&ns.name) {
                out.push(
                    Diagnostic::new(
                        Code::NamespaceNotInManifests,
                        ns.span,
                        format!("no workload manifest mentions namespace `{}`", ns.name),
                    )
                    .label("its selectors cannot be checked")
                    .help("add the namespace's manifests to `workloads`, or check the name"),
                );
            }
        }
    }
    keyed(NAMESPACES_NOT_IN_MANIFESTS, out);

    let mut out = Vec::new();
    unused_lints(&mut out, outline);
    keyed(UNUSED, out);
    let mut out = Vec::new();
    tenant_lint(&mut out, p);
    keyed(TENANTS, out);
    let mut out = Vec::new();
    super::cluster_ranges::lint(&mut out, p);
    keyed(CLUSTER_RANGES, out);
    found
}

/// A program (or a namespace's part of one) as the per-service lints read it: they lint
/// its first `own` services, the service at `i` being the program's `positions[i]`.
struct Scope<'p> {
    p: &'p Program,
    own: usize,
    positions: &'p [usize],
    sources: SourceIndex<'p>,
}

impl<'p> Scope<'p> {
    fn new(
        p: &'p Program,
        own: usize,
        positions: &'p [usize],
        facts: &'p [ConnFacts],
    ) -> Scope<'p> {
        Scope {
            p,
            own,
            positions,
            sources: SourceIndex::new(p, facts),
        }
    }

    /// The services to lint, with their position in the part.
    fn services(&self) -> impl Iterator<Item = (usize, &'p Service)> + 'p {
        self.p.services.iter().enumerate().take(self.own)
    }

    /// The key of a finding of lint `kind` about service `i` (and `j`) of the part.
    fn key(&self, kind: u8, i: usize, j: usize) -> LintKey {
        let at = |i: usize| self.positions.get(i).copied().unwrap_or(i);
        (kind, at(i), j)
    }

    fn lints(&self, index: &WorkloadIndex<'_>) -> Found {
        let mut found = Found::new();
        self.dns_lint(&mut found);
        self.internet_and_cluster_lint(&mut found);
        self.needed_by_lints(&mut found, index);
        self.overlap_lint(&mut found, index);
        self.services_without_connections(&mut found);
        found
    }
}

/// The connections by source, so that a lint about one service's egress looks at the
/// connections that may come from it rather than at all of them.
struct SourceIndex<'p> {
    connections: &'p [Conn],
    facts: &'p [ConnFacts],
    /// Indexes of the connections whose source is service `i`.
    by_service: Vec<Vec<usize>>,
    /// Indexes of the connections whose source is a group or pods written in place (any
    /// service may be in them).
    other: Vec<usize>,
}

impl<'p> SourceIndex<'p> {
    fn new(p: &'p Program, facts: &'p [ConnFacts]) -> SourceIndex<'p> {
        let mut by_service = vec![Vec::new(); p.services.len()];
        let mut other = Vec::new();
        for (k, c) in p.connections.iter().enumerate() {
            match &c.source.kind {
                PeerKind::Service(i) => {
                    if let Some(v) = by_service.get_mut(*i) {
                        v.push(k);
                    }
                }
                PeerKind::External(_) => {}
                _ => other.push(k),
            }
        }
        SourceIndex {
            connections: &p.connections,
            facts,
            by_service,
            other,
        }
    }

    /// The connections whose source is service `i` or may hold its pods, in program order,
    /// filtered by `covers`, with their facts.
    fn outgoing(
        &self,
        i: usize,
        covers: impl Fn(&PeerKind) -> bool,
    ) -> Vec<(&'p Conn, &'p ConnFacts)> {
        let mut ks: Vec<usize> = self
            .by_service
            .get(i)
            .into_iter()
            .flatten()
            .chain(self.other.iter())
            .copied()
            .collect();
        ks.sort_unstable();
        ks.into_iter()
            .filter_map(|k| self.connections.get(k).zip(self.facts.get(k)))
            .filter(|(c, _)| covers(&c.source.kind))
            .collect()
    }
}

/// W112: in a program that isolates several namespaces (tenants), a group used in a
/// connection that selects pods in every namespace: anyone who can label a pod in any tenant
/// namespace joins it.
fn tenant_lint(out: &mut Vec<Diagnostic>, p: &Program) {
    let isolated: Vec<&str> = p
        .namespaces
        .values()
        .filter(|n| n.isolate.any())
        .map(|n| n.name.as_str())
        .collect();
    if isolated.len() < 2 {
        return;
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &p.connections {
        for peer in [&c.source, &c.target] {
            let PeerKind::Group(i) = peer.kind else {
                continue;
            };
            let Some(g) = p.groups.get(i) else { continue };
            if g.set.ns != NsScope::all() || g.set.pods.is_all() || !seen.insert(i) {
                continue;
            }
            out.push(
                Diagnostic::new(
                    Code::GroupSpansTenants,
                    peer.span,
                    format!(
                        "group `{}` spans every namespace, and this program isolates {} \
                         namespaces",
                        g.name,
                        isolated.len()
                    ),
                )
                .label("a pod labelled like it in any namespace joins it")
                .help(format!(
                    "narrow it to the namespace it runs in: `{} in namespace <name>`",
                    g.name
                )),
            );
        }
    }
}

fn reaches_dns(ports: &[(PortSel, Span)]) -> bool {
    ports.iter().any(|(s, _)| match s {
        PortSel::All => true,
        PortSel::AllOf(p) => *p == Protocol::Udp,
        PortSel::Range(r) => r.protocol == Protocol::Udp && r.start <= 53 && 53 <= r.end,
        PortSel::Named { protocol, name } => *protocol == Protocol::Udp && name.contains("dns"),
    })
}

fn unused_lints(out: &mut Vec<Diagnostic>, outline: &Outline) {
    let p = &outline.program;
    let used: HashSet<&Def> = outline.used.iter().collect();
    let is_used = |d: Def| used.contains(&d);
    for (i, g) in p.groups.iter().enumerate() {
        if g.module.is_none() && !is_used(Def::Group(i)) {
            out.push(unused(g.name_span, "group", &g.name));
        }
    }
    for (i, e) in p.externals.iter().enumerate() {
        if e.module.is_none() && !is_used(Def::External(i)) {
            out.push(unused(e.name_span, "external", &e.name));
        }
    }
    for (name, def) in &p.ports {
        if def.module.is_none() && !is_used(Def::Port(name.clone())) {
            out.push(unused(def.span, "port", name));
        }
    }
    for (name, span) in &outline.unused_imports {
        out.push(
            Diagnostic::new(
                Code::Unused,
                *span,
                format!("`{name}` is imported but never used"),
            )
            .label("unused import")
            .help("remove it from the `use`"),
        );
    }
}

fn unused(span: Span, what: &str, name: &str) -> Diagnostic {
    Diagnostic::new(Code::Unused, span, format!("{what} `{name}` is never used"))
        .label("declared here")
        .help("use it in a connection, or remove it")
}

/// Does `kind` (a connection's peer) stand for every pod of service `i`?
fn covers_service(p: &Program, kind: &PeerKind, i: usize) -> bool {
    let Some(svc) = p.services.get(i) else {
        return false;
    };
    match kind {
        PeerKind::Service(j) => *j == i,
        other => p.pod_set(other).is_some_and(|set| {
            let ns_ok = match &set.ns {
                NsScope::Named(n) => *n == svc.namespace,
                NsScope::Selector(s) => s.is_all(),
            };
            ns_ok && svc.selector.implies(&set.pods)
        }),
    }
}

/// Well-known public addresses: an external holding one of them is "the internet".
const PUBLIC_PROBES: [&str; 2] = ["8.8.8.8", "2001:4860:4860::8888"];

impl Scope<'_> {
    /// W108: an egress-isolated service whose connections reach no DNS.
    fn dns_lint(&self, found: &mut Found) {
        let p = self.p;
        for (i, svc) in self.services() {
            if !svc.isolate.egress {
                continue;
            }
            let covers = |kind: &PeerKind| match kind {
                PeerKind::Service(j) => *j == i,
                other => p.pod_set(other).is_some_and(|set| {
                    let ns_ok = match &set.ns {
                        NsScope::Named(n) => *n == svc.namespace,
                        NsScope::Selector(_) => false,
                    };
                    ns_ok && svc.selector.implies(&set.pods)
                }),
            };
            let outgoing = self.sources.outgoing(i, covers);
            if outgoing.is_empty() || outgoing.iter().any(|(_, f)| f.reaches_dns) {
                continue;
            }
            found.push((self.key(NO_DNS, i, 0),
                Diagnostic::new(Code::NoDnsEgress, svc.name_span, format!("service `{}` cannot reach DNS", svc.name))
                    .label("egress-isolated, with no connection to port 53/udp")
                    .help(if p.namespace_isolation(&svc.namespace).egress {
                        format!("add `use std::dns` and `{} -> kube-dns:dns`", svc.name)
                    } else {
                        format!("add `use std::dns` and `{} -> kube-dns:dns`, or `isolate ingress` if its egress should stay open", svc.name)
                    })),
            );
        }
    }

    fn internet_and_cluster_lint(&self, found: &mut Found) {
        let p = self.p;
        let probes: Vec<std::net::IpAddr> = PUBLIC_PROBES
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        for (i, svc) in self.services() {
            if !svc.isolate.egress {
                continue;
            }
            let outgoing = self.sources.outgoing(i, |kind| covers_service(p, kind, i));
            let internet = outgoing.iter().find(|(c, _)| match &c.target.kind {
                PeerKind::External(e) => p
                    .externals
                    .get(*e)
                    .is_some_and(|ext| probes.iter().any(|ip| in_blocks(&ext.blocks, *ip))),
                _ => false,
            });
            let cluster = outgoing
                .iter()
                .find(|(c, f)| !matches!(c.target.kind, PeerKind::External(_)) && !f.only_dns);
            if let (Some((net, _)), Some((inside, _))) = (internet, cluster) {
                found.push((self.key(INTERNET_AND_CLUSTER, i, 0),
                    Diagnostic::new(
                        Code::InternetAndCluster,
                        svc.name_span,
                        format!("service `{}` reaches both the internet and pods of the cluster", svc.name),
                    )
                    .label("internet egress together with cluster access")
                    .secondary(net.target.span, "the internet")
                    .secondary(inside.target.span, "the cluster")
                    .help(format!(
                        "a compromised `{}` could send out what it reads inside; give the internet-facing part its own service, or route its egress through a proxy",
                        svc.name
                    ))),
                );
            }
        }
    }

    /// Services that an ingress controller or Prometheus needs to reach, by the manifests, when
    /// the program uses `std::ingress` or `std::monitoring`, and that no connection lets in.
    fn needed_by_lints(&self, found: &mut Found, index: &WorkloadIndex<'_>) {
        let p = self.p;
        let manifests = index.manifests();
        let module_groups = |m: &str| -> Vec<usize> {
            p.groups
                .iter()
                .enumerate()
                .filter(|(_, g)| g.module.as_deref() == Some(m))
                .map(|(i, _)| i)
                .collect()
        };
        let scrapers = module_groups("monitoring");
        let controllers = module_groups("ingress");
        if scrapers.is_empty() && controllers.is_empty() {
            return;
        }
        // The targets of the connections from these groups: services by index, and the other
        // peers (deduplicated), so that each service looks at a few peers, not every connection.
        let targets_of = |groups: &[usize]| {
            let mut services: HashSet<usize> = HashSet::new();
            let mut others: Vec<&PeerKind> = Vec::new();
            for c in &p.connections {
                if !matches!(c.source.kind, PeerKind::Group(g) if groups.contains(&g)) {
                    continue;
                }
                match &c.target.kind {
                    PeerKind::Service(j) => {
                        services.insert(*j);
                    }
                    PeerKind::External(_) => {}
                    other => {
                        if !others.contains(&other) {
                            others.push(other);
                        }
                    }
                }
            }
            (services, others)
        };
        let scraped = targets_of(&scrapers);
        let routed = targets_of(&controllers);
        let reached_from = |(services, others): &(HashSet<usize>, Vec<&PeerKind>), i: usize| {
            services.contains(&i) || others.iter().any(|k| covers_service(p, k, i))
        };
        // The Ingresses of each namespace (in manifest order) and the first Service of each
        // name: a service looks at the Ingresses of its own namespace only (their backends are
        // Services of that namespace, which select pods of that namespace).
        let mut ingresses: HashMap<&str, Vec<&IngressInfo>> = HashMap::new();
        for ing in &manifests.ingresses {
            ingresses
                .entry(ing.namespace.as_str())
                .or_default()
                .push(ing);
        }
        let mut backends: HashMap<(&str, &str), &ServiceInfo> = HashMap::new();
        for s in &manifests.services {
            backends
                .entry((s.namespace.as_str(), s.name.as_str()))
                .or_insert(s);
        }
        for (i, svc) in self.services() {
            if !svc.isolate.ingress {
                continue;
            }
            let pods: Vec<&Workload> = index
                .in_namespace(&svc.namespace)
                .filter(|w| svc.selector.matches(&w.labels))
                .collect();
            if !scrapers.is_empty()
                && !reached_from(&scraped, i)
                && let Some(w) = pods.iter().find(|w| {
                    w.annotations
                        .get("prometheus.io/scrape")
                        .is_some_and(|v| v == "true")
                })
            {
                let port = w
                    .annotations
                    .get("prometheus.io/port")
                    .cloned()
                    .unwrap_or_else(|| "<port>".to_string());
                found.push((
                    self.key(NEEDED_BY, i, 0),
                    Diagnostic::new(
                        Code::ScrapeNotAllowed,
                        svc.name_span,
                        format!(
                            "`{}` asks to be scraped, but no monitoring group may reach `{}`",
                            w.display(),
                            svc.name
                        ),
                    )
                    .label("`prometheus.io/scrape: \"true\"` on its pods")
                    .help(format!("add `prometheus -> {}:{port}`", svc.name)),
                ));
            }
            if !controllers.is_empty() && !reached_from(&routed, i) {
                let served = ingresses
                    .get(svc.namespace.as_str())
                    .into_iter()
                    .flatten()
                    .find_map(|ing| {
                        ing.backends.iter().find_map(|b| {
                            let s = backends.get(&(ing.namespace.as_str(), b.as_str()))?;
                            let selects = pods.iter().any(|w| {
                                w.namespace == s.namespace
                                    && s.selector.iter().all(|(k, v)| w.labels.get(k) == Some(v))
                            });
                            selects
                                .then(|| (ing.name.clone(), ing.namespace.clone(), s.name.clone()))
                        })
                    });
                if let Some((ingress, ns, backend)) = served {
                    found.push((self.key(NEEDED_BY, i, 1),
                        Diagnostic::new(
                            Code::IngressBackendNotAllowed,
                            svc.name_span,
                            format!("Ingress `{ns}/{ingress}` routes to `{}`, but no ingress controller group may reach it", svc.name),
                        )
                        .label(format!("behind Service `{backend}`"))
                        .help(format!("add a connection from your controller, such as `ingress-nginx -> {}:<port>`", svc.name))),
                    );
                }
            }
        }
    }

    /// W105: two services of one namespace that select the same pods (one selector implies
    /// the other, or a workload matches both). Each service is compared with the services
    /// whose selectors may overlap its own ([`OverlapIndex`]), not with every service of its
    /// namespace: two selectors that imply one another or match one workload overlap.
    fn overlap_lint(&self, found: &mut Found, index: &WorkloadIndex<'_>) {
        let p = self.p;
        // An empty selector comes from an error reported elsewhere.
        let degenerate = |s: &Sel| s.is_unsat() || s.is_all();
        let mut by_ns: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in self.services() {
            if !degenerate(&s.selector) {
                by_ns.entry(s.namespace.as_str()).or_default().push(i);
            }
        }
        let mut pairs: Vec<(LintKey, usize, usize)> = Vec::new();
        for (ns, members) in &by_ns {
            let services: Vec<&Service> =
                members.iter().filter_map(|i| p.services.get(*i)).collect();
            let candidates = OverlapIndex::new(services.iter().map(|s| &s.selector));
            let workloads: Vec<&Workload> = index.in_namespace(ns).collect();
            let matched = matched_workloads(&services, &workloads);
            for (y, b) in services.iter().enumerate() {
                for x in candidates.candidates(&b.selector) {
                    if x >= y {
                        break;
                    }
                    let Some(a) = services.get(x) else { continue };
                    let overlap = a.selector.implies(&b.selector)
                        || b.selector.implies(&a.selector)
                        || matched
                            .get(x)
                            .zip(matched.get(y))
                            .is_some_and(|(m, n)| !m.is_disjoint(n));
                    if let (true, Some(&i), Some(&j)) = (overlap, members.get(x), members.get(y)) {
                        let at = |i: usize| self.positions.get(i).copied().unwrap_or(i);
                        pairs.push(((OVERLAP, at(i), at(j)), i, j));
                    }
                }
            }
        }
        pairs.sort_unstable_by_key(|(key, _, _)| *key);
        for (key, i, j) in pairs {
            let (Some(a), Some(b)) = (p.services.get(i), p.services.get(j)) else {
                continue;
            };
            found.push((
                key,
                Diagnostic::new(
                    Code::OverlappingServices,
                    b.selector_span,
                    format!("services `{}` and `{}` select the same pods", a.name, b.name),
                )
                .label(format!("overlaps `{}`", a.name))
                .secondary(a.selector_span, format!("`{}` selects here", a.name))
                .help("a pod in both gets the union of their connections; make the selectors disjoint"),
            ));
        }
    }

    /// W107: an isolated service that no connection names or reaches.
    fn services_without_connections(&self, found: &mut Found) {
        let p = self.p;
        // Services a connection names, and the other pod sets connections stand for (deduplicated,
        // by the namespace they are in, or among those selecting namespaces), with the direction
        // they are used in: a service named nowhere is compared with the pod sets of its own
        // namespace only, not with every connection.
        let mut named: HashSet<usize> = HashSet::new();
        let mut sets: HashSet<(&PeerKind, bool)> = HashSet::new();
        for c in &p.connections {
            for (kind, as_source) in [(&c.source.kind, true), (&c.target.kind, false)] {
                if let PeerKind::Service(i) = kind {
                    named.insert(*i);
                }
                if !matches!(kind, PeerKind::External(_)) {
                    sets.insert((kind, as_source));
                }
            }
        }
        let mut sets_in: HashMap<String, Vec<(bool, PodSet)>> = HashMap::new();
        let mut sets_anywhere: Vec<(bool, PodSet)> = Vec::new();
        for (kind, as_source) in sets {
            let Some(set) = p.pod_set(kind) else { continue };
            match &set.ns {
                NsScope::Named(n) => sets_in.entry(n.clone()).or_default().push((as_source, set)),
                NsScope::Selector(_) => sets_anywhere.push((as_source, set)),
            }
        }
        for (i, svc) in self.services() {
            // Named, or reached through a set of pods that can hold some of its pods
            // (`namespace shop`, `pods { … } in cluster`); a namespace selector other than by
            // name may cover its namespace on the cluster, so it counts too.
            // Only in a direction it isolates: a set of pods as the source gives its egress-isolated
            // pods rules, as the target its ingress-isolated ones.
            let reaches = |set: &PodSet, as_source: bool| {
                let isolated = if as_source {
                    svc.isolate.egress
                } else {
                    svc.isolate.ingress
                };
                isolated
                    && match &set.ns {
                        NsScope::Named(n) => *n == svc.namespace,
                        NsScope::Selector(s) => {
                            s.keys
                                .keys()
                                .any(|k| k != crate::k8s::eval::NAMESPACE_NAME_LABEL)
                                || s.matches(&BTreeMap::from([(
                                    crate::k8s::eval::NAMESPACE_NAME_LABEL.to_string(),
                                    svc.namespace.clone(),
                                )]))
                        }
                    }
                    && set.pods.overlaps(&svc.selector)
            };
            let mentioned = named.contains(&i)
                || sets_in
                    .get(svc.namespace.as_str())
                    .into_iter()
                    .flatten()
                    .chain(&sets_anywhere)
                    .any(|(as_source, set)| reaches(set, *as_source));
            if !mentioned {
                found.push((
                    self.key(SERVICES_WITHOUT_CONNECTIONS, i, 0),
                    Diagnostic::new(
                        Code::ServiceWithoutConnections,
                        svc.name_span,
                        format!("service `{}` has no connections", svc.name),
                    )
                    .label("isolated, and nothing may reach it or leave it")
                    .help("add the connections it needs, or remove it"),
                ));
            }
        }
    }
}

/// The workloads (by position in `workloads`) that each service's selector matches, looked up
/// by a label value its selector requires rather than by testing every workload.
fn matched_workloads(services: &[&Service], workloads: &[&Workload]) -> Vec<HashSet<usize>> {
    let mut by_label: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (w, workload) in workloads.iter().enumerate() {
        for (k, v) in &workload.labels {
            by_label
                .entry((k.as_str(), v.as_str()))
                .or_default()
                .push(w);
        }
    }
    services
        .iter()
        .map(|s| {
            let required = s
                .selector
                .keys
                .iter()
                .find_map(|(k, c)| required_values(c).map(|v| (k, v)));
            let candidates: Vec<usize> = match required {
                Some((k, values)) => values
                    .iter()
                    .flat_map(|v| {
                        by_label
                            .get(&(k.as_str(), v.as_str()))
                            .into_iter()
                            .flatten()
                    })
                    .copied()
                    .collect(),
                None => (0..workloads.len()).collect(),
            };
            candidates
                .into_iter()
                .filter(|w| {
                    workloads
                        .get(*w)
                        .is_some_and(|workload| s.selector.matches(&workload.labels))
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::selector::testing::selectors;
    use crate::k8s::workloads::Manifests;
    use crate::span::FileId;

    /// The pairs of services (program positions) that overlap, by comparing every pair.
    fn every_pair(services: &[Service], workloads: &[&Workload]) -> Vec<(usize, usize)> {
        let matches = |s: &Service, w: &Workload| s.selector.matches(&w.labels);
        let degenerate = |s: &Sel| s.is_unsat() || s.is_all();
        let mut out = Vec::new();
        for (j, b) in services.iter().enumerate() {
            for (i, a) in services.iter().enumerate().take(j) {
                if degenerate(&a.selector) || degenerate(&b.selector) {
                    continue;
                }
                if a.selector.implies(&b.selector)
                    || b.selector.implies(&a.selector)
                    || workloads.iter().any(|w| matches(a, w) && matches(b, w))
                {
                    out.push((i, j));
                }
            }
        }
        out.sort_unstable();
        out
    }

    #[test]
    fn the_overlap_lint_finds_every_overlapping_pair() {
        // One namespace of services with every selector over two keys (each twice, so that
        // equal selectors meet too), and workloads with every labelling over those keys.
        let span = |k: usize| Span::new(FileId(0), k, k + 1);
        let services: Vec<Service> = selectors()
            .into_iter()
            .chain(selectors())
            .enumerate()
            .map(|(k, selector)| Service {
                name: format!("s{k}"),
                span: span(k),
                name_span: span(k),
                namespace: "shop".to_string(),
                selector,
                selector_span: span(k),
                ports: Vec::new(),
                isolate: Dirs::default(),
            })
            .collect();
        let values = [None, Some("x"), Some("y"), Some("z")];
        let mut manifests = Manifests::default();
        for a in values {
            for b in values {
                let labels = [("a", a), ("b", b)]
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.to_string(), v?.to_string())))
                    .collect();
                manifests.workloads.push(Workload {
                    span: span(0),
                    kind: "Deployment".to_string(),
                    name: format!("w{}", manifests.workloads.len()),
                    namespace: "shop".to_string(),
                    labels,
                    annotations: Default::default(),
                    ports: Vec::new(),
                });
            }
        }
        let workloads: Vec<&Workload> = manifests.workloads.iter().collect();
        for cluster in [&workloads[..], &[]] {
            let with = Manifests {
                workloads: cluster.iter().map(|w| (*w).clone()).collect(),
                ..Manifests::default()
            };
            let index_of = WorkloadIndex::new(&with);
            let p = Program {
                services: services.clone(),
                ..Program::default()
            };
            let positions: Vec<usize> = (0..services.len()).collect();
            let scope = Scope::new(&p, services.len(), &positions, &[]);
            let mut found = Found::new();
            scope.overlap_lint(&mut found, &index_of);
            let got: Vec<(usize, usize)> = found.iter().map(|((_, i, j), _)| (*i, *j)).collect();
            let want = every_pair(&services, cluster);
            assert!(want.len() > 100, "{}", want.len());
            assert_eq!(got.len(), want.len());
            assert!(got == want, "the pairs differ");
        }
        // And the workloads each selector matches, looked up by label, are those it matches.
        let refs: Vec<&Service> = services.iter().collect();
        let matched = matched_workloads(&refs, &workloads);
        for (s, m) in services.iter().zip(&matched) {
            let want: HashSet<usize> = (0..workloads.len())
                .filter(|w| s.selector.matches(&workloads[*w].labels))
                .collect();
            assert_eq!(*m, want, "{:?}", s.selector);
        }
    }
}
