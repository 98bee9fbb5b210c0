//! Reading programs and manifests from disk: confined to the repository, regular files only,
//! through bounded readers, with folder walks that detect symlink loops.
//!
//! netpol runs in CI on pull requests anyone may open, so every path it reads is hostile
//! input: a `workloads "/proc/self/environ"` or a `.netpol` link to `/dev/zero` must be
//! refused with a message that quotes nothing of the file.

use netpol_compiler::db::{self, Database, Workspace};
use netpol_compiler::diagnostic::Diagnostic;
use netpol_compiler::k8s::requested::{ExpandError, Matched, load_requested};
use std::cell::Cell;
use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// One program file.
pub struct ProgramFile {
    /// Path relative to the program's folder, with `/` separators: used in annotations, so
    /// output is the same on every machine and whatever the spelling of the paths given.
    pub rel: String,
    /// Path as the user would type it, for diagnostics.
    pub shown: String,
    /// The folder the file lives in, for resolving its `workloads` patterns.
    pub dir: PathBuf,
    /// The file's real location (symlinks resolved): `fmt` writes here.
    pub real: PathBuf,
    pub text: String,
}

pub struct Program {
    pub files: Vec<ProgramFile>,
}

/// A file larger than this is refused (a `kind: List` of 100 MB of Deployments still fits).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// All the files one run reads, together.
pub const MAX_TOTAL_BYTES: u64 = 1024 * 1024 * 1024;

/// Where netpol may read: the repository (the git top-level, or the program's folder outside
/// git) and the `--allow-outside` paths; and how much it has read so far.
pub struct Guard {
    root: PathBuf,
    allowed: Vec<PathBuf>,
    read_so_far: Cell<u64>,
}

impl Guard {
    /// Confines reads to the repository holding `paths` (a program's files and folders).
    pub fn for_program(paths: &[PathBuf], allow_outside: &[PathBuf]) -> Result<Guard, String> {
        let mut base: Option<PathBuf> = None;
        for p in paths {
            let abs = absolute(p)?;
            let dir = if std::fs::metadata(&abs).is_ok_and(|m| m.is_dir()) {
                abs
            } else {
                abs.parent().map(Path::to_path_buf).unwrap_or(abs)
            };
            base = Some(common_base(base, &dir));
        }
        let start = match base {
            Some(b) => b,
            None => absolute(Path::new("."))?,
        };
        Guard::from_start(&start, allow_outside)
    }

    /// Confines reads to the repository holding the current folder (for `import` and
    /// `explain --policies`, which have no program).
    pub fn for_cwd(allow_outside: &[PathBuf]) -> Result<Guard, String> {
        Guard::from_start(&absolute(Path::new("."))?, allow_outside)
    }

    fn from_start(start: &Path, allow_outside: &[PathBuf]) -> Result<Guard, String> {
        let start = std::fs::canonicalize(start)
            .map_err(|e| format!("cannot read `{}`: {}", start.display(), io_reason(&e)))?;
        let root = git_top_level(&start).unwrap_or(start);
        let mut allowed = Vec::new();
        for a in allow_outside {
            allowed.push(std::fs::canonicalize(a).map_err(|e| {
                format!(
                    "`--allow-outside {}`: cannot read it: {}",
                    a.display(),
                    io_reason(&e)
                )
            })?);
        }
        Ok(Guard {
            root,
            allowed,
            read_so_far: Cell::new(0),
        })
    }

    /// The repository's folder (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Is a canonical path inside the repository or an allowed path?
    pub fn is_inside(&self, canonical: &Path) -> bool {
        canonical.starts_with(&self.root) || self.allowed.iter().any(|a| canonical.starts_with(a))
    }

