//! Workload manifests: which pods exist, with which labels and container ports.
//!
//! The driver reads the files; this module only parses their text. Every YAML document is
//! read with the typed Kubernetes API structs of k8s-openapi, so a manifest that kubectl would
//! reject is reported here too.

use crate::diagnostic::{Code, Diagnostic};
use crate::k8s::eval::{ContainerPort, Protocol};
use crate::span::{FileId, Span};
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1 as core;
use serde_json::Value;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// An object's metadata, its pod template's metadata, and its pod spec.
type ObjectParts = (ObjectMeta, Option<ObjectMeta>, Option<core::PodSpec>);

/// One kind of pod: the pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet,
/// ReplicationController, Job or CronJob, or a bare Pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Workload {
    /// The manifest document it came from.
    pub span: Span,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    /// The pod template's annotations (`prometheus.io/scrape`, …).
    pub annotations: BTreeMap<String, String>,
    pub ports: Vec<ContainerPort>,
}

/// A Service: which pods it sends traffic to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceInfo {
    pub span: Span,
    pub name: String,
    pub namespace: String,
    pub selector: BTreeMap<String, String>,
}

/// An Ingress: the Services it routes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IngressInfo {
    pub span: Span,
    pub name: String,
    pub namespace: String,
    pub backends: Vec<String>,
}

impl Workload {
    /// `Deployment/frontend` for messages.
    pub fn display(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// A Namespace object from the manifests, with its labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NamespaceInfo {
    pub span: Span,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Manifests {
    pub workloads: Vec<Workload>,
    pub namespaces: Vec<NamespaceInfo>,
    pub services: Vec<ServiceInfo>,
    pub ingresses: Vec<IngressInfo>,
    pub errors: Vec<Diagnostic>,
}

impl Manifests {
    /// The labels of a namespace: those its manifest declares, plus the name label that
    /// Kubernetes sets on every namespace.
    pub fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut labels = self
            .namespaces
            .iter()
            .find(|n| n.name == ns)
            .map(|n| n.labels.clone())
            .unwrap_or_default();
        labels.insert(
            crate::k8s::names::NAMESPACE_NAME_LABEL.to_string(),
            ns.to_string(),
        );
        labels
    }

    pub fn extend(&mut self, other: Manifests) {
        self.workloads.extend(other.workloads);
        self.namespaces.extend(other.namespaces);
        self.services.extend(other.services);
        self.ingresses.extend(other.ingresses);
        self.errors.extend(other.errors);
    }

    /// True when some manifest places a workload in, or declares, namespace `ns`.
    pub fn mentions_namespace(&self, ns: &str) -> bool {
        self.workloads.iter().any(|w| w.namespace == ns)
            || self.namespaces.iter().any(|n| n.name == ns)
    }

    pub fn in_namespace<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a Workload> + 'a {
        self.workloads.iter().filter(move |w| w.namespace == ns)
    }
}

/// The workloads by namespace, and the namespaces the manifests mention: built once, so that
/// a lookup by namespace does not scan every workload.
pub struct WorkloadIndex<'m> {
    manifests: &'m Manifests,
    index: std::borrow::Cow<'m, NamespaceIndex>,
}

/// The positions of the workloads of each namespace in [`Manifests::workloads`], and the
/// namespaces the manifests declare: what [`WorkloadIndex`] reads, kept by the database once
/// per cluster (`db::namespace_index`) so that per-item checks do not build it again.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NamespaceIndex {
    by_ns: BTreeMap<String, Vec<usize>>,
    declared: std::collections::BTreeSet<String>,
}

impl NamespaceIndex {
    pub fn new(manifests: &Manifests) -> NamespaceIndex {
        let mut by_ns: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, w) in manifests.workloads.iter().enumerate() {
            match by_ns.get_mut(w.namespace.as_str()) {
                Some(v) => v.push(i),
                None => {
                    by_ns.insert(w.namespace.clone(), vec![i]);
                }
            }
        }
        let declared = manifests
            .namespaces
            .iter()
            .map(|n| n.name.clone())
            .collect();
        NamespaceIndex { by_ns, declared }
    }
}

