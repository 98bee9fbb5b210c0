//! One side of a review (`netpol diff`, `netpol graph`): a program or a set of NetworkPolicy
//! YAML, read from disk or from a git revision, compiled, with the workloads it is evaluated
//! over. This file is where the review commands use the compiler's database.

use crate::git::{Repo, Revision};
use crate::{EXIT_PROGRAM_ERRORS, Loaded, fail, files};
use codespan_reporting::term::termcolor::ColorChoice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use netpol_compiler::db::{self, Database};
use netpol_compiler::diagnostic::{Code, Diagnostic};
use netpol_compiler::explain;
use netpol_compiler::k8s::eval::Cluster;
use netpol_compiler::k8s::workloads::{Manifests, parse_manifests};
use netpol_compiler::resolve::hir::Program;
use netpol_compiler::span::FileId;
use std::path::{Path, PathBuf};

/// Where a side's files come from.
pub enum Source<'a> {
    /// The working tree; the paths `--allow-outside` lets it read beyond the repository.
    Disk(&'a [PathBuf]),
    Git(&'a Repo, &'a Revision),
}

/// A compiled side.
pub struct Side {
    pub policies: Vec<NetworkPolicy>,
    pub manifests: Manifests,
    /// The program, when the side is one (not `--policies`).
    pub program: Option<Program>,
    /// The program's diagnostics, with spans as the program's (for the graph's warnings).
    pub diagnostics: Vec<Diagnostic>,
    /// The program's declared namespaces (they are part of the cluster even without pods).
    pub namespaces: Vec<String>,
}

impl Side {
    pub fn cluster(&self) -> Cluster {
        explain::cluster(&self.manifests, &self.namespaces)
    }
}

/// Compiles the program at `paths`; diagnostics are printed, errors end it with exit code 1.
pub fn program(
    source: &Source<'_>,
    paths: &[PathBuf],
    workloads: &[String],
    color: ColorChoice,
) -> Result<Side, u8> {
    let loaded = match source {
        Source::Disk(allow_outside) => crate::load(
            &crate::ProgramArgs {
                paths: paths.to_vec(),
                workloads: workloads.to_vec(),
                format: crate::report::Format::Human,
                warnings: false,
            },
            allow_outside,
        )?,
        Source::Git(repo, rev) => load_git(repo, rev, paths, workloads)?,
    };
    // Errors only: the review is about the change, `netpol check` shows the warnings.
    let diagnostics = db::diagnostics(&loaded.db, loaded.ws).clone();
    let errors: Vec<Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if crate::human_report(&loaded, &errors, color) {
        return Err(EXIT_PROGRAM_ERRORS);
    }
    let Some(policies) = db::policy_objects(&loaded.db, loaded.ws) else {
        return Err(fail("the compiled policies could not be read back"));
    };
    let program = db::resolved(&loaded.db, loaded.ws).program.clone();
    Ok(Side {
        policies,
        // Spans relative to their items, as the resolved program's are.
        diagnostics: db::program_diagnostics(&loaded.db, loaded.ws).clone(),
        manifests: db::manifests(&loaded.db, loaded.ws).clone(),
        namespaces: program.namespaces.keys().cloned().collect(),
        program: Some(program),
    })
}

