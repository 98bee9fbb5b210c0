//! The pipeline as salsa queries. This file only wires queries; each stage's logic lives in
//! its own module.
//!
//! ```text
//! SourceFile ─parse─▶ Parsed ─item_tree─▶ ItemTree ─┬─ file_items (position-free) ─┬─ file_declarations ─▶ declarations
//!   (program,            │ (comments: fmt;           └─ item_positions (the edge)   └─ file_item_refs (one Item each)
//!    stdlib)             └─ syntax_errors)                                            │ program_items
//!                                                  resolve_item(item) ◀── service_def ◀─┘ (and declarations; no workloads)
//!                                                     ├─▶ container_ports (names left to the containers)
//!                                                     ├─▶ check_item ─▶ item_diagnostics ─────────────┐
//! SourceFile ─manifest─▶ Manifests ─cluster ─▶ (all)  └─▶ item_outline ─▶ outline ─▶ namespaces ─▶ namespace_lints(ns), namespace_policy_names(ns)
//!                                                                            └──────────────────▶ lints, policy_names ─▶ program_diagnostics ─▶ diagnostics
//!   (manifest)                                  resolved ─▶ lowered ─▶ optimized ─▶ emitted
//! ```
//!
//! Inputs: a [`SourceFile`] per file (its identity: set with [`Database::set_file`],
//! removed with [`Database::remove_file`]), the standard library's modules (created once,
//! at `Durability::HIGH`), and the [`Workspace`] that lists which files form the program.
//! Everything from `declarations` on is free of positions (spans are relative to item anchors,
//! see [`crate::span::FileId`]), so an edit that moves text without changing what an item
//! says re-runs nothing past the item tree; [`absolute`] turns spans back into file spans
//! for diagnostics, annotations and the editor.

use crate::backend::emit;
use crate::backend::ir::Policies;
use crate::backend::lower::{self, Lowered};
use crate::backend::opt;
use crate::check::parts::NamespacePart;
use crate::check::{self, ContainerPorts, IsolatedServices, ItemOutline, Outline, PeerView};
use crate::diagnostic::{Diagnostic, Label, RenderFile, render, sort_diagnostics};
use crate::k8s::workloads::{self, Manifests, NamespaceIndex, WorkloadIndex};
use crate::resolve::hir::{Def, PortSel, Service};
use crate::resolve::{self, Declarations, FileAst, ItemResolution, Resolved, StdModule};
use crate::span::{FileId, LineIndex, Span};
use crate::stdlib;
use crate::syntax::items::{self, ItemTree, TreeItem};
use crate::syntax::{self, Parsed, ast};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// The database trait of the compiler's queries; the language server extends it.
#[salsa::db]
pub trait Db: salsa::Database {}

/// What a file is to the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// A `.netpol` file of the program.
    Program,
    /// A standard-library module (`std::dns`, …), embedded in the compiler.
    Stdlib,
    /// A workload manifest (YAML).
    Manifest,
}

/// One file: its identity for every query.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(copy)]
    pub id: FileId,
    #[returns(copy)]
    pub kind: FileKind,
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
    /// For manifests: the namespace of objects without one.
    #[returns(ref)]
    pub default_namespace: String,
}

/// Which files form the program: its files (sorted by path), the standard library, and the
/// manifests it reads.
#[salsa::input(debug)]
pub struct Workspace {
    #[returns(ref)]
    pub files: Vec<SourceFile>,
    #[returns(ref)]
    pub stdlib: Vec<(String, SourceFile)>,
    #[returns(ref)]
    pub manifests: Vec<SourceFile>,
    /// Problems the driver met while loading manifests (globs matching nothing, …).
    #[returns(ref)]
    pub load_errors: Vec<Diagnostic>,
}

/// Files known to the database, by path: a path keeps its input (and id) for the
/// database's life, removed or not, so nothing is ever renumbered.
#[derive(Clone, Default)]
struct Registry {
    workspace: Option<Workspace>,
    by_path: BTreeMap<(FileKind, String), SourceFile>,
    next_id: u64,
}

