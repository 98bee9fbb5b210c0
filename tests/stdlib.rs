//! The standard library (`stdlib/*.netpol`, embedded as `netpol_compiler::stdlib::MODULES`):
//! every module parses and type-checks, every name it declares is documented in
//! docs/stdlib.md and compiles into exactly what the docs say, no name is declared by two
//! modules, and `internet` is what its name promises.
//!
//! The expected values live in [`TABLE`], written from docs/stdlib.md (never from the
//! compiler's output); [`docs_list_every_name_with_its_value`] checks that the two agree.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use netpol_compiler::db::{FileKind, files_by_id};
use netpol_compiler::k8s::eval::{self, Cluster, Endpoint, Namespace, Pod, Protocol};
use netpol_compiler::span::FileId;
use netpol_compiler::stdlib::MODULES;
use netpol_compiler::syntax::{self, ast};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

// ---------------------------------------------------------------- the table (docs/stdlib.md)

/// One requirement of a group's pod selector.
#[derive(Clone, Copy, Debug)]
enum Req {
    /// `key = "value"`
    Eq(&'static str, &'static str),
    /// `key` (the label exists)
    Exists(&'static str),
}

/// Where a group's pods live.
#[derive(Clone, Copy, Debug)]
enum Ns {
    Named(&'static str),
    Cluster,
}

#[derive(Clone, Copy, Debug)]
enum Value {
    Group(&'static [Req], Ns),
    /// (CIDR, excepts) of every block.
    External(&'static [(&'static str, &'static [&'static str])]),
    /// (protocol, port) of every value.
    Port(&'static [(&'static str, u16)]),
}

impl Value {
    fn kind(self) -> &'static str {
        match self {
            Value::Group(..) => "group",
            Value::External(_) => "external",
            Value::Port(_) => "port",
        }
    }
}

struct Entry {
    module: &'static str,
    name: &'static str,
    value: Value,
}

const fn group(module: &'static str, name: &'static str, reqs: &'static [Req], ns: Ns) -> Entry {
    Entry {
        module,
        name,
        value: Value::Group(reqs, ns),
    }
}

const fn external(
    module: &'static str,
    name: &'static str,
    blocks: &'static [(&'static str, &'static [&'static str])],
) -> Entry {
    Entry {
        module,
        name,
        value: Value::External(blocks),
    }
}

const fn port(
    module: &'static str,
    name: &'static str,
    values: &'static [(&'static str, u16)],
) -> Entry {
    Entry {
        module,
        name,
        value: Value::Port(values),
    }
}

/// A TCP port entry: `tcp!("ports", "http", 80)`.
macro_rules! tcp {
    ($module:literal, $name:literal, $number:literal) => {
        port($module, $name, &[("TCP", $number)])
    };
}

