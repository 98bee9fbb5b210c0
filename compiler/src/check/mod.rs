//! Checks against the workloads, and lints. Name resolution reports what is wrong with the
//! program on its own; this module reports what is wrong with it against the cluster its
//! manifests describe, and what is legal but probably a mistake.
//!
//! The work is split the way the database calls it, so that an edit inside one item re-runs
//! that item's checks only:
//! - [`item`]: the checks of one service (its selector against the workloads of its
//!   namespace, its ports against its containers) and of one connection item (its ports
//!   against the containers of its targets, its broad peers), reading that item's resolution
//!   and the pod sets of the peers it names; and the lookup of the port names an item leaves
//!   to its targets' containers ([`container_ports`]: resolution never reads the workloads);
//! - [`lints`](mod@lints): the lints over the program's [`Outline`] (services without their ports,
//!   connections reduced to their peers and [`ConnFacts`]): an edit that changes no outline
//!   (a port number, a selector's spacing) runs none of them. Those about services run per
//!   namespace, over the namespace's part of the outline ([`parts`]), so an edit that changes
//!   one namespace's part (a connection added inside it) re-runs that namespace's only; the
//!   rest (declarations, definitions never used, tenants, cluster ranges) is one linear pass.

pub mod cluster_ranges;
pub mod item;
pub mod lints;
pub mod parts;

pub use item::{
    ContainerPorts, IsolatedServices, PeerView, check_connections, check_service, container_ports,
};
pub use lints::{
    ConnFacts, Found, ItemOutline, LintKey, Outline, lints, lints_unsplit, merge, namespace_lints,
    outline_item, program_lints,
};

use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::names::suggest;
use crate::k8s::selector::{Sel, Values};
use crate::k8s::workloads::{Workload, WorkloadIndex};
use crate::span::Span;
use std::collections::BTreeSet;

/// Labels that controllers add to pods; selecting on them ties a policy to one rollout.
const GENERATED_LABELS: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
];

pub(crate) fn generated_label_check(out: &mut Vec<Diagnostic>, sel: &Sel, span: Span) {
    for key in sel.keys.keys() {
        if GENERATED_LABELS.contains(&key.as_str()) {
            out.push(
                Diagnostic::new(
                    Code::GeneratedLabel,
                    span,
                    format!("`{key}` is a label that controllers generate"),
                )
                .label("selects one rollout's pods only")
                .help("select on labels you set in the pod template, such as `app`"),
            );
        }
    }
}

pub(crate) fn selector_checks(
    out: &mut Vec<Diagnostic>,
    index: &WorkloadIndex<'_>,
    ns: &str,
    sel: &Sel,
    span: Span,
    name: &str,
    what: &str,
) {
    generated_label_check(out, sel, span);
    if !index.mentions_namespace(ns) || sel.is_unsat() {
        return;
    }
    let in_ns: Vec<&Workload> = index.in_namespace(ns).collect();
    if in_ns.iter().any(|w| sel.matches(&w.labels)) {
        return;
    }
    // The closest workload: the one satisfying most requirements.
    let score = |w: &Workload| {
        sel.keys
            .iter()
            .filter(|(k, c)| c.matches(w.labels.get(*k).map(String::as_str)))
            .count()
    };
    // Ties go to the workload whose values are nearest to the wanted ones.
    let distance = |w: &Workload| -> usize {
        sel.keys
            .iter()
            .map(|(k, c)| match (&c.values, w.labels.get(k)) {
                (Values::In(vals), Some(v)) => vals
                    .iter()
                    .map(|x| strsim::levenshtein(x, v))
                    .min()
                    .unwrap_or(0),
                (_, None) => 64,
                _ => 0,
            })
            .sum()
    };
    let closest = in_ns.iter().max_by_key(|w| {
        (
            score(w),
            std::cmp::Reverse(distance(w)),
            std::cmp::Reverse(w.display()),
        )
    });
    let mut d = Diagnostic::new(
        Code::SelectorMatchesNothing,
        span,
        format!("the selector of {what} `{name}` matches no workload in namespace `{ns}`"),
    )
    .label(format!("`{}` matches nothing", sel.display()));
    if let Some(w) = closest {
        let labels = w
            .labels
            .iter()
            .map(|(k, v)| format!("{k} = \"{v}\""))
            .collect::<Vec<_>>()
            .join(", ");
        // A did-you-mean for the first failing equality.
        let mut hint = None;
        for (k, c) in &sel.keys {
            if c.matches(w.labels.get(k).map(String::as_str)) {
                continue;
            }
            if let Values::In(vals) = &c.values {
                let values: BTreeSet<&str> = in_ns
                    .iter()
                    .filter_map(|w| w.labels.get(k).map(String::as_str))
                    .collect();
                if let Some(v) = vals.iter().next()
                    && let Some(s) = suggest(v, values.iter().copied())
                {
                    hint = Some(format!("did you mean `{k} = \"{s}\"`?"));
                    break;
                }
                let keys: BTreeSet<&str> = in_ns
                    .iter()
                    .flat_map(|w| w.labels.keys().map(String::as_str))
                    .collect();
                if let Some(s) = suggest(k, keys.iter().copied()) {
                    hint = Some(format!("did you mean the label `{s}`?"));
                    break;
                }
            }
        }
        d = d.help(match hint {
            Some(h) => format!(
                "{h} (the closest workload, `{}`, has labels `{labels}`)",
                w.display()
            ),
            None => format!(
                "the closest workload is `{}`, with labels `{labels}`",
                w.display()
            ),
        });
    }
    out.push(d);
}
