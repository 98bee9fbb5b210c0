//! Focused tests of each rule in `docs/semantics.md`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::selector::{is_label_key, is_label_value};
use super::*;

// ---------------------------------------------------------------- fixtures

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn port(name: &str, number: u16, protocol: Protocol) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        port: number,
        protocol,
    }
}

fn pod(namespace: &str, name: &str, pod_labels: &[(&str, &str)], address: Option<&str>) -> Pod {
    Pod {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        labels: labels(pod_labels),
        ip: address.map(ip),
        ports: vec![
            port("http", 80, Protocol::Tcp),
            port("dns", 53, Protocol::Udp),
            port("dns-tcp", 53, Protocol::Tcp),
        ],
    }
}

/// Namespaces x (ns=x) and y (ns=y, team=blue); namespace z is not listed.
/// Pods: 0 x/a, 1 x/b, 2 y/a, 3 y/b (no IP), 4 z/a, 5 default/d.
fn cluster() -> Cluster {
    Cluster {
        namespaces: vec![
            Namespace {
                name: "x".to_owned(),
                labels: labels(&[("ns", "x")]),
            },
            Namespace {
                name: "y".to_owned(),
                labels: labels(&[("ns", "y"), ("team", "blue")]),
            },
        ],
        pods: vec![
            pod("x", "a", &[("pod", "a")], Some("10.0.0.1")),
            pod("x", "b", &[("pod", "b")], Some("10.0.0.2")),
            pod("y", "a", &[("pod", "a")], Some("10.0.1.1")),
            pod("y", "b", &[("pod", "b"), ("tier", "web")], None),
            pod("z", "a", &[("pod", "a")], Some("10.0.2.1")),
            pod("default", "d", &[("pod", "d")], Some("10.0.3.1")),
        ],
    }
}

const XA: Endpoint = Endpoint::Pod(0);
const XB: Endpoint = Endpoint::Pod(1);
const YA: Endpoint = Endpoint::Pod(2);
const YB: Endpoint = Endpoint::Pod(3);
const ZA: Endpoint = Endpoint::Pod(4);
const DD: Endpoint = Endpoint::Pod(5);

fn external(text: &str) -> Endpoint {
    Endpoint::External(ip(text))
}

fn policies(yaml: &str) -> Vec<NetworkPolicy> {
    serde_saphyr::from_multiple(yaml).unwrap()
}

fn selector(yaml: &str) -> LabelSelector {
    serde_saphyr::from_str(yaml).unwrap()
}

fn allowed(
    policies: &[NetworkPolicy],
    from: Endpoint,
    to: Endpoint,
    proto: Protocol,
    p: u16,
) -> bool {
    evaluate(policies, &cluster(), &from, &to, proto, p).allowed
}

fn tcp(policies: &[NetworkPolicy], from: Endpoint, to: Endpoint, p: u16) -> bool {
    allowed(policies, from, to, Protocol::Tcp, p)
}

/// A policy named p in namespace x with the given spec (YAML mapping, indented 2).
fn in_x(spec: &str) -> Vec<NetworkPolicy> {
    policies(&format!(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: p, namespace: x}}
spec:
{spec}"
    ))
}

fn one_in_x(spec: &str) -> NetworkPolicy {
    in_x(spec).remove(0)
}

fn types(ingress: bool, egress: bool) -> PolicyTypes {
    PolicyTypes { ingress, egress }
}

/// A policy in x selecting x/a with the given ingress rules (YAML list, indented 2).
fn xa_ingress(rules: &str) -> Vec<NetworkPolicy> {
    in_x(&format!(
        "  podSelector: {{matchLabels: {{pod: a}}}}\n  policyTypes: [Ingress]\n  ingress:\n{rules}"
    ))
}

/// A policy in x selecting x/a with the given egress rules (YAML list, indented 2).
fn xa_egress(rules: &str) -> Vec<NetworkPolicy> {
    in_x(&format!(
        "  podSelector: {{matchLabels: {{pod: a}}}}\n  policyTypes: [Egress]\n  egress:\n{rules}"
    ))
}

// ---------------------------------------------------------------- basic types