const TABLE: &[Entry] = &[
    // std::dns
    group(
        "dns",
        "kube-dns",
        &[Req::Eq("k8s-app", "kube-dns")],
        Ns::Named("kube-system"),
    ),
    port("dns", "dns", &[("UDP", 53), ("TCP", 53)]),
    external("dns", "node-local-dns", &[("169.254.20.10/32", &[])]),
    // std::net
    external(
        "net",
        "private-ipv4",
        &[
            ("10.0.0.0/8", &[]),
            ("172.16.0.0/12", &[]),
            ("192.168.0.0/16", &[]),
        ],
    ),
    external("net", "cgnat", &[("100.64.0.0/10", &[])]),
    external("net", "private-ipv6", &[("fc00::/7", &[])]),
    external(
        "net",
        "private",
        &[
            ("10.0.0.0/8", &[]),
            ("172.16.0.0/12", &[]),
            ("192.168.0.0/16", &[]),
            ("100.64.0.0/10", &[]),
            ("fc00::/7", &[]),
        ],
    ),
    external(
        "net",
        "link-local",
        &[("169.254.0.0/16", &[]), ("fe80::/10", &[])],
    ),
    external(
        "net",
        "metadata",
        &[("169.254.169.254/32", &[]), ("fd00:ec2::254/128", &[])],
    ),
    external(
        "net",
        "internet",
        &[
            (
                "0.0.0.0/0",
                &[
                    "10.0.0.0/8",
                    "100.64.0.0/10",
                    "169.254.0.0/16",
                    "172.16.0.0/12",
                    "192.168.0.0/16",
                ],
            ),
            ("::/0", &["fc00::/7", "fe80::/10"]),
        ],
    ),
    // std::ports
    tcp!("ports", "http", 80),
    tcp!("ports", "https", 443),
    tcp!("ports", "http-alt", 8080),
    tcp!("ports", "https-alt", 8443),
    tcp!("ports", "grpc", 50051),
    tcp!("ports", "ssh", 22),
    port("ports", "ntp", &[("UDP", 123)]),
    tcp!("ports", "ldap", 389),
    tcp!("ports", "ldaps", 636),
    port("ports", "kerberos", &[("TCP", 88), ("UDP", 88)]),
    tcp!("ports", "smtp", 25),
    tcp!("ports", "smtps", 465),
    tcp!("ports", "submission", 587),
    tcp!("ports", "imap", 143),
    tcp!("ports", "imaps", 993),
    tcp!("ports", "pop3", 110),
    tcp!("ports", "pop3s", 995),
    tcp!("ports", "postgres", 5432),
    tcp!("ports", "mysql", 3306),
    tcp!("ports", "mssql", 1433),
    tcp!("ports", "redis", 6379),
    tcp!("ports", "redis-sentinel", 26379),
    tcp!("ports", "mongodb", 27017),
    tcp!("ports", "cassandra", 9042),
    tcp!("ports", "cockroachdb", 26257),
    tcp!("ports", "elasticsearch", 9200),
    tcp!("ports", "memcached", 11211),
    tcp!("ports", "kafka", 9092),
    tcp!("ports", "zookeeper", 2181),
    tcp!("ports", "nats", 4222),
    tcp!("ports", "amqp", 5672),
    tcp!("ports", "amqps", 5671),
    tcp!("ports", "mqtt", 1883),
    tcp!("ports", "mqtts", 8883),
    tcp!("ports", "etcd", 2379),
    tcp!("ports", "etcd-peer", 2380),
    tcp!("ports", "vault", 8200),
    tcp!("ports", "consul", 8500),
    tcp!("ports", "nfs", 2049),
    // std::k8s
    port("k8s", "apiserver", &[("TCP", 443), ("TCP", 6443)]),
    group(
        "k8s",
        "metrics-server",
        &[Req::Eq("k8s-app", "metrics-server")],
        Ns::Named("kube-system"),
    ),
    tcp!("k8s", "metrics-server-https", 10250),
    tcp!("k8s", "kubelet", 10250),
    // std::ingress
    group(
        "ingress",
        "ingress-nginx",
        &[
            Req::Eq("app.kubernetes.io/name", "ingress-nginx"),
            Req::Eq("app.kubernetes.io/component", "controller"),
        ],
        Ns::Named("ingress-nginx"),
    ),
    group(
        "ingress",
        "traefik",
        &[Req::Eq("app.kubernetes.io/name", "traefik")],
        Ns::Named("traefik"),
    ),
    group(
        "ingress",
        "haproxy-ingress",
        &[Req::Eq("app.kubernetes.io/name", "kubernetes-ingress")],
        Ns::Named("haproxy-controller"),
    ),
    group(
        "ingress",
        "contour-envoy",
        &[Req::Eq("app", "envoy")],
        Ns::Named("projectcontour"),
    ),
    group(
        "ingress",
        "istio-ingressgateway",
        &[Req::Eq("istio", "ingressgateway")],
        Ns::Named("istio-system"),
    ),
    group(
        "ingress",
        "gateway-api",
        &[Req::Exists("gateway.networking.k8s.io/gateway-name")],
        Ns::Cluster,
    ),
    // std::monitoring
    group(
        "monitoring",
        "prometheus",
        &[Req::Eq("app.kubernetes.io/name", "prometheus")],
        Ns::Cluster,
    ),
    group(
        "monitoring",
        "grafana-agent",
        &[Req::Eq("app.kubernetes.io/name", "grafana-agent")],
        Ns::Cluster,
    ),
    group(
        "monitoring",
        "alloy",
        &[Req::Eq("app.kubernetes.io/name", "alloy")],
        Ns::Cluster,
    ),
    group(
        "monitoring",
        "otel-collector",
        &[Req::Eq("app.kubernetes.io/name", "opentelemetry-collector")],
        Ns::Cluster,
    ),
    group(
        "monitoring",
        "otel-collector-operator",
        &[Req::Eq(
            "app.kubernetes.io/component",
            "opentelemetry-collector",
        )],
        Ns::Cluster,
    ),
    port("monitoring", "otlp", &[("TCP", 4317), ("TCP", 4318)]),
];

