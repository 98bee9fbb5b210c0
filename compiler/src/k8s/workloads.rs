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
    docs.into_iter()
        .filter(|(_, d)| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Reads one manifest file. `default_namespace` is where objects without
/// `metadata.namespace` go (as `kubectl apply -n` would place them).
pub fn parse_manifests(file: FileId, text: &str, default_namespace: &str) -> Manifests {
    let mut out = Manifests::default();
    for (offset, doc) in documents(text) {
        let doc_span = Span::new(file, offset, offset + doc.trim_end().len());
        match serde_saphyr::from_str::<Value>(doc) {
            Ok(Value::Null) => {}
            Ok(value) => read_object(&value, doc_span, default_namespace, &mut out),
            Err(e) => {
                let at = e
                    .location()
                    .and_then(|l| l.span().byte_offset())
                    .and_then(|b| usize::try_from(b).ok())
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

fn read_object(value: &Value, span: Span, default_ns: &str, out: &mut Manifests) {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let template = |t: Option<core::PodTemplateSpec>| {
        t.and_then(|t| Some((t.metadata.unwrap_or_default(), t.spec?)))
    };
    let result: Result<Option<ObjectParts>, serde_json::Error> = match (kind, api_version) {
        ("List", _) => {
            if let Some(items) = value.get("items").and_then(Value::as_array) {
                for item in items {
                    read_object(item, span, default_ns, out);
                }
            }
            Ok(None)
        }
        ("Namespace", "v1") => serde_json::from_value::<core::Namespace>(value.clone()).map(|ns| {
            let name = ns.metadata.name.unwrap_or_default();
            let mut labels = ns.metadata.labels.unwrap_or_default();
            labels.insert(
                crate::k8s::names::NAMESPACE_NAME_LABEL.to_string(),
                name.clone(),
            );
            out.namespaces.push(NamespaceInfo { span, name, labels });
            None
        }),
        ("Service", "v1") => serde_json::from_value::<core::Service>(value.clone()).map(|svc| {
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
        ("Ingress", "networking.k8s.io/v1") => serde_json::from_value::<
            k8s_openapi::api::networking::v1::Ingress,
        >(value.clone())
        .map(|ing| {
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
        }),
        ("Pod", "v1") => serde_json::from_value::<core::Pod>(value.clone())
            .map(|p| Some((p.metadata.clone(), Some(p.metadata), p.spec))),
        ("ReplicationController", "v1") => {
            serde_json::from_value::<core::ReplicationController>(value.clone()).map(|o| {
                o.spec
                    .and_then(|s| template(s.template))
                    .map(|(m, s)| (o.metadata, Some(m), Some(s)))
            })
        }
        ("Deployment", "apps/v1") => {
            serde_json::from_value::<apps::Deployment>(value.clone()).map(|o| {
                o.spec
                    .and_then(|s| template(Some(s.template)))
                    .map(|(m, s)| (o.metadata, Some(m), Some(s)))
            })
        }
        ("StatefulSet", "apps/v1") => serde_json::from_value::<apps::StatefulSet>(value.clone())
            .map(|o| {
                o.spec
                    .and_then(|s| template(Some(s.template)))
                    .map(|(m, s)| (o.metadata, Some(m), Some(s)))
            }),
        ("DaemonSet", "apps/v1") => {
            serde_json::from_value::<apps::DaemonSet>(value.clone()).map(|o| {
                o.spec
                    .and_then(|s| template(Some(s.template)))
                    .map(|(m, s)| (o.metadata, Some(m), Some(s)))
            })
        }
        ("ReplicaSet", "apps/v1") => {
            serde_json::from_value::<apps::ReplicaSet>(value.clone()).map(|o| {
                o.spec
                    .and_then(|s| template(s.template))
                    .map(|(m, s)| (o.metadata, Some(m), Some(s)))
            })
        }
        ("Job", "batch/v1") => serde_json::from_value::<batch::Job>(value.clone()).map(|o| {
            o.spec
                .and_then(|s| template(Some(s.template)))
                .map(|(m, s)| (o.metadata, Some(m), Some(s)))
        }),
        ("CronJob", "batch/v1") => {
            serde_json::from_value::<batch::CronJob>(value.clone()).map(|o| {
                o.spec
                    .and_then(|s| s.job_template.spec)
                    .and_then(|s| template(Some(s.template)))
                    .map(|(m, s)| (o.metadata, Some(m), Some(s)))
            })
        }
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
        Err(e) => out.errors.push(
            Diagnostic::new(
                Code::InvalidManifest,
                span,
                format!("this `{kind}` is not a valid Kubernetes object: {e}"),
            )
            .label("in this document"),
        ),
    }
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