    /// The real location of `path` (links resolved), if it is inside; an error naming the
    /// path otherwise.
    pub fn confine(&self, path: &Path) -> Result<PathBuf, String> {
        let real = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_reason(&e)))?;
        if self.is_inside(&real) {
            Ok(real)
        } else {
            Err(self.outside(path, &real))
        }
    }

    fn outside(&self, path: &Path, real: &Path) -> String {
        let via = if real == absolute(path).unwrap_or_default() {
            String::new()
        } else {
            format!(" (it leads to `{}`)", real.display())
        };
        format!(
            "`{}` is outside the repository `{}`{via}; netpol reads only files inside it unless given `--allow-outside {}`",
            path.display(),
            self.root.display(),
            path.display()
        )
    }

    /// Reads a text file: inside the repository, a regular file, UTF-8, at most
    /// [`MAX_FILE_BYTES`], within the run's total of [`MAX_TOTAL_BYTES`].
    pub fn read(&self, path: &Path) -> Result<String, String> {
        let real = self.confine(path)?;
        let file = open_regular(&real, path)?;
        let left = MAX_TOTAL_BYTES.saturating_sub(self.read_so_far.get());
        let cap = MAX_FILE_BYTES.min(left);
        let mut bytes = Vec::new();
        file.take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_reason(&e)))?;
        let len = bytes.len() as u64;
        if len > cap {
            return Err(if cap == MAX_FILE_BYTES {
                format!("`{}` is larger than 256 MiB", path.display())
            } else {
                format!(
                    "the input files are larger than 1 GiB together (reading `{}`)",
                    path.display()
                )
            });
        }
        self.read_so_far.set(self.read_so_far.get() + len);
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

    /// Walks `base` (following links, with loop detection, in name order) and calls `visit`
    /// on every entry that is not a folder. A link to a folder outside the repository, or a
    /// folder that cannot be read, is an error; a link back to a folder being walked adds
    /// nothing and is skipped.
    fn walk(
        &self,
        base: &Path,
        max_depth: Option<usize>,
        skip_hidden_dirs: bool,
        mut visit: impl FnMut(&walkdir::DirEntry) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut walker = walkdir::WalkDir::new(base)
            .follow_links(true)
            .sort_by_file_name();
        if let Some(d) = max_depth {
            walker = walker.max_depth(d);
        }
        let entries = walker.into_iter().filter_entry(|e| {
            !(skip_hidden_dirs
                && e.depth() > 0
                && e.file_type().is_dir()
                && e.file_name().to_string_lossy().starts_with('.'))
        });
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if e.loop_ancestor().is_some() => continue,
                Err(e) => {
                    let at = e.path().unwrap_or(base).display().to_string();
                    let reason = e.io_error().map_or_else(|| e.to_string(), io_reason);
                    return Err(format!("cannot read `{at}`: {reason}"));
                }
            };
            if entry.file_type().is_dir() {
                if entry.path_is_symlink() {
                    self.confine(entry.path())?;
                }
                continue;
            }
            visit(&entry)?;
        }
        Ok(())
    }

    /// The files a pattern (`k8s/*.yaml`, `**/*.yaml`) matches, sorted. The walk starts at
    /// the pattern's literal folder, which must be inside the repository.
    pub fn expand(&self, pattern: &str) -> Result<Vec<PathBuf>, String> {
        let path = Path::new(pattern);
        let components: Vec<Component<'_>> = path.components().collect();
        let is_wild = |c: &Component<'_>| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
        let split = components
            .iter()
            .position(is_wild)
            .unwrap_or(components.len());
        let base: PathBuf = components.iter().take(split).collect();
        let normalized: PathBuf = components.iter().collect();
        if split == components.len() {
            // No wildcard: the path itself.
            return Ok(if std::fs::symlink_metadata(&normalized).is_ok() {
                vec![normalized]
            } else {
                Vec::new()
            });
        }
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let matcher = glob::Pattern::new(&normalized.to_string_lossy())
            .map_err(|e| format!("`{pattern}` is not a valid pattern: {}", e.msg))?;
        if !base.exists() {
            return Ok(Vec::new());
        }
        let real = std::fs::canonicalize(&base)
            .map_err(|e| format!("cannot read `{}`: {}", base.display(), io_reason(&e)))?;
        if !self.is_inside(&real) {
            return Err(self.outside(&base, &real));
        }
        let rest = components.len() - split;
        let deep = components.iter().skip(split).any(|c| c.as_os_str() == "**");
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        // With `base` = `.`, entries are `./x`; the pattern has no `./`.
        let strip_dot = base == Path::new(".") && components.first() != Some(&Component::CurDir);
        let mut out = Vec::new();
        self.walk(&base, (!deep).then_some(rest), false, |entry| {
            let p = entry.path();
            let p = if strip_dot {
                p.strip_prefix(".").unwrap_or(p)
            } else {
                p
            };
            if matcher.matches_path_with(p, options) {
                out.push(p.to_path_buf());
            }
            Ok(())
        })?;
        out.sort();
        Ok(out)
    }
}