// ---------------------------------------------------------------- helpers

/// The source of module `std::<module>`.
fn module_text(module: &str) -> &'static str {
    MODULES
        .iter()
        .find(|(name, _, _)| *name == module)
        .map(|(_, _, text)| *text)
        .unwrap_or_else(|| panic!("no module std::{module}"))
}

/// The (name, kind) of every declaration of a module, in order.
fn declared(text: &str) -> Vec<(String, &'static str)> {
    syntax::parse(FileId(0), text)
        .ast
        .items
        .iter()
        .filter_map(|item| match item {
            ast::Item::Group(g) => Some((g.name.text.clone(), "group")),
            ast::Item::External(e) => Some((e.name.text.clone(), "external")),
            ast::Item::Port(p) => Some((p.name.text.clone(), "port")),
            _ => None,
        })
        .collect()
}

/// The namespace of the test programs' service.
const NS: &str = "stdlib-test";

/// The service every test program connects to or from: `web`, isolated both ways.
const SERVICE: &str =
    "namespace stdlib-test\nservice web in stdlib-test {\n  select app = \"web\"\n}\n";

/// Two documentation blocks (RFC 5737) to connect ports to and from.
const EXTERNALS: &str = "external src = 198.51.100.0/24\nexternal dst = 203.0.113.0/24\n";

fn compile(src: &str) -> common::Compiled {
    common::compile_files(
        vec![("stdlib-test.netpol".to_string(), src.to_string())],
        None,
    )
}

/// Compiles `src`, fails on any error, and returns the policies.
fn policies(src: &str) -> Vec<NetworkPolicy> {
    let c = compile(src);
    assert!(
        !c.diagnostics.iter().any(|d| d.is_error()),
        "program:\n{src}\ndiagnostics:\n{}",
        c.rendered()
    );
    c.policies()
}

fn policy<'a>(policies: &'a [NetworkPolicy], name: &str) -> &'a NetworkPolicy {
    policies
        .iter()
        .find(|p| {
            p.metadata.namespace.as_deref() == Some(NS) && p.metadata.name.as_deref() == Some(name)
        })
        .unwrap_or_else(|| panic!("no policy {NS}/{name}"))
}

/// A selector with empty lists written as absent ones (the two mean the same).
fn norm_selector(s: &LabelSelector) -> LabelSelector {
    LabelSelector {
        match_labels: s.match_labels.clone().filter(|m| !m.is_empty()),
        match_expressions: s.match_expressions.clone().filter(|m| !m.is_empty()),
    }
}

fn norm_peer(p: &NetworkPolicyPeer) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: p.ip_block.clone(),
        namespace_selector: p.namespace_selector.as_ref().map(norm_selector),
        pod_selector: p.pod_selector.as_ref().map(norm_selector),
    }
}

/// The peer a group becomes in a policy of namespace [`NS`].
fn group_peer(reqs: &[Req], ns: Ns) -> NetworkPolicyPeer {
    let mut labels = BTreeMap::new();
    let mut expressions = Vec::new();
    for r in reqs {
        match r {
            Req::Eq(k, v) => {
                labels.insert((*k).to_string(), (*v).to_string());
            }
            Req::Exists(k) => expressions.push(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                    key: (*k).to_string(),
                    operator: "Exists".to_string(),
                    values: None,
                },
            ),
        }
    }
    let pods = LabelSelector {
        match_labels: Some(labels).filter(|m| !m.is_empty()),
        match_expressions: Some(expressions).filter(|m| !m.is_empty()),
    };
    let namespaces = match ns {
        Ns::Named(n) => LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                n.to_string(),
            )])),
            match_expressions: None,
        },
        Ns::Cluster => LabelSelector::default(),
    };
    NetworkPolicyPeer {
        ip_block: None,
        namespace_selector: Some(namespaces),
        pod_selector: Some(pods),
    }
}

