//! Name resolution: from the AST of every file (and the standard-library modules the program
//! imports) to the resolved [`Program`]. Reports unknown, duplicate and ill-formed names,
//! and everything that is wrong with a declaration on its own (label syntax, address
//! blocks, port numbers). Checks that need the workloads live in [`crate::check`].
//!
//! Resolution runs in steps the database calls as separate queries: [`declarations`] (the
//! imports, namespaces, ports, groups, externals and the names of services, read without the
//! bodies of services, connections and tests), then [`resolve_item`] for each service,
//! connection and test, then [`assemble`], their union in source order. An item reads the
//! bodies of other services only through its [`ServiceLookup`], so the database knows
//! exactly what it depends on. Resolution never reads the workloads: a port name that neither
//! the target service nor the program declares is a [`ContainerPortRef`], which the checks
//! look up in the target's containers (`check::item::container_ports`); the protocols they
//! find are put in place by [`ItemResolution::connections`] and [`ItemResolution::tests`].

mod decls;
pub mod hir;
mod refs;
mod scope;
mod values;

use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::Protocol;
use crate::k8s::names::{
    did_you_mean, is_dns_label, label_key_problem, label_value_problem, suggest,
};
use crate::k8s::selector::{Constraint, Sel};
use crate::resolve::hir::*;
use crate::span::{FileId, Span};
use crate::syntax::ast;
use ipnet::IpNet;
use scope::scoped_name;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use values::{dirs, invalid_name};

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

#[derive(Clone, Debug, PartialEq, Eq)]
struct Import {
    module: String,
    span: Span,
}

/// A declared service before its body is resolved: what other items may know of it
/// without reading its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceHead {
    pub name: String,
    pub name_span: Span,
}

/// What the program's declarations give every item, free of positions (spans relative to
/// item anchors): the scopes and their names, the namespaces, program-wide ports, groups
/// and externals, and the names (not the bodies) of the services. An edit inside a service
/// body or a connection leaves it equal.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Declarations {
    /// Namespaces, ports, groups, externals, and the references found in them.
    program: Program,
    /// Every declared service by index, in declaration order.
    services: Vec<ServiceHead>,
    /// Peer names declared in each scope.
    peers: HashMap<(Scope, String), (Entity, Span)>,
    /// Port names declared in each scope.
    ports: HashMap<(Scope, String), Span>,
    /// Names the user's scope imports: visible name -> import.
    imports: BTreeMap<String, Import>,
    /// Imported names visible in the user's scope: name -> module.
    visible: BTreeMap<String, String>,
    external_index: HashMap<(Scope, String), usize>,
    diagnostics: Vec<Diagnostic>,
    used: BTreeSet<(Scope, String)>,
}

impl Declarations {
    /// The item anchor of service `index` (the file id its spans are relative to).
    pub fn service_anchor(&self, index: usize) -> Option<FileId> {
        self.services.get(index).map(|h| h.name_span.file)
    }

    /// The namespaces, ports, groups and externals, and the references found in them (no
    /// services, connections or tests).
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// What is wrong with the declarations themselves.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

/// The names an item (or the declarations) used, by scope: what the unused-import lint reads.
pub type Used = BTreeSet<(Option<String>, String)>;

/// What one item (a service, a connection or a test) resolves to, positions relative to
/// its anchor.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ItemResolution {
    /// A service: its index and its resolved body.
    pub service: Option<(usize, Service)>,
    /// The connections, tests and references of the item, without the ports of
    /// [`ItemResolution::container_ports`] (read them with [`ItemResolution::connections`]
    /// and [`ItemResolution::tests`]).
    pub program: Program,
    pub diagnostics: Vec<Diagnostic>,
    /// The port names left to the target's containers, in the order they are written.
    pub container_ports: Vec<ContainerPortRef>,
    used: Used,
}