/// Reads NetworkPolicy YAML: `paths` are files, or folders searched for `.yaml`/`.yml` files.
pub fn policies(source: &Source<'_>, paths: &[PathBuf], workloads: &[String]) -> Result<Side, u8> {
    let mut texts: Vec<(String, String)> = Vec::new();
    match source {
        Source::Disk(allow_outside) => {
            let guard = files::Guard::for_program(paths, allow_outside).map_err(fail)?;
            for p in paths {
                for f in yaml_files(p).map_err(fail)? {
                    let text = guard.read(&f).map_err(fail)?;
                    texts.push((f.display().to_string(), text));
                }
            }
        }
        Source::Git(repo, rev) => {
            for p in paths {
                let at = repo.in_repo(p).map_err(fail)?;
                let found: Vec<_> = rev
                    .under(&at)
                    .into_iter()
                    .filter(|f| f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
                    .collect();
                if found.is_empty() {
                    return Err(fail(format!(
                        "`{}` holds no YAML file at `{}`",
                        p.display(),
                        rev.name
                    )));
                }
                for f in found {
                    let text = repo.read(rev, f).map_err(fail)?;
                    texts.push((format!("{}:{}", rev.name, f.path), text));
                }
            }
        }
    }
    let mut policies = Vec::new();
    for (name, text) in &texts {
        let read = explain::read_policies(text)
            .map_err(|e| fail(format!("`{name}` cannot be read: {e}")))?;
        policies.extend(read);
    }
    let manifests = match source {
        Source::Disk(_) if workloads.is_empty() => Manifests::default(),
        Source::Disk(allow_outside) => {
            let guard = files::Guard::for_program(paths, allow_outside).map_err(fail)?;
            files::load_cli_manifests(&guard, workloads).map_err(fail)?
        }
        Source::Git(repo, rev) => {
            let mut m = Manifests::default();
            for (i, (path, text, ns)) in git_globs(repo, rev, workloads)?.into_iter().enumerate() {
                // Read without a database: any distinct ids do.
                let id = FileId(u64::try_from(i).unwrap_or(u64::MAX));
                let parsed = parse_manifests(id, &text, &ns);
                if let Some(e) = parsed.errors.first() {
                    return Err(fail(format!("`{path}`: {}", e.message)));
                }
                m.extend(parsed);
            }
            m
        }
    };
    Ok(Side {
        policies,
        manifests,
        program: None,
        diagnostics: Vec::new(),
        namespaces: Vec::new(),
    })
}

fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        for e in entries.flatten() {
            let p = e.path();
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() && !hidden {
                stack.push(p);
            } else if kind.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(format!("`{}` holds no `.yaml` file", path.display()));
    }
    Ok(out)
}

/// `--workloads` globs matched in a revision's tree (relative to the current folder).
fn git_globs(
    repo: &Repo,
    rev: &Revision,
    globs: &[String],
) -> Result<Vec<(String, String, String)>, u8> {
    let mut out = Vec::new();
    for g in globs {
        let at = repo.in_repo(Path::new(g)).map_err(fail)?;
        let matched = rev
            .glob(&at)
            .map_err(|e| fail(format!("`--workloads {g}` is not a valid pattern: {e}")))?;
        if matched.is_empty() {
            return Err(fail(format!(
                "`--workloads {g}` matches no file at `{}`",
                rev.name
            )));
        }
        for f in matched {
            let text = repo.read(rev, f).map_err(fail)?;
            out.push((
                format!("{}:{}", rev.name, f.path),
                text,
                "default".to_string(),
            ));
        }
    }
    Ok(out)
}