#[salsa::db]
#[derive(Clone, Default)]
pub struct Database {
    storage: salsa::Storage<Self>,
    registry: Arc<Registry>,
    executed: Option<Arc<Mutex<Vec<String>>>>,
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {}

// ------------------------------------------------------------------------------ per file

/// The full parse of a file: the tree, every syntax error, and the comments (the formatter
/// reads this; the rest of the pipeline reads [`file_items`]).
#[salsa::tracked(returns(ref))]
pub fn parse(db: &dyn Db, file: SourceFile) -> Parsed {
    syntax::parse(file.id(db), file.text(db))
}

/// A file's syntax errors (equal across edits that leave them where they were).
#[salsa::tracked(returns(ref))]
pub fn syntax_errors(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic> {
    parse(db, file).errors.clone()
}

#[salsa::tracked(returns(ref))]
pub fn line_index(db: &dyn Db, file: SourceFile) -> LineIndex {
    LineIndex::new(file.text(db))
}

#[salsa::tracked(returns(ref))]
pub fn item_tree(db: &dyn Db, file: SourceFile) -> ItemTree {
    items::item_tree_with(
        file.id(db),
        file.text(db),
        parse(db, file),
        &mut |anchor, source| {
            parse_alone(db, ItemSource::new(db, anchor, source.to_string())).clone()
        },
    )
}

/// The text of one item under its anchor, in a file with syntax errors (the items of a file
/// without are its parse moved to their anchors). Interned, so an item whose text did not
/// change is parsed alone once; salsa reclaims texts no longer used (after a few revisions), so the
/// texts of old edits do not pile up.
#[salsa::interned(debug)]
pub struct ItemSource<'db> {
    #[returns(copy)]
    pub anchor: FileId,
    #[returns(ref)]
    pub text: String,
}

/// One item's text parsed alone: its spans are relative to its start.
#[salsa::tracked(returns(ref))]
pub fn parse_alone<'db>(db: &'db dyn Db, source: ItemSource<'db>) -> Vec<ast::Item> {
    syntax::parse(source.anchor(db), source.text(db)).ast.items
}

/// The file's items without comments or positions: equal across edits of comments, white
/// space and text that only moves items.
#[salsa::tracked(returns(ref))]
pub fn file_items(db: &dyn Db, file: SourceFile) -> Vec<TreeItem> {
    item_tree(db, file).items.clone()
}

/// Where each item of the file starts (anchor -> offset).
#[salsa::tracked(returns(ref))]
pub fn item_positions(db: &dyn Db, file: SourceFile) -> BTreeMap<FileId, usize> {
    item_tree(db, file).positions.clone()
}

/// One item of a program file. Its identity is its file and anchor; its content (the
/// position-free item) is a tracked field, so a query that reads one item re-runs only
/// when that item changes, not when another item of the file does.
#[salsa::tracked(debug)]
pub struct Item<'db> {
    pub file: SourceFile,
    #[returns(copy)]
    pub anchor: FileId,
    #[tracked]
    #[returns(ref)]
    pub tree: TreeItem,
}

/// The items of a file, in source order and by anchor.
#[derive(Clone, Debug, PartialEq, Eq, salsa::SalsaValue)]
pub struct FileItems<'db> {
    pub items: Vec<Item<'db>>,
    pub by_anchor: BTreeMap<FileId, Item<'db>>,
}

#[salsa::tracked(returns(ref))]
pub fn file_item_refs(db: &dyn Db, file: SourceFile) -> FileItems<'_> {
    let items: Vec<Item<'_>> = file_items(db, file)
        .iter()
        .map(|t| Item::new(db, file, t.anchor, t.clone()))
        .collect();
    let by_anchor = items.iter().map(|i| (i.anchor(db), *i)).collect();
    FileItems { items, by_anchor }
}

/// What a file declares, without the bodies of its services, its connections or its tests:
/// what [`declarations`] reads.
#[salsa::tracked(returns(ref))]
pub fn file_declarations(db: &dyn Db, file: SourceFile) -> ast::SourceFile {
    let items = file_items(db, file)
        .iter()
        .filter_map(|i| match &i.item {
            ast::Item::Connection(_) | ast::Item::Test(_) | ast::Item::Workloads(_) => None,
            ast::Item::Service(d) => Some(ast::Item::Service(ast::ServiceDecl {
                span: Span::new(d.span.file, 0, 0),
                name: d.name.clone(),
                namespace: d.namespace.clone(),
                selects: Vec::new(),
                ports: Vec::new(),
                isolate: Vec::new(),
                broken: false,
            })),
            other => Some(other.clone()),
        })
        .collect();
    ast::SourceFile { items }
}

#[salsa::tracked(returns(ref))]
pub fn manifest(db: &dyn Db, file: SourceFile) -> Manifests {
    workloads::parse_manifests(file.id(db), file.text(db), file.default_namespace(db))
}

// ------------------------------------------------------------------------- whole program

#[salsa::tracked(returns(ref))]
pub fn manifests(db: &dyn Db, ws: Workspace) -> Manifests {
    let mut all = Manifests::default();
    for m in ws.manifests(db) {
        all.extend(manifest(db, *m).clone());
    }
    all
}

/// What the program's meaning reads of the manifests: objects, labels and ports, without
/// positions or errors. Editing a manifest in a way that changes none of these (a comment,
/// an image, replicas) re-runs nothing that depends on this.
#[salsa::tracked(returns(ref))]
pub fn cluster(db: &dyn Db, ws: Workspace) -> Manifests {
    let mut m = manifests(db, ws).clone();
    m.errors.clear();
    let none = Span::new(FileId(0), 0, 0);
    for w in &mut m.workloads {
        w.span = none;
    }
    for n in &mut m.namespaces {
        n.span = none;
    }
    for s in &mut m.services {
        s.span = none;
    }
    for i in &mut m.ingresses {
        i.span = none;
    }
    m
}

pub use crate::k8s::requested::WorkloadRequest;