#[test]
fn protocol_parse_is_case_insensitive_and_display_is_upper_case() {
    assert_eq!(Protocol::parse("tcp"), Some(Protocol::Tcp));
    assert_eq!(Protocol::parse("Udp"), Some(Protocol::Udp));
    assert_eq!(Protocol::parse("SCTP"), Some(Protocol::Sctp));
    assert_eq!(Protocol::parse("icmp"), None);
    assert_eq!(Protocol::parse(""), None);
    assert_eq!(Protocol::Tcp.to_string(), "TCP");
    assert_eq!(Protocol::Udp.to_string(), "UDP");
    assert_eq!(Protocol::Sctp.to_string(), "SCTP");
    assert_eq!(Protocol::parse_api("tcp"), None);
    assert_eq!(Protocol::parse_api("TCP"), Some(Protocol::Tcp));
}

#[test]
fn namespace_labels_always_carry_the_name_label() {
    let mut c = cluster();
    assert_eq!(
        c.namespace_labels("x"),
        labels(&[("kubernetes.io/metadata.name", "x"), ("ns", "x")])
    );
    assert_eq!(
        c.namespace_labels("unlisted"),
        labels(&[("kubernetes.io/metadata.name", "unlisted")])
    );
    // The control plane overrides any other value of the name label.
    c.namespaces.push(Namespace {
        name: "w".to_owned(),
        labels: labels(&[("kubernetes.io/metadata.name", "liar")]),
    });
    assert_eq!(
        c.namespace_labels("w"),
        labels(&[("kubernetes.io/metadata.name", "w")])
    );
}

// ---------------------------------------------------------------- selectors

#[test]
fn empty_and_absent_selector_parts_match_everything() {
    let any = labels(&[("a", "1")]);
    let none = BTreeMap::new();
    for text in [
        "{}",
        "{matchLabels: {}}",
        "{matchExpressions: []}",
        "{matchLabels: null}",
    ] {
        let s = selector(text);
        assert!(selector_matches(&s, &any), "{text}");
        assert!(selector_matches(&s, &none), "{text}");
    }
}

#[test]
fn match_labels_require_presence_and_equal_value() {
    let s = selector("{matchLabels: {app: web, tier: ''}}");
    assert!(selector_matches(
        &s,
        &labels(&[("app", "web"), ("tier", ""), ("x", "y")])
    ));
    assert!(!selector_matches(&s, &labels(&[("app", "web")])));
    assert!(!selector_matches(
        &s,
        &labels(&[("app", "db"), ("tier", "")])
    ));
}

#[test]
fn operator_in_requires_key_with_listed_value() {
    let s = selector("{matchExpressions: [{key: env, operator: In, values: [prod, stage]}]}");
    assert!(selector_matches(&s, &labels(&[("env", "prod")])));
    assert!(selector_matches(&s, &labels(&[("env", "stage")])));
    assert!(!selector_matches(&s, &labels(&[("env", "dev")])));
    assert!(!selector_matches(&s, &BTreeMap::new()));
}

#[test]
fn operator_not_in_matches_when_key_absent() {
    let s = selector("{matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}");
    assert!(selector_matches(&s, &labels(&[("env", "dev")])));
    assert!(selector_matches(&s, &BTreeMap::new()));
    assert!(!selector_matches(&s, &labels(&[("env", "prod")])));
}

#[test]
fn operators_exists_and_does_not_exist() {
    let exists = selector("{matchExpressions: [{key: env, operator: Exists}]}");
    let absent = selector("{matchExpressions: [{key: env, operator: DoesNotExist}]}");
    let with = labels(&[("env", "")]);
    let without = labels(&[("other", "x")]);
    assert!(selector_matches(&exists, &with));
    assert!(!selector_matches(&exists, &without));
    assert!(!selector_matches(&absent, &with));
    assert!(selector_matches(&absent, &without));
}

#[test]
fn match_labels_and_expressions_are_anded() {
    let s = selector(
        "{matchLabels: {app: web}, matchExpressions: [{key: env, operator: In, values: [prod]}, \
         {key: canary, operator: DoesNotExist}]}",
    );
    assert!(selector_matches(
        &s,
        &labels(&[("app", "web"), ("env", "prod")])
    ));
    assert!(!selector_matches(
        &s,
        &labels(&[("app", "web"), ("env", "dev")])
    ));
    assert!(!selector_matches(
        &s,
        &labels(&[("app", "db"), ("env", "prod")])
    ));
    assert!(!selector_matches(
        &s,
        &labels(&[("app", "web"), ("env", "prod"), ("canary", "1")])
    ));
}

