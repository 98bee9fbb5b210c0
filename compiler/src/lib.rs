//! The netpol compiler: `.netpol` source in, exact and minimal `networking.k8s.io/v1`
//! NetworkPolicy objects out.
//!
//! Invariants (see ARCHITECTURE.md): this crate does no I/O (the driver hands it file
//! contents), knows nothing of the LSP, and never panics on user input.

pub mod check;
pub mod db;
pub mod diagnostic;
pub mod diff;
pub mod explain;
pub mod fmt;
pub mod graph;
pub mod ide;
pub mod import;
pub mod resolve;
pub mod semantics;
pub mod span;
pub mod stdlib;
pub mod syntax;
pub mod testing;
pub mod verify;

/// The back end: lowering to the IR, optimizing, emitting YAML.
pub mod backend {
    pub mod emit;
    pub mod ir;
    pub mod lower;
    pub mod opt;
}

/// Kubernetes: names, label selectors, manifests, the NetworkPolicy evaluator.
pub mod k8s {
    pub mod eval;
    pub mod names;
    pub mod requested;
    pub mod selector;
    pub mod workloads;
}