#[salsa::tracked(returns(ref))]
pub fn workload_requests(db: &dyn Db, ws: Workspace) -> Vec<WorkloadRequest> {
    let mut out = Vec::new();
    for f in ws.files(db) {
        for item in &parse(db, *f).ast.items {
            if let ast::Item::Workloads(w) = item {
                for g in &w.globs {
                    out.push(WorkloadRequest {
                        file: f.id(db),
                        file_path: f.path(db).clone(),
                        pattern: g.value.clone(),
                        span: g.span,
                        default_namespace: w
                            .namespace
                            .as_ref()
                            .map_or_else(|| "default".to_string(), |n| n.text.clone()),
                    });
                }
            }
        }
    }
    out
}

/// The program's declarations, read from [`file_declarations`]: an edit inside a service
/// body, a connection or a test leaves them equal, so no other item re-resolves.
#[salsa::tracked(returns(ref))]
pub fn declarations(db: &dyn Db, ws: Workspace) -> Declarations {
    let files: Vec<FileAst<'_>> = ws
        .files(db)
        .iter()
        .map(|f| FileAst {
            file: f.id(db),
            ast: file_declarations(db, *f),
        })
        .collect();
    let std: Vec<StdModule<'_>> = ws
        .stdlib(db)
        .iter()
        .map(|(name, f)| StdModule {
            name,
            file: f.id(db),
            ast: file_declarations(db, *f),
        })
        .collect();
    resolve::declarations(&files, &std)
}

/// The item with this anchor, if its file is part of the program.
pub fn item_at<'db>(db: &'db dyn Db, ws: Workspace, anchor: FileId) -> Option<Item<'db>> {
    let file = files_by_id(db, ws).get(&anchor.file())?;
    file_item_refs(db, *file).by_anchor.get(&anchor).copied()
}

/// One item resolved against the declarations (a service's body, a connection, a test).
/// It reads only its own item, the declarations, and the services it looks into, so it
/// re-runs only when one of those changes; never the workloads (see [`container_ports`]).
#[salsa::tracked(returns(ref))]
pub fn resolve_item<'db>(db: &'db dyn Db, ws: Workspace, item: Item<'db>) -> ItemResolution {
    let decls = declarations(db, ws);
    let lookup = |i: usize| -> Option<&Service> {
        let service = item_at(db, ws, decls.service_anchor(i)?)?;
        service_def(db, ws, service).as_ref()
    };
    resolve::resolve_item(decls, &item.tree(db).item, &lookup)
}

/// The port names of one item that the program does not declare, looked up in the
/// containers of their targets ([`check::container_ports`]): the only per-item query that
/// reads the workloads for the item's meaning. Asked for only by items that have such names.
#[salsa::tracked(returns(ref))]
pub fn container_ports<'db>(db: &'db dyn Db, ws: Workspace, item: Item<'db>) -> ContainerPorts {
    let cluster = cluster(db, ws);
    let index = WorkloadIndex::with(cluster, namespace_index(db, ws));
    check::container_ports(&resolve_item(db, ws, item).container_ports, cluster, &index)
}

/// The ports found for an item's container port references, in order (nothing, and no
/// query, for an item without any).
fn found_ports<'db>(db: &'db dyn Db, ws: Workspace, item: Item<'db>) -> &'db [Vec<PortSel>] {
    if resolve_item(db, ws, item).container_ports.is_empty() {
        return &[];
    }
    &container_ports(db, ws, item).found
}

/// A service's resolved body, as the items that look into it read it.
#[salsa::tracked(returns(ref))]
pub fn service_def<'db>(db: &'db dyn Db, ws: Workspace, item: Item<'db>) -> Option<Service> {
    resolve_item(db, ws, item)
        .service
        .as_ref()
        .map(|(_, s)| s.clone())
}

/// The resolved program, free of positions (spans relative to item anchors): the
/// declarations and every item's resolution, in source order.
#[salsa::tracked(returns(ref))]
pub fn resolved(db: &dyn Db, ws: Workspace) -> Resolved {
    assemble(db, ws)
}

/// The union [`resolved`] keeps, built afresh: [`emit_once`] lowers it and drops it, so a
/// one-shot compile does not keep a second copy of every resolution in the database.
fn assemble(db: &dyn Db, ws: Workspace) -> Resolved {
    let items = program_items(db, ws)
        .iter()
        .map(|item| (resolve_item(db, ws, *item), found_ports(db, ws, *item)));
    resolve::assemble(declarations(db, ws), items)
}

/// The services, connections and tests of the program, in source order.
#[salsa::tracked(returns(ref))]
pub fn program_items(db: &dyn Db, ws: Workspace) -> Vec<Item<'_>> {
    let mut out = Vec::new();
    for f in ws.files(db) {
        for item in &file_item_refs(db, *f).items {
            if matches!(
                item.tree(db).item,
                ast::Item::Service(_) | ast::Item::Connection(_) | ast::Item::Test(_)
            ) {
                out.push(*item);
            }
        }
    }
    out
}

