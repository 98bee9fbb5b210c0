//! The one adapter between the server and the compiler's database: the programs of the
//! workspace as salsa inputs, the open documents over the files on disk, and read-only
//! snapshots for queries. Nothing else in this crate touches `netpol_compiler::db`.
//!
//! Each program has its own database (the compiler's `Database` holds one program). An edit
//! sets one input (`set_file`); salsa re-runs what depends on it. A file added or removed is
//! `set_file` / `remove_file` on the same database, so nothing is renumbered.

use crate::workspace;
use netpol_compiler::db::{self, Database, EmittedPolicy, FileKind, Workspace};
use netpol_compiler::diagnostic::Diagnostic;
use netpol_compiler::k8s::requested::{ExpandError, Matched, load_requested};
use netpol_compiler::k8s::workloads::Manifests;
use netpol_compiler::resolve::hir;
use netpol_compiler::span::{FileId, Span};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An open document: the editor's text wins over the disk's.
#[derive(Clone, Debug)]
pub struct Doc {
    pub version: i32,
    pub text: String,
}

/// Where a file of a program lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk (a program file or a manifest).
    Disk(PathBuf),
    /// A standard library module, by its path (`std/dns.netpol`): read-only.
    Std(String),
}

/// One program: a folder (or a lone file) and the database of its inputs.
#[derive(Clone)]
struct Program {
    root: PathBuf,
    db: Database,
    ws: Workspace,
    /// Absolute paths of the program's files, in the order of the workspace's inputs.
    files: Vec<PathBuf>,
    /// The manifests read, in input order.
    manifests: Vec<PathBuf>,
    requests: Vec<db::WorkloadRequest>,
    /// Whether loading the manifests met problems (diagnostics located on the requests).
    load_errors: bool,
}

/// Whether the manifests must be loaded again: a pattern or namespace changed, or a request
/// moved while a diagnostic sits on it.
fn must_reload(
    old: &[db::WorkloadRequest],
    new: &[db::WorkloadRequest],
    load_errors: bool,
) -> bool {
    let key = |r: &db::WorkloadRequest| {
        (
            r.file_path.clone(),
            r.pattern.clone(),
            r.default_namespace.clone(),
        )
    };
    let moved = old.iter().map(|r| r.span).ne(new.iter().map(|r| r.span));
    old.iter().map(key).ne(new.iter().map(key)) || (load_errors && moved)
}

#[derive(Default)]
pub struct Session {
    folders: Vec<PathBuf>,
    programs: Vec<Program>,
    docs: BTreeMap<PathBuf, Doc>,
    /// Bumped on every change: a result computed for an older revision is not published.
    revision: u64,
}

/// A read-only view of one program at one revision, safe to query on another thread. The
/// database is a clone: a setter on the session cancels it (queries then unwind with
/// `salsa::Cancelled`, caught by the caller) and waits until it is dropped.
pub struct Snapshot {
    program: Program,
    pub revision: u64,
    /// The open documents' versions, to publish diagnostics against.
    pub versions: BTreeMap<PathBuf, i32>,
}

impl Session {
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Opens the workspace folders: discovers their programs and loads them.
    pub fn set_folders(&mut self, folders: Vec<PathBuf>) {
        self.folders = folders;
        self.rescan();
    }

    pub fn doc(&self, path: &Path) -> Option<&Doc> {
        self.docs.get(path)
    }

    /// An open document's text changed (or it was opened). Older versions are ignored.
    pub fn set_doc(&mut self, path: PathBuf, version: i32, text: String) {
        if self.docs.get(&path).is_some_and(|d| d.version > version) {
            return;
        }
        let same = self.docs.get(&path).is_some_and(|d| d.text == text);
        self.docs.insert(path.clone(), Doc { version, text });
        if !same || !self.knows(&path) {
            self.file_changed(&path);
        }
    }

    /// A document was closed: the file on disk is the truth again.
    pub fn close_doc(&mut self, path: &Path) {
        if self.docs.remove(path).is_some() {
            self.file_changed(path);
        }
    }

