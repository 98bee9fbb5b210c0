//! Name resolution: from the AST of every file (and the standard-library modules the program
//! imports) to the resolved [`Program`]. Reports unknown, duplicate and ill-formed names,
//! and everything that is wrong with a declaration on its own (label syntax, address
//! blocks, port numbers). Checks that need the workloads live in [`crate::check`].

mod decls;
pub mod hir;
mod refs;
mod scope;
mod values;

use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::Protocol;
use crate::k8s::names::{did_you_mean, is_dns_label, label_key_problem, label_value_problem};
use crate::k8s::selector::{Constraint, Sel};
use crate::k8s::workloads::Manifests;
use crate::resolve::hir::*;
use crate::span::{FileId, Span};
use crate::syntax::ast;
use ipnet::IpNet;
use scope::scoped_name;
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
}

/// The labels of a namespace: those its manifest declares, plus the name label that
/// Kubernetes sets on every namespace.
pub fn namespace_labels(manifests: &Manifests, ns: &str) -> BTreeMap<String, String> {
    manifests.namespace_labels(ns)
}