/// What the lints and policy naming read of one item ([`check::ItemOutline`]): equal, and
/// so backdated, across edits of its ports or of positions inside it.
#[salsa::tracked(returns(ref))]
pub fn item_outline<'db>(db: &'db dyn Db, ws: Workspace, item: Item<'db>) -> ItemOutline {
    let r = resolve_item(db, ws, item);
    check::outline_item(r, &r.connections(found_ports(db, ws, item)))
}

/// The program as the lints and policy naming read it: the declarations and every item's
/// outline, in source order. It runs again only when an outline changed.
#[salsa::tracked(returns(ref))]
pub fn outline(db: &dyn Db, ws: Workspace) -> Outline {
    let decls = declarations(db, ws);
    let mut out = Outline {
        program: decls.program().clone(),
        ..Outline::default()
    };
    // Each definition once, in first-use order: a set beside the list, so that a program
    // referring to every one of its services does not compare every pair.
    let mut seen: HashSet<Def> = HashSet::new();
    let mut used = |d: &Def, out: &mut Vec<Def>| {
        if !seen.contains(d) {
            seen.insert(d.clone());
            out.push(d.clone());
        }
    };
    for r in &decls.program().references {
        used(&r.def, &mut out.used);
    }
    let outlines: Vec<&ItemOutline> = program_items(db, ws)
        .iter()
        .map(|item| item_outline(db, ws, *item))
        .collect();
    for o in &outlines {
        if let Some(s) = &o.service {
            out.program.services.push(s.clone());
        }
        for (c, facts) in &o.connections {
            out.program.connections.push(c.clone());
            out.facts.push(*facts);
        }
        for d in &o.refers_to {
            used(d, &mut out.used);
        }
    }
    out.unused_imports = resolve::unused_imports(decls, outlines.iter().map(|o| &o.used));
    out
}

/// The first services isolated in each direction, as a `cluster` peer's help names them.
#[salsa::tracked(returns(ref))]
pub fn isolated_services(db: &dyn Db, ws: Workspace) -> IsolatedServices {
    IsolatedServices::of(&outline(db, ws).program.services)
}

/// The cluster's workloads by namespace, built once for every item's checks.
#[salsa::tracked(returns(ref))]
pub fn namespace_index(db: &dyn Db, ws: Workspace) -> NamespaceIndex {
    NamespaceIndex::new(cluster(db, ws))
}

/// The checks of one item against the workloads ([`check::item`]): they read the item's
/// resolution, the outlines of the services it names, and the cluster.
#[salsa::tracked(returns(ref))]
pub fn check_item<'db>(db: &'db dyn Db, ws: Workspace, item: Item<'db>) -> Vec<Diagnostic> {
    let r = resolve_item(db, ws, item);
    let cluster = cluster(db, ws);
    let index = WorkloadIndex::with(cluster, namespace_index(db, ws));
    let mut out = Vec::new();
    if let Some((_, svc)) = &r.service {
        out.extend(check::check_service(svc, cluster, &index));
    }
    if !r.container_ports.is_empty() {
        out.extend(container_ports(db, ws, item).diagnostics.iter().cloned());
    }
    if !r.program.connections.is_empty() {
        let decls = declarations(db, ws);
        let service = |i: usize| -> Option<&Service> {
            let service = item_at(db, ws, decls.service_anchor(i)?)?;
            item_outline(db, ws, service).service.as_ref()
        };
        let view = PeerView {
            declarations: decls.program(),
            service: &service,
        };
        let isolated = || isolated_services(db, ws).clone();
        out.extend(check::check_connections(
            &r.program.connections,
            &r.program.references,
            &view,
            &isolated,
            cluster,
            &index,
        ));
    }
    out
}

/// One item's diagnostics: its resolution's and its checks'.
#[salsa::tracked(returns(ref))]
pub fn item_diagnostics<'db>(db: &'db dyn Db, ws: Workspace, item: Item<'db>) -> Vec<Diagnostic> {
    let mut out = resolve_item(db, ws, item).diagnostics.clone();
    out.extend(check_item(db, ws, item).iter().cloned());
    out
}

/// Every finding of the checks and lints (what `check::item` and `check::lints` report),
/// item by item then the lints: for benches and tools that look at the checks alone.
pub fn checks(db: &dyn Db, ws: Workspace) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = program_items(db, ws)
        .iter()
        .flat_map(|item| check_item(db, ws, *item).iter().cloned())
        .collect();
    out.extend(lints(db, ws).iter().cloned());
    out
}

/// One namespace's part of the outline ([`check::parts`]): its identity is its name, its
/// part a tracked field, so that the queries over one namespace run again only when its
/// part changed (adding a connection between two services of one namespace changes that
/// namespace's part only).
#[salsa::tracked(debug)]
pub struct Namespace<'db> {
    #[returns(ref)]
    pub name: String,
    #[tracked]
    #[returns(ref)]
    pub part: NamespacePart,
}

