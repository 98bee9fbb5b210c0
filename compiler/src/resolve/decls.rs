//! Declarations: namespaces, ports, services, groups and externals.

use super::*;

fn range_word(kind: ast::RangeKind) -> &'static str {
    match kind {
        ast::RangeKind::Pods => "pod",
        ast::RangeKind::Services => "service",
    }
}

impl<'a> Resolver<'a> {
    pub(super) fn namespace(&mut self, d: &ast::NamespaceDecl) {
        if let Some(prev) = self.d.program.namespaces.get(&d.name.text) {
            let prev = prev.span;
            self.err(
                Diagnostic::new(
                    Code::Duplicate,
                    d.name.span,
                    format!("namespace `{}` is declared twice", d.name.text),
                )
                .label("declared again here")
                .secondary(prev, "first declared here"),
            );
            return;
        }
        if !is_dns_label(&d.name.text) {
            self.err(invalid_name(&d.name, "namespace"));
        }
        let mut isolate = Dirs::default();
        for i in &d.isolate {
            isolate = isolate.union(dirs(i));
        }
        self.d.to_mut().program.namespaces.insert(
            d.name.text.clone(),
            NamespaceDef {
                name: d.name.text.clone(),
                span: d.name.span,
                isolate,
            },
        );
    }

    /// The `cluster` block: one per program, its ranges valid and apart from one another.
    pub(super) fn cluster(&mut self, d: &ast::ClusterDecl) {
        if let Some(prev) = &self.d.program.cluster {
            let prev = prev.span;
            self.err(
                Diagnostic::new(
                    Code::Duplicate,
                    d.keyword,
                    "the cluster's ranges are declared twice",
                )
                .label("declared again here")
                .secondary(prev, "first declared here")
                .help("a program has one `cluster` block: move these ranges into the first"),
            );
            return;
        }
        let mut def = ClusterDef {
            span: d.keyword,
            pods: Vec::new(),
            services: Vec::new(),
        };
        let mut seen: Vec<(IpNet, Span, ast::RangeKind)> = Vec::new();
        for stmt in &d.ranges {
            for s in &stmt.cidrs {
                let Some(net) = self.cidr(s) else { continue };
                if let IpNet::V6(v6) = net
                    && let Some(v4) = v6.network().to_ipv4_mapped()
                    && v6.prefix_len() >= 96
                {
                    let v4 = IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96)
                        .map_or_else(|_| v4.to_string(), |n| n.to_string());
                    self.err(
                        Diagnostic::new(
                            Code::InvalidCidr,
                            s.span,
                            format!("`{net}` is an IPv4-mapped IPv6 block"),
                        )
                        .label("Kubernetes reads these addresses as IPv4")
                        .help(format!("write the IPv4 block `{v4}`")),
                    );
                    continue;
                }
                let set = AddrSet::of_net(&net);
                if let Some((other, at, kind)) =
                    seen.iter().find(|(o, _, _)| AddrSet::of_net(o).meets(&set))
                {
                    let (other, at, kind) = (*other, *at, *kind);
                    self.err(
                        Diagnostic::new(
                            Code::ClusterRangesOverlap,
                            s.span,
                            format!("the cluster range `{net}` overlaps `{other}`"),
                        )
                        .label(format!("declared as a {} range", range_word(stmt.kind)))
                        .secondary(at, format!("the {} range `{other}`", range_word(kind)))
                        .help("every address of a cluster belongs to at most one range: list each once, in `pods` or in `services`"),
                    );
                    continue;
                }
                seen.push((net, s.span, stmt.kind));
                match stmt.kind {
                    ast::RangeKind::Pods => def.pods.push((net, s.span)),
                    ast::RangeKind::Services => def.services.push((net, s.span)),
                }
            }
        }
        self.d.to_mut().program.cluster = Some(def);
    }

    pub(super) fn port_decl(&mut self, scope: &Scope, d: &ast::PortDecl) {
        let key = (scope.clone(), d.name.text.clone());
        if let Some(prev) = self.d.ports.get(&key) {
            let prev = *prev;
            self.err(
                Diagnostic::new(
                    Code::Duplicate,
                    d.name.span,
                    format!("port `{}` is declared twice", d.name.text),
                )
                .label("declared again here")
                .secondary(prev, "first declared here"),
            );
            return;
        }
        if scope.is_none()
            && let Some(module) = self.d.visible.get(&d.name.text)
        {
            let module = module.clone();
            self.err(
                Diagnostic::new(
                    Code::Duplicate,
                    d.name.span,
                    format!(
                        "port `{}` is also imported from `std::{module}`",
                        d.name.text
                    ),
                )
                .label("declared here")
                .help("rename it, or leave it out of the `use`"),
            );
            return;
        }
        self.d.to_mut().ports.insert(key, d.name.span);
        let values = self.port_values(&d.values);
        let visible = match scope {
            None => Some(d.name.text.clone()),
            Some(m) => self
                .d
                .visible
                .get(&d.name.text)
                .filter(|vm| *vm == m)
                .map(|_| d.name.text.clone()),
        };
        let def = PortDef {
            name: d.name.text.clone(),
            span: d.name.span,
            values,
            module: scope.clone(),
        };
        let internal = scoped_name(scope, &d.name.text);
        self.d
            .to_mut()
            .program
            .ports
            .insert(internal.clone(), def.clone());
        if let (Some(v), Some(_)) = (visible, scope) {
            // Imported ports are visible under their plain name too.
            self.d.to_mut().program.ports.insert(v, def);
        }
    }

    /// Declares a service's name; its body is resolved with the items.
    pub(super) fn declare_service(&mut self, d: &ast::ServiceDecl) {
        let index = self.d.services.len();
        if self.declare_peer(&None, &d.name, Some(Entity::Service(index))) {
            self.d.to_mut().services.push(ServiceHead {
                name: d.name.text.clone(),
                name_span: d.name.span,
            });
        }
    }

    /// Resolves the body of a declared service.
    pub(super) fn service(&mut self, d: &ast::ServiceDecl) -> Service {
        if !is_dns_label(&d.name.text) {
            self.err(invalid_name(&d.name, "service"));
        }
        let ns_iso = match self.d.program.namespaces.get(&d.namespace.text) {
            Some(ns) => {
                let iso = ns.isolate;
                self.out.references.push(Reference {
                    span: d.namespace.span,
                    def: Def::Namespace(d.namespace.text.clone()),
                });
                iso
            }
            None => {
                let known: Vec<&str> = self
                    .d
                    .program
                    .namespaces
                    .keys()
                    .map(String::as_str)
                    .collect();
                let help = did_you_mean(&d.namespace.text, known.iter().copied())
                    .unwrap_or_else(|| format!("declare it: `namespace {}`", d.namespace.text));
                self.err(
                    Diagnostic::new(
                        Code::UnknownNamespace,
                        d.namespace.span,
                        format!("unknown namespace `{}`", d.namespace.text),
                    )
                    .label("no `namespace` declaration has this name")
                    .help(help),
                );
                Dirs::default()
            }
        };
        let selector_span = d.selects.first().map_or(d.name.span, |s| s.span);
        let mut selector = Sel::all();
        if d.selects.is_empty() && !d.broken {
            self.err(
                Diagnostic::new(
                    Code::MissingSelector,
                    d.name.span,
                    format!("service `{}` selects no pods", d.name.text),
                )
                .label("this service has no `select`")
                .help("add `select app = \"…\"` with the labels of its pods"),
            );
        }
        for s in &d.selects {
            selector = selector.and(&self.selector(Some(s)));
        }
        if d.selects.len() > 1 && selector.is_unsat() {
            self.err(
                Diagnostic::new(
                    Code::UnsatisfiableSelector,
                    selector_span,
                    format!("no pod can match the `select` lines of `{}`", d.name.text),
                )
                .label("these lines contradict each other"),
            );
        }
        let mut ports: Vec<PortDef> = Vec::new();
        for p in &d.ports {
            if let Some(prev) = ports.iter().find(|q| q.name == p.name.text) {
                let prev = prev.span;
                self.err(
                    Diagnostic::new(
                        Code::Duplicate,
                        p.name.span,
                        format!(
                            "port `{}` is declared twice in `{}`",
                            p.name.text, d.name.text
                        ),
                    )
                    .label("declared again here")
                    .secondary(prev, "first declared here"),
                );
                continue;
            }
            let values = self.port_values(&p.values);
            ports.push(PortDef {
                name: p.name.text.clone(),
                span: p.name.span,
                values,
                module: None,
            });
        }
        let own = if d.isolate.is_empty() {
            Dirs::BOTH
        } else {
            let mut own = Dirs::default();
            for i in &d.isolate {
                own = own.union(dirs(i));
            }
            // A statement that did not parse may hold the missing direction.
            if !own.contains(ns_iso) && !d.broken {
                let span = d.isolate.first().map_or(d.name.span, |i| i.span);
                self.err(
                    Diagnostic::new(
                        Code::NarrowsNamespaceIsolation,
                        span,
                        format!(
                            "service `{}` isolates {} but its namespace `{}` isolates {}",
                            d.name.text,
                            own.describe(),
                            d.namespace.text,
                            ns_iso.describe()
                        ),
                    )
                    .label("narrower than the namespace")
                    .help(format!(
                        "write `isolate {}`, or remove the line to isolate both",
                        own.union(ns_iso).describe()
                    )),
                );
            }
            own
        };
        Service {
            name: d.name.text.clone(),
            span: d.span,
            name_span: d.name.span,
            namespace: d.namespace.text.clone(),
            selector,
            selector_span,
            ports,
            isolate: own.union(ns_iso),
        }
    }

    pub(super) fn group(&mut self, scope: &Scope, d: &ast::GroupDecl) {
        let index = self.d.program.groups.len();
        if !self.declare_peer(scope, &d.name, Some(Entity::Group(index))) {
            return;
        }
        if !is_dns_label(&d.name.text) {
            self.err(invalid_name(&d.name, "group"));
        }
        let set = self.pod_set(&d.set);
        self.d.to_mut().program.groups.push(Group {
            name: d.name.text.clone(),
            span: d.span,
            name_span: d.name.span,
            set,
            module: scope.clone(),
        });
    }

    /// Resolves an external (and, recursively, the externals it names).
    pub(super) fn external(&mut self, key: &(Scope, String)) -> Option<usize> {
        if let Some(i) = self.d.external_index.get(key) {
            return Some(*i);
        }
        let d = *self.external_asts.get(key)?;
        if !self.resolving.insert(key.clone()) {
            self.err(
                Diagnostic::new(
                    Code::WrongKind,
                    d.name.span,
                    format!("external `{}` refers to itself", d.name.text),
                )
                .label("part of a cycle"),
            );
            return None;
        }
        let scope = key.0.clone();
        let mut blocks: Vec<IpBlock> = Vec::new();
        for item in &d.blocks {
            match item {
                ast::CidrItem::Cidr(s) => {
                    if let Some(net) = self.cidr(s) {
                        blocks.push(IpBlock {
                            cidr: net,
                            except: Vec::new(),
                        });
                    }
                }
                ast::CidrItem::Name(n) => {
                    if let Some(i) = self.external_ref(&scope, n)
                        && let Some(e) = self.d.program.externals.get(i)
                    {
                        blocks.extend(e.blocks.iter().cloned());
                    }
                }
            }
        }
        let mut excepts: Vec<(IpNet, Span)> = Vec::new();
        for item in &d.except {
            match item {
                ast::CidrItem::Cidr(s) => {
                    if let Some(net) = self.cidr(s) {
                        excepts.push((net, s.span));
                    }
                }
                ast::CidrItem::Name(n) => {
                    if let Some(i) = self.external_ref(&scope, n)
                        && let Some(e) = self.d.program.externals.get(i)
                    {
                        if e.blocks.iter().any(|b| !b.except.is_empty()) {
                            let name = e.name.clone();
                            self.err(
                                Diagnostic::new(
                                    Code::NestedExcept,
                                    n.span,
                                    format!(
                                        "`{name}` has an `except` of its own and cannot be excepted"
                                    ),
                                )
                                .label("used in an `except` list")
                                .help("list its blocks here instead"),
                            );
                        } else {
                            excepts.extend(e.blocks.iter().map(|b| (b.cidr, n.span)));
                        }
                    }
                }
            }
        }
        for (ex, span) in &excepts {
            let inside = blocks.iter().any(|b| b.cidr.contains(ex) && b.cidr != *ex);
            if !inside {
                self.err(
                    Diagnostic::new(
                        Code::ExceptOutsideBlock,
                        *span,
                        format!("`{ex}` is not inside any block of `{}`", d.name.text),
                    )
                    .label("outside every block")
                    .help(
                        "an `except` block must lie strictly inside one of the external's blocks",
                    ),
                );
            }
        }
        // Attach each except to the blocks it lies in; drop blocks an except covers.
        let mut final_blocks = Vec::new();
        for mut b in blocks {
            if excepts.iter().any(|(ex, _)| ex.contains(&b.cidr)) {
                continue;
            }
            for (ex, _) in &excepts {
                if b.cidr.contains(ex) && !b.except.contains(ex) {
                    b.except.push(*ex);
                }
            }
            b.except.sort();
            final_blocks.push(b);
        }
        final_blocks.sort();
        final_blocks.dedup();
        let index = self.d.program.externals.len();
        self.d.to_mut().program.externals.push(External {
            name: d.name.text.clone(),
            span: d.span,
            name_span: d.name.span,
            blocks: final_blocks,
            module: scope.clone(),
        });
        self.d
            .to_mut()
            .peers
            .insert(key.clone(), (Entity::External(index), d.name.span));
        self.d.to_mut().external_index.insert(key.clone(), index);
        self.resolving.remove(key);
        Some(index)
    }
}
