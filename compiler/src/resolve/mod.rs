//! Name resolution: from the AST of every file (and the standard-library modules the program
//! imports) to the resolved [`Program`]. Reports unknown, duplicate and ill-formed names,
//! and everything that is wrong with a declaration on its own (label syntax, address
//! blocks, port numbers). Checks that need the workloads live in [`crate::check`].

pub mod hir;

use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::Protocol;
use crate::k8s::names::{did_you_mean, is_dns_label, label_key_problem, label_value_problem};
use crate::k8s::selector::{Constraint, Sel};
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::*;
use crate::span::{FileId, Span};
use crate::syntax::ast;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// One parsed file of the program.
pub struct FileAst<'a> {
    pub file: FileId,
    pub ast: &'a ast::SourceFile,
}

/// One standard-library module.
pub struct StdModule<'a> {
    pub name: &'a str,
    pub file: FileId,
    pub ast: &'a ast::SourceFile,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Resolved {
    pub program: Program,
    pub diagnostics: Vec<Diagnostic>,
    /// Which imported names (and whole-module imports) were used, for the unused lint.
    pub unused_imports: Vec<(String, Span)>,
}

pub fn proto(p: ast::Proto) -> Protocol {
    match p {
        ast::Proto::Tcp => Protocol::Tcp,
        ast::Proto::Udp => Protocol::Udp,
        ast::Proto::Sctp => Protocol::Sctp,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entity {
    Service(usize),
    Group(usize),
    External(usize),
}

/// A scope: the user's program (`None`) or one standard-library module.
type Scope = Option<String>;

struct Import {
    module: String,
    span: Span,
    used: bool,
}

struct Resolver<'a> {
    manifests: &'a Manifests,
    program: Program,
    diags: Vec<Diagnostic>,
    /// Peer names declared in each scope.
    peers: HashMap<(Scope, String), (Entity, Span)>,
    /// Port names declared in each scope.
    ports: HashMap<(Scope, String), Span>,
    /// Names the user's scope imports: visible name -> import.
    imports: BTreeMap<String, Import>,
    /// Imported names visible in the user's scope: name -> module.
    visible: BTreeMap<String, String>,
    /// Externals not yet resolved, by scope and name.
    external_asts: HashMap<(Scope, String), &'a ast::ExternalDecl>,
    resolving: BTreeSet<(Scope, String)>,
    external_index: HashMap<(Scope, String), usize>,
    used: BTreeSet<(Scope, String)>,
}

pub fn resolve(files: &[FileAst<'_>], std: &[StdModule<'_>], manifests: &Manifests) -> Resolved {
    let mut r = Resolver {
        manifests,
        program: Program::default(),
        diags: Vec::new(),
        peers: HashMap::new(),
        ports: HashMap::new(),
        imports: BTreeMap::new(),
        visible: BTreeMap::new(),
        external_asts: HashMap::new(),
        resolving: BTreeSet::new(),
        external_index: HashMap::new(),
        used: BTreeSet::new(),
    };

    // 1. Imports decide which standard-library modules take part.
    let mut loaded: BTreeSet<String> = BTreeSet::new();
    for f in files {
        for item in &f.ast.items {
            if let ast::Item::Use(u) = item {
                r.import(u, std, &mut loaded);
            }
        }
    }
    let mut scopes: Vec<(Scope, &ast::SourceFile)> = Vec::new();
    for m in std {
        if loaded.contains(m.name) {
            scopes.push((Some(m.name.to_string()), m.ast));
        }
    }
    for f in files {
        scopes.push((None, f.ast));
    }

    // 2. Declarations: namespaces and program-wide ports first, as others refer to them.
    for (scope, ast) in &scopes {
        for item in &ast.items {
            match item {
                ast::Item::Namespace(d) if scope.is_none() => r.namespace(d),
                ast::Item::Port(d) => r.port_decl(scope, d),
                _ => {}
            }
        }
    }
    for (scope, ast) in &scopes {
        for item in &ast.items {
            match item {
                ast::Item::Service(d) if scope.is_none() => r.service(d),
                ast::Item::Group(d) => r.group(scope, d),
                ast::Item::External(d) if r.declare_peer(scope, &d.name, None) => {
                    r.external_asts
                        .insert((scope.clone(), d.name.text.clone()), d);
                }
                _ => {}
            }
        }
    }
    let mut pending: Vec<(Scope, String)> = r.external_asts.keys().cloned().collect();
    pending.sort();
    for key in pending {
        r.external(&key);
    }

    // 3. Connections and tests, in the user's scope.
    for f in files {
        for item in &f.ast.items {
            match item {
                ast::Item::Connection(c) => r.connection(c),
                ast::Item::Test(t) => r.test(t),
                _ => {}
            }
        }
    }

    let unused_imports = r
        .imports
        .iter()
        .filter(|(_, i)| !i.used)
        .map(|(n, i)| (n.clone(), i.span))
        .collect();
    // Entities named `used` tracked in r.used; the checker reads references instead.
    Resolved {
        program: r.program,
        diagnostics: r.diags,
        unused_imports,
    }
}

impl<'a> Resolver<'a> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn import(&mut self, u: &ast::UseDecl, std: &[StdModule<'_>], loaded: &mut BTreeSet<String>) {
        let path: Vec<&str> = u.path.iter().map(|n| n.text.as_str()).collect();
        let Some(first) = u.path.first() else { return };
        if first.text != "std" {
            self.err(
                Diagnostic::new(
                    Code::UnknownModule,
                    first.span,
                    format!("unknown module `{}`", first.text),
                )
                .label("only `std` modules can be imported")
                .help(
                    "files of the program share one scope; standard-library modules are `std::…`",
                ),
            );
            return;
        }
        let Some(module_name) = u.path.get(1) else {
            self.err(
                Diagnostic::new(Code::UnknownModule, u.span, "`use std` needs a module name").help(
                    format!(
                        "the modules are {}",
                        std.iter()
                            .map(|m| format!("`std::{}`", m.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            );
            return;
        };
        let Some(module) = std.iter().find(|m| m.name == module_name.text) else {
            self.err(
                Diagnostic::new(
                    Code::UnknownModule,
                    module_name.span,
                    format!("the standard library has no module `{}`", module_name.text),
                )
                .label("unknown module")
                .help_opt(did_you_mean(&module_name.text, std.iter().map(|m| m.name)))
                .help_opt(
                    if did_you_mean(&module_name.text, std.iter().map(|m| m.name)).is_none() {
                        Some(format!(
                            "the modules are {}",
                            std.iter()
                                .map(|m| format!("`std::{}`", m.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    } else {
                        None
                    },
                ),
            );
            return;
        };
        let exported = module_names(module.ast);
        let mut wanted: Vec<(&str, Span)> = Vec::new();
        match (&u.names, path.len()) {
            (Some(list), 2) => wanted.extend(list.iter().map(|n| (n.text.as_str(), n.span))),
            (None, 2) => wanted.extend(exported.iter().map(|n| (n.as_str(), u.span))),
            (None, 3) => {
                if let Some(n) = u.path.get(2) {
                    wanted.push((n.text.as_str(), n.span));
                }
            }
            _ => {
                self.err(Diagnostic::new(
                    Code::UnknownModule,
                    u.span,
                    "a `use` path is `std::module`, `std::module::name` or `std::module::{a, b}`",
                ));
                return;
            }
        }
        loaded.insert(module.name.to_string());
        let whole = u.names.is_none() && path.len() == 2;
        for (name, span) in wanted {
            if !exported.iter().any(|e| e == name) {
                self.err(
                    Diagnostic::new(
                        Code::UnknownModule,
                        span,
                        format!("`std::{}` has no `{name}`", module.name),
                    )
                    .label("not in this module")
                    .help_opt(did_you_mean(name, exported.iter().map(String::as_str))),
                );
                continue;
            }
            let key = if whole {
                format!("std::{}", module.name)
            } else {
                name.to_string()
            };
            self.imports.entry(key).or_insert(Import {
                module: module.name.to_string(),
                span,
                used: false,
            });
            self.imports_visible_insert(name, module.name, span);
        }
    }

    /// Makes an imported name visible; two modules may not both provide one name.
    fn imports_visible_insert(&mut self, name: &str, module: &str, span: Span) {
        match self.visible.get(name) {
            Some(other) if other != module => {
                let other = other.clone();
                self.err(
                    Diagnostic::new(
                        Code::Duplicate,
                        span,
                        format!("`{name}` is imported from both `std::{other}` and `std::{module}`"),
                    )
                    .label("imported twice")
                    .help(format!("import it from one module only, e.g. `use std::{module}::{{…}}` without `{name}`")),
                );
            }
            Some(_) => {}
            None => {
                self.visible.insert(name.to_string(), module.to_string());
            }
        }
    }

    fn namespace(&mut self, d: &ast::NamespaceDecl) {
        if let Some(prev) = self.program.namespaces.get(&d.name.text) {
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
        self.program.namespaces.insert(
            d.name.text.clone(),
            NamespaceDef {
                name: d.name.text.clone(),
                span: d.name.span,
                isolate,
            },
        );
    }

    fn port_values(&mut self, values: &[ast::PortValue]) -> Vec<PortRange> {
        let mut out = Vec::new();
        for v in values {
            let protocol = v.protocol.map_or(Protocol::Tcp, |(p, _)| proto(p));
            if let Some((start, end)) = self.port_range(v.start, v.end.unwrap_or(v.start), v.span) {
                out.push(PortRange {
                    protocol,
                    start,
                    end,
                });
            }
        }
        out
    }

    /// Checks a port number or range; `None` (with a diagnostic) when it is invalid.
    fn port_range(&mut self, start: u64, end: u64, span: Span) -> Option<(u16, u16)> {
        for n in [start, end] {
            if !(1..=65535).contains(&n) {
                let shown = if n == u64::MAX {
                    "this number".to_string()
                } else {
                    format!("`{n}`")
                };
                self.err(
                    Diagnostic::new(
                        Code::PortOutOfRange,
                        span,
                        format!("port {shown} is out of range"),
                    )
                    .label("not a port")
                    .help("ports are numbers from 1 to 65535"),
                );
                return None;
            }
        }
        if end < start {
            self.err(
                Diagnostic::new(
                    Code::EmptyPortRange,
                    span,
                    format!("the port range `{start}..{end}` is empty"),
                )
                .label("the end is below the start")
                .help(format!("write `{end}..{start}`")),
            );
            return None;
        }
        Some((u16::try_from(start).ok()?, u16::try_from(end).ok()?))
    }

    fn port_decl(&mut self, scope: &Scope, d: &ast::PortDecl) {
        let key = (scope.clone(), d.name.text.clone());
        if let Some(prev) = self.ports.get(&key) {
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
            && let Some(module) = self.visible.get(&d.name.text)
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
        self.ports.insert(key, d.name.span);
        let values = self.port_values(&d.values);
        let visible = match scope {
            None => Some(d.name.text.clone()),
            Some(m) => self
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
        self.program.ports.insert(internal.clone(), def.clone());
        if let (Some(v), Some(_)) = (visible, scope) {
            // Imported ports are visible under their plain name too.
            self.program.ports.insert(v, def);
        }
    }

    /// Registers a peer name; false (with a diagnostic) when it is taken.
    fn declare_peer(&mut self, scope: &Scope, name: &ast::Name, entity: Option<Entity>) -> bool {
        let key = (scope.clone(), name.text.clone());
        if let Some((_, prev)) = self.peers.get(&key) {
            let prev = *prev;
            self.err(
                Diagnostic::new(
                    Code::Duplicate,
                    name.span,
                    format!("`{}` is declared twice", name.text),
                )
                .label("declared again here")
                .secondary(prev, "first declared here")
                .help("services, groups and externals share one set of names"),
            );
            return false;
        }
        if scope.is_none()
            && let Some(module) = self.visible.get(&name.text)
        {
            let module = module.clone();
            self.err(
                Diagnostic::new(
                    Code::Duplicate,
                    name.span,
                    format!("`{}` is also imported from `std::{module}`", name.text),
                )
                .label("declared here")
                .help("rename it, or leave it out of the `use`"),
            );
            return false;
        }
        self.peers.insert(
            key,
            (entity.unwrap_or(Entity::External(usize::MAX)), name.span),
        );
        true
    }

    fn selector(&mut self, sel: Option<&ast::Selector>) -> Sel {
        let mut out = Sel::all();
        let Some(sel) = sel else { return out };
        for req in &sel.requirements {
            if let Some(problem) = label_key_problem(&req.key.value) {
                self.err(
                    Diagnostic::new(
                        Code::InvalidLabelKey,
                        req.key.span,
                        format!("invalid label key `{}`", req.key.value),
                    )
                    .label("Kubernetes rejects this key")
                    .help(problem),
                );
                continue;
            }
            let values: Vec<&ast::Str> = match &req.op {
                ast::ReqOp::Eq(v) | ast::ReqOp::Ne(v) => vec![v],
                ast::ReqOp::In(vs) | ast::ReqOp::NotIn(vs) => vs.iter().collect(),
                _ => Vec::new(),
            };
            let mut ok = true;
            for v in &values {
                if let Some(problem) = label_value_problem(&v.value) {
                    ok = false;
                    self.err(
                        Diagnostic::new(
                            Code::InvalidLabelValue,
                            v.span,
                            format!("invalid label value `{}`", v.value),
                        )
                        .label("Kubernetes rejects this value")
                        .help(problem),
                    );
                }
            }
            if !ok {
                continue;
            }
            if matches!(req.op, ast::ReqOp::In(_)) && values.is_empty() {
                self.err(
                    Diagnostic::new(
                        Code::UnsatisfiableSelector,
                        req.span,
                        format!("`{} in ()` matches no pod", req.key.value),
                    )
                    .label("an empty set of values")
                    .help("list at least one value"),
                );
                continue;
            }
            let c = match &req.op {
                ast::ReqOp::Eq(v) => Constraint::eq(&v.value),
                ast::ReqOp::Ne(v) => Constraint::not_in([v.value.as_str()]),
                ast::ReqOp::In(vs) => Constraint::is_in(vs.iter().map(|v| v.value.as_str())),
                ast::ReqOp::NotIn(vs) => Constraint::not_in(vs.iter().map(|v| v.value.as_str())),
                ast::ReqOp::Exists => Constraint::exists(),
                ast::ReqOp::NotExists => Constraint::does_not_exist(),
            };
            out.require(&req.key.value, c);
        }
        if out.is_unsat() {
            self.err(
                Diagnostic::new(
                    Code::UnsatisfiableSelector,
                    sel.span,
                    "no pod can match this selector",
                )
                .label("these requirements contradict each other"),
            );
        }
        out
    }

    fn service(&mut self, d: &ast::ServiceDecl) {
        let index = self.program.services.len();
        if !self.declare_peer(&None, &d.name, Some(Entity::Service(index))) {
            return;
        }
        if !is_dns_label(&d.name.text) {
            self.err(invalid_name(&d.name, "service"));
        }
        let ns_iso = match self.program.namespaces.get(&d.namespace.text) {
            Some(ns) => {
                let iso = ns.isolate;
                self.program.references.push(Reference {
                    span: d.namespace.span,
                    def: Def::Namespace(d.namespace.text.clone()),
                });
                iso
            }
            None => {
                let known: Vec<&str> = self.program.namespaces.keys().map(String::as_str).collect();
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
            if !own.contains(ns_iso) {
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
        self.program.services.push(Service {
            name: d.name.text.clone(),
            span: d.span,
            name_span: d.name.span,
            namespace: d.namespace.text.clone(),
            selector,
            selector_span,
            ports,
            isolate: own.union(ns_iso),
        });
    }

    fn pod_set(&mut self, set: &ast::PodSet) -> PodSet {
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

    fn ns_ref(&mut self, n: &ast::Name) -> NsScope {
        if !is_dns_label(&n.text) {
            self.err(invalid_name(n, "namespace"));
        }
        if self.program.namespaces.contains_key(&n.text) {
            self.program.references.push(Reference {
                span: n.span,
                def: Def::Namespace(n.text.clone()),
            });
        }
        NsScope::Named(n.text.clone())
    }

    fn group(&mut self, scope: &Scope, d: &ast::GroupDecl) {
        let index = self.program.groups.len();
        if !self.declare_peer(scope, &d.name, Some(Entity::Group(index))) {
            return;
        }
        if !is_dns_label(&d.name.text) {
            self.err(invalid_name(&d.name, "group"));
        }
        let set = self.pod_set(&d.set);
        self.program.groups.push(Group {
            name: d.name.text.clone(),
            span: d.span,
            name_span: d.name.span,
            set,
            module: scope.clone(),
        });
    }

    /// Resolves an external (and, recursively, the externals it names).
    fn external(&mut self, key: &(Scope, String)) -> Option<usize> {
        if let Some(i) = self.external_index.get(key) {
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
                        && let Some(e) = self.program.externals.get(i)
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
                        && let Some(e) = self.program.externals.get(i)
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
        let index = self.program.externals.len();
        self.program.externals.push(External {
            name: d.name.text.clone(),
            span: d.span,
            name_span: d.name.span,
            blocks: final_blocks,
            module: scope.clone(),
        });
        self.peers
            .insert(key.clone(), (Entity::External(index), d.name.span));
        self.external_index.insert(key.clone(), index);
        self.resolving.remove(key);
        Some(index)
    }

    fn external_ref(&mut self, scope: &Scope, n: &ast::Name) -> Option<usize> {
        let key = self.peer_key(scope, &n.text);
        if let Some(key) = key.filter(|k| self.external_asts.contains_key(k)) {
            let i = self.external(&key)?;
            self.program.references.push(Reference {
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

    fn cidr(&mut self, s: &ast::Str) -> Option<IpNet> {
        let text = s.value.as_str();
        let parsed = if text.contains('/') {
            text.parse::<IpNet>().ok()
        } else {
            text.parse::<IpAddr>().ok().map(IpNet::from)
        };
        match parsed {
            None => {
                self.err(
                    Diagnostic::new(
                        Code::InvalidCidr,
                        s.span,
                        format!("`{text}` is not an address block"),
                    )
                    .label("not an IPv4 or IPv6 CIDR")
                    .help("write an address block such as `203.0.113.0/24` or `2001:db8::/32`"),
                );
                None
            }
            Some(net) if net.trunc() != net => {
                self.err(
                    Diagnostic::new(
                        Code::InvalidCidr,
                        s.span,
                        format!("`{text}` has host bits set"),
                    )
                    .label("bits beyond the prefix are not zero")
                    .help(format!("did you mean `{}`?", net.trunc())),
                );
                None
            }
            Some(net) => Some(net),
        }
    }

    /// The declaration key a name refers to from `scope`: the scope's own names first, then
    /// (for the user's scope) imported names.
    fn peer_key(&self, scope: &Scope, name: &str) -> Option<(Scope, String)> {
        let own = (scope.clone(), name.to_string());
        if self.peers.contains_key(&own) || self.external_asts.contains_key(&own) {
            return Some(own);
        }
        if scope.is_none()
            && let Some(m) = self.visible.get(name)
        {
            return Some((Some(m.clone()), name.to_string()));
        }
        None
    }

    fn mark_used(&mut self, key: &(Scope, String)) {
        if let (Some(module), name) = key {
            let whole = format!("std::{module}");
            for k in [name.clone(), whole] {
                if let Some(i) = self.imports.get_mut(&k)
                    && i.module == *module
                {
                    i.used = true;
                }
            }
        }
        self.used.insert(key.clone());
    }

    fn peer(&mut self, p: &ast::Peer) -> Vec<Peer> {
        let span = p.span();
        match p {
            ast::Peer::Ref(n) => {
                let Some(key) = self.peer_key(&None, &n.text) else {
                    self.unknown_peer(n);
                    return Vec::new();
                };
                self.mark_used(&key);
                let kind = match self.peers.get(&key).map(|(e, _)| *e) {
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
                self.program
                    .references
                    .push(Reference { span: n.span, def });
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
            ast::Peer::Services(_) => (0..self.program.services.len())
                .map(|i| Peer {
                    kind: PeerKind::Service(i),
                    span,
                })
                .collect(),
            ast::Peer::Narrowed { name, scope, .. } => {
                let Some(whole) = self.peer(&ast::Peer::Ref(name.clone())).pop() else {
                    return Vec::new();
                };
                let Some(set) = self.program.pod_set(&whole.kind) else {
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
                            self.program.peer_name(&whole.kind)
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

    fn unknown_peer(&mut self, n: &ast::Name) {
        if self.program.namespaces.contains_key(&n.text) {
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
        if self.program.ports.contains_key(&n.text) {
            self.err(
                Diagnostic::new(Code::WrongKind, n.span, format!("`{}` is a port", n.text))
                    .label("a port, not a service, group or external")
                    .help("ports follow a target after `:`"),
            );
            return;
        }
        let mut candidates: Vec<String> = self
            .peers
            .keys()
            .filter(|(s, _)| s.is_none())
            .map(|(_, n)| n.clone())
            .collect();
        candidates.extend(self.visible.keys().cloned());
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

    fn target_ports(&mut self, target: &Peer, t: &ast::Target) -> Vec<(PortSel, Span)> {
        let Some(items) = &t.ports else {
            self.err(
                Diagnostic::new(
                    Code::MissingPort,
                    t.span,
                    format!(
                        "connection to `{}` names no port",
                        self.program.peer_name(&target.kind)
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
                ast::PortItemKind::Number(n) => {
                    if let Some((s, e)) = self.port_range(*n, *n, item.span) {
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
                ast::PortItemKind::Range(a, b) => {
                    if let Some((s, e)) = self.port_range(*a, *b, item.span) {
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
                    for sel in self.named_port(target, name, protocol) {
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
    fn pod_port(
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

    /// Resolves `target:name`: the service's own ports, then program-wide names, then the
    /// container ports of the target's workloads (emitted as named ports).
    fn named_port(
        &mut self,
        target: &Peer,
        name: &ast::Name,
        protocol: Option<Protocol>,
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
            && let Some(svc) = self.program.services.get(*i)
        {
            if let Some(p) = svc.ports.iter().find(|p| p.name == name.text) {
                let sels = filter(&p.values);
                self.program.references.push(Reference {
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
                .program
                .ports
                .get(&scoped_name(&key.0, &key.1))
                .map(|p| p.values.clone())
                .unwrap_or_default();
            self.program.references.push(Reference {
                span: name.span,
                def: Def::Port(name.text.clone()),
            });
            return self.non_empty(filter(&values), name, protocol);
        }
        candidates.extend(
            self.ports
                .keys()
                .filter(|(s, _)| s.is_none())
                .map(|(_, n)| n.clone()),
        );
        candidates.extend(
            self.visible
                .iter()
                .filter(|(n, m)| self.ports.contains_key(&(Some((*m).clone()), (*n).clone())))
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
        // Container ports of the target's workloads.
        let workloads = self.target_workloads(&target.kind);
        let mut protos: BTreeSet<Protocol> = BTreeSet::new();
        let mut declared: BTreeSet<String> = BTreeSet::new();
        for w in &workloads {
            for p in &w.ports {
                if let Some(n) = &p.name {
                    declared.insert(n.clone());
                    if *n == name.text && protocol.is_none_or(|want| want == p.protocol) {
                        protos.insert(p.protocol);
                    }
                }
            }
        }
        if !protos.is_empty() {
            return protos
                .into_iter()
                .map(|protocol| PortSel::Named {
                    protocol,
                    name: name.text.clone(),
                })
                .collect();
        }
        candidates.extend(declared.iter().cloned());
        let target_name = self.program.peer_name(&target.kind);
        let suggestion = did_you_mean(&name.text, candidates.iter().map(String::as_str));
        if workloads.is_empty() && self.selector_reported_empty(&target.kind) {
            // E014 already says that the destination's selector matches no workload: once it
            // does, the port resolves or E015 names the ports its containers declare.
            return Vec::new();
        }
        if workloads.is_empty() {
            self.err(
                Diagnostic::new(Code::UnknownPort, name.span, format!("unknown port `{}` on `{target_name}`", name.text))
                    .label("no port of this name")
                    .help(suggestion.unwrap_or_else(|| {
                        format!("declare it in the service (`port {} = …`), use a number, or give the workloads that declare it", name.text)
                    })),
            );
        } else {
            let listed = if declared.is_empty() {
                "they declare no named ports".to_string()
            } else {
                format!(
                    "they declare {}",
                    declared
                        .iter()
                        .map(|d| format!("`{d}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            self.err(
                Diagnostic::new(
                    Code::NamedPortNotDeclared,
                    name.span,
                    format!(
                        "no container of `{target_name}` declares a port named `{}`",
                        name.text
                    ),
                )
                .label("not declared by the destination's containers")
                .help(suggestion.unwrap_or(listed)),
            );
        }
        Vec::new()
    }

    fn non_empty(
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

    fn port_key(&self, name: &str) -> Option<(Scope, String)> {
        let own = (None, name.to_string());
        if self.ports.contains_key(&own) {
            return Some(own);
        }
        let m = self.visible.get(name)?;
        let key = (Some(m.clone()), name.to_string());
        self.ports.contains_key(&key).then_some(key)
    }

    /// Whether the checker reports E014 for this destination: a service, or a group of this
    /// program in one namespace, whose selector can match but matches no workload of a
    /// namespace that the manifests describe.
    fn selector_reported_empty(&self, kind: &PeerKind) -> bool {
        let local = match kind {
            PeerKind::Service(_) => true,
            PeerKind::Group(i) => self
                .program
                .groups
                .get(*i)
                .is_some_and(|g| g.module.is_none()),
            PeerKind::External(_) | PeerKind::Pods(_) => false,
        };
        let Some(set) = self.program.pod_set(kind).filter(|_| local) else {
            return false;
        };
        matches!(&set.ns, NsScope::Named(ns) if self.manifests.mentions_namespace(ns))
            && !set.pods.is_unsat()
    }

    /// Workloads that a peer's pods come from (only when its namespace is a known one).
    fn target_workloads(&self, kind: &PeerKind) -> Vec<crate::k8s::workloads::Workload> {
        let Some(set) = self.program.pod_set(kind) else {
            return Vec::new();
        };
        self.manifests
            .workloads
            .iter()
            .filter(|w| {
                set.contains(&w.namespace, &w.labels, || {
                    self.namespace_labels(&w.namespace)
                })
            })
            .cloned()
            .collect()
    }

    fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        namespace_labels(self.manifests, ns)
    }

    fn connection(&mut self, c: &ast::Connection) {
        let mut sources = Vec::new();
        for p in &c.sources {
            sources.extend(self.peer(p));
        }
        for t in &c.targets {
            for target in self.peer(&t.peer) {
                let ports = self.target_ports(&target, t);
                for source in &sources {
                    self.program.connections.push(Conn {
                        span: c.span,
                        source: source.clone(),
                        target: target.clone(),
                        ports: ports.clone(),
                    });
                }
            }
        }
    }

    fn test(&mut self, t: &ast::TestDecl) {
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
        self.program.tests.push(TestCase {
            name: t.name.value.clone(),
            span: t.span,
            assertions,
        });
    }
}

/// The labels of a namespace: those its manifest declares, plus the name label that
/// Kubernetes sets on every namespace.
/// The namespaces in both scopes; `None` when there are none. A named namespace stays named
/// when the other scope is every namespace; otherwise the result is a selector (the name as
/// the `kubernetes.io/metadata.name` label), tested on the cluster.
fn narrow_ns(a: &NsScope, b: &NsScope) -> Option<NsScope> {
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

pub fn namespace_labels(manifests: &Manifests, ns: &str) -> BTreeMap<String, String> {
    manifests.namespace_labels(ns)
}

fn scoped_name(scope: &Scope, name: &str) -> String {
    match scope {
        None => name.to_string(),
        Some(m) => format!("std::{m}::{name}"),
    }
}

/// The names a module declares (groups, externals, ports).
fn module_names(ast: &ast::SourceFile) -> Vec<String> {
    let mut out: Vec<String> = ast
        .items
        .iter()
        .filter_map(|i| match i {
            ast::Item::Group(g) => Some(g.name.text.clone()),
            ast::Item::External(e) => Some(e.name.text.clone()),
            ast::Item::Port(p) => Some(p.name.text.clone()),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn dirs(i: &ast::Isolate) -> Dirs {
    let mut d = Dirs::default();
    for (dir, _) in &i.directions {
        match dir {
            ast::Direction::Ingress => d.ingress = true,
            ast::Direction::Egress => d.egress = true,
        }
    }
    d
}

fn invalid_name(n: &ast::Name, what: &str) -> Diagnostic {
    Diagnostic::new(Code::InvalidName, n.span, format!("`{}` cannot name a Kubernetes {what}", n.text))
        .label("not a valid Kubernetes name")
        .help("use lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters")
}

/// A hint for well-known names that live in the standard library.
fn std_hint(name: &str) -> Option<String> {
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