/// The outline split by namespace, in namespace order.
#[salsa::tracked(returns(ref))]
pub fn namespaces(db: &dyn Db, ws: Workspace) -> Vec<Namespace<'_>> {
    check::parts::split(outline(db, ws), cluster(db, ws))
        .into_iter()
        .map(|part| Namespace::new(db, part.namespace.clone(), part))
        .collect()
}

/// The lints of one namespace ([`check::namespace_lints`]): they read its part, the
/// declarations and the cluster.
#[salsa::tracked(returns(ref))]
pub fn namespace_lints<'db>(db: &'db dyn Db, ws: Workspace, ns: Namespace<'db>) -> check::Found {
    let index = WorkloadIndex::with(cluster(db, ws), namespace_index(db, ws));
    check::namespace_lints(ns.part(db), declarations(db, ws).program(), &index)
}

/// The lints and the checks of the declarations: the program's own (over the [`outline`]:
/// one linear pass) and every namespace's, merged in the order one pass over the program
/// finds them ([`check::lints`]).
#[salsa::tracked(returns(ref))]
pub fn lints(db: &dyn Db, ws: Workspace) -> Vec<Diagnostic> {
    let index = WorkloadIndex::with(cluster(db, ws), namespace_index(db, ws));
    let found: Vec<&check::Found> = namespaces(db, ws)
        .iter()
        .map(|ns| namespace_lints(db, ws, *ns))
        .collect();
    check::merge(
        &check::program_lints(outline(db, ws), &index),
        found.iter().map(|f| f.as_slice()),
    )
}

#[salsa::tracked(returns(ref))]
pub fn lowered(db: &dyn Db, ws: Workspace) -> Lowered {
    lower::lower(&resolved(db, ws).program, cluster(db, ws))
}

/// The names lowering gives the policies of one namespace, and the names it cannot give
/// (E021): lowering's names pass over the namespace's part. A namespace's policies are named
/// from its own units and the connections that may hold its pods, so the part's names are
/// the whole program's names in that namespace.
#[salsa::tracked(returns(ref))]
pub fn namespace_policy_names<'db>(
    db: &'db dyn Db,
    ws: Workspace,
    ns: Namespace<'db>,
) -> Vec<Diagnostic> {
    let part = ns.part(db);
    let program = check::parts::part_program(part, declarations(db, ws).program());
    let has_ports: Vec<bool> = part.facts.iter().map(|f| f.has_ports).collect();
    lower::policy_names_of(&program, &has_ports, cluster(db, ws)).diagnostics
}

/// The names of the policies (E021, the name clash, is found there): the diagnostics read
/// this, never [`lowered`]. Every namespace's, in [`names_order`].
#[salsa::tracked(returns(ref))]
pub fn policy_names(db: &dyn Db, ws: Workspace) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = namespaces(db, ws)
        .iter()
        .flat_map(|ns| namespace_policy_names(db, ws, *ns).iter().cloned())
        .collect();
    names_order(&mut out);
    out
}

/// The order of the name clashes: by position, code and message, as the diagnostics are
/// sorted (a stable sort: the clashes of one namespace, which alone can tie, keep the order
/// lowering found them in, since their message names the namespace).
pub fn names_order(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.primary.span, a.code, &a.message).cmp(&(b.primary.span, b.code, &b.message))
    });
}

#[salsa::tracked(returns(ref))]
pub fn optimized(db: &dyn Db, ws: Workspace) -> Policies {
    opt::optimize(&lowered(db, ws).policies)
}

/// The diagnostics of name resolution, the checks and policy naming, positions not yet
/// attached.
#[salsa::tracked(returns(ref))]
pub fn program_diagnostics(db: &dyn Db, ws: Workspace) -> Vec<Diagnostic> {
    let mut out = declarations(db, ws).diagnostics().to_vec();
    for item in program_items(db, ws) {
        out.extend(item_diagnostics(db, ws, *item).iter().cloned());
    }
    out.extend(lints(db, ws).iter().cloned());
    out.extend(policy_names(db, ws).iter().cloned());
    out
}

/// Every diagnostic, with file positions, by the file its primary span lies in.
#[salsa::tracked(returns(ref))]
pub fn diagnostics_by_file(db: &dyn Db, ws: Workspace) -> BTreeMap<FileId, Vec<Diagnostic>> {
    let mut out: BTreeMap<FileId, Vec<Diagnostic>> = BTreeMap::new();
    let mut add = |d: Diagnostic| out.entry(d.primary.span.file).or_default().push(d);
    for f in ws
        .files(db)
        .iter()
        .chain(ws.stdlib(db).iter().map(|(_, f)| f))
    {
        syntax_errors(db, *f).iter().cloned().for_each(&mut add);
    }
    for m in ws.manifests(db) {
        manifest(db, *m).errors.iter().cloned().for_each(&mut add);
    }
    ws.load_errors(db).iter().cloned().for_each(&mut add);
    for d in program_diagnostics(db, ws) {
        add(absolute_diagnostic(db, ws, d.clone()));
    }
    for diags in out.values_mut() {
        sort_diagnostics(diags);
    }
    out
}

