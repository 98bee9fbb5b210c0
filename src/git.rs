//! Reading files of a git revision without checking it out: `git ls-tree` and `git cat-file`
//! run in the repository that holds the current folder. Only regular files (blobs that are
//! not symbolic links or submodules) inside the repository are read, each at most 64 MiB.

use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// Blobs larger than this are refused, as files on disk are.
const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;

/// A repository, by its top-level folder, and where the current folder is inside it.
pub struct Repo {
    root: PathBuf,
    /// The current folder relative to the root, as `/`-separated components.
    prefix: Vec<String>,
}

/// One regular file of a revision's tree.
#[derive(Clone, Debug)]
pub struct TreeFile {
    /// Path from the repository root, `/`-separated.
    pub path: String,
    id: String,
    size: u64,
}

/// A revision: the commit it names and what was typed.
pub struct Revision {
    pub name: String,
    commit: String,
    pub files: Vec<TreeFile>,
}

fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("cannot run `git`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim().to_string();
        return Err(format!("`git {}` failed: {first}", args.join(" ")));
    }
    Ok(out.stdout)
}

fn text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "git printed something that is not UTF-8".to_string())
}

/// `a/./b/../c` as components, or `None` when `..` leaves the start.
pub fn normalize<'a>(parts: impl IntoIterator<Item = &'a str>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for p in parts {
        match p {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            other => out.push(other.to_string()),
        }
    }
    Some(out)
}

impl Repo {
    /// The repository holding the current folder.
    pub fn open() -> Result<Repo, String> {
        let here = std::env::current_dir().map_err(|e| format!("no current folder: {e}"))?;
        let top = text(run(&here, &["rev-parse", "--show-toplevel"])?)?;
        let prefix = text(run(&here, &["rev-parse", "--show-prefix"])?)?;
        Ok(Repo {
            root: PathBuf::from(top.trim_end_matches('\n')),
            prefix: prefix
                .trim_end_matches('\n')
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// Whether `rev` names a commit.
    pub fn has_revision(&self, rev: &str) -> bool {
        !rev.starts_with('-')
            && run(
                &self.root,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{rev}^{{commit}}"),
                ],
            )
            .is_ok()
    }

    /// The files of revision `rev`.
    pub fn revision(&self, rev: &str) -> Result<Revision, String> {
        if rev.is_empty() || rev.starts_with('-') || rev.contains('\0') {
            return Err(format!("`{rev}` is not a revision"));
        }
        let commit = text(
            run(
                &self.root,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{rev}^{{commit}}"),
                ],
            )
            .map_err(|_| format!("`{rev}` is not a commit of this repository"))?,
        )?
        .trim()
        .to_string();
        let listing = run(
            &self.root,
            &["ls-tree", "-r", "-z", "-l", "--full-tree", &commit],
        )?;
        let mut files = Vec::new();
        for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let fields: Vec<&str> = meta.split_whitespace().collect();
            // mode type id size; only regular files (not links 120000, not submodules).
            if let [mode, "blob", id, size] = fields.as_slice()
                && (*mode == "100644" || *mode == "100755")
            {
                files.push(TreeFile {
                    path: path.to_string(),
                    id: (*id).to_string(),
                    size: size.parse().unwrap_or(u64::MAX),
                });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Revision {
            name: rev.to_string(),
            commit,
            files,
        })
    }

    /// `path` (as typed, relative to the current folder or absolute) as a path from the
    /// repository root; an error when it leaves the repository.
    pub fn in_repo(&self, path: &Path) -> Result<String, String> {
        let parts: Vec<String> = if path.is_absolute() {
            let root = std::fs::canonicalize(&self.root).unwrap_or(self.root.clone());
            let rest = path
                .strip_prefix(&root)
                .or_else(|_| path.strip_prefix(&self.root))
                .map_err(|_| format!("`{}` is outside the repository", path.display()))?;
            rest.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        } else {
            let mut v = self.prefix.clone();
            for c in path.components() {
                match c {
                    Component::Normal(s) => v.push(s.to_string_lossy().into_owned()),
                    Component::ParentDir => v.push("..".to_string()),
                    _ => {}
                }
            }
            v
        };
        normalize(parts.iter().map(String::as_str))
            .map(|v| v.join("/"))
            .ok_or_else(|| format!("`{}` is outside the repository", path.display()))
    }

    /// The text of one file of a revision (UTF-8, at most 64 MiB).
    pub fn read(&self, rev: &Revision, file: &TreeFile) -> Result<String, String> {
        if file.size > MAX_BLOB_BYTES {
            return Err(format!(
                "`{}:{}` is larger than 64 MiB",
                rev.name, file.path
            ));
        }
        let bytes = run(&self.root, &["cat-file", "blob", &file.id])?;
        let _ = &rev.commit;
        String::from_utf8(bytes)
            .map_err(|_| format!("`{}:{}` is not valid UTF-8", rev.name, file.path))
    }
}

impl Revision {
    /// The files at `path` (a file, or every file under a folder), sorted.
    pub fn under(&self, path: &str) -> Vec<&TreeFile> {
        self.files
            .iter()
            .filter(|f| {
                path.is_empty()
                    || f.path == path
                    || f.path
                        .strip_prefix(path)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .collect()
    }

    /// The files matching a glob pattern written from the repository root.
    pub fn glob(&self, pattern: &str) -> Result<Vec<&TreeFile>, String> {
        let p = glob::Pattern::new(pattern).map_err(|e| e.msg.to_string())?;
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        Ok(self
            .files
            .iter()
            .filter(|f| p.matches_with(&f.path, options))
            .collect())
    }
}
