//! Emission: optimised policies to `networking.k8s.io/v1` NetworkPolicy objects and YAML.
//!
//! The YAML writer is serde-saphyr, which quotes every scalar that a YAML 1.1 reader
//! (kubectl) would take for something other than a string (`on`, `no`, `y`, `null`, `1e3`,
//! `0777`, …). Objects are sorted by namespace and name; keys come in a fixed order.

use crate::backend::ir::*;
use crate::k8s::selector::Sel;
use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const SOURCE_ANNOTATION: &str = "netpol.dev/source";

pub fn label_selector(sel: &Sel) -> LabelSelector {
    let (labels, exprs) = sel.to_k8s();
    LabelSelector {
        match_labels: (!labels.is_empty()).then_some(labels),
        match_expressions: (!exprs.is_empty()).then(|| {
            exprs
                .into_iter()
                .map(|(key, operator, values)| LabelSelectorRequirement {
                    key,
                    operator: operator.to_string(),
                    values: (!values.is_empty()).then_some(values),
                })
                .collect()
        }),
    }
}

fn peer(p: &RulePeer) -> net::NetworkPolicyPeer {
    match p {
        RulePeer::Pods { ns, pods } => net::NetworkPolicyPeer {
            namespace_selector: ns.as_ref().map(label_selector),
            // With a namespaceSelector, an all-pods podSelector is left out.
            pod_selector: if ns.is_some() && pods.is_all() {
                None
            } else {
                Some(label_selector(pods))
            },
            ip_block: None,
        },
        RulePeer::Block(b) => net::NetworkPolicyPeer {
            ip_block: Some(net::IPBlock {
                cidr: b.cidr.to_string(),
                except: (!b.except.is_empty())
                    .then(|| b.except.iter().map(|e| e.to_string()).collect()),
            }),
            ..Default::default()
        },
    }
}

fn port(p: &RulePort) -> net::NetworkPolicyPort {
    match p {
        RulePort::All => net::NetworkPolicyPort::default(),
        RulePort::Range {
            protocol,
            start: 1,
            end: 65535,
        } => net::NetworkPolicyPort {
            protocol: Some(protocol.to_string()),
            ..Default::default()
        },
        RulePort::Range {
            protocol,
            start,
            end,
        } => net::NetworkPolicyPort {
            protocol: Some(protocol.to_string()),
            port: Some(IntOrString::Int(i32::from(*start))),
            end_port: (end > start).then_some(i32::from(*end)),
        },
        RulePort::Named { protocol, name } => net::NetworkPolicyPort {
            protocol: Some(protocol.to_string()),
            port: Some(IntOrString::String(name.clone())),
            end_port: None,
        },
    }
}

fn opt_list<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Builds the Kubernetes object. `source` is the value of the source annotation
/// (`file.netpol:line`).
pub fn to_k8s(p: &Policy, source: &str) -> net::NetworkPolicy {
    let mut types = Vec::new();
    if p.types.ingress {
        types.push("Ingress".to_string());
    }
    if p.types.egress {
        types.push("Egress".to_string());
    }
    net::NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(p.name.clone()),
            namespace: Some(p.namespace.clone()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.to_string(),
                "netpol".to_string(),
            )])),
            annotations: Some(BTreeMap::from([(
                SOURCE_ANNOTATION.to_string(),
                source.to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(net::NetworkPolicySpec {
            pod_selector: Some(label_selector(&p.pods)),
            policy_types: Some(types),
            ingress: opt_list(
                p.ingress
                    .iter()
                    .map(|r| net::NetworkPolicyIngressRule {
                        from: opt_list(r.peers.iter().map(peer).collect()),
                        ports: opt_list(r.ports.iter().map(port).collect()),
                    })
                    .collect(),
            ),
            egress: opt_list(
                p.egress
                    .iter()
                    .map(|r| net::NetworkPolicyEgressRule {
                        to: opt_list(r.peers.iter().map(peer).collect()),
                        ports: opt_list(r.ports.iter().map(port).collect()),
                    })
                    .collect(),
            ),
        }),
    }
}

/// Serialises objects as one multi-document YAML stream.
pub fn to_yaml(objects: &[net::NetworkPolicy]) -> Result<String, String> {
    let mut out = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&object_yaml(o)?);
    }
    Ok(out)
}

/// The order keys are written in, the way people write NetworkPolicies: what and where
/// first, then whom the policy selects, then its rules, peers before ports.
const KEY_ORDER: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "name",
    "namespace",
    "labels",
    "annotations",
    "podSelector",
    "namespaceSelector",
    "ipBlock",
    "policyTypes",
    "ingress",
    "egress",
    "from",
    "to",
    "ports",
    "cidr",
    "except",
    "protocol",
    "port",
    "endPort",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
];

fn reorder(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by_key(|(k, _)| {
                (
                    KEY_ORDER.iter().position(|o| o == k).unwrap_or(usize::MAX),
                    k.clone(),
                )
            });
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        // Labels and annotations are user data: sorted, never reordered.
                        let v = if matches!(k.as_str(), "matchLabels" | "labels" | "annotations") {
                            v
                        } else {
                            reorder(v)
                        };
                        (k, v)
                    })
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(reorder).collect())
        }
        other => other,
    }
}

/// One object as YAML, keys in [`KEY_ORDER`].
pub fn object_yaml(o: &net::NetworkPolicy) -> Result<String, String> {
    let value = reorder(serde_json::to_value(o).map_err(|e| e.to_string())?);
    let text = serde_saphyr::to_string(&value).map_err(|e| e.to_string())?;
    Ok(if text.ends_with('\n') {
        text
    } else {
        text + "\n"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::selector::{Constraint, Sel};

    #[test]
    fn label_keys_keep_their_sorted_order() {
        let mut sel = Sel::all();
        for k in ["services", "namespace", "except", "cluster", "app"] {
            sel.require(k, Constraint::eq("x"));
        }
        let np = net::NetworkPolicy {
            spec: Some(net::NetworkPolicySpec {
                pod_selector: Some(label_selector(&sel)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let yaml = object_yaml(&np).unwrap_or_default();
        let keys: Vec<&str> = yaml
            .lines()
            .filter(|l| l.starts_with("      ") && l.ends_with(": x"))
            .map(|l| l.trim().trim_end_matches(": x"))
            .collect();
        assert_eq!(
            keys,
            ["app", "cluster", "except", "namespace", "services"],
            "{yaml}"
        );
    }
}