impl<'m> WorkloadIndex<'m> {
    /// Builds the index of `manifests`.
    pub fn new(manifests: &'m Manifests) -> WorkloadIndex<'m> {
        WorkloadIndex {
            manifests,
            index: std::borrow::Cow::Owned(NamespaceIndex::new(manifests)),
        }
    }

    /// The index of `manifests`, from `index` (which must be `NamespaceIndex::new(manifests)`).
    pub fn with(manifests: &'m Manifests, index: &'m NamespaceIndex) -> WorkloadIndex<'m> {
        WorkloadIndex {
            manifests,
            index: std::borrow::Cow::Borrowed(index),
        }
    }

    /// The manifests the index is of.
    pub fn manifests(&self) -> &'m Manifests {
        self.manifests
    }

    /// The workloads of namespace `ns`, in manifest order.
    pub fn in_namespace(&self, ns: &str) -> impl Iterator<Item = &'m Workload> + '_ {
        let manifests = self.manifests;
        self.index
            .by_ns
            .get(ns)
            .into_iter()
            .flatten()
            .filter_map(move |i| manifests.workloads.get(*i))
    }

    /// As [`Manifests::mentions_namespace`].
    pub fn mentions_namespace(&self, ns: &str) -> bool {
        self.index.by_ns.contains_key(ns) || self.index.declared.contains(ns)
    }
}

/// Splits a YAML stream into documents, with the byte offset of each.
fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        let is_marker = trimmed == "---"
            || trimmed.starts_with("--- ")
            || trimmed.starts_with("---\t")
            || trimmed == "...";
        if is_marker {
            if let Some(doc) = text.get(start..offset) {
                docs.push((start, doc));
            }
            start = offset + line.len();
            // `--- {...}` carries content on the marker line.
            if trimmed.len() > 3 && trimmed != "..." {
                start = offset + 4;
            }
        }
        offset += line.len();
    }
    if let Some(doc) = text.get(start..) {
        docs.push((start, doc));
    }
    // A chunk of only comments and directives (`%YAML 1.1` before `---`) holds no document.
    docs.into_iter()
        .filter(|(_, d)| {
            d.lines().any(|l| {
                !l.trim().is_empty() && !l.trim_start().starts_with('#') && !l.starts_with('%')
            })
        })
        .collect()
}

/// The reader's options: budgets that grow with the input, so that any real manifest set
/// (a `kind: List` of 100 MB of Deployments, thousands of documents in one file) is read,
/// while alias bombs (the replay limits) and deep nesting (the depth limit) stay bounded.
pub fn yaml_options(input_len: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = budget.max_events.saturating_add(input_len);
    budget.max_nodes = budget.max_nodes.saturating_add(input_len);
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.saturating_add(input_len);
    budget.max_documents = budget.max_documents.saturating_add(input_len / 3);
    budget.max_anchors = budget.max_anchors.saturating_add(input_len / 4);
    budget.max_aliases = budget.max_aliases.saturating_add(input_len / 4);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// The byte offset of a 1-based line and column (in characters) in `text`.
fn offset_of(text: &str, line: u64, column: u64) -> Option<usize> {
    let line = usize::try_from(line).ok()?.checked_sub(1)?;
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let rest = text.get(start..)?;
    let col = usize::try_from(column).ok()?.saturating_sub(1);
    let within = rest
        .char_indices()
        .take_while(|(_, c)| *c != '\n')
        .nth(col)
        .map_or_else(|| rest.find('\n').unwrap_or(rest.len()), |(i, _)| i);
    Some(start + within)
}

/// Maps whose keys and values are labels, annotations or label selectors.
const LABEL_MAPS: &[&str] = &["labels", "annotations", "matchLabels", "selector"];

/// What a YAML 1.1 reader (kubectl's) makes of a plain scalar that is not a string: a
/// boolean, null, or a number, as text (`true`, `null`, `511`).
fn yaml11_value(s: &str) -> Option<String> {
    const TRUE: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE",
    ];
    const FALSE: &[&str] = &[
        "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE",
    ];
    if TRUE.contains(&s) {
        return Some("true".to_string());
    }
    if FALSE.contains(&s) {
        return Some("false".to_string());
    }
    if ["", "~", "null", "Null", "NULL"].contains(&s) {
        return Some("null".to_string());
    }
    let special = [".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"];
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if special.contains(&unsigned) {
        return Some(s.to_string());
    }
    // Integers as Go's `strconv.ParseInt(s, 0, 64)` reads them after removing `_`: decimal,
    // `0x` hex, `0o`/leading-zero octal, `0b` binary.
    let negative = s.starts_with('-');
    let digits: String = unsigned.chars().filter(|c| *c != '_').collect();
    if !digits.is_empty() && unsigned.starts_with(|c: char| c.is_ascii_digit()) {
        let lower = digits.to_ascii_lowercase();
        let parsed = if let Some(h) = lower.strip_prefix("0x") {
            i128::from_str_radix(h, 16).ok()
        } else if let Some(b) = lower.strip_prefix("0b") {
            i128::from_str_radix(b, 2).ok()
        } else if let Some(o) = lower.strip_prefix("0o") {
            i128::from_str_radix(o, 8).ok()
        } else if lower.len() > 1 && lower.starts_with('0') {
            i128::from_str_radix(&lower[1..], 8).ok()
        } else {
            lower.parse::<i128>().ok()
        };
        if let Some(v) = parsed {
            return Some(if negative { -v } else { v }.to_string());
        }
    }
    // Floats: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
                && (!int.is_empty() || !frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    if mantissa_ok && exponent_ok {
        let v: f64 = s.parse().ok()?;
        return Some(if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{v:.0}")
        } else {
            v.to_string()
        });
    }
    None
}

