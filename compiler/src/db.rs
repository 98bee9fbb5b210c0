//! The pipeline as salsa queries. Inputs are the program's files, the standard library and
//! the workload manifests; every stage is a tracked function of them, so the language server
//! re-runs only what an edit invalidates.
//!
//! ```text
//! SourceFile ──parse──▶ Parsed ─┐
//! ManifestFile ──manifest──▶ Manifests ─┼─▶ resolved ─▶ checked
//!                                       └─▶ lowered ─▶ optimized ─▶ emitted (YAML)
//! ```

use crate::backend::emit;
use crate::backend::ir::Policies;
use crate::backend::lower::{self, Lowered, NameClash};
use crate::backend::opt;
use crate::check;
use crate::diagnostic::{Code, Diagnostic, RenderFile, render, sort_diagnostics};
use crate::k8s::workloads::{self, Manifests};
use crate::resolve::{self, FileAst, Resolved, StdModule};
use crate::span::{FileId, Span, line_col};
use crate::stdlib;
use crate::syntax::{self, Parsed, ast};

/// First file id of the standard library's modules.
pub const STD_FILE_BASE: u32 = 1 << 20;
/// First file id of manifests.
pub const MANIFEST_FILE_BASE: u32 = 1 << 21;

#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(copy)]
    pub id: FileId,
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
}

#[salsa::input(debug)]
pub struct ManifestFile {
    #[returns(copy)]
    pub id: FileId,
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
    #[returns(ref)]
    pub default_namespace: String,
}

/// A whole program: its files, the standard library, and the manifests it reads.
#[salsa::input(debug)]
pub struct Workspace {
    #[returns(ref)]
    pub files: Vec<SourceFile>,
    #[returns(ref)]
    pub stdlib: Vec<(String, SourceFile)>,
    #[returns(ref)]
    pub manifests: Vec<ManifestFile>,
    /// Problems the driver met while loading manifests (globs matching nothing, …).
    #[returns(ref)]
    pub load_errors: Vec<Diagnostic>,
}

#[salsa::db]
#[derive(Clone, Default)]
pub struct Database {
    storage: salsa::Storage<Self>,
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::tracked(returns(ref))]
pub fn parse(db: &dyn salsa::Database, file: SourceFile) -> Parsed {
    syntax::parse(file.id(db), file.text(db))
}

#[salsa::tracked(returns(ref))]
pub fn manifest(db: &dyn salsa::Database, file: ManifestFile) -> Manifests {
    workloads::parse_manifests(file.id(db), file.text(db), file.default_namespace(db))
}

#[salsa::tracked(returns(ref))]
pub fn manifests(db: &dyn salsa::Database, ws: Workspace) -> Manifests {
    let mut all = Manifests::default();
    for m in ws.manifests(db) {
        all.extend(manifest(db, *m).clone());
    }
    all
}

/// A `workloads` declaration the driver must load: patterns relative to the folder of
/// `file`, and where objects without a namespace go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkloadRequest {
    pub file: FileId,
    pub file_path: String,
    pub pattern: String,
    pub span: Span,
    pub default_namespace: String,
}

#[salsa::tracked(returns(ref))]
pub fn workload_requests(db: &dyn salsa::Database, ws: Workspace) -> Vec<WorkloadRequest> {
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

#[salsa::tracked(returns(ref))]
pub fn resolved(db: &dyn salsa::Database, ws: Workspace) -> Resolved {
    let files: Vec<FileAst<'_>> = ws
        .files(db)
        .iter()
        .map(|f| FileAst {
            file: f.id(db),
            ast: &parse(db, *f).ast,
        })
        .collect();
    let std: Vec<StdModule<'_>> = ws
        .stdlib(db)
        .iter()
        .map(|(name, f)| StdModule {
            name: name.as_str(),
            file: f.id(db),
            ast: &parse(db, *f).ast,
        })
        .collect();
    resolve::resolve(&files, &std, manifests(db, ws))
}

#[salsa::tracked(returns(ref))]
pub fn checked(db: &dyn salsa::Database, ws: Workspace) -> Vec<Diagnostic> {
    check::check(resolved(db, ws), manifests(db, ws))
}

#[salsa::tracked(returns(ref))]
pub fn lowered(db: &dyn salsa::Database, ws: Workspace) -> (Lowered, Vec<NameClash>) {
    lower::lower(&resolved(db, ws).program, manifests(db, ws))
}

#[salsa::tracked(returns(ref))]
pub fn optimized(db: &dyn salsa::Database, ws: Workspace) -> Policies {
    opt::optimize(&lowered(db, ws).0)
}

/// Every diagnostic of the program, sorted.
#[salsa::tracked(returns(ref))]
pub fn diagnostics(db: &dyn salsa::Database, ws: Workspace) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for f in ws.files(db) {
        out.extend(parse(db, *f).errors.iter().cloned());
    }
    for (_, f) in ws.stdlib(db) {
        out.extend(parse(db, *f).errors.iter().cloned());
    }
    out.extend(ws.load_errors(db).iter().cloned());
    out.extend(manifests(db, ws).errors.iter().cloned());
    out.extend(resolved(db, ws).diagnostics.iter().cloned());
    out.extend(checked(db, ws).iter().cloned());
    for clash in &lowered(db, ws).1 {
        out.push(
            Diagnostic::new(
                Code::PolicyNameClash,
                clash.span,
                format!(
                    "two policies would be named `{}` in namespace `{}`",
                    clash.name, clash.namespace
                ),
            )
            .label("this one")
            .secondary(clash.other, "and this one")
            .help("rename one of the declarations"),
        );
    }
    sort_diagnostics(&mut out);
    out
}