/// Opens a file for reading without following a link and without blocking on a FIFO, and
/// refuses anything but a regular file (devices, FIFOs, sockets).
fn open_regular(real: &Path, shown: &Path) -> Result<std::fs::File, String> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        real,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        format!(
            "cannot read `{}`: {}",
            shown.display(),
            io_reason(&std::io::Error::from(e))
        )
    })?;
    let file = std::fs::File::from(fd);
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read `{}`: {}", shown.display(), io_reason(&e)))?;
    if !meta.is_file() {
        return Err(format!(
            "`{}` is not a regular file (a device, FIFO or socket); netpol reads regular files only",
            shown.display()
        ));
    }
    Ok(file)
}

/// Reads the first `n` bytes of a regular file (not following links, never blocking);
/// `None` for anything else.
pub fn read_prefix(path: &Path, n: usize) -> Option<Vec<u8>> {
    let file = open_regular(path, path).ok()?;
    let mut buf = Vec::with_capacity(n);
    file.take(n as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The nearest folder at or above `start` holding `.git` (a folder, or a file in worktrees).
fn git_top_level(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| std::fs::symlink_metadata(d.join(".git")).is_ok())
        .map(Path::to_path_buf)
}

/// `path` made absolute and normalized lexically (`.` and `..` removed), without resolving
/// links: the spelling-independent name of a path.
pub fn absolute(path: &Path) -> Result<PathBuf, String> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("cannot read the current folder: {}", io_reason(&e)))?
            .join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Reads the manifests matching `--workloads` globs (objects without a namespace go to
/// `default`).
pub fn load_cli_manifests(
    guard: &Guard,
    globs: &[String],
) -> Result<netpol_compiler::k8s::workloads::Manifests, String> {
    let mut out = netpol_compiler::k8s::workloads::Manifests::default();
    let matched = expand_cli_globs(guard, globs, &mut HashSet::new())?;
    // These manifests are read without a database: any distinct ids do.
    for (id, p) in (0..).zip(matched) {
        let text = guard.read(&p)?;
        let m = netpol_compiler::k8s::workloads::parse_manifests(
            netpol_compiler::span::FileId(id),
            &text,
            "default",
        );
        if let Some(e) = m.errors.first() {
            return Err(format!("`{}`: {}", p.display(), e.message));
        }
        out.extend(m);
    }
    Ok(out)
}

/// The files `--workloads` globs match, not already in `seen` (real paths); an error when a
/// glob is invalid or matches none.
fn expand_cli_globs(
    guard: &Guard,
    globs: &[String],
    seen: &mut HashSet<PathBuf>,
) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for g in globs {
        let matched = guard
            .expand(g)
            .map_err(|e| format!("`--workloads {g}`: {e}"))?;
        if matched.is_empty() {
            return Err(format!("`--workloads {g}` matches no file"));
        }
        for p in matched {
            if seen.insert(guard.confine(&p)?) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string().to_lowercase(),
    }
}

/// Finds and reads the program's files, in a fixed order.
pub fn load_program(guard: &Guard, paths: &[PathBuf]) -> Result<Program, String> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut base: Option<PathBuf> = None;
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| format!("cannot read `{}`: {}", p.display(), io_reason(&e)))?;
        if meta.is_dir() {
            guard.confine(p)?;
            let before = found.len();
            guard.walk(p, None, true, |entry| {
                if entry.path().extension().is_some_and(|e| e == "netpol") {
                    found.push(entry.path().to_path_buf());
                }
                Ok(())
            })?;
            if found.len() == before {
                return Err(format!("`{}` holds no `.netpol` file", p.display()));
            }
            base = Some(common_base(base, &absolute(p)?));
        } else {
            not_a_program(p)?;
            found.push(p.clone());
            let abs = absolute(p)?;
            base = Some(common_base(base, abs.parent().unwrap_or(Path::new("/"))));
        }
    }
    let base = base.unwrap_or_default();
    // The same file reached twice (two spellings, a link to a folder) is read once.
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut files = Vec::new();
    for path in found {
        let real = guard.confine(&path)?;
        if !seen.insert(real.clone()) {
            continue;
        }
        let text = guard.read(&path)?;
        let abs = absolute(&path)?;
        let rel = abs
            .strip_prefix(&base)
            .unwrap_or(&abs)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        files.push(ProgramFile {
            rel,
            shown: path.display().to_string(),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            real,
            text,
        });
    }
    // The order of the program's files must not depend on how they were given.
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files.dedup_by(|a, b| a.rel == b.rel);
    Ok(Program { files })
}

