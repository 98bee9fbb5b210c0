//! Reading NetworkPolicy YAML for `netpol import`, as strictly as `kubectl apply
//! --validate=strict` and the API server: an unknown field, or a value the API server rejects,
//! is an error at its own line and column, and that policy is not imported.
//!
//! Each document is read into a [`Node`] tree that keeps the location of every key and value;
//! the tree is validated against the NetworkPolicy schema, then converted to JSON and read as a
//! `k8s_openapi` `NetworkPolicy`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::k8s::names::{is_dns_label, is_valid_port_name, label_key_problem, label_value_problem};

/// One NetworkPolicy of the input, with the file and line it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub file: String,
    /// 1-based line of the object's first key.
    pub line: u64,
    pub policy: NetworkPolicy,
}

/// What [`read`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Read {
    pub inputs: Vec<Input>,
    /// Objects that are not imported and why (`file` holds no NetworkPolicy, other kinds).
    pub notes: Vec<String>,
    /// Policies that are not valid, as `file:line:column: message`; they are not imported.
    pub errors: Vec<String>,
}

/// A YAML node with the location of every key and value.
#[derive(Clone, Debug)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor(Depth::Full))
    }
}

/// Which nodes of a tree carry their location. Every location costs the YAML reader a
/// mapping of its own, so [`read`] first reads a file with the locations of its documents and
/// list items only ([`Depth::Doc`]), which are all it needs when every policy is valid, and
/// reads it again with every location ([`Depth::Full`]) to place the errors when one is not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Every node has its location.
    Full,
    /// No node below has one ([`Location::UNKNOWN`]).
    Plain,
    /// A document: a mapping whose `items` list has the locations of its items only.
    Doc,
    /// The `items` of a document: each item has its location, nothing below it.
    Items,
}

/// A node read at [`Depth::Plain`], with an unknown location.
struct Plain(Spanned<Node>);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Plain, D::Error> {
        let value = d.deserialize_any(NodeVisitor(Depth::Plain))?;
        Ok(Plain(Spanned::new(
            value,
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        )))
    }
}

/// A node read at a given [`Depth`] (its own location comes from a `Spanned` around it).
struct AtDepth<const D: u8>(Node);

const DOC: u8 = 0;
const ITEMS: u8 = 1;
const PLAIN: u8 = 2;

impl<'de, const N: u8> Deserialize<'de> for AtDepth<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AtDepth<N>, D::Error> {
        let depth = match N {
            DOC => Depth::Doc,
            ITEMS => Depth::Items,
            _ => Depth::Plain,
        };
        d.deserialize_any(NodeVisitor(depth)).map(AtDepth)
    }
}

struct NodeVisitor(Depth);

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        match self.0 {
            Depth::Full => {
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    out.push(item);
                }
            }
            Depth::Items => {
                while let Some(item) = seq.next_element::<Spanned<AtDepth<PLAIN>>>()? {
                    out.push(Spanned::new(item.value.0, item.referenced, item.defined));
                }
            }
            Depth::Plain | Depth::Doc => {
                while let Some(Plain(item)) = seq.next_element::<Plain>()? {
                    out.push(item);
                }
            }
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        if self.0 == Depth::Full {
            while let Some(key) = map.next_key::<Spanned<Node>>()? {
                let value = map.next_value::<Spanned<Node>>()?;
                out.push((key, value));
            }
            return Ok(Node::Map(out));
        }
        while let Some(Plain(key)) = map.next_key::<Plain>()? {
            let value = if self.0 == Depth::Doc && key.value.is_key("items") {
                let AtDepth(items) = map.next_value::<AtDepth<ITEMS>>()?;
                Spanned::new(
                    items,
                    serde_saphyr::Location::UNKNOWN,
                    serde_saphyr::Location::UNKNOWN,
                )
            } else {
                map.next_value::<Plain>()?.0
            };
            out.push((key, value));
        }
        Ok(Node::Map(out))
    }
}