#[test]
fn unknown_operator_matches_nothing() {
    for op in ["Gt", "in", "Equals", ""] {
        let s = selector(&format!(
            "{{matchExpressions: [{{key: env, operator: '{op}', values: ['1']}}]}}"
        ));
        assert!(!selector_matches(&s, &labels(&[("env", "1")])), "{op}");
        assert!(!selector_matches(&s, &BTreeMap::new()), "{op}");
    }
    // Even NotIn-style "absent key" cannot rescue a selector with one invalid requirement.
    let s = selector(
        "{matchExpressions: [{key: a, operator: DoesNotExist}, {key: b, operator: Bogus}]}",
    );
    assert!(!selector_matches(&s, &BTreeMap::new()));
}

#[test]
fn requirements_apimachinery_rejects_match_nothing() {
    // In/NotIn need values; Exists/DoesNotExist must have none.
    for text in [
        "{matchExpressions: [{key: env, operator: NotIn, values: []}]}",
        "{matchExpressions: [{key: env, operator: NotIn}]}",
        "{matchExpressions: [{key: env, operator: In, values: []}]}",
        "{matchExpressions: [{key: env, operator: DoesNotExist, values: [x]}]}",
        "{matchExpressions: [{key: env, operator: Exists, values: [x]}]}",
        // Invalid label syntax in a key or value.
        "{matchExpressions: [{key: 'bad key', operator: DoesNotExist}]}",
        "{matchExpressions: [{key: env, operator: NotIn, values: ['-bad']}]}",
        "{matchLabels: {'a/b/c': x}}",
    ] {
        let s = selector(text);
        assert!(!selector_matches(&s, &BTreeMap::new()), "{text}");
        assert!(!selector_matches(&s, &labels(&[("env", "prod")])), "{text}");
    }
}

#[test]
fn label_syntax() {
    for key in [
        "app",
        "a.b_c-d",
        "example.com/app",
        "kubernetes.io/metadata.name",
        "A1",
    ] {
        assert!(is_label_key(key), "{key}");
    }
    for key in [
        "",
        "/app",
        "Example.com/app",
        "a/b/c",
        "-app",
        "app-",
        "a b",
        &"k".repeat(64),
    ] {
        assert!(!is_label_key(key), "{key}");
    }
    for value in ["", "v", "v1.2_3-x", &"v".repeat(63)] {
        assert!(is_label_value(value), "{value}");
    }
    for value in ["-v", "v.", "a/b", &"v".repeat(64)] {
        assert!(!is_label_value(value), "{value}");
    }
}

// ---------------------------------------------------------------- policyTypes

#[test]
fn policy_types_default_to_ingress_only() {
    let p = one_in_x(
        "  podSelector: {}
  ingress: [{}]",
    );
    assert_eq!(effective_policy_types(&p), types(true, false));
}

#[test]
fn policy_types_default_adds_egress_for_non_empty_egress_list() {
    let p = one_in_x(
        "  podSelector: {matchLabels: {pod: a}}
  egress: [{to: [{podSelector: {}}]}]",
    );
    assert_eq!(effective_policy_types(&p), types(true, true));
    // Ingress is isolated with no ingress rules: everything in is denied.
    let ps = vec![p];
    assert!(!tcp(&ps, XB, XA, 80));
    // Egress only to pods of x.
    assert!(tcp(&ps, XA, XB, 80));
    assert!(!tcp(&ps, XA, YA, 80));
}

#[test]
fn policy_types_default_ignores_empty_egress_list() {
    let ps = in_x(
        "  podSelector: {matchLabels: {pod: a}}
  egress: []",
    );
    let p = ps.first().unwrap();
    assert_eq!(p.spec.as_ref().unwrap().egress, Some(vec![]));
    assert_eq!(effective_policy_types(p), types(true, false));
    assert!(tcp(&ps, XA, YA, 80));
    assert!(!tcp(&ps, YA, XA, 80));
}

#[test]
fn explicit_empty_policy_types_is_defaulted_like_absent() {
    let p = one_in_x(
        "  podSelector: {}
  policyTypes: []
  egress: [{}]",
    );
    assert_eq!(effective_policy_types(&p), types(true, true));
}

#[test]
fn explicit_policy_types_are_used_as_written() {
    let p = one_in_x(
        "  podSelector: {}
  policyTypes: [Egress, Ingress]",
    );
    assert_eq!(effective_policy_types(&p), types(true, true));
    let p = one_in_x(
        "  podSelector: {}
  policyTypes: [Egress]
  ingress: [{}]",
    );
    assert_eq!(effective_policy_types(&p), types(false, true));
}