/// The diagnostics whose primary span lies in `file`: its syntax errors and the resolve,
/// check and lowering diagnostics about it.
pub fn file_diagnostics(db: &dyn Db, ws: Workspace, file: SourceFile) -> &[Diagnostic] {
    diagnostics_by_file(db, ws)
        .get(&file.id(db))
        .map_or(&[], Vec::as_slice)
}

/// Every diagnostic of the program: the union of the files' diagnostics, by file path, then
/// by position (ids, which follow the order files were added, never decide the order).
#[salsa::tracked(returns(ref))]
pub fn diagnostics(db: &dyn Db, ws: Workspace) -> Vec<Diagnostic> {
    let by_id = files_by_id(db, ws);
    let mut files: Vec<(&str, &Vec<Diagnostic>)> = diagnostics_by_file(db, ws)
        .iter()
        .map(|(id, d)| (by_id.get(id).map_or("", |f| f.path(db).as_str()), d))
        .collect();
    files.sort_by_key(|(path, _)| *path);
    files
        .into_iter()
        .flat_map(|(_, d)| d.iter().cloned())
        .collect()
}

/// `path:line` of every item's anchor, for the `netpol.dev/source` annotation: changes only
/// when an item moves to another line.
#[salsa::tracked(returns(ref))]
pub fn source_lines(db: &dyn Db, ws: Workspace) -> BTreeMap<FileId, String> {
    let mut out = BTreeMap::new();
    for f in ws.files(db) {
        let index = line_index(db, *f);
        for (anchor, start) in item_positions(db, *f) {
            out.insert(
                *anchor,
                format!("{}:{}", f.path(db), index.line_col(*start).0),
            );
        }
    }
    out
}

/// The compiled YAML, one document per policy, or `None` when the program has errors.
#[salsa::tracked(returns(ref))]
pub fn emitted(db: &dyn Db, ws: Workspace) -> Option<Vec<EmittedPolicy>> {
    if diagnostics(db, ws).iter().any(Diagnostic::is_error) {
        return None;
    }
    emit_policies(db, ws, optimized(db, ws))
}

/// [`emitted`] for a caller that asks once and exits (the CLI): the same documents, from
/// lowering and the optimizer run here rather than through their queries, so that no stage's
/// result is kept in the database and each is dropped once the next one has what it needs.
pub fn emit_once(db: &dyn Db, ws: Workspace) -> Option<Vec<EmittedPolicy>> {
    if diagnostics(db, ws).iter().any(Diagnostic::is_error) {
        return None;
    }
    let lowered = lower::lower(&assemble(db, ws).program, cluster(db, ws));
    let policies = opt::optimize_owned(lowered.policies);
    emit_policies(db, ws, &policies)
}