    /// Files changed on disk (from the client's file watcher).
    pub fn disk_changed(&mut self, paths: &[PathBuf]) {
        let mut structural = false;
        let mut manifests = false;
        for p in paths {
            if p.extension().is_some_and(|e| e == "netpol") {
                if self.docs.contains_key(p) {
                    continue;
                }
                if self.knows(p) != p.is_file() {
                    structural = true;
                } else {
                    self.file_changed(p);
                }
            } else {
                manifests = true;
            }
        }
        if structural {
            self.rescan();
        } else if manifests {
            for i in 0..self.programs.len() {
                self.reload_manifests(i);
            }
            self.revision += 1;
        }
    }

    fn knows(&self, path: &Path) -> bool {
        self.programs
            .iter()
            .any(|p| p.files.iter().any(|f| f == path))
    }

    /// Sets one file's text from the document or the disk; a new or vanished file rescans.
    fn file_changed(&mut self, path: &Path) {
        self.revision += 1;
        let text = self.text_of(path);
        let found = self
            .programs
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.files.iter().position(|f| f == path).map(|j| (i, j)));
        match (found, text) {
            (Some((i, _)), Some(text)) => {
                let Some(program) = self.programs.get_mut(i) else {
                    return;
                };
                let rel = workspace::relative(&program.root, path);
                if program
                    .db
                    .file(&rel)
                    .is_none_or(|f| *f.text(&program.db) != text)
                {
                    program.db.set_file(&rel, text);
                    let requests = db::workload_requests(&program.db, program.ws).clone();
                    if must_reload(&program.requests, &requests, program.load_errors) {
                        self.reload_manifests(i);
                    }
                }
            }
            _ => self.rescan(),
        }
    }

    fn text_of(&self, path: &Path) -> Option<String> {
        match self.docs.get(path) {
            Some(d) => Some(d.text.clone()),
            None => workspace::read_text(path).ok(),
        }
    }

    /// Rediscovers every program from the folders, the disk and the open documents, and
    /// rebuilds their inputs.
    fn rescan(&mut self) {
        self.revision += 1;
        let mut groups: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
        let mut claimed: Vec<PathBuf> = Vec::new();
        for folder in &self.folders {
            let mut files = workspace::netpol_files(folder);
            files.extend(
                self.docs
                    .keys()
                    .filter(|p| {
                        p.starts_with(folder) && p.extension().is_some_and(|e| e == "netpol")
                    })
                    .cloned(),
            );
            files.sort();
            files.dedup();
            for root in workspace::program_roots(folder, &files) {
                let mine: Vec<PathBuf> = files
                    .iter()
                    .filter(|f| f.starts_with(&root) && !claimed.contains(f))
                    .cloned()
                    .collect();
                claimed.extend(mine.iter().cloned());
                groups.push((root, mine));
            }
        }
        for path in self.docs.keys() {
            if !claimed.contains(path) && path.extension().is_some_and(|e| e == "netpol") {
                let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
                groups.push((root, vec![path.clone()]));
            }
        }
        let mut old = std::mem::take(&mut self.programs);
        for (root, files) in groups {
            let inputs: Vec<(String, String)> = files
                .iter()
                .map(|f| {
                    (
                        workspace::relative(&root, f),
                        self.text_of(f).unwrap_or_default(),
                    )
                })
                .collect();
            // The same root keeps its database: unchanged files keep their inputs.
            let mut db = match old.iter().position(|p| p.root == root) {
                Some(i) => old.swap_remove(i).db,
                None => Database::default(),
            };
            let ws = db.workspace(inputs);
            self.programs.push(Program {
                root,
                db,
                ws,
                files,
                manifests: Vec::new(),
                requests: Vec::new(),
                load_errors: false,
            });
            let i = self.programs.len() - 1;
            self.reload_manifests(i);
        }
    }

    /// Expands program `i`'s `workloads` patterns again and reads the manifests.
    fn reload_manifests(&mut self, i: usize) {
        let Some(program) = self.programs.get(i) else {
            return;
        };
        let requests = db::workload_requests(&program.db, program.ws).clone();
        let root = program.root.clone();
        let (found, errors) = load_requested(
            &requests,
            |req| {
                let dir = root
                    .join(&req.file_path)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.clone());
                let files =
                    workspace::expand_glob(&dir, &req.pattern).map_err(ExpandError::Invalid)?;
                Ok(Matched {
                    looked_for: dir.join(&req.pattern).display().to_string(),
                    files,
                })
            },
            |p| workspace::read_text(p).map(Some),
        );
        let paths: Vec<PathBuf> = found.iter().map(|(p, _, _)| p.clone()).collect();
        let inputs = found
            .into_iter()
            .map(|(p, text, ns)| (p.display().to_string(), text, ns))
            .collect();
        let load_errors = !errors.is_empty();
        if let Some(p) = self.programs.get_mut(i) {
            p.db.set_manifests(p.ws, inputs, errors);
            p.manifests = paths;
            p.requests = requests;
            p.load_errors = load_errors;
        }
    }

    /// The snapshot of the program `path` belongs to (a program file or a manifest).
    pub fn snapshot_for(&self, path: &Path) -> Option<Snapshot> {
        let program = self
            .programs
            .iter()
            .find(|p| p.files.iter().any(|f| f == path))
            .or_else(|| {
                self.programs
                    .iter()
                    .find(|p| p.manifests.iter().any(|f| f == path))
            })?;
        Some(self.snapshot(program))
    }

    /// A snapshot of every program.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.programs.iter().map(|p| self.snapshot(p)).collect()
    }

    fn snapshot(&self, program: &Program) -> Snapshot {
        Snapshot {
            program: program.clone(),
            revision: self.revision,
            versions: self
                .docs
                .iter()
                .map(|(p, d)| (p.clone(), d.version))
                .collect(),
        }
    }
}