#[test]
fn rules_of_a_direction_missing_from_policy_types_are_ignored() {
    // policyTypes [Egress] with an ingress section: x/a is not ingress-isolated, and the
    // ingress rule (only from x/b) has no effect.
    let ps = in_x(
        "  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
  egress: [{to: [{podSelector: {}}]}]",
    );
    let v = evaluate(&ps, &cluster(), &YA, &XA, Protocol::Tcp, 80);
    assert!(v.allowed);
    assert!(!v.ingress.isolated);
    assert!(v.ingress.allowed_by.is_empty());
    assert!(tcp(&ps, XA, XB, 80));
    assert!(!tcp(&ps, XA, YA, 80));
}

#[test]
fn policy_without_spec_isolates_ingress_of_its_whole_namespace() {
    let ps = policies(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}",
    );
    assert!(!tcp(&ps, YA, XA, 80));
    assert!(!tcp(&ps, YA, XB, 80));
    assert!(tcp(&ps, XA, YA, 80));
}

// ---------------------------------------------------------------- selection & isolation

#[test]
fn missing_metadata_namespace_means_default() {
    let ps = policies(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny}
spec:
  podSelector: {}
  policyTypes: [Ingress]",
    );
    let v = evaluate(&ps, &cluster(), &XA, &DD, Protocol::Tcp, 80);
    assert!(!v.allowed);
    assert_eq!(v.ingress.isolated_by, vec!["default/deny".to_owned()]);
    assert!(tcp(&ps, DD, XA, 80));
}

#[test]
fn policy_selects_only_matching_pods_of_its_own_namespace() {
    let ps = policies(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]",
    );
    assert!(!tcp(&ps, XB, XA, 80));
    assert!(tcp(&ps, XA, XB, 80)); // x/b not selected
    assert!(tcp(&ps, XA, YA, 80)); // y/a has pod=a but lives in y
}

#[test]
fn isolated_side_allows_the_union_of_rules_and_reports_them() {
    let ps = policies(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
  - ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-y, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: y}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: other-ns, namespace: y}
spec:
  podSelector: {}",
    );
    let c = cluster();
    let v = evaluate(&ps, &c, &XB, &XA, Protocol::Tcp, 80);
    assert!(v.allowed);
    assert!(v.ingress.isolated);
    assert_eq!(
        v.ingress.isolated_by,
        vec!["x/from-b".to_owned(), "x/from-y".to_owned()]
    );
    assert_eq!(
        v.ingress.allowed_by,
        vec![
            RuleRef {
                namespace: "x".to_owned(),
                policy: "from-b".to_owned(),
                rule: 0
            },
            RuleRef {
                namespace: "x".to_owned(),
                policy: "from-b".to_owned(),
                rule: 1
            },
        ]
    );
    assert_eq!(v.egress, SideVerdict::open());

    let v = evaluate(&ps, &c, &YB, &XA, Protocol::Tcp, 81);
    assert!(v.allowed);
    assert_eq!(
        v.ingress.allowed_by,
        vec![RuleRef {
            namespace: "x".to_owned(),
            policy: "from-y".to_owned(),
            rule: 0
        }]
    );

    let v = evaluate(&ps, &c, &ZA, &XA, Protocol::Tcp, 81);
    assert!(!v.allowed);
    assert!(v.ingress.isolated && !v.ingress.allowed && v.ingress.allowed_by.is_empty());
}

#[test]
fn connection_needs_both_egress_and_ingress() {
    let ps = policies(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: in, namespace: y}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]}]",
    );
    let v = evaluate(&ps, &cluster(), &XA, &YB, Protocol::Tcp, 80);
    assert!(v.egress.allowed && !v.ingress.allowed && !v.allowed);
    assert!(tcp(&ps, XA, YA, 80));
    assert!(tcp(&ps, XB, YB, 80));
    assert!(!tcp(&ps, XA, ZA, 80));
}

#[test]
fn external_endpoints_have_no_policies() {
    let ps = policies(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]",
    );
    let c = cluster();
    let v = evaluate(&ps, &c, &external("192.0.2.1"), &YA, Protocol::Tcp, 80);
    assert!(v.allowed);
    assert_eq!(v.egress, SideVerdict::open());
    assert!(!tcp(&ps, external("192.0.2.1"), XA, 80));
    assert!(!tcp(&ps, XA, external("192.0.2.1"), 80));
    assert!(tcp(
        &ps,
        external("192.0.2.1"),
        external("198.51.100.1"),
        80
    ));
}

