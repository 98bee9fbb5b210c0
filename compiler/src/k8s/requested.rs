//! Loading the manifests a program's `workloads` declarations ask for, with the I/O handed in
//! by the driver (the CLI and the language server share this, so both say the same).

use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};

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

/// Expands each request with `expand` and reads each matched file once with `read`: the
/// manifests as (path, text, default namespace), and a diagnostic on the pattern for each
/// invalid pattern, pattern that matches nothing, and file that cannot be read.
pub fn load_requested<P: PartialEq + Clone>(
    requests: &[WorkloadRequest],
    expand: impl Fn(&WorkloadRequest) -> Result<Matched<P>, String>,
    read: impl Fn(&P) -> Result<String, String>,
) -> (Vec<(P, String, String)>, Vec<Diagnostic>) {
    let mut seen: Vec<P> = Vec::new();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for req in requests {
        match expand(req) {
            Err(msg) => errors.push(
                Diagnostic::new(
                    Code::NoManifests,
                    req.span,
                    format!("`{}` is not a valid pattern", req.pattern),
                )
                .label(msg),
            ),
            Ok(matched) => {
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
                    if seen.contains(&p) {
                        continue;
                    }
                    match read(&p) {
                        Ok(text) => out.push((p.clone(), text, req.default_namespace.clone())),
                        Err(e) => errors.push(
                            Diagnostic::new(Code::NoManifests, req.span, e).label("matched here"),
                        ),
                    }
                    seen.push(p);
                }
            }
        }
    }
    (out, errors)
}
