//! The workspace on disk: which `.netpol` files form which program, and reading files and
//! manifests with the CLI's bounds (regular files only, at most 64 MiB, UTF-8).
//!
//! A program is a folder that holds a `.netpol` file directly and has no ancestor (inside the
//! workspace folder) that does: the folder `netpol check FOLDER` would be given. Every
//! `.netpol` file below it (hidden folders skipped) belongs to it. A file outside every
//! workspace folder is a program on its own.

use std::path::{Path, PathBuf};

/// Files larger than this are not read (as the CLI).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// At most this many `.netpol` files are read from one workspace folder.
const MAX_FILES: usize = 10_000;
/// Folders deeper than this are not searched.
const MAX_DEPTH: usize = 32;

/// Reads a regular file as UTF-8, refusing links to elsewhere, devices and huge files.
pub fn read_text(path: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("`{}` is not a regular file", path.display()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("`{}` is larger than 64 MiB", path.display()));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("`{}` is not valid UTF-8", path.display()))
}

/// Every `.netpol` file under `dir`, sorted, hidden folders and symbolic links skipped.
pub fn netpol_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(dir, 0, &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH || out.len() >= MAX_FILES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<(PathBuf, std::fs::FileType)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_type().ok().map(|t| (e.path(), t)))
        .collect();
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (p, t) in paths {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n == "target" || n == "node_modules");
        if t.is_dir() && !hidden {
            collect(&p, depth + 1, out);
        } else if t.is_file()
            && p.extension().is_some_and(|e| e == "netpol")
            && out.len() < MAX_FILES
        {
            out.push(p);
        }
    }
}

/// The program roots among `files` (all under `folder`): the topmost folders holding one.
pub fn program_roots(folder: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .filter(|d| d.starts_with(folder))
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut roots: Vec<PathBuf> = Vec::new();
    for d in dirs {
        if !roots.iter().any(|r| d.starts_with(r)) {
            roots.push(d);
        }
    }
    roots
}

/// `a/b.netpol`: a path relative to its program's root, with `/` separators (as the CLI
/// shows it in annotations).
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The files a `workloads` pattern matches, relative to `dir`, sorted.
pub fn expand_glob(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let joined = dir.join(pattern);
    let paths = glob::glob(&joined.to_string_lossy()).map_err(|e| e.msg.to_string())?;
    let mut out: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .take(MAX_FILES)
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_the_topmost_folders_with_a_program_file() {
        let files: Vec<PathBuf> = [
            "/w/examples/shop/shop.netpol",
            "/w/examples/shop/more/x.netpol",
            "/w/examples/boutique/a/a.netpol",
            "/w/examples/boutique/b/b.netpol",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(
            program_roots(Path::new("/w"), &files),
            vec![
                PathBuf::from("/w/examples/boutique/a"),
                PathBuf::from("/w/examples/boutique/b"),
                PathBuf::from("/w/examples/shop"),
            ]
        );
    }
}