#[test]
fn pod_to_itself_is_evaluated_like_any_pair() {
    let ps = xa_ingress("  - from: [{podSelector: {matchLabels: {pod: b}}}]");
    assert!(!tcp(&ps, XA, XA, 80));
    assert!(tcp(&ps, XB, XA, 80));
    assert!(tcp(&ps, XB, XB, 80));
}

#[test]
fn out_of_range_pod_index_is_an_unknown_pod() {
    let ps = xa_ingress(
        "  - from: [{podSelector: {}}, {namespaceSelector: {}}, {ipBlock: {cidr: 0.0.0.0/0}}]",
    );
    let ghost = Endpoint::Pod(99);
    let v = evaluate(&ps, &cluster(), &ghost, &XA, Protocol::Tcp, 80);
    assert!(!v.allowed);
    assert_eq!(v.egress, SideVerdict::open());
    assert!(tcp(&ps, XA, ghost, 80));
}

// ---------------------------------------------------------------- peers

#[test]
fn pod_and_namespace_selector_in_one_peer_are_anded() {
    let ps = xa_ingress(
        "  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
      podSelector: {matchLabels: {pod: b}}",
    );
    assert!(tcp(&ps, YB, XA, 80));
    assert!(!tcp(&ps, YA, XA, 80)); // right namespace, wrong pod
    assert!(!tcp(&ps, XB, XA, 80)); // right pod, wrong namespace
}

#[test]
fn separate_peers_are_ored() {
    let ps = xa_ingress(
        "  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
    - podSelector: {matchLabels: {pod: b}}",
    );
    assert!(tcp(&ps, YA, XA, 80)); // any pod of y
    assert!(tcp(&ps, YB, XA, 80));
    assert!(tcp(&ps, XB, XA, 80)); // pod=b of the policy's namespace
    assert!(!tcp(&ps, ZA, XA, 80));
    assert!(!tcp(&ps, DD, XA, 80));
}

#[test]
fn pod_selector_alone_is_confined_to_the_policy_namespace() {
    let ps = xa_ingress("  - from: [{podSelector: {}}]");
    assert!(tcp(&ps, XB, XA, 80));
    assert!(!tcp(&ps, YA, XA, 80));
    assert!(!tcp(&ps, external("10.0.0.2"), XA, 80));
}

#[test]
fn namespace_selector_sees_the_name_label_of_unlisted_namespaces() {
    let ps = xa_ingress(
        "  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}}]",
    );
    assert!(tcp(&ps, ZA, XA, 80));
    assert!(!tcp(&ps, YA, XA, 80));
    let ps = xa_ingress("  - from: [{namespaceSelector: {}}]");
    assert!(tcp(&ps, ZA, XA, 80));
    assert!(tcp(&ps, DD, XA, 80));
    assert!(!tcp(&ps, external("10.0.2.1"), XA, 80));
}

#[test]
fn invalid_peers_match_nothing() {
    // No field set.
    let ps = xa_ingress("  - from: [{}]");
    assert!(!tcp(&ps, XB, XA, 80));
    assert!(!tcp(&ps, external("192.0.2.1"), XA, 80));
    // ipBlock together with a selector.
    let ps = xa_ingress("  - from: [{ipBlock: {cidr: 0.0.0.0/0}, podSelector: {}}]");
    assert!(!tcp(&ps, XB, XA, 80));
    assert!(!tcp(&ps, external("192.0.2.1"), XA, 80));
}

#[test]
fn ip_block_except_carves_out_ranges() {
    let ps = xa_ingress(
        "  - from:
    - ipBlock:
        cidr: 203.0.113.0/24
        except: [203.0.113.128/25, 203.0.113.7/32]",
    );
    assert!(tcp(&ps, external("203.0.113.10"), XA, 80));
    assert!(tcp(&ps, external("203.0.113.127"), XA, 80));
    assert!(!tcp(&ps, external("203.0.113.7"), XA, 80));
    assert!(!tcp(&ps, external("203.0.113.128"), XA, 80));
    assert!(!tcp(&ps, external("203.0.113.255"), XA, 80));
    assert!(!tcp(&ps, external("198.51.100.1"), XA, 80));
    assert!(!tcp(&ps, external("2001:db8::1"), XA, 80));
    // IPv4-mapped IPv6 is compared as IPv4.
    assert!(tcp(&ps, external("::ffff:203.0.113.10"), XA, 80));
}