fn emit_policies(db: &dyn Db, ws: Workspace, policies: &Policies) -> Option<Vec<EmittedPolicy>> {
    let lines = source_lines(db, ws);
    let mut out = Vec::with_capacity(policies.len());
    let mut writer = emit::Writer::default();
    for ((namespace, name), policy) in policies {
        let span = policy.origin.span;
        let source = match lines.get(&span.file) {
            Some(s) => std::borrow::Cow::Borrowed(s.as_str()),
            None => {
                let (file, line) = absolute_line(db, ws, span);
                std::borrow::Cow::Owned(format!("{file}:{line}"))
            }
        };
        let yaml = writer.policy(policy, &source).ok()?;
        out.push(EmittedPolicy {
            namespace: namespace.clone(),
            name: name.clone(),
            yaml,
        });
    }
    Some(out)
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmittedPolicy {
    pub namespace: String,
    pub name: String,
    pub yaml: String,
}

// -------------------------------------------------------------------------------- the edge

/// Every file of the workspace by id.
#[salsa::tracked(returns(ref))]
pub fn files_by_id(db: &dyn Db, ws: Workspace) -> BTreeMap<FileId, SourceFile> {
    ws.files(db)
        .iter()
        .chain(ws.stdlib(db).iter().map(|(_, f)| f))
        .chain(ws.manifests(db).iter())
        .map(|f| (f.id(db), *f))
        .collect()
}

/// A span with file positions: anchored spans are moved to where their item starts.
pub fn absolute(db: &dyn Db, ws: Workspace, span: Span) -> Span {
    let Some((file, _)) = span.file.anchored() else {
        return span;
    };
    let start = files_by_id(db, ws)
        .get(&file)
        .and_then(|f| item_positions(db, *f).get(&span.file).copied())
        .unwrap_or(0);
    Span::new(file, start + span.start, start + span.end)
}

fn absolute_diagnostic(db: &dyn Db, ws: Workspace, mut d: Diagnostic) -> Diagnostic {
    d.primary.span = absolute(db, ws, d.primary.span);
    for Label { span, .. } in &mut d.secondary {
        *span = absolute(db, ws, *span);
    }
    d
}

/// The path and 1-based line of a span.
pub fn absolute_line(db: &dyn Db, ws: Workspace, span: Span) -> (String, usize) {
    let span = absolute(db, ws, span);
    match files_by_id(db, ws).get(&span.file) {
        Some(f) => (
            f.path(db).clone(),
            line_index(db, *f).line_col(span.start).0,
        ),
        None => ("unknown".to_string(), 0),
    }
}

/// `file.netpol:line` of a span, with the path as the driver gave it.
pub fn source_ref(db: &dyn Db, ws: Workspace, span: Span) -> String {
    let (path, line) = absolute_line(db, ws, span);
    format!("{path}:{line}")
}

// --------------------------------------------------------------------------------- inputs

impl Database {
    /// A database that records the name of every query it executes (for tests of what an
    /// edit re-runs): read them with [`Database::take_executed`].
    pub fn with_execution_log() -> Database {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&log);
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind {
                let name = format!("{database_key:?}");
                let name = name.split('(').next().unwrap_or_default().to_string();
                if let Ok(mut log) = sink.lock() {
                    log.push(name);
                }
            }
        })));
        Database {
            storage,
            registry: Arc::default(),
            executed: Some(log),
        }
    }

    /// The queries executed since the last call, in order.
    pub fn take_executed(&self) -> Vec<String> {
        self.executed
            .as_ref()
            .and_then(|log| log.lock().ok().map(|mut l| std::mem::take(&mut *l)))
            .unwrap_or_default()
    }

    /// The workspace input, created on first use with the standard library.
    pub fn workspace_input(&mut self) -> Workspace {
        if let Some(ws) = self.registry.workspace {
            return ws;
        }
        let std = stdlib::MODULES
            .iter()
            .map(|(name, path, text)| {
                let id = self.next_id();
                let file = SourceFile::builder(
                    id,
                    FileKind::Stdlib,
                    path.to_string(),
                    text.to_string(),
                    String::new(),
                )
                .durability(salsa::Durability::HIGH)
                .new(&*self);
                (name.to_string(), file)
            })
            .collect();
        let ws = Workspace::builder(Vec::new(), std, Vec::new(), Vec::new())
            .stdlib_durability(salsa::Durability::HIGH)
            .new(&*self);
        Arc::make_mut(&mut self.registry).workspace = Some(ws);
        ws
    }

    fn next_id(&mut self) -> FileId {
        let registry = Arc::make_mut(&mut self.registry);
        let id = FileId(registry.next_id);
        registry.next_id += 1;
        id
    }

    /// The input of a path, created (with a new id) when the path is new.
    fn input(&mut self, kind: FileKind, path: &str, text: String, ns: String) -> SourceFile {
        use salsa::Setter;
        let key = (kind, path.to_string());
        if let Some(file) = self.registry.by_path.get(&key).copied() {
            if *file.text(self) != text {
                file.set_text(self).to(text);
            }
            if *file.default_namespace(self) != ns {
                file.set_default_namespace(self).to(ns);
            }
            return file;
        }
        let id = self.next_id();
        let file = SourceFile::new(&*self, id, kind, path.to_string(), text, ns);
        Arc::make_mut(&mut self.registry).by_path.insert(key, file);
        file
    }

    /// Sets the text of the program file at `path`, adding it to the program when new.
    /// Paths appear in messages and annotations as given, so pass them relative.
    pub fn set_file(&mut self, path: &str, text: String) -> SourceFile {
        use salsa::Setter;
        let ws = self.workspace_input();
        let file = self.input(FileKind::Program, path, text, String::new());
        if !ws.files(self).contains(&file) {
            let mut files = ws.files(self).clone();
            files.push(file);
            files.sort_by(|a, b| a.path(self).cmp(b.path(self)));
            ws.set_files(self).to(files);
        }
        file
    }

    /// Removes the program or manifest file at `path`; true when it was part of the
    /// program. Its input stays, so the path keeps its id if it comes back.
    pub fn remove_file(&mut self, path: &str) -> bool {
        use salsa::Setter;
        let ws = self.workspace_input();
        let mut removed = false;
        for kind in [FileKind::Program, FileKind::Manifest] {
            let Some(file) = self
                .registry
                .by_path
                .get(&(kind, path.to_string()))
                .copied()
            else {
                continue;
            };
            let files = if kind == FileKind::Program {
                ws.files(self)
            } else {
                ws.manifests(self)
            };
            if files.contains(&file) {
                let kept: Vec<SourceFile> = files.iter().copied().filter(|f| *f != file).collect();
                if kind == FileKind::Program {
                    ws.set_files(self).to(kept);
                } else {
                    ws.set_manifests(self).to(kept);
                }
                removed = true;
            }
        }
        removed
    }

    /// The program, stdlib or manifest file at `path`, if the program has it.
    pub fn file(&self, path: &str) -> Option<SourceFile> {
        let ws = self.registry.workspace?;
        ws.files(self)
            .iter()
            .chain(ws.manifests(self).iter())
            .chain(ws.stdlib(self).iter().map(|(_, f)| f))
            .find(|f| f.path(self) == path)
            .copied()
    }

    /// Sets the text of the manifest at `path` (objects without a namespace go to
    /// `default_namespace`), adding it when new.
    pub fn set_manifest(
        &mut self,
        path: &str,
        text: String,
        default_namespace: &str,
    ) -> SourceFile {
        use salsa::Setter;
        let ws = self.workspace_input();
        let file = self.input(
            FileKind::Manifest,
            path,
            text,
            default_namespace.to_string(),
        );
        if !ws.manifests(self).contains(&file) {
            let mut files = ws.manifests(self).clone();
            files.push(file);
            ws.set_manifests(self).to(files);
        }
        file
    }

    /// Makes the program exactly these files, given as (path, text).
    pub fn workspace(&mut self, files: Vec<(String, String)>) -> Workspace {
        let ws = self.workspace_input();
        let keep: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
        let old: Vec<String> = ws
            .files(self)
            .iter()
            .map(|f| f.path(self).clone())
            .filter(|p| !keep.contains(p))
            .collect();
        for path in old {
            self.remove_file(&path);
        }
        for (path, text) in files {
            self.set_file(&path, text);
        }
        ws
    }

    /// Makes the manifests exactly these, given as (path, text, default namespace), with the
    /// driver's load errors.
    pub fn set_manifests(
        &mut self,
        ws: Workspace,
        manifests: Vec<(String, String, String)>,
        errors: Vec<Diagnostic>,
    ) {
        use salsa::Setter;
        let files: Vec<SourceFile> = manifests
            .into_iter()
            .map(|(path, text, ns)| self.input(FileKind::Manifest, &path, text, ns))
            .collect();
        if *ws.manifests(self) != files {
            ws.set_manifests(self).to(files);
        }
        if *ws.load_errors(self) != errors {
            ws.set_load_errors(self).to(errors);
        }
    }

    /// Renders diagnostics as plain codespan text.
    pub fn render(&self, ws: Workspace, diags: &[Diagnostic]) -> String {
        let files = self.all_files(ws);
        render(diags, &RenderFile::all(&files))
    }

    /// Every file of the workspace as (id, path, text).
    pub fn all_files(&self, ws: Workspace) -> Vec<(FileId, String, String)> {
        files_by_id(self, ws)
            .values()
            .map(|f| (f.id(self), f.path(self).clone(), f.text(self).clone()))
            .collect()
    }
}

