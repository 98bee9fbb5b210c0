//! Checks against the workloads, and lints. Name resolution reports what is wrong with the
//! program on its own; this module reports what is wrong with it against the cluster it
//! describes, and what is legal but probably a mistake.

use crate::diagnostic::Diagnostic;
use crate::resolve::Resolved;
use crate::workloads::Manifests;

pub fn check(resolved: &Resolved, manifests: &Manifests) -> Vec<Diagnostic> {
    let _ = (resolved, manifests);
    Vec::new()
}