#[test]
fn ip_block_matches_pod_ips_but_never_pods_without_one() {
    let ps = xa_egress(
        "  - to:
    - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.1.0/24]}",
    );
    assert!(tcp(&ps, XA, XB, 80)); // 10.0.0.2
    assert!(!tcp(&ps, XA, YA, 80)); // 10.0.1.1 is excepted
    assert!(!tcp(&ps, XA, YB, 80)); // no IP
    assert!(tcp(&ps, XA, external("192.0.2.1"), 80));
}

#[test]
fn unparsable_ip_blocks_match_nothing() {
    for block in [
        "{cidr: 10.0.0.0}",
        "{cidr: ''}",
        "{cidr: not-a-cidr}",
        "{cidr: 0.0.0.0/0, except: [bogus]}",
    ] {
        let ps = xa_ingress(&format!("  - from: [{{ipBlock: {block}}}]"));
        assert!(!tcp(&ps, external("10.0.0.0"), XA, 80), "{block}");
        assert!(!tcp(&ps, XB, XA, 80), "{block}");
    }
    // Host bits in the CIDR are tolerated, as by the API server's legacy parsing.
    let ps = xa_ingress("  - from: [{ipBlock: {cidr: 10.0.0.9/24}}]");
    assert!(tcp(&ps, XB, XA, 80));
}

#[test]
fn ip_block_also_works_for_ipv6() {
    let ps =
        xa_ingress("  - from: [{ipBlock: {cidr: '2001:db8::/32', except: ['2001:db8:1::/48']}}]");
    assert!(tcp(&ps, external("2001:db8::5"), XA, 80));
    assert!(!tcp(&ps, external("2001:db8:1::5"), XA, 80));
    assert!(!tcp(&ps, external("192.0.2.1"), XA, 80));
}

// ---------------------------------------------------------------- empty vs absent lists

#[test]
fn absent_or_empty_peer_list_matches_every_peer() {
    for rules in ["  - {}", "  - from: []", "  - from: null", "  - ports: []"] {
        let ps = xa_ingress(rules);
        assert!(tcp(&ps, ZA, XA, 80), "{rules}");
        assert!(tcp(&ps, external("192.0.2.1"), XA, 80), "{rules}");
        assert!(allowed(&ps, YB, XA, Protocol::Sctp, 9999), "{rules}");
    }
    for rules in ["  - {}", "  - to: []"] {
        let ps = xa_egress(rules);
        assert!(tcp(&ps, XA, ZA, 80), "{rules}");
        assert!(tcp(&ps, XA, external("192.0.2.1"), 1), "{rules}");
    }
}

#[test]
fn empty_rule_list_allows_nothing() {
    for rules in ["    []", "    null"] {
        let ps = xa_ingress(rules);
        let v = evaluate(&ps, &cluster(), &XB, &XA, Protocol::Tcp, 80);
        assert!(v.ingress.isolated && !v.allowed, "{rules}");
    }
}

// ---------------------------------------------------------------- ports

#[test]
fn port_protocol_defaults_to_tcp() {
    let ps = xa_ingress("  - ports: [{port: 80}]");
    assert!(allowed(&ps, XB, XA, Protocol::Tcp, 80));
    assert!(!allowed(&ps, XB, XA, Protocol::Udp, 80));
    assert!(!allowed(&ps, XB, XA, Protocol::Tcp, 81));
}

#[test]
fn protocol_without_port_matches_every_port_of_that_protocol() {
    let ps = xa_ingress("  - ports: [{protocol: UDP}]");
    assert!(allowed(&ps, XB, XA, Protocol::Udp, 1));
    assert!(allowed(&ps, XB, XA, Protocol::Udp, 65535));
    assert!(!allowed(&ps, XB, XA, Protocol::Tcp, 80));
    assert!(!allowed(&ps, XB, XA, Protocol::Sctp, 80));
}

#[test]
fn non_api_protocol_spelling_matches_nothing() {
    let ps = xa_ingress("  - ports: [{protocol: tcp, port: 80}, {protocol: ICMP}]");
    assert!(!allowed(&ps, XB, XA, Protocol::Tcp, 80));
}