/// Plain (unquoted) label keys and values that kubectl, reading YAML 1.1, takes for a
/// boolean, null or a number, and fields netpol reads that it retypes (`namespace: y`,
/// `containerPort: 0777`): a diagnostic each, "quote it", rather than a model that differs
/// from the cluster in silence.
fn retyped_labels(file: FileId, offset: usize, doc: &str) -> Vec<Diagnostic> {
    use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};
    enum Frame {
        Map {
            key_next: bool,
            last_key: String,
            checked: bool,
        },
        Seq,
    }
    let mut out = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    // After a node completes, the map it is in expects the other of key and value.
    fn node_done(stack: &mut [Frame]) {
        if let Some(Frame::Map { key_next, .. }) = stack.last_mut() {
            *key_next = !*key_next;
        }
    }
    for event in Parser::new_from_str(doc) {
        let Ok((event, span)) = event else {
            break;
        };
        match event {
            Event::MappingStart(..) => {
                let checked = matches!(
                    stack.last(),
                    Some(Frame::Map { key_next: false, last_key, .. }) if LABEL_MAPS.contains(&last_key.as_str())
                );
                stack.push(Frame::Map {
                    key_next: true,
                    last_key: String::new(),
                    checked,
                });
            }
            Event::SequenceStart(..) => stack.push(Frame::Seq),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                node_done(&mut stack);
            }
            Event::Alias(_) => node_done(&mut stack),
            Event::Scalar(value, style, _, tag) => {
                if let Some(Frame::Map {
                    key_next,
                    last_key,
                    checked,
                }) = stack.last_mut()
                {
                    let field = (!*checked && !*key_next)
                        .then(|| retyped_field(last_key, &value))
                        .flatten();
                    if style == ScalarStyle::Plain
                        && tag.is_none()
                        && let Some((read, help)) = field
                    {
                        let at = scalar_start(doc, &span);
                        let len = span
                            .end
                            .byte_offset()
                            .map_or(value.len(), |e| e.saturating_sub(at));
                        out.push(
                            Diagnostic::new(
                                Code::InvalidManifest,
                                Span::new(file, offset + at, offset + at + len),
                                format!("kubectl reads `{last_key}: {value}` as `{read}`, not as `{value}`"),
                            )
                            .label(format!("`{last_key}` is read as `{read}`"))
                            .help(help),
                        );
                    }
                    if *checked
                        && style == ScalarStyle::Plain
                        && tag.is_none()
                        && let Some(read) = yaml11_value(&value)
                    {
                        let at = span
                            .start
                            .byte_offset()
                            .or_else(|| {
                                offset_of(
                                    doc,
                                    span.start.line() as u64,
                                    span.start.col() as u64 + 1,
                                )
                            })
                            .unwrap_or(0);
                        let len = span
                            .end
                            .byte_offset()
                            .map_or(value.len(), |e| e.saturating_sub(at));
                        let what = if *key_next {
                            "label key"
                        } else {
                            "label value"
                        };
                        out.push(
                            Diagnostic::new(
                                Code::InvalidManifest,
                                Span::new(file, offset + at, offset + at + len),
                                format!(
                                    "kubectl reads the {what} `{value}` as `{read}`, not as the string `{value}`"
                                ),
                            )
                            .label("quote it")
                            .help(format!(
                                "kubectl reads manifests as YAML 1.1, where unquoted `y`, `on`, `no`, `0777` and `1e3` are booleans and numbers; write `\"{value}\"`"
                            )),
                        );
                    }
                    if *key_next {
                        *last_key = value.into_owned();
                    }
                }
                node_done(&mut stack);
            }
            _ => {}
        }
    }
    out
}

