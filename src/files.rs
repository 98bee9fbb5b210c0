//! Reading programs and manifests from disk.

use netpol_compiler::db::{self, Database, Workspace};
use netpol_compiler::diagnostic::Diagnostic;
use std::path::{Path, PathBuf};

/// One program file.
pub struct ProgramFile {
    /// Path relative to the program's folder, with `/` separators: used in annotations, so
    /// output is the same on every machine.
    pub rel: String,
    /// Path as the user would type it, for diagnostics.
    pub shown: String,
    /// The folder the file lives in, for resolving its `workloads` patterns.
    pub dir: PathBuf,
    pub text: String,
}

pub struct Program {
    pub files: Vec<ProgramFile>,
}

/// Files larger than this are refused, so that a stray binary does not exhaust memory.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a text file (UTF-8, at most 64 MiB).
pub fn read_file(path: &Path) -> Result<String, String> {
    read_text(path)
}

/// The files a `--workloads` glob matches, sorted; an error when it is invalid or matches none.
fn expand_cli_glob(g: &str) -> Result<Vec<PathBuf>, String> {
    let paths = glob::glob(g)
        .map_err(|e| format!("`--workloads {g}` is not a valid pattern: {}", e.msg))?;
    let mut matched: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    matched.sort();
    if matched.is_empty() {
        return Err(format!("`--workloads {g}` matches no file"));
    }
    Ok(matched)
}

/// Reads the manifests matching `--workloads` globs (objects without a namespace go to
/// `default`).
pub fn load_cli_manifests(
    globs: &[String],
) -> Result<netpol_compiler::k8s::workloads::Manifests, String> {
    let mut out = netpol_compiler::k8s::workloads::Manifests::default();
    // These manifests are read without a database: any distinct ids do.
    let mut id = 0;
    for g in globs {
        let matched = expand_cli_glob(g)?;
        for p in matched {
            let text = read_text(&p)?;
            let m = netpol_compiler::k8s::workloads::parse_manifests(
                netpol_compiler::span::FileId(id),
                &text,
                "default",
            );
            if let Some(e) = m.errors.first() {
                return Err(format!("`{}`: {}", p.display(), e.message));
            }
            out.extend(m);
            id += 1;
        }
    }
    Ok(out)
}

fn read_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_reason(&e)))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("`{}` is larger than 64 MiB", path.display()));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_reason(&e)))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = e.as_bytes().get(..at).unwrap_or_default();
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        format!(
            "`{}` is not valid UTF-8 (line {line}, byte {at})",
            path.display()
        )
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string().to_lowercase(),
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read `{}`: {}", dir.display(), io_reason(&e)))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden {
                collect(&p, out)?;
            }
        } else if p.extension().is_some_and(|e| e == "netpol") {
            out.push(p);
        }
    }
    Ok(())
}

/// Finds and reads the program's files, in a fixed order.
pub fn load_program(paths: &[PathBuf]) -> Result<Program, String> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut base: Option<PathBuf> = None;
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| format!("cannot read `{}`: {}", p.display(), io_reason(&e)))?;
        if meta.is_dir() {
            let before = found.len();
            collect(p, &mut found)?;
            if found.len() == before {
                return Err(format!("`{}` holds no `.netpol` file", p.display()));
            }
            base = Some(common_base(base, p));
        } else {
            found.push(p.clone());
            base = Some(common_base(base, p.parent().unwrap_or(Path::new(""))));
        }
    }
    found.sort();
    found.dedup();
    let base = base.unwrap_or_default();
    let mut files = Vec::new();
    for path in found {
        let text = read_text(&path)?;
        let rel = path
            .strip_prefix(&base)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        files.push(ProgramFile {
            rel,
            shown: path.display().to_string(),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            text,
        });
    }
    // The order of the program's files must not depend on how they were given.
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(Program { files })
}

/// The deepest folder containing both.
fn common_base(base: Option<PathBuf>, dir: &Path) -> PathBuf {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Some(base) = base else {
        return dir.to_path_buf();
    };
    let a: Vec<_> = base.components().collect();
    let b: Vec<_> = dir.components().collect();
    let common: PathBuf = a
        .iter()
        .zip(b.iter())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.as_os_str())
        .collect();
    if common.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        common
    }
}

type ManifestInputs = Vec<(String, String, String)>;

/// Expands the program's `workloads` patterns and the `--workloads` globs, and reads the
/// files. A pattern in the program that matches nothing is a diagnostic on the pattern; a
/// `--workloads` glob that matches nothing is a usage error.
pub fn load_manifests(
    db: &Database,
    ws: Workspace,
    program: &Program,
    cli_globs: &[String],
) -> Result<(ManifestInputs, Vec<Diagnostic>), String> {
    let (found, errors) = netpol_compiler::k8s::requested::load_requested(
        db::workload_requests(db, ws),
        |req| {
            let dir = program
                .files
                .iter()
                .find(|f| f.rel == req.file_path)
                .map(|f| f.dir.clone())
                .unwrap_or_default();
            let pattern = dir.join(&req.pattern);
            let pattern = pattern.to_string_lossy().into_owned();
            let paths = glob::glob(&pattern).map_err(|e| e.msg.to_string())?;
            let mut files: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            Ok(netpol_compiler::k8s::requested::Matched {
                looked_for: pattern,
                files,
            })
        },
        |p| read_text(p),
    );
    let mut seen: Vec<PathBuf> = found.iter().map(|(p, _, _)| p.clone()).collect();
    let mut out: ManifestInputs = found
        .into_iter()
        .map(|(p, text, ns)| (p.display().to_string(), text, ns))
        .collect();
    for g in cli_globs {
        let matched = expand_cli_glob(g)?;
        for p in matched {
            if seen.contains(&p) {
                continue;
            }
            let text = read_text(&p)?;
            out.push((p.display().to_string(), text, "default".to_string()));
            seen.push(p);
        }
    }
    Ok((out, errors))
}