/// The ipBlocks of a rule's peers as (cidr, sorted excepts); every peer must be an ipBlock.
fn ip_blocks(peers: &[NetworkPolicyPeer]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = peers
        .iter()
        .map(|p| {
            assert!(
                p.namespace_selector.is_none() && p.pod_selector.is_none(),
                "an external became a pod peer: {p:?}"
            );
            let b = p.ip_block.as_ref().expect("an ipBlock peer");
            let mut except = b.except.clone().unwrap_or_default();
            except.sort();
            (b.cidr.clone(), except)
        })
        .collect();
    out.sort();
    out
}

fn expected_blocks(blocks: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = blocks
        .iter()
        .map(|(cidr, except)| {
            let mut except: Vec<String> = except.iter().map(|e| (*e).to_string()).collect();
            except.sort();
            ((*cidr).to_string(), except)
        })
        .collect();
    out.sort();
    out
}

/// A rule's ports as sorted (protocol, port, endPort).
fn ports_of(ports: Option<&[NetworkPolicyPort]>) -> Vec<(String, String, Option<i32>)> {
    let mut out: Vec<(String, String, Option<i32>)> = ports
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let port = match &p.port {
                Some(IntOrString::Int(n)) => n.to_string(),
                Some(IntOrString::String(s)) => format!("named:{s}"),
                None => "*".to_string(),
            };
            (p.protocol.clone().unwrap_or_default(), port, p.end_port)
        })
        .collect();
    out.sort();
    out
}

/// What a port name's values become: one entry per value, except that contiguous values of
/// one protocol merge into one `port`/`endPort` entry (docs/language.md, "Minimality").
fn expected_ports(values: &[(&str, u16)]) -> Vec<(String, String, Option<i32>)> {
    let mut sorted: Vec<(&str, u16)> = values.to_vec();
    sorted.sort();
    let mut merged: Vec<(&str, u16, u16)> = Vec::new();
    for (proto, n) in sorted {
        match merged.last_mut() {
            Some((p, _, end)) if *p == proto && u32::from(n) <= u32::from(*end) + 1 => {
                *end = (*end).max(n);
            }
            _ => merged.push((proto, n, n)),
        }
    }
    let mut out: Vec<(String, String, Option<i32>)> = merged
        .into_iter()
        .map(|(proto, start, end)| {
            (
                proto.to_string(),
                start.to_string(),
                (end != start).then_some(i32::from(end)),
            )
        })
        .collect();
    out.sort();
    out
}

/// The single ingress and the single egress rule of policy `web`, as (peers, ports).
#[expect(clippy::type_complexity, reason = "a pair of (peers, ports) in a test")]
fn web_rules(
    policies: &[NetworkPolicy],
) -> (
    Option<(Vec<NetworkPolicyPeer>, Option<Vec<NetworkPolicyPort>>)>,
    Option<(Vec<NetworkPolicyPeer>, Option<Vec<NetworkPolicyPort>>)>,
) {
    let spec = policy(policies, "web").spec.clone().expect("a spec");
    let ingress = spec.ingress.unwrap_or_default();
    let egress = spec.egress.unwrap_or_default();
    assert!(
        ingress.len() <= 1,
        "more than one ingress rule: {ingress:?}"
    );
    assert!(egress.len() <= 1, "more than one egress rule: {egress:?}");
    (
        ingress
            .into_iter()
            .next()
            .map(|r| (r.from.unwrap_or_default(), r.ports)),
        egress
            .into_iter()
            .next()
            .map(|r| (r.to.unwrap_or_default(), r.ports)),
    )
}

