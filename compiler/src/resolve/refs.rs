//! References: peers, ports and the connections and tests that use them.

use super::*;

impl<'a> Resolver<'a> {
    /// The set of pods a peer stands for, or `None` for an external.
    pub(super) fn pod_set_of(&self, kind: &PeerKind) -> Option<PodSet> {
        match kind {
            PeerKind::Service(i) => (self.services)(*i).map(Service::pod_set),
            _ => self.d.program.pod_set(kind),
        }
    }

    /// A short human name of a peer: `frontend`, `namespace shop`, `cluster`.
    pub(super) fn peer_name(&self, kind: &PeerKind) -> String {
        match kind {
            PeerKind::Service(i) => self
                .d
                .services
                .get(*i)
                .map(|h| h.name.clone())
                .unwrap_or_default(),
            _ => self.d.program.peer_name(kind),
        }
    }

    pub(super) fn pod_set(&mut self, set: &ast::PodSet) -> PodSet {
        match set {
            ast::PodSet::Pods {
                selector, scope, ..
            } => {
                let pods = self.selector(selector.as_ref());
                let ns = match scope {
                    ast::Scope::Namespace(n) => self.ns_ref(n),
                    ast::Scope::Namespaces { selector, .. } => {
                        NsScope::Selector(self.selector(selector.as_ref()))
                    }
                    ast::Scope::Cluster(_) => NsScope::all(),
                };
                PodSet { ns, pods }
            }
            ast::PodSet::Namespace { name, .. } => PodSet {
                ns: self.ns_ref(name),
                pods: Sel::all(),
            },
            ast::PodSet::Namespaces { selector, .. } => PodSet {
                ns: NsScope::Selector(self.selector(selector.as_ref())),
                pods: Sel::all(),
            },
        }
    }

    pub(super) fn ns_ref(&mut self, n: &ast::Name) -> NsScope {
        if !is_dns_label(&n.text) {
            self.err(invalid_name(n, "namespace"));
        }
        if self.d.program.namespaces.contains_key(&n.text) {
            self.out.references.push(Reference {
                span: n.span,
                def: Def::Namespace(n.text.clone()),
            });
        }
        NsScope::Named(n.text.clone())
    }

    pub(super) fn external_ref(&mut self, scope: &Scope, n: &ast::Name) -> Option<usize> {
        let key = self.peer_key(scope, &n.text);
        if let Some(key) = key.filter(|k| self.external_asts.contains_key(k)) {
            let i = self.external(&key)?;
            self.out.references.push(Reference {
                span: n.span,
                def: Def::External(i),
            });
            self.mark_used(&key);
            return Some(i);
        }
        self.err(
            Diagnostic::new(
                Code::UnknownName,
                n.span,
                format!("unknown external `{}`", n.text),
            )
            .label("not an external")
            .help_opt(did_you_mean(
                &n.text,
                self.external_asts
                    .keys()
                    .filter(|(s, _)| s == scope)
                    .map(|(_, n)| n.as_str()),
            )),
        );
        None
    }