impl Snapshot {
    pub fn root(&self) -> &Path {
        &self.program.root
    }

    fn db(&self) -> &Database {
        &self.program.db
    }

    /// The program's files on disk, and the manifests it reads.
    pub fn disk_files(&self) -> Vec<PathBuf> {
        self.program
            .files
            .iter()
            .chain(self.program.manifests.iter())
            .cloned()
            .collect()
    }

    pub fn file_id(&self, path: &Path) -> Option<FileId> {
        if !self.program.files.iter().any(|f| f == path) {
            return None;
        }
        let rel = workspace::relative(&self.program.root, path);
        self.db().file(&rel).map(|f| f.id(self.db()))
    }

    fn input(&self, id: FileId) -> Option<db::SourceFile> {
        db::files_by_id(self.db(), self.program.ws)
            .get(&id)
            .copied()
    }

    /// Where a file id lives.
    pub fn origin(&self, id: FileId) -> Option<Origin> {
        let f = self.input(id)?;
        let path = f.path(self.db());
        Some(match f.kind(self.db()) {
            FileKind::Program => Origin::Disk(self.program.root.join(path)),
            FileKind::Manifest => Origin::Disk(PathBuf::from(path)),
            FileKind::Stdlib => Origin::Std(path.clone()),
        })
    }

    pub fn is_std(&self, id: FileId) -> bool {
        matches!(self.origin(id), Some(Origin::Std(_)))
    }

    /// The text of a file, as the compiler sees it.
    pub fn text(&self, id: FileId) -> Option<String> {
        self.input(id).map(|f| f.text(self.db()).clone())
    }

    /// A span of the resolved program (relative to its item) as a file span.
    pub fn abs(&self, span: Span) -> Span {
        db::absolute(self.db(), self.program.ws, span)
    }

    /// Every diagnostic of the program (the CLI's `check`), with file spans.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        db::diagnostics(self.db(), self.program.ws)
    }

    pub fn program(&self) -> &hir::Program {
        &db::resolved(self.db(), self.program.ws).program
    }

    pub fn manifests(&self) -> &Manifests {
        db::manifests(self.db(), self.program.ws)
    }

    /// The compiled policies, or `None` while the program has errors.
    pub fn emitted(&self) -> Option<&[EmittedPolicy]> {
        db::emitted(self.db(), self.program.ws).as_deref()
    }

    /// The program's `test` blocks run, or `None` while it has errors.
    pub fn run_tests(&self) -> Option<Vec<netpol_compiler::testing::TestResult>> {
        db::run_tests(self.db(), self.program.ws)
    }
}