impl Node {
    fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::UInt(u) => Value::from(*u),
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => Value::Array(items.iter().map(|i| i.value.to_json()).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.key_text(), v.value.to_json()))
                    .collect(),
            ),
        }
    }

    fn key_text(&self) -> String {
        match self {
            Node::Str(s) => s.clone(),
            Node::Int(i) => i.to_string(),
            Node::UInt(u) => u.to_string(),
            Node::Bool(b) => b.to_string(),
            Node::Float(f) => f.to_string(),
            Node::Null => "null".to_string(),
            Node::Seq(_) | Node::Map(_) => "?".to_string(),
        }
    }

    /// Whether this key reads as `key` ([`Node::key_text`] without its allocation for strings).
    fn is_key(&self, key: &str) -> bool {
        match self {
            Node::Str(s) => s == key,
            other => other.key_text() == key,
        }
    }

    fn get(&self, key: &str) -> Option<&Spanned<Node>> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.value.is_key(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value of `key` in a mapping, moved out (the first, as [`Node::get`] finds it).
    fn take(self, key: &str) -> Option<Node> {
        match self {
            Node::Map(entries) => entries
                .into_iter()
                .find(|(k, _)| k.value.is_key(key))
                .map(|(_, v)| v.value),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::UInt(_) => "an integer",
            Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

/// Reads the `networking.k8s.io/v1` NetworkPolicies of YAML streams (`(file name, text)`).
/// Other objects are skipped; the notes say which. A file that is not YAML is an error, and so
/// is input that holds no NetworkPolicy at all (valid or not).
pub fn read(files: &[(String, String)]) -> Result<Read, String> {
    read_at(files, false)
}

/// [`read`]; `full` reads every file with every location at once (the first pass of each file
/// is otherwise without them: see [`Depth`]).
fn read_at(files: &[(String, String)], full: bool) -> Result<Read, String> {
    let mut out = Read::default();
    let mut seen_policy = false;
    for (file, text) in files {
        if !full {
            let mut quick = Read::default();
            if let Ok(found) = read_file(file, text, Depth::Doc, &mut quick)
                && quick.errors.is_empty()
            {
                seen_policy |= found;
                out.inputs.append(&mut quick.inputs);
                out.notes.append(&mut quick.notes);
                continue;
            }
        }
        seen_policy |= read_file(file, text, Depth::Full, &mut out)?;
    }
    if !seen_policy {
        let names: Vec<String> = files.iter().map(|(f, _)| format!("`{f}`")).collect();
        return Err(format!(
            "no NetworkPolicy in {}: `netpol import` reads `networking.k8s.io/v1` NetworkPolicy objects",
            if names.is_empty() {
                "the input".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    Ok(out)
}

/// Reads one file into `out`, its documents (and list items) located and the nodes below
/// them as `depth` says; whether it holds a NetworkPolicy.
fn read_file(file: &str, text: &str, depth: Depth, out: &mut Read) -> Result<bool, String> {
    let not_yaml = |e: serde_saphyr::Error| {
        let reason = e.to_string();
        let first = reason.lines().next().unwrap_or_default().to_string();
        format!("`{file}` is not YAML: {first}")
    };
    let options = crate::k8s::workloads::yaml_options(text.len());
    let docs: Vec<Spanned<Node>> = if depth == Depth::Full {
        serde_saphyr::from_multiple_with_options(text, options).map_err(not_yaml)?
    } else {
        serde_saphyr::from_multiple_with_options::<Spanned<AtDepth<DOC>>>(text, options)
            .map_err(not_yaml)?
            .into_iter()
            .map(|d| Spanned::new(d.value.0, d.referenced, d.defined))
            .collect()
    };
    {
        let mut found = false;
        let mut others = BTreeSet::new();
        for doc in docs {
            // `List` (kubectl) and `NetworkPolicyList` (the API, whose items may omit `kind`
            // and `apiVersion`).
            let list = doc
                .value
                .get("kind")
                .and_then(|k| k.value.str())
                .filter(|k| k.ends_with("List"))
                .map(|k| k == "NetworkPolicyList");
            let items: Vec<(Spanned<Node>, bool)> = match list {
                Some(typed) => match doc.value.take("items") {
                    Some(Node::Seq(items)) => items.into_iter().map(|i| (i, typed)).collect(),
                    _ => Vec::new(),
                },
                None => vec![(doc, false)],
            };
            for (item, typed) in items {
                let kind = item
                    .value
                    .get("kind")
                    .and_then(|k| k.value.str())
                    .or(typed.then_some("NetworkPolicy"))
                    .unwrap_or("");
                let api = item
                    .value
                    .get("apiVersion")
                    .and_then(|k| k.value.str())
                    .or(typed.then_some("networking.k8s.io/v1"))
                    .unwrap_or("");
                let name = item
                    .value
                    .get("metadata")
                    .and_then(|m| m.value.get("name"))
                    .and_then(|n| n.value.str())
                    .unwrap_or("")
                    .to_string();
                if kind == "NetworkPolicy" && api == "networking.k8s.io/v1" {
                    found = true;
                    let mut problems = Vec::new();
                    validate_policy(&item, &mut problems);
                    let at =
                        |l: &serde_saphyr::Location| format!("{file}:{}:{}", l.line(), l.column());
                    let what = if name.is_empty() {
                        "a NetworkPolicy".to_string()
                    } else {
                        format!("NetworkPolicy `{name}`")
                    };
                    if let Some((loc, why)) = problems.first() {
                        let more = match problems.len() {
                            1 => String::new(),
                            n => format!(" (and {} more)", n - 1),
                        };
                        out.errors
                            .push(format!("{}: {what} is not imported: {why}{more}", at(loc)));
                        continue;
                    }
                    let mut json = item.value.to_json();
                    if let Some(o) = json.as_object_mut() {
                        o.entry("kind").or_insert("NetworkPolicy".into());
                        o.entry("apiVersion")
                            .or_insert("networking.k8s.io/v1".into());
                    }
                    match serde_json::from_value::<NetworkPolicy>(json) {
                        Ok(policy) => out.inputs.push(Input {
                            file: file.to_string(),
                            line: item.referenced.line(),
                            policy,
                        }),
                        Err(e) => out.errors.push(format!(
                            "{}: {what} is not imported: {e}",
                            at(&item.referenced)
                        )),
                    }
                } else if kind.ends_with("NetworkPolicy") {
                    out.notes.push(format!(
                        "`{file}`: skipped {kind} `{name}` (`apiVersion: {api}`): only \
                         `networking.k8s.io/v1` NetworkPolicies are imported"
                    ));
                } else if !matches!(item.value, Node::Null) {
                    others.insert(if kind.is_empty() {
                        "a document without `kind`".to_string()
                    } else {
                        format!("`{kind}`")
                    });
                }
            }
        }
        if !found {
            let what = if others.is_empty() {
                String::new()
            } else {
                format!(
                    " (it holds {})",
                    others.into_iter().collect::<Vec<_>>().join(", ")
                )
            };
            out.notes
                .push(format!("`{file}` holds no NetworkPolicy{what}"));
        }
        Ok(found)
    }
}

// ------------------------------------------------------------------ the schema

type Problems = Vec<(serde_saphyr::Location, String)>;

/// The fields of a mapping: each known key is given to `field`; an unknown key, or a value that
/// is not a mapping, is a problem. `path` names the mapping in messages (`spec.ingress[0]`).
fn fields(
    node: &Spanned<Node>,
    path: &str,
    known: &[&str],
    out: &mut Problems,
    mut field: impl FnMut(&str, &Spanned<Node>, &str, &mut Problems),
) {
    let Node::Map(entries) = &node.value else {
        if !matches!(node.value, Node::Null) {
            out.push((
                node.referenced,
                format!("`{path}` must be a mapping, not {}", node.value.kind()),
            ));
        }
        return;
    };
    let mut seen = BTreeSet::new();
    for (k, v) in entries {
        let key = k.value.key_text();
        let sub = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if !seen.insert(key.clone()) {
            out.push((k.referenced, format!("duplicate field `{sub}`")));
            continue;
        }
        if known.contains(&key.as_str()) {
            field(&key, v, &sub, out);
        } else {
            let hint = crate::k8s::names::did_you_mean(&key, known.iter().copied())
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            out.push((k.referenced, format!("unknown field `{sub}`{hint}")));
        }
    }
}

/// The items of a list (null is an empty list).
fn items<'a>(node: &'a Spanned<Node>, path: &str, out: &mut Problems) -> &'a [Spanned<Node>] {
    match &node.value {
        Node::Seq(items) => items,
        Node::Null => &[],
        other => {
            out.push((
                node.referenced,
                format!("`{path}` must be a list, not {}", other.kind()),
            ));
            &[]
        }
    }
}

fn string<'a>(node: &'a Spanned<Node>, path: &str, out: &mut Problems) -> Option<&'a str> {
    match &node.value {
        Node::Str(s) => Some(s),
        other => {
            out.push((
                node.referenced,
                format!("`{path}` must be a string, not {}", other.kind()),
            ));
            None
        }
    }
}

fn validate_policy(node: &Spanned<Node>, out: &mut Problems) {
    let mut has_name = false;
    fields(
        node,
        "",
        &["apiVersion", "kind", "metadata", "spec", "status"],
        out,
        |key, v, path, out| match key {
            "metadata" => {
                has_name = metadata(v, path, out);
            }
            "spec" => spec(v, path, out),
            "apiVersion" | "kind" => {
                string(v, path, out);
            }
            _ => {}
        },
    );
    if !has_name {
        out.push((
            node.referenced,
            "missing required field `metadata.name`".to_string(),
        ));
    }
}

/// Whether the object has a name.
fn metadata(node: &Spanned<Node>, path: &str, out: &mut Problems) -> bool {
    let mut has_name = false;
    fields(
        node,
        path,
        &[
            "name",
            "namespace",
            "labels",
            "annotations",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generateName",
            "selfLink",
            "finalizers",
            "ownerReferences",
            "managedFields",
        ],
        out,
        |key, v, path, out| match key {
            "name" => {
                if let Some(n) = string(v, path, out) {
                    has_name = true;
                    if !n.split('.').all(is_dns_label) || n.len() > 253 {
                        out.push((
                            v.referenced,
                            format!(
                                "`{path}` `{n}` is not a valid name (lowercase letters, digits, \
                                 `-` and `.`)"
                            ),
                        ));
                    }
                }
            }
            "namespace" => {
                if let Some(n) = string(v, path, out)
                    && !is_dns_label(n)
                {
                    out.push((
                        v.referenced,
                        format!("`{path}` `{n}` is not a valid namespace name"),
                    ));
                }
            }
            "labels" | "annotations" => {
                if let Node::Map(entries) = &v.value {
                    for (_, val) in entries {
                        string(val, path, out);
                    }
                } else if !matches!(v.value, Node::Null) {
                    out.push((v.referenced, format!("`{path}` must be a mapping")));
                }
            }
            _ => {}
        },
    );
    has_name
}

fn spec(node: &Spanned<Node>, path: &str, out: &mut Problems) {
    let mut ingress_present = false;
    fields(
        node,
        path,
        &["podSelector", "policyTypes", "ingress", "egress"],
        out,
        |key, v, path, out| match key {
            "podSelector" => selector(v, path, out),
            "policyTypes" => {
                let list = items(v, path, out);
                if list.len() > 2 {
                    out.push((
                        v.referenced,
                        format!("`{path}` may not name more than two types"),
                    ));
                }
                let mut seen = BTreeSet::new();
                for (i, t) in list.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    if let Some(s) = string(t, &p, out) {
                        if s != "Ingress" && s != "Egress" {
                            out.push((
                                t.referenced,
                                format!(
                                    "`{p}`: unsupported value `{s}`: supported values: \
                                     `Ingress`, `Egress`"
                                ),
                            ));
                        } else if !seen.insert(s.to_string()) {
                            out.push((t.referenced, format!("`{p}`: duplicate value `{s}`")));
                        }
                    }
                }
            }
            "ingress" | "egress" => {
                ingress_present |= key == "ingress";
                let peers = if key == "ingress" { "from" } else { "to" };
                for (i, r) in items(v, path, out).iter().enumerate() {
                    let rp = format!("{path}[{i}]");
                    fields(r, &rp, &[peers, "ports"], out, |k, v, path, out| {
                        if k == "ports" {
                            for (j, p) in items(v, path, out).iter().enumerate() {
                                port(p, &format!("{path}[{j}]"), out);
                            }
                        } else {
                            for (j, p) in items(v, path, out).iter().enumerate() {
                                peer(p, &format!("{path}[{j}]"), out);
                            }
                        }
                    });
                }
            }
            _ => {}
        },
    );
    let _ = ingress_present;
}

fn selector(node: &Spanned<Node>, path: &str, out: &mut Problems) {
    fields(
        node,
        path,
        &["matchLabels", "matchExpressions"],
        out,
        |key, v, path, out| {
            if key == "matchLabels" {
                match &v.value {
                    Node::Map(entries) => {
                        for (k, val) in entries {
                            let key = k.value.key_text();
                            if let Some(why) = label_key_problem(&key) {
                                out.push((k.referenced, format!("`{path}`: key `{key}`: {why}")));
                            }
                            let p = format!("{path}.{key}");
                            if let Some(s) = string(val, &p, out)
                                && let Some(why) = label_value_problem(s)
                            {
                                out.push((val.referenced, format!("`{p}`: value `{s}`: {why}")));
                            }
                        }
                    }
                    Node::Null => {}
                    other => out.push((
                        v.referenced,
                        format!("`{path}` must be a mapping, not {}", other.kind()),
                    )),
                }
                return;
            }
            for (i, e) in items(v, path, out).iter().enumerate() {
                let ep = format!("{path}[{i}]");
                let mut operator = None;
                let mut values: Option<(usize, serde_saphyr::Location)> = None;
                let mut has_key = false;
                fields(
                    e,
                    &ep,
                    &["key", "operator", "values"],
                    out,
                    |k, v, p, out| match k {
                        "key" => {
                            if let Some(s) = string(v, p, out) {
                                has_key = true;
                                if let Some(why) = label_key_problem(s) {
                                    out.push((v.referenced, format!("`{p}` `{s}`: {why}")));
                                }
                            }
                        }
                        "operator" => {
                            if let Some(s) = string(v, p, out) {
                                operator = Some((s.to_string(), v.referenced));
                            }
                        }
                        _ => {
                            let list = items(v, p, out);
                            for (j, val) in list.iter().enumerate() {
                                let vp = format!("{p}[{j}]");
                                if let Some(s) = string(val, &vp, out)
                                    && let Some(why) = label_value_problem(s)
                                {
                                    out.push((val.referenced, format!("`{vp}` `{s}`: {why}")));
                                }
                            }
                            values = Some((list.len(), v.referenced));
                        }
                    },
                );
                if !has_key {
                    out.push((
                        e.referenced,
                        format!("`{ep}`: missing required field `key`"),
                    ));
                }
                let count = values.map_or(0, |(n, _)| n);
                match &operator {
                    None => out.push((
                        e.referenced,
                        format!("`{ep}`: missing required field `operator`"),
                    )),
                    Some((op, at)) => match op.as_str() {
                        "In" | "NotIn" if count == 0 => out.push((
                            values.map_or(*at, |(_, l)| l),
                            format!(
                                "`{ep}.values`: must be specified when `operator` is `In` or \
                                 `NotIn`"
                            ),
                        )),
                        "Exists" | "DoesNotExist" if count > 0 => out.push((
                            values.map_or(*at, |(_, l)| l),
                            format!(
                                "`{ep}.values`: may not be specified when `operator` is `Exists` \
                                 or `DoesNotExist`"
                            ),
                        )),
                        "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                        other => out.push((
                            *at,
                            format!(
                                "`{ep}.operator`: `{other}` is not a valid selector operator \
                                 (`In`, `NotIn`, `Exists`, `DoesNotExist`)"
                            ),
                        )),
                    },
                }
            }
        },
    );
}