    pub(super) fn peer(&mut self, p: &ast::Peer) -> Vec<Peer> {
        let span = p.span();
        match p {
            ast::Peer::Ref(n) => {
                let Some(key) = self.peer_key(&None, &n.text) else {
                    self.unknown_peer(n);
                    return Vec::new();
                };
                self.mark_used(&key);
                let kind = match self.d.peers.get(&key).map(|(e, _)| *e) {
                    Some(Entity::Service(i)) => Some(PeerKind::Service(i)),
                    Some(Entity::Group(i)) => Some(PeerKind::Group(i)),
                    Some(Entity::External(_)) | None => self.external(&key).map(PeerKind::External),
                };
                let Some(kind) = kind else { return Vec::new() };
                let def = match &kind {
                    PeerKind::Service(i) => Def::Service(*i),
                    PeerKind::Group(i) => Def::Group(*i),
                    PeerKind::External(i) => Def::External(*i),
                    PeerKind::Pods(_) => return Vec::new(),
                };
                self.out.references.push(Reference { span: n.span, def });
                vec![Peer { kind, span }]
            }
            ast::Peer::Set(set) => {
                let set = self.pod_set(set);
                vec![Peer {
                    kind: PeerKind::Pods(set),
                    span,
                }]
            }
            ast::Peer::Cluster(_) => vec![Peer {
                kind: PeerKind::Pods(PodSet {
                    ns: NsScope::all(),
                    pods: Sel::all(),
                }),
                span,
            }],
            ast::Peer::Services(_) => (0..self.d.services.len())
                .map(|i| Peer {
                    kind: PeerKind::Service(i),
                    span,
                })
                .collect(),
            ast::Peer::Narrowed { name, scope, .. } => {
                let Some(whole) = self.peer(&ast::Peer::Ref(name.clone())).pop() else {
                    return Vec::new();
                };
                let Some(set) = self.pod_set_of(&whole.kind) else {
                    self.err(
                        Diagnostic::new(
                            Code::WrongKind,
                            name.span,
                            format!("`{}` is an external: it has no namespace", name.text),
                        )
                        .label("only a service or a group can be narrowed to namespaces"),
                    );
                    return Vec::new();
                };
                let within = match scope {
                    ast::Scope::Namespace(n) => self.ns_ref(n),
                    ast::Scope::Namespaces { selector, .. } => {
                        NsScope::Selector(self.selector(selector.as_ref()))
                    }
                    ast::Scope::Cluster(_) => NsScope::all(),
                };
                let Some(ns) = narrow_ns(&set.ns, &within) else {
                    self.err(
                        Diagnostic::new(
                            Code::UnsatisfiableSelector,
                            span,
                            format!("no pod of `{}` is in these namespaces", name.text),
                        )
                        .label("narrowed to nothing")
                        .help(format!(
                            "`{}` is {}; to use its selector elsewhere, declare a group",
                            name.text,
                            self.peer_name(&whole.kind)
                        )),
                    );
                    return Vec::new();
                };
                // A service narrowed to its own namespace is the service.
                if let PeerKind::Service(_) = whole.kind
                    && ns == set.ns
                {
                    return vec![Peer {
                        kind: whole.kind,
                        span,
                    }];
                }
                vec![Peer {
                    kind: PeerKind::Pods(PodSet { ns, pods: set.pods }),
                    span,
                }]
            }
        }
    }

    pub(super) fn unknown_peer(&mut self, n: &ast::Name) {
        if self.d.program.namespaces.contains_key(&n.text) {
            self.err(
                Diagnostic::new(
                    Code::WrongKind,
                    n.span,
                    format!("`{}` is a namespace", n.text),
                )
                .label("a namespace, not a service, group or external")
                .help(format!(
                    "to mean every pod in it, write `namespace {}`",
                    n.text
                )),
            );
            return;
        }
        if self.d.program.ports.contains_key(&n.text) {
            self.err(
                Diagnostic::new(Code::WrongKind, n.span, format!("`{}` is a port", n.text))
                    .label("a port, not a service, group or external")
                    .help("ports follow a target after `:`"),
            );
            return;
        }
        let mut candidates: Vec<String> = self
            .d
            .peers
            .keys()
            .filter(|(s, _)| s.is_none())
            .map(|(_, n)| n.clone())
            .collect();
        candidates.extend(self.d.visible.keys().cloned());
        let mut d = Diagnostic::new(
            Code::UnknownName,
            n.span,
            format!("unknown name `{}`", n.text),
        )
        .label("no service, group or external has this name")
        .help_opt(did_you_mean(&n.text, candidates.iter().map(String::as_str)));
        if d.help.is_none()
            && let Some(hint) = std_hint(&n.text)
        {
            d = d.help(hint);
        }
        self.err(d);
    }

