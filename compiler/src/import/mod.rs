//! `netpol import`: NetworkPolicy YAML in, a readable `.netpol` program out, whose compiled
//! policies allow exactly the connections that the imported ones allow.
//!
//! ## Why one rule is not one connection
//!
//! A NetworkPolicy rule speaks for one side of a connection: an egress rule lets the pods of
//! its policy open connections, and the destination's ingress still has to agree. A netpol
//! connection `A -> B:p` speaks for both sides: it yields an egress rule for A's isolated pods
//! *and* an ingress rule for B's. Writing every rule as a connection would widen the other end
//! whenever it is isolated too. So the importer writes, for a policy S:
//!
//! 1. an egress rule towards peers X as `S -> X':ports`, where X' is X without the pods that
//!    some unit of the program isolates for ingress;
//! 2. an ingress rule from peers Y as `Y' -> S:ports`, where Y' is Y without the pods that some
//!    unit isolates for egress;
//! 3. for an egress rule (S, X, Q) and an ingress rule (T, Y, R) whose pods meet at both ends,
//!    the connections that both rules admit: `S ∩ Y -> X ∩ T:Q ∩ R`.
//!
//! Every pod is then treated as Kubernetes treats it: a connection from an egress-isolated pod
//! to a pod that is not ingress-isolated needs an egress rule (1), the reverse needs an ingress
//! rule (2), and one between two isolated pods needs both (3).
//!
//! ## The compiler's view of namespaces
//!
//! The compiler decides which namespaces a `namespaces { … }` set covers from the namespace
//! labels the workloads declare (and `kubernetes.io/metadata.name`); peers themselves are
//! emitted as selectors and matched on the live cluster. The subtractions in (1) and (2) are
//! made in the compiler's view, which is exact on any cluster: a pod set the compiler does not
//! see covering a namespace gets no rule there, and the ingress (egress) rule it then carries
//! is the imported rule itself. Where (3) depends on labels of a namespace that holds isolated
//! pods, it is written so that the label test is made on the cluster where that is possible
//! (a condition on the destination's namespace can ride on the egress rule's peer, one on the
//! source's namespace on the ingress rule's peer). The one case that cannot be written, a
//! label condition on one namespace while the other end's namespace is seen as covered, is
//! decided in the compiler's view and reported in a note.
//!
//! The importer does no I/O and never panics.

use std::collections::{BTreeMap, BTreeSet};

use crate::k8s::workloads::Manifests;

mod cluster;
mod model;
mod names;
mod plan;
mod read;
mod render;
pub use cluster::ClusterRanges;
use model::Importer;
pub use read::{Input, Read, read};

/// What [`import`] produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The program, formatted.
    pub program: String,
    /// What could not be said exactly, or only under an assumption, one line each. The program
    /// carries each of them as a `// netpol import:` comment too.
    pub notes: Vec<String>,
    /// The NetworkPolicies read.
    pub policies: usize,
    /// The policies that are not imported, as `file:line:column: why`: invalid ones (an
    /// unknown field, a value the API server rejects) and those netpol cannot say exactly.
    /// The program holds every other policy; the command exits 1 when this is not empty.
    pub errors: Vec<String>,
    /// `namespace/name` of each valid policy that is not imported (an error says why).
    pub left_out: Vec<String>,
    /// The ipBlocks of imported policies that meet the cluster's pod or Service ranges
    /// (the declared ones, else the common ones), as `file:line: …` (W113 of `check`).
    pub warnings: Vec<String>,
}

/// Imports NetworkPolicy YAML (`(file name, text)` pairs). `manifests` describe the cluster
/// (namespace labels, pods and their named ports) and `workloads` are the patterns they were
/// read from, written into the program's `workloads` line; both may be empty.
pub fn import(
    files: &[(String, String)],
    manifests: &Manifests,
    workloads: &[String],
) -> Result<Imported, String> {
    import_in(files, manifests, workloads, &ClusterRanges::default())
}

/// [`import`] for a cluster whose pod and Service ranges are known: the ipBlocks are checked
/// against those, and the program declares them in its `cluster` block.
pub fn import_in(
    files: &[(String, String)],
    manifests: &Manifests,
    workloads: &[String],
    cluster: &ClusterRanges,
) -> Result<Imported, String> {
    let read = read(files)?;
    let names: Vec<String> = files.iter().map(|(f, _)| f.clone()).collect();
    let mut imported = import_policies(
        &read.inputs,
        &names,
        read.notes,
        manifests,
        workloads,
        cluster,
    );
    // Invalid policies count as read too.
    imported.policies += read.errors.len();
    let mut errors = read.errors;
    errors.append(&mut imported.errors);
    imported.errors = errors;
    Ok(imported)
}

/// Imports policies already read. `files` names the inputs in the program's header; `notes`
/// are carried into the result. A policy that netpol cannot say exactly is left out with an
/// error, and the rest is imported again without it (leaving a policy out changes which pods
/// are isolated), until every policy left is said exactly.
pub fn import_policies(
    inputs: &[Input],
    files: &[String],
    notes: Vec<String>,
    manifests: &Manifests,
    workloads: &[String],
    cluster: &ClusterRanges,
) -> Imported {
    let mut kept: Vec<Input> = inputs.to_vec();
    let mut errors = Vec::new();
    let mut left_out = Vec::new();
    loop {
        let mut imp = Importer {
            manifests,
            pols: Vec::new(),
            services: Vec::new(),
            ns_isolation: BTreeMap::new(),
            namespaces: BTreeSet::new(),
            externals: Vec::new(),
            used: BTreeSet::new(),
            notes: notes.clone(),
            refused: BTreeMap::new(),
        };
        imp.read_policies(&kept);
        imp.declare();
        let mut sections = Vec::new();
        for index in 0..imp.pols.len() {
            sections.push(imp.policy_section(index));
        }
        let pairs = imp.pairs();
        if !imp.refused.is_empty() {
            let refused = std::mem::take(&mut imp.refused);
            let mut next = Vec::new();
            for (index, input) in kept.into_iter().enumerate() {
                match refused.get(&index) {
                    Some(why) => {
                        let id = imp.short(index);
                        left_out.push(id.clone());
                        errors.push(format!(
                            "{}:{}: NetworkPolicy `{id}` is not imported: {why}",
                            input.file, input.line
                        ));
                    }
                    None => next.push(input),
                }
            }
            kept = next;
            continue;
        }
        let warnings = kept
            .iter()
            .enumerate()
            .flat_map(|(index, input)| cluster::warnings(input, &imp.short(index), cluster))
            .collect();
        let text = imp.render(
            files,
            workloads,
            &cluster.block_text(),
            &errors,
            &sections,
            &pairs,
        );
        let program = match crate::fmt::format(&text) {
            Ok(formatted) => formatted,
            Err(_) => text,
        };
        return Imported {
            program,
            notes: imp.notes,
            policies: inputs.len(),
            errors,
            left_out,
            warnings,
        };
    }
}

#[cfg(test)]
mod tests;