/// The requirements of a group as written in netpol (`k = "v", k2`).
fn selector_text(reqs: &[Req]) -> String {
    reqs.iter()
        .map(|r| match r {
            Req::Eq(k, v) => format!("{k} = \"{v}\""),
            Req::Exists(k) => (*k).to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------- (a) parsing and docs

#[test]
fn every_module_parses_without_diagnostics_and_declares_only_names() {
    assert_eq!(MODULES.len(), 6);
    for (module, path, text) in MODULES {
        assert_eq!(*path, format!("std/{module}.netpol"));
        let parsed = syntax::parse(FileId(0), text);
        assert!(
            parsed.errors.is_empty(),
            "std::{module} has syntax errors: {:?}",
            parsed.errors
        );
        for item in &parsed.ast.items {
            assert!(
                matches!(
                    item,
                    ast::Item::Group(_) | ast::Item::External(_) | ast::Item::Port(_)
                ),
                "std::{module} declares something other than a group, external or port: {item:?}"
            );
        }
        assert!(!parsed.ast.items.is_empty(), "std::{module} is empty");
    }
}

#[test]
fn the_table_has_every_name_of_every_module_and_nothing_else() {
    let mut from_modules = BTreeSet::new();
    for (module, _, text) in MODULES {
        for (name, kind) in declared(text) {
            from_modules.insert((module.to_string(), name, kind));
        }
    }
    let mut from_table = BTreeSet::new();
    for e in TABLE {
        assert!(
            from_table.insert((e.module.to_string(), e.name.to_string(), e.value.kind())),
            "{} is in the table twice",
            e.name
        );
    }
    assert_eq!(from_modules, from_table);
}

/// Splits docs/stdlib.md into its `## ` sections: (heading, body).
fn doc_sections() -> Vec<(String, String)> {
    let docs = std::fs::read_to_string(common::root().join("docs/stdlib.md")).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in docs.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            out.push((heading.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The table rows of a section, by the name in their first cell (`` | `name` | … ``).
fn doc_rows(body: &str) -> BTreeMap<String, Vec<String>> {
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((name, _)) = rest.split_once('`') else {
            continue;
        };
        let cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_string())
            .collect();
        assert!(
            rows.insert(name.to_string(), cells).is_none(),
            "`{name}` has two rows in one section of docs/stdlib.md"
        );
    }
    rows
}

#[test]
fn docs_list_every_name_with_its_value() {
    let sections = doc_sections();
    for (module, _, text) in MODULES {
        let heading = format!("`std::{module}`");
        let (_, body) = sections
            .iter()
            .find(|(h, _)| h.contains(&heading))
            .unwrap_or_else(|| panic!("docs/stdlib.md has no section {heading}"));
        assert!(
            body.contains(&format!("use std::{module}")),
            "the section of std::{module} has no `use` example"
        );
        let rows = doc_rows(body);
        let declared: BTreeSet<String> = declared(text).into_iter().map(|(n, _)| n).collect();
        let documented: BTreeSet<String> = rows.keys().cloned().collect();
        assert_eq!(
            documented, declared,
            "the table of std::{module} in docs/stdlib.md lists other names than the module"
        );
        for e in TABLE.iter().filter(|e| e.module == *module) {
            let cells = &rows[e.name];
            assert_eq!(
                cells.get(1).map(String::as_str),
                Some(e.value.kind()),
                "docs/stdlib.md: the kind of `{}`",
                e.name
            );
            let row = cells.join(" | ");
            let mut wanted: Vec<String> = Vec::new();
            match e.value {
                Value::Group(reqs, ns) => {
                    wanted.push(format!("`{}`", selector_text(reqs)));
                    wanted.push(match ns {
                        Ns::Named(n) => format!("namespace `{n}`"),
                        Ns::Cluster => "any namespace".to_string(),
                    });
                }
                Value::External(blocks) => {
                    for (cidr, except) in blocks {
                        wanted.push(format!("`{cidr}`"));
                        wanted.extend(except.iter().map(|x| format!("`{x}`")));
                    }
                }
                Value::Port(values) => {
                    wanted.extend(values.iter().map(|(proto, n)| format!("{n}/{proto}")));
                }
            }
            for w in wanted {
                assert!(
                    row.contains(&w),
                    "docs/stdlib.md: the row of `{}` does not say {w}: {row}",
                    e.name
                );
            }
        }
    }
}

// ---------------------------------------------------------------- (b) every name compiles

#[test]
fn every_name_compiles_into_what_the_docs_say() {
    for e in TABLE {
        let import = format!("use std::{}::{{{}}}\n", e.module, e.name);
        let what = format!("std::{}::{} ({})", e.module, e.name, e.value.kind());
        match e.value {
            Value::Group(reqs, ns) => {
                let src = format!(
                    "{import}{SERVICE}{0} -> web:8080\nweb -> {0}:9090\n",
                    e.name
                );
                let pols = policies(&src);
                let expected = group_peer(reqs, ns);
                let (ingress, egress) = web_rules(&pols);
                let (from, ports) = ingress.unwrap_or_else(|| panic!("{what}: no ingress rule"));
                assert_eq!(
                    from.iter().map(norm_peer).collect::<Vec<_>>(),
                    vec![expected.clone()],
                    "{what} as a source"
                );
                assert_eq!(
                    ports_of(ports.as_deref()),
                    expected_ports(&[("TCP", 8080)]),
                    "{what}"
                );
                let (to, ports) = egress.unwrap_or_else(|| panic!("{what}: no egress rule"));
                assert_eq!(
                    to.iter().map(norm_peer).collect::<Vec<_>>(),
                    vec![expected],
                    "{what} as a target"
                );
                assert_eq!(
                    ports_of(ports.as_deref()),
                    expected_ports(&[("TCP", 9090)]),
                    "{what}"
                );
            }
            Value::External(blocks) => {
                let src = format!(
                    "{import}{SERVICE}{0} -> web:8080\nweb -> {0}:9090\n",
                    e.name
                );
                let pols = policies(&src);
                let expected = expected_blocks(blocks);
                let (ingress, egress) = web_rules(&pols);
                let (from, ports) = ingress.unwrap_or_else(|| panic!("{what}: no ingress rule"));
                assert_eq!(ip_blocks(&from), expected, "{what} as a source");
                assert_eq!(
                    ports_of(ports.as_deref()),
                    expected_ports(&[("TCP", 8080)]),
                    "{what}"
                );
                let (to, ports) = egress.unwrap_or_else(|| panic!("{what}: no egress rule"));
                assert_eq!(ip_blocks(&to), expected, "{what} as a target");
                assert_eq!(
                    ports_of(ports.as_deref()),
                    expected_ports(&[("TCP", 9090)]),
                    "{what}"
                );
            }
            Value::Port(values) => {
                let src = format!(
                    "{import}{SERVICE}{EXTERNALS}src -> web:{0}\nweb -> dst:{0}\n",
                    e.name
                );
                let pols = policies(&src);
                let expected = expected_ports(values);
                let (ingress, egress) = web_rules(&pols);
                let (from, ports) = ingress.unwrap_or_else(|| panic!("{what}: no ingress rule"));
                assert_eq!(
                    ip_blocks(&from),
                    expected_blocks(&[("198.51.100.0/24", &[])]),
                    "{what}"
                );
                assert_eq!(ports_of(ports.as_deref()), expected, "{what} on ingress");
                let (to, ports) = egress.unwrap_or_else(|| panic!("{what}: no egress rule"));
                assert_eq!(
                    ip_blocks(&to),
                    expected_blocks(&[("203.0.113.0/24", &[])]),
                    "{what}"
                );
                assert_eq!(ports_of(ports.as_deref()), expected, "{what} on egress");
            }
        }
    }
}

#[test]
fn every_module_type_checks_alone_and_all_together() {
    let is_std = |c: &common::Compiled, f: FileId| {
        files_by_id(&c.db, c.ws)
            .get(&f)
            .is_some_and(|file| file.kind(&c.db) == FileKind::Stdlib)
    };
    let service = format!("{SERVICE}{EXTERNALS}web -> dst:443\n");
    let mut all = String::new();
    for (module, _, _) in MODULES {
        all.push_str(&format!("use std::{module}\n"));
        for src in [
            format!("use std::{module}\n{service}"),
            format!(
                "use std::{module}::{{{}}}\n{service}",
                declared(module_text(module))
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ] {
            let c = compile(&src);
            let bad: Vec<_> = c
                .diagnostics
                .iter()
                .filter(|d| d.is_error() || is_std(&c, d.primary.span.file))
                .collect();
            assert!(bad.is_empty(), "program:\n{src}\n{}", c.rendered());
        }
    }
    all.push_str(&service);
    let c = compile(&all);
    let bad: Vec<_> = c
        .diagnostics
        .iter()
        .filter(|d| d.is_error() || is_std(&c, d.primary.span.file))
        .collect();
    assert!(bad.is_empty(), "program:\n{all}\n{}", c.rendered());
}

// ---------------------------------------------------------------- (c) unique names

#[test]
fn names_are_unique_across_all_modules() {
    // Across kinds too: the resolver keeps one map from imported name to module for peers and
    // ports alike, so a group in one module and a port of the same name in another would
    // hide one another when both modules are imported whole.
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    for (module, _, text) in MODULES {
        for (name, _) in declared(text) {
            if let Some(other) = owner.insert(name.clone(), module) {
                panic!("`{name}` is declared by std::{other} and std::{module}");
            }
        }
    }
    assert_eq!(owner.len(), TABLE.len());
}

// ---------------------------------------------------------------- (d) internet

/// Addresses `internet` must not contain: the edges of every private, shared, unique-local
/// and link-local range, the metadata addresses and NodeLocal DNSCache's address.
const NOT_INTERNET: &[&str] = &[
    "10.0.0.0",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.0",
    "172.20.1.1",
    "172.31.255.255",
    "192.168.0.0",
    "192.168.1.1",
    "192.168.255.255",
    "100.64.0.0",
    "100.100.100.200",
    "100.127.255.255",
    "169.254.0.0",
    "169.254.20.10",
    "169.254.169.254",
    "169.254.170.2",
    "169.254.255.255",
    "fc00::",
    "fc00::1",
    "fd00::1",
    "fd00:ec2::254",
    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::",
    "fe80::1",
    "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
];

/// Addresses `internet` must contain: public ones, and the neighbours just outside each
/// excluded range.
const INTERNET: &[&str] = &[
    "1.1.1.1",
    "8.8.8.8",
    "93.184.215.14",
    "9.255.255.255",
    "11.0.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "169.253.255.255",
    "169.255.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.167.255.255",
    "192.169.0.0",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fec0::1",
];

#[test]
fn internet_excludes_private_shared_local_and_metadata_addresses() {
    let src =
        format!("use std::net::{{internet}}\n{SERVICE}web -> internet:443\ninternet -> web:8443\n");
    let pols = policies(&src);
    let cluster = Cluster {
        namespaces: vec![Namespace {
            name: NS.to_string(),
            labels: BTreeMap::new(),
        }],
        pods: vec![Pod {
            namespace: NS.to_string(),
            name: "web-0".to_string(),
            labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
            ip: Some("10.244.0.5".parse().unwrap()),
            ports: Vec::new(),
        }],
    };
    let web = Endpoint::Pod(0);
    let reaches = |addr: IpAddr| {
        let out = eval::evaluate(
            &pols,
            &cluster,
            &web,
            &Endpoint::External(addr),
            Protocol::Tcp,
            443,
        );
        let into = eval::evaluate(
            &pols,
            &cluster,
            &Endpoint::External(addr),
            &web,
            Protocol::Tcp,
            8443,
        );
        assert_eq!(
            out.allowed, into.allowed,
            "{addr}: egress and ingress disagree"
        );
        out.allowed
    };

    // Besides the list above, the first address of every block of the other std::net names.
    let mut excluded: Vec<IpAddr> = NOT_INTERNET.iter().map(|a| a.parse().unwrap()).collect();
    for e in TABLE
        .iter()
        .filter(|e| e.module == "net" && e.name != "internet")
    {
        if let Value::External(blocks) = e.value {
            for (cidr, _) in blocks {
                excluded.push(cidr.split('/').next().unwrap().parse().unwrap());
            }
        }
    }
    for addr in excluded {
        assert!(!reaches(addr), "`internet` contains {addr}");
    }
    for addr in INTERNET {
        let addr: IpAddr = addr.parse().unwrap();
        assert!(reaches(addr), "`internet` does not contain {addr}");
    }
    // And the policy allows only that port.
    let other_port = eval::evaluate(
        &pols,
        &cluster,
        &web,
        &Endpoint::External("8.8.8.8".parse().unwrap()),
        Protocol::Tcp,
        80,
    );
    assert!(!other_port.allowed);
}