/// The start of a scalar event in `doc`.
fn scalar_start(doc: &str, span: &serde_saphyr::granit_parser::Span) -> usize {
    span.start
        .byte_offset()
        .or_else(|| offset_of(doc, span.start.line() as u64, span.start.col() as u64 + 1))
        .unwrap_or(0)
}

/// Fields netpol reads whose plain value a YAML 1.1 reader (kubectl's) retypes: a string
/// field given `y`, `on` or `0777` (a boolean or number to kubectl, which then rejects the
/// object), or a port given `0777` (octal to kubectl, decimal here). What kubectl reads, and
/// the fix.
fn retyped_field(key: &str, value: &str) -> Option<(String, String)> {
    const STRING_FIELDS: &[&str] = &["name", "namespace", "protocol", "kind", "apiVersion"];
    const NUMBER_FIELDS: &[&str] = &["containerPort", "port", "number", "hostPort"];
    let read = yaml11_value(value)?;
    if STRING_FIELDS.contains(&key) {
        return Some((
            read,
            format!(
                "quote it: kubectl reads manifests as YAML 1.1, where unquoted `y`, `on`, `no`, `0777` and `1e3` are booleans and numbers; write `{key}: \"{value}\"`"
            ),
        ));
    }
    let decimal = value.parse::<u64>().ok().map(|v| v.to_string());
    if NUMBER_FIELDS.contains(&key) && decimal.is_some_and(|d| d != read) {
        return Some((
            read.clone(),
            format!(
                "kubectl reads manifests as YAML 1.1, where a leading `0` makes a number octal; write `{key}: {}` for the decimal number, or `{key}: {read}`",
                value.trim_start_matches('0')
            ),
        ));
    }
    None
}

