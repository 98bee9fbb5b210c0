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
use std::collections::{BTreeMap, HashMap};

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
            namespace_selector: ns.as_deref().map(label_selector),
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

/// Writes policies as YAML directly, with the bytes of [`object_yaml`] of [`to_k8s`]: the
/// layout (keys in [`KEY_ORDER`], two-space indentation, sequences at their key's column,
/// `{}` and `[]` for empty collections) is written here, and every scalar is quoted by
/// serde-saphyr itself, rendered once in the position it takes (a key, a value, a sequence
/// item) and cached. serde-saphyr writes a scalar the same wherever it stands in block
/// style unless it holds a line break or is longer than its folding width; a policy with
/// such a scalar goes through [`object_yaml`] instead, so the output never differs.
#[derive(Default)]
pub struct Writer {
    keys: HashMap<String, String>,
    values: HashMap<String, String>,
    items: HashMap<String, String>,
}

/// serde-saphyr folds a single-line scalar longer than this many bytes into a block scalar,
/// whose form depends on its indentation (`FOLDED_WRAP_CHARS`, the default folding width).
const CONTEXT_FREE_LEN: usize = 80;

#[derive(Clone, Copy)]
enum Place {
    Key,
    Value,
    Item,
}

/// `s` as serde-saphyr writes it in `place`, or `None` when its form would depend on where
/// it stands (a line break, or long enough to be folded).
fn render(s: &str, place: Place) -> Option<String> {
    if s.len() > CONTEXT_FREE_LEN || s.contains(['\n', '\r']) {
        return None;
    }
    let (text, prefix, suffix) = match place {
        Place::Key => (
            serde_saphyr::to_string(&BTreeMap::from([(s, 0)])).ok()?,
            "",
            ": 0\n",
        ),
        Place::Value => (
            serde_saphyr::to_string(&BTreeMap::from([("k", s)])).ok()?,
            "k: ",
            "\n",
        ),
        Place::Item => (serde_saphyr::to_string(&[s]).ok()?, "- ", "\n"),
    };
    let body = text.strip_prefix(prefix)?.strip_suffix(suffix)?;
    // One line, as a scalar: a block scalar (`|`, `>`) or anything spanning lines falls back.
    (!body.contains('\n') && !body.starts_with(['|', '>'])).then(|| body.to_string())
}

/// A block mapping being written at column `col`; its first key may follow a `- ` already
/// written (a mapping as a sequence item).
struct MapOut<'a> {
    out: &'a mut String,
    col: usize,
    inline_first: bool,
    empty: bool,
}

impl<'a> MapOut<'a> {
    fn new(out: &'a mut String, col: usize, inline_first: bool) -> MapOut<'a> {
        MapOut {
            out,
            col,
            inline_first,
            empty: true,
        }
    }

    /// Writes `key:` (the key already rendered), on its own line unless it is the first of a
    /// sequence item.
    fn key(&mut self, key: &str) {
        if self.inline_first {
            self.inline_first = false;
        } else {
            indent(self.out, self.col);
        }
        self.empty = false;
        self.out.push_str(key);
        self.out.push(':');
    }

    /// Ends a sequence item's mapping: an empty one is `{}` (after its `- `).
    fn finish(self) {
        if self.empty {
            self.out.push_str("{}\n");
        }
    }
}

fn indent(out: &mut String, col: usize) {
    out.extend(std::iter::repeat_n(' ', col));
}

impl Writer {
    /// One policy as YAML: the bytes of `object_yaml(&to_k8s(p, source))`.
    pub fn policy(&mut self, p: &Policy, source: &str) -> Result<String, String> {
        match self.direct(p, source) {
            Some(text) => Ok(text),
            None => object_yaml(&to_k8s(p, source)),
        }
    }

