//! Loading the manifests a program's `workloads` declarations ask for, with the I/O handed in
//! by the driver (the CLI and the language server share this, so both say the same).

use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use std::collections::HashSet;

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

/// What a pattern matched: the pattern as looked for (joined to the file's folder), and the
/// files, sorted.
pub struct Matched<P> {
    pub looked_for: String,
    pub files: Vec<P>,
}

/// Why a pattern could not be expanded.
pub enum ExpandError {
    /// The pattern is not a valid glob.
    Invalid(String),
    /// The folders it names cannot be read, or lie outside what may be read.
    Unreadable(String),
}

/// Expands each request with `expand` and reads each matched file with `read`: the manifests
/// as (path, text, default namespace), and a diagnostic on the pattern for each invalid
/// pattern, pattern that matches nothing, and file that cannot be read. A file matched twice
/// is read once; `read` may also answer `None` for a file it has read under another name.
pub fn load_requested<P: Eq + std::hash::Hash + Clone>(
    requests: &[WorkloadRequest],
    mut expand: impl FnMut(&WorkloadRequest) -> Result<Matched<P>, ExpandError>,
    mut read: impl FnMut(&P) -> Result<Option<String>, String>,
) -> (Vec<(P, String, String)>, Vec<Diagnostic>) {
    let mut seen: HashSet<P> = HashSet::new();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for req in requests {
        let matched = match expand(req) {
            Ok(matched) => matched,
            Err(e) => {
                let (what, msg) = match e {
                    ExpandError::Invalid(msg) => ("is not a valid pattern", msg),
                    ExpandError::Unreadable(msg) => ("cannot be read", msg),
                };
                errors.push(
                    Diagnostic::new(
                        Code::NoManifests,
                        req.span,
                        format!("`{}` {what}", req.pattern),
                    )
                    .label(msg),
                );
                continue;
            }
        };
        if matched.files.is_empty() {
            errors.push(
                Diagnostic::new(
                    Code::NoManifests,
                    req.span,
                    format!("no file matches `{}`", req.pattern),
                )
                .label("this pattern matches nothing")
                .help(format!(
                    "patterns are relative to the folder of the file: looked for `{}`",
                    matched.looked_for
                )),
            );
        }
        for p in matched.files {
            if !seen.insert(p.clone()) {
                continue;
            }
            match read(&p) {
                Ok(Some(text)) => out.push((p, text, req.default_namespace.clone())),
                Ok(None) => {}
                Err(e) => errors
                    .push(Diagnostic::new(Code::NoManifests, req.span, e).label("matched here")),
            }
        }
    }
    (out, errors)
}