/// `target:name` where neither the target service nor the program declares a port `name`: a
/// container port of the target's workloads, emitted as a named port with each protocol its
/// containers declare it with. Resolution does not read the workloads: the checks look it up
/// (E011 when the target has no workload, E015 when none of its containers declares it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPortRef {
    /// The peer whose ports it is among: a connection's target, an assertion's destination.
    pub target: Peer,
    /// Where among that peer's other ports the ones found go.
    pub position: usize,
    /// The span of the port item (what the ports found carry).
    pub item_span: Span,
    pub name: String,
    /// The span of the name (where E011 and E015 point).
    pub name_span: Span,
    /// The protocol written (`udp/name`), if any.
    pub protocol: Option<Protocol>,
    /// The pods of the target.
    pub pods: Option<PodSet>,
    /// The target as messages name it.
    pub target_name: String,
    /// The target is a service, or a group of this program, whose selector the checks hold to
    /// the workloads (E014): when it matches none, E014 says so and the port is not reported.
    pub selector_checked: bool,
    /// The nearest of the port names the program declares for the target (its service's and
    /// the program-wide ones), for the did-you-mean.
    pub nearest_declared: Option<String>,
}

impl ItemResolution {
    /// The names the item used.
    pub fn used(&self) -> &Used {
        &self.used
    }

    /// The item's connections with the ports found for its container port references
    /// (`found`: for each of [`ItemResolution::container_ports`], in order, its ports).
    pub fn connections(&self, found: &[Vec<PortSel>]) -> Cow<'_, [Conn]> {
        self.with_found(&self.program.connections, |c| Conn {
            ports: self.ports_of(&c.target, &c.ports, found),
            ..c.clone()
        })
    }

    /// The item's tests with the ports found for its container port references, as
    /// [`ItemResolution::connections`].
    pub fn tests(&self, found: &[Vec<PortSel>]) -> Cow<'_, [TestCase]> {
        self.with_found(&self.program.tests, |t| TestCase {
            assertions: t
                .assertions
                .iter()
                .map(|a| Assertion {
                    ports: self.ports_of(&a.to, &a.ports, found),
                    ..a.clone()
                })
                .collect(),
            ..t.clone()
        })
    }

    /// `items` as they are when the item has no container port reference, else each rebuilt
    /// by `put` with the ports found.
    fn with_found<'s, T: Clone>(&self, items: &'s [T], put: impl Fn(&T) -> T) -> Cow<'s, [T]> {
        if self.container_ports.is_empty() {
            return Cow::Borrowed(items);
        }
        Cow::Owned(items.iter().map(put).collect())
    }

    /// The ports of `target` with the ports found for its container port references put
    /// where they are written.
    fn ports_of(
        &self,
        target: &Peer,
        ports: &[(PortSel, Span)],
        found: &[Vec<PortSel>],
    ) -> Vec<(PortSel, Span)> {
        let mut refs = self
            .container_ports
            .iter()
            .zip(found)
            .filter(|(r, _)| r.target == *target)
            .peekable();
        let mut out = Vec::with_capacity(ports.len());
        for position in 0..=ports.len() {
            while let Some((r, sels)) = refs.next_if(|(r, _)| r.position <= position) {
                out.extend(sels.iter().map(|s| (s.clone(), r.item_span)));
            }
            if let Some(p) = ports.get(position) {
                out.push(p.clone());
            }
        }
        out
    }
}

/// Services by index, as the item being resolved asks for them (the database answers with
/// one query per service, so an item depends only on the services it reads).
pub type ServiceLookup<'a> = &'a dyn Fn(usize) -> Option<&'a Service>;
struct Resolver<'a> {
    services: ServiceLookup<'a>,
    /// Owned while the declarations are built, borrowed while an item is resolved.
    d: Cow<'a, Declarations>,
    /// What is found: services, connections, tests, references.
    out: Program,
    diags: Vec<Diagnostic>,
    /// The port names left to the target's containers.
    container_ports: Vec<ContainerPortRef>,
    used: BTreeSet<(Scope, String)>,
    /// Externals not yet resolved, by scope and name (while declaring only).
    external_asts: HashMap<(Scope, String), &'a ast::ExternalDecl>,
    resolving: BTreeSet<(Scope, String)>,
}