/// Refuses a file given as part of a program that is plainly something else: YAML or JSON
/// (manifests or NetworkPolicies), with the command that reads it.
fn not_a_program(path: &Path) -> Result<(), String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("yaml" | "yml" | "json") => Err(format!(
            "`{p}` is not a `.netpol` file: give workload manifests with `--workloads {p}`, or turn NetworkPolicies into a program with `netpol import {p}`",
            p = path.display()
        )),
        _ => Ok(()),
    }
}

/// The deepest folder containing both (absolute, normalized paths).
fn common_base(base: Option<PathBuf>, dir: &Path) -> PathBuf {
    let Some(base) = base else {
        return dir.to_path_buf();
    };
    base.components()
        .zip(dir.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.as_os_str())
        .collect()
}

type ManifestInputs = Vec<(String, String, String)>;

/// Expands the program's `workloads` patterns and the `--workloads` globs, and reads the
/// files. A pattern in the program that matches nothing, or that reaches outside the
/// repository, is a diagnostic on the pattern; a `--workloads` glob that matches nothing is a
/// usage error.
pub fn load_manifests(
    guard: &Guard,
    db: &Database,
    ws: Workspace,
    program: &Program,
    cli_globs: &[String],
) -> Result<(ManifestInputs, Vec<Diagnostic>), String> {
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let (found, errors) = load_requested(
        db::workload_requests(db, ws),
        |req| {
            let dir = program
                .files
                .iter()
                .find(|f| f.rel == req.file_path)
                .map(|f| f.dir.clone())
                .unwrap_or_default();
            let pattern = dir.join(&req.pattern).to_string_lossy().into_owned();
            let files = guard.expand(&pattern).map_err(ExpandError::Unreadable)?;
            Ok(Matched {
                looked_for: pattern,
                files,
            })
        },
        // Read each real file once, whatever path reached it.
        |p| {
            let real = guard.confine(p)?;
            if seen.insert(real) {
                guard.read(p).map(Some)
            } else {
                Ok(None)
            }
        },
    );
    let mut out: ManifestInputs = found
        .into_iter()
        .map(|(p, text, ns)| (p.display().to_string(), text, ns))
        .collect();
    for p in expand_cli_globs(guard, cli_globs, &mut seen)? {
        let text = guard.read(&p)?;
        out.push((p.display().to_string(), text, "default".to_string()));
    }
    Ok((out, errors))
}