fn peer(node: &Spanned<Node>, path: &str, out: &mut Problems) {
    let mut selectors = false;
    let mut block = false;
    fields(
        node,
        path,
        &["podSelector", "namespaceSelector", "ipBlock"],
        out,
        |key, v, p, out| {
            if key == "ipBlock" {
                block = true;
                ip_block(v, p, out);
            } else {
                selectors = true;
                selector(v, p, out);
            }
        },
    );
    if !matches!(node.value, Node::Map(_)) && !matches!(node.value, Node::Null) {
        return;
    }
    if !selectors && !block {
        out.push((
            node.referenced,
            format!(
                "`{path}`: must specify a peer (`podSelector`, `namespaceSelector` or `ipBlock`)"
            ),
        ));
    } else if selectors && block {
        out.push((
            node.referenced,
            format!("`{path}`: may not specify both `ipBlock` and another peer"),
        ));
    }
}

fn cidr(node: &Spanned<Node>, path: &str, out: &mut Problems) -> Option<IpNet> {
    let s = string(node, path, out)?;
    match IpNet::from_str(s) {
        Ok(net) => Some(net),
        Err(_) => {
            out.push((
                node.referenced,
                format!("`{path}` `{s}` is not a valid CIDR (an address and a prefix length)"),
            ));
            None
        }
    }
}