/// Reads one manifest file. `default_namespace` is where objects without
/// `metadata.namespace` go (as `kubectl apply -n` would place them).
pub fn parse_manifests(file: FileId, text: &str, default_namespace: &str) -> Manifests {
    let mut out = Manifests::default();
    for (offset, doc) in documents(text) {
        let doc_span = Span::new(file, offset, offset + doc.trim_end().len());
        match serde_saphyr::from_str_with_options::<Value>(doc, yaml_options(doc.len())) {
            Ok(Value::Null) => {}
            Ok(value) => {
                let retyped = retyped_labels(file, offset, doc);
                if retyped.is_empty() {
                    let at = Document {
                        file,
                        offset,
                        text: doc,
                        span: doc_span,
                        prefix: Vec::new(),
                    };
                    read_object(&value, &at, default_namespace, &mut out);
                } else {
                    out.errors.extend(retyped);
                }
            }
            Err(e) => {
                let at = e
                    .location()
                    .and_then(|l| {
                        l.span()
                            .byte_offset()
                            .and_then(|b| usize::try_from(b).ok())
                            .or_else(|| offset_of(doc, l.line(), l.column()))
                    })
                    .map_or(offset, |b| offset + b.min(doc.len()));
                let first_line = e
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                out.errors.push(
                    Diagnostic::new(
                        Code::InvalidManifest,
                        Span::new(file, at, at),
                        format!(
                            "this manifest is not valid YAML: {}",
                            lowercase_first(&first_line)
                        ),
                    )
                    .label("here"),
                );
            }
        }
    }
    out
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn read_object(value: &Value, at: &Document<'_>, default_ns: &str, out: &mut Manifests) {
    let span = at.span;
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let template = |t: Option<core::PodTemplateSpec>| {
        t.and_then(|t| Some((t.metadata.unwrap_or_default(), t.spec?)))
    };
    let result: Result<Option<ObjectParts>, Invalid> = match (kind, api_version) {
        ("List", _) => {
            if let Some(items) = value.get("items").and_then(Value::as_array) {
                for (i, item) in items.iter().enumerate() {
                    let mut prefix = at.prefix.clone();
                    prefix.extend([Seg::Key("items".to_string()), Seg::Index(i)]);
                    let inner = Document { prefix, ..*at };
                    read_object(item, &inner, default_ns, out);
                }
            }
            Ok(None)
        }
        ("Namespace", "v1") => typed::<core::Namespace>(value).map(|ns| {
            let name = ns.metadata.name.unwrap_or_default();
            let mut labels = ns.metadata.labels.unwrap_or_default();
            labels.insert(
                crate::k8s::names::NAMESPACE_NAME_LABEL.to_string(),
                name.clone(),
            );
            out.namespaces.push(NamespaceInfo { span, name, labels });
            None
        }),
        ("Service", "v1") => typed::<core::Service>(value).map(|svc| {
            if let Some(selector) = svc.spec.and_then(|s| s.selector).filter(|s| !s.is_empty()) {
                out.services.push(ServiceInfo {
                    span,
                    name: svc.metadata.name.unwrap_or_default(),
                    namespace: svc
                        .metadata
                        .namespace
                        .unwrap_or_else(|| default_ns.to_string()),
                    selector,
                });
            }
            None
        }),
        ("Ingress", "networking.k8s.io/v1") => {
            typed::<k8s_openapi::api::networking::v1::Ingress>(value).map(|ing| {
                let spec = ing.spec.unwrap_or_default();
                let mut backends: Vec<String> = spec
                    .default_backend
                    .iter()
                    .chain(spec.rules.iter().flatten().flat_map(|r| {
                        r.http
                            .iter()
                            .flat_map(|h| h.paths.iter().map(|p| &p.backend))
                    }))
                    .filter_map(|b| b.service.as_ref().map(|s| s.name.clone()))
                    .collect();
                backends.sort();
                backends.dedup();
                out.ingresses.push(IngressInfo {
                    span,
                    name: ing.metadata.name.unwrap_or_default(),
                    namespace: ing
                        .metadata
                        .namespace
                        .unwrap_or_else(|| default_ns.to_string()),
                    backends,
                });
                None
            })
        }
        ("Pod", "v1") => {
            typed::<core::Pod>(value).map(|p| Some((p.metadata.clone(), Some(p.metadata), p.spec)))
        }
        ("ReplicationController", "v1") => typed::<core::ReplicationController>(value).map(|o| {
            o.spec
                .and_then(|s| template(s.template))
                .map(|(m, s)| (o.metadata, Some(m), Some(s)))
        }),
        ("Deployment", "apps/v1") => typed::<apps::Deployment>(value).map(|o| {
            o.spec
                .and_then(|s| template(Some(s.template)))
                .map(|(m, s)| (o.metadata, Some(m), Some(s)))
        }),
        ("StatefulSet", "apps/v1") => typed::<apps::StatefulSet>(value).map(|o| {
            o.spec
                .and_then(|s| template(Some(s.template)))
                .map(|(m, s)| (o.metadata, Some(m), Some(s)))
        }),
        ("DaemonSet", "apps/v1") => typed::<apps::DaemonSet>(value).map(|o| {
            o.spec
                .and_then(|s| template(Some(s.template)))
                .map(|(m, s)| (o.metadata, Some(m), Some(s)))
        }),
        ("ReplicaSet", "apps/v1") => typed::<apps::ReplicaSet>(value).map(|o| {
            o.spec
                .and_then(|s| template(s.template))
                .map(|(m, s)| (o.metadata, Some(m), Some(s)))
        }),
        ("Job", "batch/v1") => typed::<batch::Job>(value).map(|o| {
            o.spec
                .and_then(|s| template(Some(s.template)))
                .map(|(m, s)| (o.metadata, Some(m), Some(s)))
        }),
        ("CronJob", "batch/v1") => typed::<batch::CronJob>(value).map(|o| {
            o.spec
                .and_then(|s| s.job_template.spec)
                .and_then(|s| template(Some(s.template)))
                .map(|(m, s)| (o.metadata, Some(m), Some(s)))
        }),
        _ => Ok(None),
    };
    match result {
        Ok(Some((meta, pod_meta, spec))) => {
            let namespace = meta
                .namespace
                .clone()
                .unwrap_or_else(|| default_ns.to_string());
            let (labels, annotations) = pod_meta
                .map(|m| {
                    (
                        m.labels.unwrap_or_default(),
                        m.annotations.unwrap_or_default(),
                    )
                })
                .unwrap_or_default();
            let mut ports = Vec::new();
            if let Some(spec) = spec {
                for c in spec
                    .containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
                {
                    for p in c.ports.iter().flatten() {
                        let Ok(port) = u16::try_from(p.container_port) else {
                            continue;
                        };
                        let protocol = p
                            .protocol
                            .as_deref()
                            .and_then(Protocol::parse)
                            .unwrap_or(Protocol::Tcp);
                        ports.push(ContainerPort {
                            name: p.name.clone(),
                            port,
                            protocol,
                        });
                    }
                }
            }
            out.workloads.push(Workload {
                span,
                kind: kind.to_string(),
                name: meta.name.unwrap_or_default(),
                namespace,
                labels,
                annotations,
                ports,
            });
        }
        Ok(None) => {}
        Err(e) => out.errors.push(invalid_field(at, kind, &e)),
    }
}

/// Where a document is: its file, its byte offset in the file and its text, and, for an item
/// of a `List`, the path to the item.
struct Document<'a> {
    file: FileId,
    offset: usize,
    text: &'a str,
    span: Span,
    prefix: Vec<Seg>,
}