/// Loads a program from a revision's tree, as `crate::load` does from disk.
fn load_git(
    repo: &Repo,
    rev: &Revision,
    paths: &[PathBuf],
    workloads: &[String],
) -> Result<Loaded, u8> {
    // The program's files, named relative to the folder of the (first) path.
    let mut found: Vec<(String, String)> = Vec::new(); // (repo path, rel)
    let mut base: Option<Vec<String>> = None;
    for p in paths {
        let at = repo.in_repo(p).map_err(fail)?;
        let files: Vec<&str> = rev
            .under(&at)
            .into_iter()
            .map(|f| f.path.as_str())
            .filter(|f| f.ends_with(".netpol"))
            .filter(|f| {
                // Hidden folders below the path are skipped, as on disk.
                let rest = f.strip_prefix(&at).unwrap_or(f);
                !rest.split('/').any(|c| c.starts_with('.') && c.len() > 1)
            })
            .collect();
        if files.is_empty() {
            return Err(fail(format!(
                "`{}` holds no `.netpol` file at `{}`",
                p.display(),
                rev.name
            )));
        }
        let dir: Vec<String> = if files.len() == 1 && files.first() == Some(&at.as_str()) {
            at.split('/')
                .map(str::to_string)
                .collect::<Vec<_>>()
                .split_last()
                .map(|(_, d)| d.to_vec())
                .unwrap_or_default()
        } else {
            at.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        base = Some(match base {
            None => dir,
            Some(b) => b
                .iter()
                .zip(&dir)
                .take_while(|(x, y)| x == y)
                .map(|(x, _)| x.clone())
                .collect(),
        });
        found.extend(files.into_iter().map(|f| (f.to_string(), String::new())));
    }
    let base = base.unwrap_or_default().join("/");
    found.sort();
    found.dedup();
    let mut program_files: Vec<(String, String, String)> = Vec::new(); // rel, repo path, text
    for (path, _) in &found {
        let Some(file) = rev.files.iter().find(|f| f.path == *path) else {
            continue;
        };
        let text = repo.read(rev, file).map_err(fail)?;
        let rel = if base.is_empty() {
            path.clone()
        } else {
            path.strip_prefix(&format!("{base}/"))
                .unwrap_or(path)
                .to_string()
        };
        program_files.push((rel, path.clone(), text));
    }
    program_files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut db = Database::default();
    let ws = db.workspace(
        program_files
            .iter()
            .map(|(rel, _, text)| (rel.clone(), text.clone()))
            .collect(),
    );
    let mut manifests: Vec<(String, String, String)> = Vec::new();
    let mut errors = Vec::new();
    for req in db::workload_requests(&db, ws) {
        let dir: Vec<&str> = program_files
            .iter()
            .find(|(rel, _, _)| *rel == req.file_path)
            .map(|(_, path, _)| path.split('/').collect::<Vec<_>>())
            .and_then(|v| v.split_last().map(|(_, d)| d.to_vec()))
            .unwrap_or_default();
        let joined = dir.into_iter().chain(req.pattern.split('/'));
        let Some(pattern) = crate::git::normalize(joined) else {
            errors.push(
                Diagnostic::new(
                    Code::NoManifests,
                    req.span,
                    format!("`{}` leaves the repository", req.pattern),
                )
                .label("patterns must stay inside the repository"),
            );
            continue;
        };
        let pattern = pattern.join("/");
        match rev.glob(&pattern) {
            Err(e) => errors.push(
                Diagnostic::new(Code::NoManifests, req.span, format!("`{}` is not a valid pattern", req.pattern))
                    .label(e),
            ),
            Ok(matched) if matched.is_empty() => errors.push(
                Diagnostic::new(Code::NoManifests, req.span, format!("no file matches `{}`", req.pattern))
                    .label("this pattern matches nothing")
                    .help(format!("patterns are relative to the folder of the file: looked for `{pattern}` at `{}`", rev.name)),
            ),
            Ok(matched) => {
                for f in matched {
                    let shown = format!("{}:{}", rev.name, f.path);
                    if manifests.iter().any(|(p, _, _)| *p == shown) {
                        continue;
                    }
                    let text = repo.read(rev, f).map_err(fail)?;
                    manifests.push((shown, text, req.default_namespace.clone()));
                }
            }
        }
    }
    for m in git_globs(repo, rev, workloads)? {
        if !manifests.iter().any(|(p, _, _)| *p == m.0) {
            manifests.push(m);
        }
    }
    db.set_manifests(ws, manifests, errors);
    let mut display = db.all_files(ws);
    for (rel, repo_path, _) in &program_files {
        let Some(id) = db.file(rel).map(|file| file.id(&db)) else {
            continue;
        };
        if let Some((_, path, _)) = display.iter_mut().find(|(i, _, _)| *i == id) {
            *path = format!("{}:{repo_path}", rev.name);
        }
    }
    let guard = files::Guard::for_cwd(&[]).map_err(fail)?;
    Ok(Loaded {
        guard,
        db,
        ws,
        display,
    })
}