#[test]
fn end_port_is_an_inclusive_range() {
    let ps = xa_ingress("  - ports: [{protocol: TCP, port: 81, endPort: 90}]");
    assert!(!tcp(&ps, XB, XA, 80));
    assert!(tcp(&ps, XB, XA, 81));
    assert!(tcp(&ps, XB, XA, 85));
    assert!(tcp(&ps, XB, XA, 90));
    assert!(!tcp(&ps, XB, XA, 91));
    assert!(!allowed(&ps, XB, XA, Protocol::Udp, 85));
    let ps = xa_ingress("  - ports: [{port: 443, endPort: 443}]");
    assert!(tcp(&ps, XB, XA, 443));
    assert!(!tcp(&ps, XB, XA, 444));
}

#[test]
fn invalid_end_port_forms_match_nothing() {
    for item in [
        "{port: 90, endPort: 81}",   // endPort below port
        "{endPort: 90}",             // endPort without port
        "{port: http, endPort: 90}", // endPort with a named port
        "{port: 0}",                 // out of range
        "{port: 80, endPort: 70000}",
    ] {
        let ps = xa_ingress(&format!("  - ports: [{item}]"));
        for p in [80, 85, 90] {
            assert!(!tcp(&ps, XB, XA, p), "{item} port {p}");
        }
    }
}

#[test]
fn named_port_resolves_on_destination_by_name_and_protocol() {
    let ps = xa_ingress("  - ports: [{port: dns, protocol: UDP}]");
    assert!(allowed(&ps, XB, XA, Protocol::Udp, 53));
    assert!(!allowed(&ps, XB, XA, Protocol::Udp, 54));
    assert!(!allowed(&ps, XB, XA, Protocol::Tcp, 53));
}

#[test]
fn named_port_with_mismatched_protocol_matches_nothing() {
    // "dns" exists only as UDP; the rule's protocol defaults to TCP.
    let ps = xa_ingress("  - ports: [{port: dns}]");
    assert!(!allowed(&ps, XB, XA, Protocol::Tcp, 53));
    assert!(!allowed(&ps, XB, XA, Protocol::Udp, 53));
    // "http" exists only as TCP.
    let ps = xa_ingress("  - ports: [{port: http, protocol: SCTP}]");
    assert!(!allowed(&ps, XB, XA, Protocol::Sctp, 80));
    assert!(!allowed(&ps, XB, XA, Protocol::Tcp, 80));
    // Unknown name.
    let ps = xa_ingress("  - ports: [{port: nope}]");
    assert!(!tcp(&ps, XB, XA, 80));
}

#[test]
fn egress_named_port_resolves_on_each_destination() {
    let mut c = cluster();
    // y/a serves "http" on 8080 instead of 80.
    c.pods[2].ports = vec![port("http", 8080, Protocol::Tcp)];
    let ps = xa_egress("  - ports: [{port: http}]");
    let check = |to: Endpoint, p: u16| evaluate(&ps, &c, &XA, &to, Protocol::Tcp, p).allowed;
    assert!(check(XB, 80));
    assert!(!check(XB, 8080));
    assert!(check(YA, 8080));
    assert!(!check(YA, 80));
    // An external destination has no named ports.
    assert!(!check(external("192.0.2.1"), 80));
    // A numbered port does apply to external destinations.
    let ps = xa_egress("  - ports: [{port: 80}]");
    assert!(evaluate(&ps, &c, &XA, &external("192.0.2.1"), Protocol::Tcp, 80).allowed);
}

#[test]
fn ingress_named_port_resolves_on_the_selected_destination() {
    // Ingress to x/a: the name resolves on x/a, not on the source.
    let mut c = cluster();
    c.pods[1].ports = vec![port("http", 9999, Protocol::Tcp)]; // source x/b
    let ps = xa_ingress("  - ports: [{port: http}]");
    assert!(evaluate(&ps, &c, &XB, &XA, Protocol::Tcp, 80).allowed);
    assert!(!evaluate(&ps, &c, &XB, &XA, Protocol::Tcp, 9999).allowed);
}

#[test]
fn peers_and_ports_must_both_match() {
    let ps = xa_ingress(
        "  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80}, {port: 53, protocol: UDP}]",
    );
    assert!(tcp(&ps, XB, XA, 80));
    assert!(allowed(&ps, XB, XA, Protocol::Udp, 53));
    assert!(!tcp(&ps, XB, XA, 53));
    assert!(!tcp(&ps, XA, XA, 80));
}