fn ip_block(node: &Spanned<Node>, path: &str, out: &mut Problems) {
    let mut block = None;
    let mut excepts = Vec::new();
    let mut has_cidr = false;
    fields(node, path, &["cidr", "except"], out, |key, v, p, out| {
        if key == "cidr" {
            has_cidr = true;
            block = cidr(v, p, out);
        } else {
            for (i, e) in items(v, p, out).iter().enumerate() {
                let ep = format!("{p}[{i}]");
                if let Some(net) = cidr(e, &ep, out) {
                    excepts.push((net, e.referenced, ep));
                }
            }
        }
    });
    if !has_cidr {
        out.push((
            node.referenced,
            format!("`{path}`: missing required field `cidr`"),
        ));
    }
    if let Some(block) = block {
        let block = block.trunc();
        for (e, at, ep) in excepts {
            let strict = block.prefix_len() < e.prefix_len() && block.contains(&e.addr());
            let same_family = matches!(
                (block, e),
                (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
            );
            if !strict || !same_family {
                out.push((
                    at,
                    format!("`{ep}` `{e}` must be a strict subset of `cidr` `{block}`"),
                ));
            }
        }
    }
}

fn port(node: &Spanned<Node>, path: &str, out: &mut Problems) {
    let mut number: Option<i64> = None;
    let mut named = false;
    let mut end: Option<(i64, serde_saphyr::Location)> = None;
    fields(
        node,
        path,
        &["protocol", "port", "endPort"],
        out,
        |key, v, p, out| {
            let int = |v: &Spanned<Node>| match &v.value {
                Node::Int(i) => Some(*i),
                Node::UInt(u) => i64::try_from(*u).ok().or(Some(i64::MAX)),
                _ => None,
            };
            match key {
                "protocol" => {
                    if let Some(s) = string(v, p, out)
                        && !["TCP", "UDP", "SCTP"].contains(&s)
                    {
                        out.push((
                            v.referenced,
                            format!(
                                "`{p}`: unsupported value `{s}`: supported values: `TCP`, `UDP`, \
                             `SCTP`"
                            ),
                        ));
                    }
                }
                "port" => match (&v.value, int(v)) {
                    (_, Some(n)) => {
                        if !(1..=65535).contains(&n) {
                            out.push((
                                v.referenced,
                                format!("`{p}` {n} must be between 1 and 65535, inclusive"),
                            ));
                        }
                        number = Some(n);
                    }
                    (Node::Str(s), None) => {
                        named = true;
                        if !is_valid_port_name(s) {
                            out.push((
                                v.referenced,
                                format!(
                                    "`{p}` `{s}` is not a valid port name (at most 15 lowercase \
                                 letters, digits and `-`, with at least one letter)"
                                ),
                            ));
                        }
                    }
                    (Node::Null, None) => {}
                    (other, None) => out.push((
                        v.referenced,
                        format!(
                            "`{p}` must be a number or a port name, not {}",
                            other.kind()
                        ),
                    )),
                },
                _ => match int(v) {
                    Some(n) => end = Some((n, v.referenced)),
                    None if matches!(v.value, Node::Null) => {}
                    None => out.push((
                        v.referenced,
                        format!("`{p}` must be an integer, not {}", v.value.kind()),
                    )),
                },
            }
        },
    );
    if let Some((e, at)) = end {
        if named {
            out.push((
                at,
                format!("`{path}.endPort` may not be specified with a named port"),
            ));
        } else if let Some(n) = number {
            if e < n {
                out.push((
                    at,
                    format!("`{path}.endPort` {e} must be greater than or equal to `port` {n}"),
                ));
            } else if e > 65535 {
                out.push((at, format!("`{path}.endPort` {e} must be at most 65535")));
            }
        } else {
            out.push((
                at,
                format!("`{path}.endPort` may not be specified without `port`"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        read(&[("p.yaml".to_string(), yaml.to_string())])
            .unwrap()
            .errors
    }

    /// Every YAML file under `dir`, recursively (`target`, `node_modules` and dot folders
    /// left out).
    #[allow(
        clippy::disallowed_methods,
        reason = "a test reading the repository's own files; the library itself does no I/O"
    )]
    fn yaml_files(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    yaml_files(&path, out);
                }
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                out.push((
                    path.display().to_string(),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }

    /// The first pass of `read` locates documents and list items only, and a file with an
    /// invalid policy is read again with every location: the result is the one that reads
    /// every node located, for every YAML file of the repository and of `../shared`, and for
    /// each of them with one line left out, for 12 lines spread over the file (which makes
    /// policies invalid, lists of one item, documents of another kind...).
    #[test]
    fn reading_with_fewer_locations_reads_the_same() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        yaml_files(&root, &mut files);
        yaml_files(&root.join("../shared"), &mut files);
        assert!(files.len() > 150, "{}", files.len());
        let mut cases = 0;
        let mut with_errors = 0;
        for (name, text) in &files {
            let mut variants = vec![text.clone()];
            let lines: Vec<&str> = text.lines().collect();
            // Up to 12 lines of each file, spread over it (the whole of it would take minutes
            // in a debug build).
            let step = lines.len().div_ceil(12).max(1);
            {
                for skip in (0..lines.len()).step_by(step) {
                    let mut v: Vec<&str> = lines.clone();
                    v.remove(skip);
                    variants.push(v.join("\n"));
                }
            }
            for v in variants {
                let input = [(name.clone(), v)];
                let quick = read_at(&input, false);
                let full = read_at(&input, true);
                assert_eq!(quick, full, "{name}: {}", input[0].1);
                cases += 1;
                with_errors += usize::from(full.is_ok_and(|r| !r.errors.is_empty()));
            }
        }
        // The second pass ran too.
        assert!(with_errors > 100, "{with_errors} of {cases}");
        // Files read together: one file with an invalid policy among valid ones.
        let all = read_at(&files, false);
        assert_eq!(all, read_at(&files, true));
    }

    #[test]
    fn unknown_fields_and_rejected_values_are_located_errors() {
        let base = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\nspec:\n  podSelector: {}\n";
        let cases = [
            (
                "  ingress:\n  - froms: []\n",
                "p.yaml:8:5:",
                "unknown field `spec.ingress[0].froms`",
            ),
            (
                "  ingress:\n  - from:\n    - podSelector:\n        matchLabel: {a: b}\n",
                "p.yaml:10:9:",
                "unknown field",
            ),
            (
                "  ingress:\n  - ports:\n    - prot: TCP\n",
                "p.yaml:9:7:",
                "unknown field",
            ),
            (
                "  egress:\n  - to:\n    - ipBlock: {cidr: 999.1.2.0/24}\n",
                "p.yaml:9:",
                "not a valid CIDR",
            ),
            (
                "  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/33}\n",
                "p.yaml:9:",
                "not a valid CIDR",
            ),
            (
                "  egress:\n  - ports:\n    - port: 70000\n",
                "p.yaml:9:",
                "between 1 and 65535",
            ),
            (
                "  egress:\n  - ports:\n    - port: 0\n",
                "p.yaml:9:",
                "between 1 and 65535",
            ),
            (
                "  egress:\n  - ports:\n    - {port: 90, endPort: 80}\n",
                "p.yaml:9:",
                "greater than or equal",
            ),
            (
                "  egress:\n  - ports:\n    - {protocol: tcp}\n",
                "p.yaml:9:",
                "unsupported value `tcp`",
            ),
            (
                "  ingress:\n  - from:\n    - podSelector:\n        matchExpressions: [{key: a, operator: Foo}]\n",
                "p.yaml:10:",
                "`Foo`",
            ),
            (
                "  ingress:\n  - from:\n    - podSelector:\n        matchExpressions: [{key: a, operator: In, values: []}]\n",
                "p.yaml:10:",
                "must be specified",
            ),
            (
                "  ingress:\n  - from:\n    - {}\n",
                "p.yaml:9:",
                "must specify a peer",
            ),
            (
                "  ingress:\n  - from:\n    - {ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}\n",
                "p.yaml:9:",
                "both",
            ),
            ("  policyTypes: [Bogus]\n", "p.yaml:7:", "`Bogus`"),
            (
                "  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}\n",
                "p.yaml:9:",
                "strict subset",
            ),
        ];
        for (tail, at, what) in cases {
            let errs = errors(&format!("{base}{tail}"));
            assert_eq!(errs.len(), 1, "{tail}: {errs:?}");
            assert!(
                errs[0].starts_with(at) && errs[0].contains(what),
                "{tail}: {errs:?}"
            );
        }
        assert!(
            errors(&format!(
                "{base}  ingress:\n  - from:\n    - podSelector: {{}}\n"
            ))
            .is_empty()
        );
    }
}