    /// The policy written directly, or `None` when a scalar's form depends on its place.
    pub fn direct(&mut self, p: &Policy, source: &str) -> Option<String> {
        let mut out = String::with_capacity(512);
        out.push_str("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ");
        out.push_str(self.scalar(&p.name, Place::Value)?);
        out.push_str("\n  namespace: ");
        out.push_str(self.scalar(&p.namespace, Place::Value)?);
        out.push_str("\n  labels:\n    ");
        out.push_str(self.scalar(MANAGED_BY_LABEL, Place::Key)?);
        out.push_str(": ");
        out.push_str(self.scalar("netpol", Place::Value)?);
        out.push_str("\n  annotations:\n    ");
        out.push_str(self.scalar(SOURCE_ANNOTATION, Place::Key)?);
        out.push_str(": ");
        out.push_str(self.scalar(source, Place::Value)?);
        out.push_str("\nspec:\n");
        let mut spec = MapOut::new(&mut out, 2, false);
        spec.key("podSelector");
        self.selector(spec.out, 4, &p.pods)?;
        spec.key("policyTypes");
        let types: Vec<&str> = [(p.types.ingress, "Ingress"), (p.types.egress, "Egress")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if types.is_empty() {
            spec.out.push_str(" []\n");
        } else {
            spec.out.push('\n');
            for t in types {
                indent(spec.out, 2);
                spec.out.push_str("- ");
                spec.out.push_str(self.scalar(t, Place::Item)?);
                spec.out.push('\n');
            }
        }
        for (key, peers_key, rules) in
            [("ingress", "from", &p.ingress), ("egress", "to", &p.egress)]
        {
            if rules.is_empty() {
                continue;
            }
            spec.key(key);
            spec.out.push('\n');
            for rule in rules {
                self.rule(spec.out, 2, peers_key, rule)?;
            }
        }
        Some(out)
    }

    fn scalar(&mut self, s: &str, place: Place) -> Option<&str> {
        let cache = match place {
            Place::Key => &mut self.keys,
            Place::Value => &mut self.values,
            Place::Item => &mut self.items,
        };
        if !cache.contains_key(s) {
            cache.insert(s.to_string(), render(s, place)?);
        }
        cache.get(s).map(String::as_str)
    }

    /// A rule as a sequence item whose `- ` goes at column `col`.
    fn rule(&mut self, out: &mut String, col: usize, peers_key: &str, rule: &Rule) -> Option<()> {
        indent(out, col);
        out.push_str("- ");
        let mut map = MapOut::new(out, col + 2, true);
        if !rule.peers.is_empty() {
            map.key(peers_key);
            map.out.push('\n');
            for p in &rule.peers {
                self.peer(map.out, col + 2, p)?;
            }
        }
        if !rule.ports.is_empty() {
            map.key("ports");
            map.out.push('\n');
            for p in &rule.ports {
                self.port(map.out, col + 2, p)?;
            }
        }
        map.finish();
        Some(())
    }

    fn peer(&mut self, out: &mut String, col: usize, p: &RulePeer) -> Option<()> {
        indent(out, col);
        out.push_str("- ");
        let mut map = MapOut::new(out, col + 2, true);
        match p {
            RulePeer::Pods { ns, pods } => {
                if !(ns.is_some() && pods.is_all()) {
                    map.key("podSelector");
                    self.selector(map.out, col + 4, pods)?;
                }
                if let Some(ns) = ns {
                    map.key("namespaceSelector");
                    self.selector(map.out, col + 4, ns)?;
                }
            }
            RulePeer::Block(b) => {
                map.key("ipBlock");
                map.out.push('\n');
                let mut block = MapOut::new(map.out, col + 4, false);
                block.key("cidr");
                block.out.push(' ');
                block
                    .out
                    .push_str(self.scalar(&b.cidr.to_string(), Place::Value)?);
                block.out.push('\n');
                if !b.except.is_empty() {
                    block.key("except");
                    block.out.push('\n');
                    for e in &b.except {
                        indent(block.out, col + 4);
                        block.out.push_str("- ");
                        block
                            .out
                            .push_str(self.scalar(&e.to_string(), Place::Item)?);
                        block.out.push('\n');
                    }
                }
            }
        }
        map.finish();
        Some(())
    }

    fn port(&mut self, out: &mut String, col: usize, p: &RulePort) -> Option<()> {
        indent(out, col);
        out.push_str("- ");
        let mut map = MapOut::new(out, col + 2, true);
        let protocol = match p {
            RulePort::All => None,
            RulePort::Range { protocol, .. } | RulePort::Named { protocol, .. } => {
                Some(protocol.to_string())
            }
        };
        if let Some(protocol) = protocol {
            map.key("protocol");
            map.out.push(' ');
            map.out.push_str(self.scalar(&protocol, Place::Value)?);
            map.out.push('\n');
        }
        match p {
            RulePort::All
            | RulePort::Range {
                start: 1,
                end: 65535,
                ..
            } => {}
            RulePort::Range { start, end, .. } => {
                map.key("port");
                map.out.push_str(&format!(" {start}\n"));
                if end > start {
                    map.key("endPort");
                    map.out.push_str(&format!(" {end}\n"));
                }
            }
            RulePort::Named { name, .. } => {
                map.key("port");
                map.out.push(' ');
                map.out.push_str(self.scalar(name, Place::Value)?);
                map.out.push('\n');
            }
        }
        map.finish();
        Some(())
    }

    /// A selector as the value of a key just written (`key:`), its mapping at column `col`.
    fn selector(&mut self, out: &mut String, col: usize, sel: &Sel) -> Option<()> {
        let (labels, exprs) = sel.to_k8s();
        if labels.is_empty() && exprs.is_empty() {
            out.push_str(" {}\n");
            return Some(());
        }
        out.push('\n');
        let mut map = MapOut::new(out, col, false);
        if !labels.is_empty() {
            map.key("matchLabels");
            map.out.push('\n');
            for (k, v) in &labels {
                indent(map.out, col + 2);
                map.out.push_str(self.scalar(k, Place::Key)?);
                map.out.push_str(": ");
                map.out.push_str(self.scalar(v, Place::Value)?);
                map.out.push('\n');
            }
        }
        if !exprs.is_empty() {
            map.key("matchExpressions");
            map.out.push('\n');
            for (key, operator, values) in &exprs {
                indent(map.out, col);
                map.out.push_str("- key: ");
                map.out.push_str(self.scalar(key, Place::Value)?);
                map.out.push('\n');
                indent(map.out, col + 2);
                map.out.push_str("operator: ");
                map.out.push_str(self.scalar(operator, Place::Value)?);
                map.out.push('\n');
                if !values.is_empty() {
                    indent(map.out, col + 2);
                    map.out.push_str("values:\n");
                    for v in values {
                        indent(map.out, col + 2);
                        map.out.push_str("- ");
                        map.out.push_str(self.scalar(v, Place::Item)?);
                        map.out.push('\n');
                    }
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::eval::Protocol;
    use crate::k8s::selector::{Constraint, Sel};
    use crate::resolve::hir::{Dirs, IpBlock};
    use crate::span::{FileId, Span};
    use proptest::prelude::*;
    use std::sync::Arc;

    /// Strings serde-saphyr must quote or write in a special form, and plain ones: YAML 1.1
    /// and 1.2 booleans, nulls, numbers, timestamps, indicators, comments, document markers,
    /// edge whitespace, escapes, non-ASCII, long (folded) and multi-line (block) scalars.
    fn pool() -> Vec<String> {
        let mut v: Vec<String> = [
            "web",
            "a",
            "y",
            "Y",
            "yes",
            "No",
            "on",
            "OFF",
            "n",
            "true",
            "False",
            "null",
            "~",
            "",
            "0777",
            "0o17",
            "0x1F",
            "0b101",
            "1e3",
            "1_000",
            "+12",
            "-1.5",
            ".5",
            "1.",
            ".inf",
            "-.Inf",
            ".NaN",
            "nan",
            "12:30",
            "1:20:30.5",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "-",
            "- a",
            "-a",
            "?",
            "? a",
            "?a",
            "a: b",
            "a:b",
            "a:",
            "a #b",
            "a#b",
            "#a",
            "'q'",
            "\"q\"",
            "it's",
            "back\\slash",
            "é",
            "日本",
            "tab\there",
            "\u{FEFF}x",
            "\u{7}bell",
            "\u{85}nel",
            " lead",
            "trail ",
            "---",
            "--- a",
            "...",
            "<<",
            "=",
            "a,b",
            "[x]",
            "{x}",
            "@x",
            "`x`",
            "%x",
            "!x",
            "&x",
            "*x",
            "|x",
            ">x",
            "::1",
            "10.0.0.0/8",
            "kubernetes.io/metadata.name",
            "app.kubernetes.io/name",
            "TCP",
            "In",
            "line\nbreak",
            "two\n",
            "\n",
            "cr\rx",
        ]
        .into_iter()
        .map(str::to_string)
        .collect();
        v.push("x".repeat(80));
        v.push("x".repeat(81));
        v.push("é".repeat(41));
        v.push("word ".repeat(20));
        v.push(format!("{}: {}", "k".repeat(40), "v".repeat(45)));
        v
    }

    fn span() -> Span {
        Span::new(FileId(0), 0, 0)
    }

    fn policy(name: &str, namespace: &str, pods: Sel) -> Policy {
        Policy {
            namespace: namespace.to_string(),
            name: name.to_string(),
            pods,
            types: Dirs {
                ingress: true,
                egress: true,
            },
            ingress: Vec::new(),
            egress: Vec::new(),
            origin: Origin { span: span() },
        }
    }

    fn assert_same(w: &mut Writer, p: &Policy, source: &str) {
        let reference = object_yaml(&to_k8s(p, source)).unwrap();
        assert_eq!(w.policy(p, source).unwrap(), reference, "{p:?} {source:?}");
    }

    /// A policy with `s` in every place a scalar of the user's can stand.
    fn everywhere(s: &str) -> (Policy, String) {
        let mut pods = Sel::all();
        pods.require(s, Constraint::eq(s));
        let mut listed = Sel::all();
        listed.require(s, Constraint::is_in([s, "other"]));
        listed.require("k", Constraint::not_in([s]));
        let mut p = policy(s, s, pods.clone());
        let rule = Rule {
            peers: vec![
                RulePeer::Pods {
                    ns: Some(Arc::new(listed.clone())),
                    pods: Arc::new(listed),
                },
                RulePeer::Pods {
                    ns: None,
                    pods: Arc::new(pods.clone()),
                },
            ],
            ports: vec![RulePort::Named {
                protocol: Protocol::Udp,
                name: s.to_string(),
            }],
        };
        p.ingress = vec![rule.clone()];
        p.egress = vec![rule];
        (p, format!("{s}:1"))
    }

    #[test]
    fn every_pool_string_in_every_place_is_written_as_serde_saphyr_writes_it() {
        let mut w = Writer::default();
        for s in pool() {
            let (p, source) = everywhere(&s);
            assert_same(&mut w, &p, &source);
            assert_same(&mut w, &p, &s);
            // Only a line break or a scalar long enough to fold makes the policy fall back.
            let context_free = |t: &str| t.len() <= CONTEXT_FREE_LEN && !t.contains(['\n', '\r']);
            let direct = context_free(&s) && context_free(&source);
            assert_eq!(w.direct(&p, &source).is_some(), direct, "{s:?}");
        }
    }

    /// The pool's strings that serde-saphyr writes the same wherever they stand: the structure
    /// test below must exercise the direct writer, not its fallback.
    fn scalar() -> impl Strategy<Value = String> {
        let short: Vec<String> = pool()
            .into_iter()
            .filter(|t| t.len() <= CONTEXT_FREE_LEN && !t.contains(['\n', '\r']))
            .collect();
        proptest::sample::select(short)
    }

    fn constraint() -> impl Strategy<Value = Constraint> {
        (0..5u8, scalar(), scalar()).prop_map(|(kind, a, b)| match kind {
            0 => Constraint::eq(&a),
            1 => Constraint::is_in([a.as_str(), b.as_str()]),
            2 => Constraint::not_in([a.as_str(), b.as_str()]),
            3 => Constraint::exists(),
            _ => Constraint::does_not_exist(),
        })
    }

    fn selector() -> impl Strategy<Value = Sel> {
        proptest::collection::vec((scalar(), constraint()), 0..3).prop_map(|cs| {
            let mut s = Sel::all();
            for (k, c) in cs {
                s.require(&k, c);
            }
            s
        })
    }

    fn peer() -> impl Strategy<Value = RulePeer> {
        let cidrs = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "::/0", "fd00::/8"];
        prop_oneof![
            (proptest::option::of(selector()), selector()).prop_map(|(ns, pods)| RulePeer::Pods {
                ns: ns.map(Arc::new),
                pods: Arc::new(pods),
            }),
            (
                proptest::sample::select(cidrs.to_vec()),
                proptest::sample::subsequence(cidrs.to_vec(), 0..3)
            )
                .prop_map(|(cidr, except)| RulePeer::Block(IpBlock {
                    cidr: cidr.parse().unwrap(),
                    except: except.iter().map(|e| e.parse().unwrap()).collect(),
                })),
        ]
    }

    fn port() -> impl Strategy<Value = RulePort> {
        let protocol = proptest::sample::select(Protocol::ALL.to_vec());
        prop_oneof![
            Just(RulePort::All),
            (protocol.clone(), 1..=65535u16, 1..=65535u16).prop_map(|(protocol, start, end)| {
                RulePort::Range {
                    protocol,
                    start,
                    end,
                }
            }),
            protocol.clone().prop_map(|protocol| RulePort::Range {
                protocol,
                start: 1,
                end: 65535
            }),
            (protocol, scalar()).prop_map(|(protocol, name)| RulePort::Named { protocol, name }),
        ]
    }

    fn rules() -> impl Strategy<Value = Vec<Rule>> {
        proptest::collection::vec(
            (
                proptest::collection::vec(peer(), 0..3),
                proptest::collection::vec(port(), 0..3),
            )
                .prop_map(|(peers, ports)| Rule { peers, ports }),
            0..3,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        /// Every shape of policy (empty and full selectors, every kind of peer and port, no
        /// rules, empty rules, no direction) gives the bytes of the serde path.
        #[test]
        fn the_direct_writer_gives_the_bytes_of_serde_saphyr(
            name in scalar(),
            namespace in scalar(),
            source in scalar(),
            pods in selector(),
            ingress in any::<bool>(),
            egress in any::<bool>(),
            ingress_rules in rules(),
            egress_rules in rules(),
        ) {
            let mut p = policy(&name, &namespace, pods);
            p.types = Dirs { ingress, egress };
            p.ingress = ingress_rules;
            p.egress = egress_rules;
            let mut w = Writer::default();
            prop_assert!(w.direct(&p, &source).is_some());
            // Twice: the second time from the cache.
            assert_same(&mut w, &p, &source);
            assert_same(&mut w, &p, &source);
        }
    }

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