/// One step of a path into a YAML document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

type Invalid = serde_path_to_error::Error<serde_json::Error>;

/// Deserializes a typed object, keeping the path of the field it fails at.
fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(value.clone())
}

/// An object that does not deserialize: the error at the field's own key (line and column),
/// naming the field by its path.
fn invalid_field(at: &Document<'_>, kind: &str, e: &Invalid) -> Diagnostic {
    let mut path = at.prefix.clone();
    for segment in e.path().iter() {
        match segment {
            serde_path_to_error::Segment::Map { key } => path.push(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
            _ => break,
        }
    }
    let shown = path_text(&path);
    let reason = e.inner().to_string();
    match locate(at.text, &path) {
        Some((start, end)) if !path.is_empty() => Diagnostic::new(
            Code::InvalidManifest,
            Span::new(at.file, at.offset + start, at.offset + end),
            format!("`{shown}` of this `{kind}` is not valid: {reason}"),
        )
        .label(format!("`{shown}`")),
        _ => Diagnostic::new(
            Code::InvalidManifest,
            at.span,
            format!("this `{kind}` is not a valid Kubernetes object: {reason}"),
        )
        .label("in this document"),
    }
}

/// `spec.containers[0].ports[1].containerPort`.
fn path_text(path: &[Seg]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The byte range in `doc` of the key of the field at `path` (of the element, when `path` ends
/// with an index), found by walking the YAML events.
fn locate(doc: &str, path: &[Seg]) -> Option<(usize, usize)> {
    use serde_saphyr::granit_parser::{Event, Parser};
    enum Frame {
        Map { key: Option<String>, key_next: bool },
        Seq { next: usize },
    }
    /// Whether the node at the top of `stack` (a map's current key, a sequence's current
    /// element) is at `path`.
    fn at_path(stack: &[Frame], path: &[Seg]) -> bool {
        stack.len() == path.len()
            && stack.iter().zip(path).all(|(f, want)| match (f, want) {
                (Frame::Map { key: Some(k), .. }, Seg::Key(w)) => k == w,
                (Frame::Seq { next }, Seg::Index(w)) => next == w,
                _ => false,
            })
    }
    fn node_done(stack: &mut [Frame]) {
        match stack.last_mut() {
            Some(Frame::Map { key_next, .. }) => *key_next = true,
            Some(Frame::Seq { next }) => *next += 1,
            None => {}
        }
    }
    let mut stack: Vec<Frame> = Vec::new();
    for event in Parser::new_from_str(doc) {
        let (event, span) = event.ok()?;
        let start = span
            .start
            .byte_offset()
            .or_else(|| offset_of(doc, span.start.line() as u64, span.start.col() as u64 + 1))?;
        let end = span.end.byte_offset().unwrap_or(start + 1).max(start + 1);
        let in_seq = matches!(stack.last(), Some(Frame::Seq { .. }));
        match event {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { key, key_next }) = stack.last_mut()
                    && *key_next
                {
                    *key = Some(value.to_string());
                    *key_next = false;
                    if at_path(&stack, path) {
                        return Some((start, end));
                    }
                    continue;
                }
                if in_seq && at_path(&stack, path) {
                    return Some((start, end));
                }
                node_done(&mut stack);
            }
            Event::Alias(_) => node_done(&mut stack),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if in_seq && at_path(&stack, path) {
                    return Some((start, start + 1));
                }
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map {
                        key: None,
                        key_next: true,
                    }
                } else {
                    Frame::Seq { next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                node_done(&mut stack);
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_workload_kinds_and_lists() {
        let text = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: x
        ports: [{containerPort: 8080, name: http}, {containerPort: 53, protocol: UDP}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: shop, labels: {team: a}}
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: nightly}
  spec:
    schedule: "@daily"
    jobTemplate:
      spec:
        template:
          metadata: {labels: {app: batch}}
          spec: {containers: [{name: c, image: x}], restartPolicy: Never}
---
apiVersion: v1
kind: Service
metadata: {name: ignored}
"#;
        let m = parse_manifests(FileId(1), text, "default");
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        assert_eq!(m.workloads.len(), 2);
        assert_eq!(m.workloads[0].ports.len(), 2);
        assert_eq!(m.workloads[0].ports[1].protocol, Protocol::Udp);
        assert_eq!(m.workloads[1].namespace, "default");
        assert_eq!(m.workloads[1].labels["app"], "batch");
        assert_eq!(m.namespaces[0].labels["team"], "a");
    }

    #[test]
    fn reports_bad_yaml_and_bad_objects() {
        let m = parse_manifests(
            FileId(1),
            "kind: Deployment\napiVersion: apps/v1\nspec: [1, 2\n",
            "default",
        );
        assert_eq!(m.errors.len(), 1);
        let m = parse_manifests(
            FileId(1),
            "kind: Pod\napiVersion: v1\nmetadata: {labels: {a: [1]}}\n",
            "default",
        );
        assert_eq!(m.errors.len(), 1, "{:?}", m.errors);
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    /// Every field of a document is found at its own key, and every element of a sequence
    /// at its first character.
    #[test]
    fn every_path_is_located_at_its_key() {
        let doc = "a: 1\nb:\n  c: [x, {d: 2}]\n  e:\n  - f: 3\n    g: {h: 4}\n";
        let cases: &[(&[Seg], &str)] = &[
            (&[Seg::Key("a".into())], "a"),
            (&[Seg::Key("b".into())], "b"),
            (&[Seg::Key("b".into()), Seg::Key("c".into())], "c"),
            (
                &[Seg::Key("b".into()), Seg::Key("c".into()), Seg::Index(0)],
                "x",
            ),
            (
                &[Seg::Key("b".into()), Seg::Key("c".into()), Seg::Index(1)],
                "{",
            ),
            (
                &[
                    Seg::Key("b".into()),
                    Seg::Key("c".into()),
                    Seg::Index(1),
                    Seg::Key("d".into()),
                ],
                "d",
            ),
            (
                &[
                    Seg::Key("b".into()),
                    Seg::Key("e".into()),
                    Seg::Index(0),
                    Seg::Key("g".into()),
                ],
                "g",
            ),
            (
                &[
                    Seg::Key("b".into()),
                    Seg::Key("e".into()),
                    Seg::Index(0),
                    Seg::Key("g".into()),
                    Seg::Key("h".into()),
                ],
                "h",
            ),
        ];
        for (path, want) in cases {
            let (start, end) = locate(doc, path).unwrap_or_else(|| panic!("{path:?} not found"));
            assert_eq!(&doc[start..end], *want, "{path:?}");
        }
        assert_eq!(locate(doc, &[Seg::Key("z".into())]), None);
        assert_eq!(locate(doc, &[Seg::Key("b".into()), Seg::Index(0)]), None);
    }

    #[test]
    fn an_invalid_field_is_reported_at_its_line_and_named() {
        let text = "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: http\n";
        let m = parse_manifests(FileId(1), text, "default");
        assert_eq!(m.errors.len(), 1, "{:?}", m.errors);
        let e = &m.errors[0];
        assert!(
            e.message
                .starts_with("`spec.containers[0].ports[0].containerPort`"),
            "{}",
            e.message
        );
        assert_eq!(
            &text[e.primary.span.start..e.primary.span.end],
            "containerPort"
        );
    }

    #[test]
    fn retyped_fields_say_how_kubectl_reads_them() {
        let text = "kind: Pod\napiVersion: v1\nmetadata: {name: on, namespace: \"y\"}\nspec:\n  containers:\n  - name: c\n    ports:\n    - {containerPort: 010, name: \"010\"}\n    - {containerPort: 80}\n";
        let m = parse_manifests(FileId(1), text, "default");
        let messages: Vec<&str> = m.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "kubectl reads `name: on` as `true`, not as `on`",
                "kubectl reads `containerPort: 010` as `8`, not as `010`",
            ]
        );
    }
}

#[cfg(test)]
mod yaml11_tests {
    use super::*;

    #[test]
    fn yaml_1_1_values_are_those_go_yaml_reads() {
        for (plain, read) in [
            ("y", "true"),
            ("Yes", "true"),
            ("on", "true"),
            ("n", "false"),
            ("OFF", "false"),
            ("~", "null"),
            ("0777", "511"),
            ("0x1F", "31"),
            ("0b101", "5"),
            ("1_000", "1000"),
            ("-12", "-12"),
            ("1e3", "1000"),
            ("1.5", "1.5"),
            (".5", "0.5"),
            (".inf", ".inf"),
        ] {
            assert_eq!(yaml11_value(plain).as_deref(), Some(read), "{plain}");
        }
        for s in [
            "web",
            "v1",
            "1.2.3",
            "2024-01-01",
            "e3",
            "0x",
            "1e",
            "yess",
            "-",
            "a-b",
            ".",
            "1.0-rc",
        ] {
            assert_eq!(yaml11_value(s), None, "{s}");
        }
    }

    #[test]
    fn only_plain_label_scalars_are_flagged_where_they_are() {
        let doc = "kind: Pod\nmetadata:\n  name: on\n  labels: {y: v, 'on': \"no\", app: web}\n  annotations:\n    a: 0777\nspec: {replicas: 0777}\n";
        let d = retyped_labels(FileId(1), 100, doc);
        let at: Vec<usize> = d.iter().map(|d| d.primary.span.start - 100).collect();
        // `name: on` is a field netpol reads (a string to kubectl's schema, so kubectl rejects
        // the boolean); `replicas` is not read, and is left to kubectl.
        assert_eq!(
            at,
            [
                doc.find("on").unwrap(),
                doc.find("y:").unwrap(),
                doc.find("0777").unwrap()
            ],
            "{d:?}"
        );
        assert_eq!(d[0].primary.message, "`name` is read as `true`");
        assert!(d[1..].iter().all(|d| d.primary.message == "quote it"));
    }

    #[test]
    fn directives_and_many_documents_are_read() {
        let mut text = String::from("%YAML 1.1\n---\n");
        for i in 0..3000 {
            text.push_str(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, labels: {{app: p}}}}\nspec: {{containers: [{{name: c, image: x}}]}}\n---\n"
            ));
        }
        let m = parse_manifests(FileId(1), &text, "default");
        assert!(m.errors.is_empty(), "{:?}", m.errors.first());
        assert_eq!(m.workloads.len(), 3000);
    }
}