/// The compiled YAML, one document per policy, or `None` when the program has errors.
#[salsa::tracked(returns(ref))]
pub fn emitted(db: &dyn salsa::Database, ws: Workspace) -> Option<Vec<EmittedPolicy>> {
    if diagnostics(db, ws).iter().any(Diagnostic::is_error) {
        return None;
    }
    let mut out = Vec::new();
    // Each file's path and line starts, computed once (not a copy of the file per policy).
    let mut lines: std::collections::HashMap<FileId, Option<(String, Vec<usize>)>> =
        std::collections::HashMap::new();
    for ((namespace, name), policy) in optimized(db, ws) {
        let span = policy.origin.span;
        let file = lines.entry(span.file).or_insert_with(|| {
            find_file(db, ws, span.file).map(|(path, text)| {
                let starts = std::iter::once(0)
                    .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                    .collect();
                (path, starts)
            })
        });
        let source = match file {
            Some((path, starts)) => {
                format!(
                    "{path}:{}",
                    starts.partition_point(|&s| s <= span.start).max(1)
                )
            }
            None => "unknown".to_string(),
        };
        let object = emit::to_k8s(policy, &source);
        let yaml = emit::object_yaml(&object).ok()?;
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

/// `file.netpol:line` of a span, with the path as the driver gave it.
pub fn source_ref(db: &dyn salsa::Database, ws: Workspace, span: Span) -> String {
    match find_file(db, ws, span.file) {
        Some((path, text)) => format!("{}:{}", path, line_col(&text, span.start).0),
        None => "unknown".to_string(),
    }
}

/// The path and text of a file by id.
pub fn find_file(db: &dyn salsa::Database, ws: Workspace, id: FileId) -> Option<(String, String)> {
    ws.files(db)
        .iter()
        .chain(ws.stdlib(db).iter().map(|(_, f)| f))
        .find(|f| f.id(db) == id)
        .map(|f| (f.path(db).clone(), f.text(db).clone()))
        .or_else(|| {
            ws.manifests(db)
                .iter()
                .find(|m| m.id(db) == id)
                .map(|m| (m.path(db).clone(), m.text(db).clone()))
        })
}

impl Database {
    /// A workspace for program files given as (path, text). The paths appear in messages
    /// and annotations as given, so pass them relative.
    pub fn workspace(&self, files: Vec<(String, String)>) -> Workspace {
        let files = files
            .into_iter()
            .enumerate()
            .map(|(i, (path, text))| {
                SourceFile::new(
                    self,
                    FileId(u32::try_from(i).unwrap_or(u32::MAX)),
                    path,
                    text,
                )
            })
            .collect();
        let std = stdlib::MODULES
            .iter()
            .enumerate()
            .map(|(i, (name, path, text))| {
                let id = FileId(STD_FILE_BASE + u32::try_from(i).unwrap_or(0));
                (
                    name.to_string(),
                    SourceFile::new(self, id, path.to_string(), text.to_string()),
                )
            })
            .collect();
        Workspace::new(self, files, std, Vec::new(), Vec::new())
    }

    /// Sets the manifests, given as (path, text, default namespace), and load errors.
    pub fn set_manifests(
        &mut self,
        ws: Workspace,
        manifests: Vec<(String, String, String)>,
        errors: Vec<Diagnostic>,
    ) {
        use salsa::Setter;
        let files: Vec<ManifestFile> = manifests
            .into_iter()
            .enumerate()
            .map(|(i, (path, text, ns))| {
                ManifestFile::new(
                    &*self,
                    FileId(MANIFEST_FILE_BASE + u32::try_from(i).unwrap_or(0)),
                    path,
                    text,
                    ns,
                )
            })
            .collect();
        ws.set_manifests(self).to(files);
        ws.set_load_errors(self).to(errors);
    }

    /// Renders diagnostics as plain codespan text.
    pub fn render(&self, ws: Workspace, diags: &[Diagnostic]) -> String {
        let files = self.all_files(ws);
        let render_files: Vec<RenderFile<'_>> = files
            .iter()
            .map(|(id, path, text)| RenderFile {
                id: *id,
                path,
                text,
            })
            .collect();
        render(diags, &render_files)
    }

    /// Every file of the workspace as (id, path, text).
    pub fn all_files(&self, ws: Workspace) -> Vec<(FileId, String, String)> {
        let mut out: Vec<(FileId, String, String)> = Vec::new();
        for f in ws
            .files(self)
            .iter()
            .chain(ws.stdlib(self).iter().map(|(_, f)| f))
        {
            out.push((f.id(self), f.path(self).clone(), f.text(self).clone()));
        }
        for m in ws.manifests(self) {
            out.push((m.id(self), m.path(self).clone(), m.text(self).clone()));
        }
        out
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
    db: &dyn salsa::Database,
    ws: Workspace,
) -> Option<Vec<k8s_openapi::api::networking::v1::NetworkPolicy>> {
    let docs = emitted(db, ws).as_ref()?;
    docs.iter()
        .map(|d| serde_saphyr::from_str(&d.yaml).ok())
        .collect()
}

/// Runs the program's `test` blocks; `None` when the program has errors.
pub fn run_tests(
    db: &dyn salsa::Database,
    ws: Workspace,
) -> Option<Vec<crate::testing::TestResult>> {
    let policies = policy_objects(db, ws)?;
    Some(crate::testing::run(
        &resolved(db, ws).program,
        manifests(db, ws),
        &policies,
    ))
}

/// The manifests of the workspace as (path, text), as the driver gave them.
pub fn manifest_texts(db: &dyn salsa::Database, ws: Workspace) -> Vec<(String, String)> {
    ws.manifests(db)
        .iter()
        .map(|m| (m.path(db).clone(), m.text(db).clone()))
        .collect()
}