/// Compiles a program given as (path, text) files and manifests given as (path, text,
/// default namespace), all in memory: the diagnostics and, without errors, the YAML.
pub fn compile_in_memory(
    files: Vec<(String, String)>,
    manifest_files: Vec<(String, String, String)>,
) -> (Vec<Diagnostic>, Option<String>, String) {
    let mut db = Database::default();
    let ws = db.workspace(files);
    db.set_manifests(ws, manifest_files, Vec::new());
    let diags = diagnostics(&db, ws).clone();
    let rendered = db.render(ws, &diags);
    let yaml = emitted(&db, ws).as_ref().map(|docs| {
        docs.iter()
            .map(|d| d.yaml.as_str())
            .collect::<Vec<_>>()
            .join("---\n")
    });
    (diags, yaml, rendered)
}

/// The emitted policies read back from their YAML (so what is checked is what is written),
/// or `None` when the program has errors.
pub fn policy_objects(
    db: &dyn Db,
    ws: Workspace,
) -> Option<Vec<k8s_openapi::api::networking::v1::NetworkPolicy>> {
    let docs = emitted(db, ws).as_ref()?;
    docs.iter()
        .map(|d| serde_saphyr::from_str(&d.yaml).ok())
        .collect()
}

/// Translation validation: whether the emitted policies, read back from their YAML, mean
/// exactly the program for every cluster (`compile --verify`, [`crate::verify`]); `None` when
/// the program has errors or the YAML does not read back.
pub fn verify(
    db: &dyn Db,
    ws: Workspace,
) -> Option<Result<crate::verify::Stats, crate::verify::Failure>> {
    let policies = policy_objects(db, ws)?;
    Some(crate::verify::verify(
        &resolved(db, ws).program,
        manifests(db, ws),
        &policies,
    ))
}

/// Runs the program's `test` blocks; `None` when the program has errors. Spans are file
/// positions.
pub fn run_tests(db: &dyn Db, ws: Workspace) -> Option<Vec<crate::testing::TestResult>> {
    let policies = policy_objects(db, ws)?;
    let mut results = crate::testing::run(&resolved(db, ws).program, manifests(db, ws), &policies);
    for t in &mut results {
        t.span = absolute(db, ws, t.span);
        for a in &mut t.assertions {
            a.span = absolute(db, ws, a.span);
        }
    }
    Some(results)
}

/// The manifests of the workspace as (path, text), as the driver gave them.
pub fn manifest_texts(db: &dyn Db, ws: Workspace) -> Vec<(String, String)> {
    ws.manifests(db)
        .iter()
        .map(|m| (m.path(db).clone(), m.text(db).clone()))
        .collect()
}