    pub(super) fn target_ports(&mut self, target: &Peer, t: &ast::Target) -> Vec<(PortSel, Span)> {
        let Some(items) = &t.ports else {
            self.err(
                Diagnostic::new(
                    Code::MissingPort,
                    t.span,
                    format!(
                        "connection to `{}` names no port",
                        self.peer_name(&target.kind)
                    ),
                )
                .label("add `:port`")
                .help("least privilege is explicit: write the ports, or `:*` for every port"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let protocol = item.protocol.map(|(p, _)| proto(p));
            match &item.kind {
                ast::PortItemKind::Any => {
                    out.push((protocol.map_or(PortSel::All, PortSel::AllOf), item.span))
                }
                ast::PortItemKind::Number(_) | ast::PortItemKind::Range(..) => {
                    let (a, b) = match &item.kind {
                        ast::PortItemKind::Range(a, b) => (*a, *b),
                        ast::PortItemKind::Number(n) => (*n, *n),
                        _ => continue,
                    };
                    if let Some((s, e)) = self.port_range(a, b, item.span) {
                        let protocol = protocol.unwrap_or(Protocol::Tcp);
                        out.push((
                            PortSel::Range(PortRange {
                                protocol,
                                start: s,
                                end: e,
                            }),
                            item.span,
                        ));
                    }
                }
                ast::PortItemKind::Name(name) => {
                    let at = (item.span, out.len());
                    for sel in self.named_port(target, name, protocol, at) {
                        out.push((sel, item.span));
                    }
                }
                ast::PortItemKind::PodPort(name) => {
                    if let Some(sel) = self.pod_port(target, name, protocol) {
                        out.push((sel, item.span));
                    }
                }
            }
        }
        out
    }

    /// `target:"name"`: a container port name carried to the output unresolved, so Kubernetes
    /// resolves it on each destination pod. It needs no workloads; it must be a valid
    /// container port name and the target must be pods.
    pub(super) fn pod_port(
        &mut self,
        target: &Peer,
        name: &ast::Str,
        protocol: Option<Protocol>,
    ) -> Option<PortSel> {
        if let PeerKind::External(_) = target.kind {
            self.err(
                Diagnostic::new(
                    Code::NamedPortOnExternal,
                    name.span,
                    format!("port name `{}` on an address block", name.value),
                )
                .label("an address block has no named ports")
                .help("write the number"),
            );
            return None;
        }
        if !crate::k8s::names::is_valid_port_name(&name.value) {
            self.err(
                Diagnostic::new(
                    Code::InvalidName,
                    name.span,
                    format!("`{}` cannot name a container port", name.value),
                )
                .label("not a container port name")
                .help("a container port name has at most 15 lowercase letters, digits and `-`, with at least one letter, and no `-` at either end or twice in a row"),
            );
            return None;
        }
        Some(PortSel::Named {
            protocol: protocol.unwrap_or(Protocol::Tcp),
            name: name.value.clone(),
        })
    }

    /// Resolves `target:name`: the service's own ports, then program-wide names; else a
    /// container port of the target's workloads, left to the checks (a [`ContainerPortRef`]
    /// for the port item at `at`: its span, and how many ports of the target come before it).
    pub(super) fn named_port(
        &mut self,
        target: &Peer,
        name: &ast::Name,
        protocol: Option<Protocol>,
        at: (Span, usize),
    ) -> Vec<PortSel> {
        let filter = |values: &[PortRange]| -> Vec<PortSel> {
            values
                .iter()
                .filter(|r| protocol.is_none_or(|p| p == r.protocol))
                .map(|r| PortSel::Range(*r))
                .collect()
        };
        let mut candidates: Vec<String> = Vec::new();
        if let PeerKind::Service(i) = &target.kind
            && let Some(svc) = (self.services)(*i)
        {
            if let Some(p) = svc.ports.iter().find(|p| p.name == name.text) {
                let sels = filter(&p.values);
                self.out.references.push(Reference {
                    span: name.span,
                    def: Def::ServicePort(*i, name.text.clone()),
                });
                return self.non_empty(sels, name, protocol);
            }
            candidates.extend(svc.ports.iter().map(|p| p.name.clone()));
        }
        if let Some(key) = self.port_key(&name.text) {
            self.mark_used(&key);
            let values = self
                .d
                .program
                .ports
                .get(&scoped_name(&key.0, &key.1))
                .map(|p| p.values.clone())
                .unwrap_or_default();
            self.out.references.push(Reference {
                span: name.span,
                def: Def::Port(name.text.clone()),
            });
            return self.non_empty(filter(&values), name, protocol);
        }
        candidates.extend(
            self.d
                .ports
                .keys()
                .filter(|(s, _)| s.is_none())
                .map(|(_, n)| n.clone()),
        );
        candidates.extend(
            self.d
                .visible
                .iter()
                .filter(|(n, m)| {
                    self.d
                        .ports
                        .contains_key(&(Some((*m).clone()), (*n).clone()))
                })
                .map(|(n, _)| n.clone()),
        );
        if let PeerKind::External(_) = target.kind {
            self.err(
                Diagnostic::new(
                    Code::NamedPortOnExternal,
                    name.span,
                    format!("unknown port `{}`", name.text),
                )
                .label("an address block has no named ports")
                .help_opt(did_you_mean(
                    &name.text,
                    candidates.iter().map(String::as_str),
                ))
                .help_opt(
                    Some(format!(
                        "declare it (`port {} = …`) or write the number",
                        name.text
                    ))
                    .filter(|_| {
                        did_you_mean(&name.text, candidates.iter().map(String::as_str)).is_none()
                    }),
                ),
            );
            return Vec::new();
        }
        // A container port of the target's workloads: the checks look it up.
        let selector_checked = match &target.kind {
            PeerKind::Service(_) => true,
            PeerKind::Group(i) => self
                .d
                .program
                .groups
                .get(*i)
                .is_some_and(|g| g.module.is_none()),
            PeerKind::External(_) | PeerKind::Pods(_) => false,
        };
        let (item_span, position) = at;
        self.container_ports.push(ContainerPortRef {
            target: target.clone(),
            position,
            item_span,
            name: name.text.clone(),
            name_span: name.span,
            protocol,
            pods: self.pod_set_of(&target.kind),
            target_name: self.peer_name(&target.kind),
            selector_checked,
            nearest_declared: suggest(&name.text, candidates.iter().map(String::as_str)),
        });
        Vec::new()
    }

    pub(super) fn non_empty(
        &mut self,
        sels: Vec<PortSel>,
        name: &ast::Name,
        protocol: Option<Protocol>,
    ) -> Vec<PortSel> {
        if sels.is_empty() {
            let p = protocol.map_or("tcp".to_string(), |p| p.to_string().to_lowercase());
            self.err(
                Diagnostic::new(
                    Code::UnknownPort,
                    name.span,
                    format!("port `{}` has no `{p}` value", name.text),
                )
                .label("filtered to nothing by the protocol"),
            );
        }
        sels
    }

    pub(super) fn connection(&mut self, c: &ast::Connection) {
        let mut sources = Vec::new();
        for p in &c.sources {
            sources.extend(self.peer(p));
        }
        for t in &c.targets {
            for target in self.peer(&t.peer) {
                let ports = self.target_ports(&target, t);
                for source in &sources {
                    self.out.connections.push(Conn {
                        span: c.span,
                        source: source.clone(),
                        target: target.clone(),
                        ports: ports.clone(),
                    });
                }
            }
        }
    }

    pub(super) fn test(&mut self, t: &ast::TestDecl) {
        let mut assertions = Vec::new();
        for a in &t.assertions {
            let froms = self.peer(&a.from);
            let tos = self.peer(&a.to.peer);
            for to in tos {
                let ports = self.target_ports(&to, &a.to);
                for from in &froms {
                    assertions.push(Assertion {
                        span: a.span,
                        expect_allowed: a.expect_allowed,
                        from: from.clone(),
                        to: to.clone(),
                        ports: ports.clone(),
                    });
                }
            }
        }
        self.out.tests.push(TestCase {
            name: t.name.value.clone(),
            span: t.span,
            assertions,
        });
    }
}

/// The namespaces in both scopes; `None` when there are none. A named namespace stays named
/// when the other scope is every namespace; otherwise the result is a selector (the name as
/// the `kubernetes.io/metadata.name` label), tested on the cluster.
pub(super) fn narrow_ns(a: &NsScope, b: &NsScope) -> Option<NsScope> {
    let as_sel = |s: &NsScope| match s {
        NsScope::Named(n) => {
            let mut sel = Sel::all();
            sel.require(
                crate::k8s::eval::NAMESPACE_NAME_LABEL,
                crate::k8s::selector::Constraint::eq(n),
            );
            sel
        }
        NsScope::Selector(s) => s.clone(),
    };
    let out = match (a, b) {
        (NsScope::Named(x), NsScope::Named(y)) => (x == y).then(|| a.clone())?,
        (NsScope::Named(_), NsScope::Selector(s)) if s.is_all() => a.clone(),
        (NsScope::Selector(s), NsScope::Named(_)) if s.is_all() => b.clone(),
        _ => NsScope::Selector(as_sel(a).and(&as_sel(b))),
    };
    match &out {
        NsScope::Selector(s) if s.is_unsat() => None,
        _ => Some(out),
    }
}

/// A hint for well-known names that live in the standard library.
pub(super) fn std_hint(name: &str) -> Option<String> {
    let module = match name {
        "kube-dns" | "node-local-dns" | "dns" => "dns",
        "internet" | "private" | "link-local" | "metadata" | "private-ipv4" | "private-ipv6" => {
            "net"
        }
        "apiserver" | "metrics-server" | "kubelet" => "k8s",
        "ingress-nginx" | "traefik" | "istio-ingressgateway" => "ingress",
        "prometheus" => "monitoring",
        _ => return None,
    };
    Some(format!(
        "`{name}` is in the standard library: add `use std::{module}`"
    ))
}