/// The program's declarations: imports, namespaces, ports, groups, externals, and which
/// services there are (their bodies are resolved per item).
pub fn declarations(files: &[FileAst<'_>], std: &[StdModule<'_>]) -> Declarations {
    let services = |_: usize| None;
    let mut r = Resolver {
        services: &services,
        d: Cow::Owned(Declarations::default()),
        out: Program::default(),
        diags: Vec::new(),
        container_ports: Vec::new(),
        used: BTreeSet::new(),
        external_asts: HashMap::new(),
        resolving: BTreeSet::new(),
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
                ast::Item::Cluster(d) if scope.is_none() => r.cluster(d),
                ast::Item::Port(d) => r.port_decl(scope, d),
                _ => {}
            }
        }
    }
    for (scope, ast) in &scopes {
        for item in &ast.items {
            match item {
                ast::Item::Service(d) if scope.is_none() => r.declare_service(d),
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
    let mut d = r.d.into_owned();
    d.program.references = r.out.references;
    d.diagnostics = r.diags;
    d.used = r.used;
    d
}

/// Resolves one item of the user's program against the declarations: a service's body,
/// a connection or a test (other items are resolved with the declarations).
pub fn resolve_item<'a>(
    decls: &'a Declarations,
    item: &ast::Item,
    services: ServiceLookup<'a>,
) -> ItemResolution {
    let mut r = Resolver {
        services,
        d: Cow::Borrowed(decls),
        out: Program::default(),
        diags: Vec::new(),
        container_ports: Vec::new(),
        used: BTreeSet::new(),
        external_asts: HashMap::new(),
        resolving: BTreeSet::new(),
    };
    let mut service = None;
    match item {
        ast::Item::Service(d) => {
            let index = match decls.peers.get(&(None, d.name.text.clone())) {
                Some((Entity::Service(i), _))
                    if decls.services.get(*i).map(|h| h.name_span) == Some(d.name.span) =>
                {
                    Some(*i)
                }
                _ => None,
            };
            // A service whose name was taken is reported with the declarations.
            if let Some(index) = index {
                service = Some((index, r.service(d)));
            }
        }
        ast::Item::Connection(c) => r.connection(c),
        ast::Item::Test(t) => r.test(t),
        _ => {}
    }
    ItemResolution {
        service,
        program: r.out,
        diagnostics: r.diags,
        container_ports: r.container_ports,
        used: r.used,
    }
}

/// The resolved program: the declarations and every item's resolution, in source order,
/// each with the ports found for its container port references (see
/// [`ItemResolution::connections`]).
pub fn assemble<'a>(
    decls: &Declarations,
    items: impl Iterator<Item = (&'a ItemResolution, &'a [Vec<PortSel>])>,
) -> Resolved {
    let mut program = decls.program.clone();
    let mut diagnostics = decls.diagnostics.clone();
    let mut used = Vec::new();
    for (item, found) in items {
        if let Some((_, s)) = &item.service {
            program.services.push(s.clone());
        }
        program
            .connections
            .extend(item.connections(found).iter().cloned());
        program.tests.extend(item.tests(found).iter().cloned());
        program
            .references
            .extend(item.program.references.iter().cloned());
        diagnostics.extend(item.diagnostics.iter().cloned());
        used.push(&item.used);
    }
    Resolved {
        program,
        diagnostics,
        unused_imports: unused_imports(decls, used.into_iter()),
    }
}

/// The imports no item uses (nor the declarations), given what each item used.
pub fn unused_imports<'a>(
    decls: &Declarations,
    items: impl Iterator<Item = &'a Used>,
) -> Vec<(String, Span)> {
    let mut used = decls.used.clone();
    for u in items {
        used.extend(u.iter().cloned());
    }
    let is_used = |key: &str, module: &str| {
        used.iter().any(|(m, name)| {
            m.as_deref() == Some(module) && (name == key || key == format!("std::{module}"))
        })
    };
    decls
        .imports
        .iter()
        .filter(|(key, i)| !is_used(key, &i.module))
        .map(|(n, i)| (n.clone(), i.span))
        .collect()
}

impl<'a> Resolver<'a> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}
