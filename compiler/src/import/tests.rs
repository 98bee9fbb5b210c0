#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use super::model::{block, port, selector};
use super::names::{sanitize, unique};
use super::plan::{diff, negations};
use super::render::{port_range_text, sel_text};
use super::*;
use crate::backend::ir::RulePort;
use crate::k8s::eval::{self, Protocol};
use crate::k8s::selector::{Constraint, Sel};
use k8s_openapi::api::networking::v1::IPBlock;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

#[test]
fn negations_match_exactly_the_complement() {
    let cs = [
        Constraint::eq("a"),
        Constraint::is_in(["a", "b"]),
        Constraint::not_in(["a"]),
        Constraint::exists(),
        Constraint::does_not_exist(),
        Constraint::exists().clone(),
    ];
    let mut exists_not_a = Sel::all();
    exists_not_a.require("k", Constraint::exists());
    exists_not_a.require("k", Constraint::not_in(["a"]));
    let mut all: Vec<Constraint> = cs.to_vec();
    all.push(exists_not_a.keys["k"].clone());
    for c in &all {
        let negs = negations(c);
        for value in [None, Some("a"), Some("b"), Some("c")] {
            let matched = c.matches(value);
            let neg = negs.iter().any(|n| n.matches(value));
            assert_eq!(matched, !neg, "{c:?} on {value:?}");
        }
    }
}

#[test]
fn diff_removes_exactly_the_units() {
    let sel = |pairs: &[(&str, Constraint)]| {
        let mut s = Sel::all();
        for (k, c) in pairs {
            s.require(k, c.clone());
        }
        s
    };
    let units: Vec<Sel> = (0..8)
        .map(|i| {
            sel(&[
                ("app", Constraint::eq(&format!("a{i}"))),
                ("tier", Constraint::eq(&format!("t{}", i % 3))),
            ])
        })
        .chain([
            sel(&[
                ("role", Constraint::exists()),
                ("app", Constraint::not_in(["a1"])),
            ]),
            sel(&[
                ("canary", Constraint::does_not_exist()),
                ("app", Constraint::is_in(["a2", "b"])),
            ]),
        ])
        .collect();
    let p = sel(&[("zone", Constraint::not_in(["z1"]))]);
    let pieces = diff(&p, &units);
    assert!(pieces.len() < 40, "{} pieces", pieces.len());
    let values = |k: &str| -> Vec<Option<String>> {
        let mut v: Vec<Option<String>> = (0..9).map(|i| Some(format!("{k}{i}"))).collect();
        v.extend([
            None,
            Some("b".into()),
            Some("t0".into()),
            Some("t1".into()),
            Some("z1".into()),
        ]);
        v
    };
    for app in values("a") {
        for tier in [None, Some("t0"), Some("t1"), Some("t2")] {
            for role in [None, Some("r")] {
                for canary in [None, Some("c")] {
                    for zone in [None, Some("z1"), Some("z2")] {
                        let mut l = BTreeMap::new();
                        for (k, v) in [
                            ("app", app.as_deref()),
                            ("tier", tier),
                            ("role", role),
                            ("canary", canary),
                            ("zone", zone),
                        ] {
                            if let Some(v) = v {
                                l.insert(k.to_string(), v.to_string());
                            }
                        }
                        let want = p.matches(&l) && !units.iter().any(|u| u.matches(&l));
                        let got = pieces.iter().any(|q| q.matches(&l));
                        assert_eq!(got, want, "{l:?}: {pieces:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn selectors_read_like_the_evaluator() {
    let sel: LabelSelector = serde_json::from_value(serde_json::json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "NotIn", "values": ["db"]},
            {"key": "canary", "operator": "DoesNotExist"}
        ]
    }))
    .unwrap();
    let s = selector(Some(&sel), false).unwrap();
    assert_eq!(sel_text(&s), "app = \"web\", !canary, tier != \"db\"");
    let bad: LabelSelector = serde_json::from_value(serde_json::json!({
        "matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["x"]}]
    }))
    .unwrap();
    assert!(selector(Some(&bad), false).is_err());
    let unknown: LabelSelector = serde_json::from_value(serde_json::json!({
        "matchExpressions": [{"key": "tier", "operator": "in", "values": ["x"]}]
    }))
    .unwrap();
    assert!(selector(Some(&unknown), false).is_err());
}

#[test]
fn names_are_labels_the_grammar_reads() {
    assert_eq!(sanitize("web-allow-all"), "web-allow-all");
    assert_eq!(sanitize("Allow_DNS.v2"), "allow-dns-v2");
    assert_eq!(sanitize("01-deny"), "np-01-deny");
    assert_eq!(sanitize("namespace"), "namespace-policy");
    assert_eq!(sanitize("---"), "policy");
    assert_eq!(sanitize(&"a".repeat(80)).len(), 63);
    let mut used = BTreeSet::new();
    assert_eq!(unique("a".into(), &mut used), "a");
    assert_eq!(unique("a".into(), &mut used), "a-2");
}

#[test]
fn blocks_are_normalised() {
    let b: IPBlock = serde_json::from_value(serde_json::json!({
        "cidr": "10.0.0.9/8",
        "except": ["10.1.0.0/16", "10.1.2.0/24", "192.168.0.0/16", "::/0"]
    }))
    .unwrap();
    let b = block(&b).unwrap();
    assert_eq!(b.cidr.to_string(), "10.0.0.0/8");
    assert_eq!(
        b.except.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["10.1.0.0/16"]
    );
    let whole: IPBlock = serde_json::from_value(serde_json::json!({
        "cidr": "10.1.0.0/16", "except": ["10.0.0.0/8"]
    }))
    .unwrap();
    assert!(block(&whole).is_err());
}

#[test]
fn ports_read_like_the_evaluator() {
    let p = |v: serde_json::Value| port(&serde_json::from_value(v).unwrap());
    assert_eq!(
        p(serde_json::json!({"port": 53, "protocol": "UDP"})).unwrap(),
        RulePort::Range {
            protocol: Protocol::Udp,
            start: 53,
            end: 53
        }
    );
    assert!(p(serde_json::json!({"port": 53, "protocol": "udp"})).is_err());
    assert!(p(serde_json::json!({"endPort": 53})).is_err());
    assert!(p(serde_json::json!({"port": 90, "endPort": 80})).is_err());
    assert!(p(serde_json::json!({"port": "http", "endPort": 80})).is_err());
    assert_eq!(port_range_text(Protocol::Udp, 1, 65535), "*/udp");
    assert_eq!(port_range_text(Protocol::Tcp, 80, 90), "80..90");
    assert_eq!(port_range_text(Protocol::Sctp, 7, 7), "7/sctp");
}

#[test]
fn a_simple_policy_reads_as_one_service() {
    let yaml = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-allow, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 8080}]
"#;
    let out = import(
        &[("np.yaml".into(), yaml.into())],
        &Manifests::default(),
        &[],
    )
    .unwrap();
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    assert!(
        out.program.contains("service api-allow in shop {"),
        "{}",
        out.program
    );
    assert!(
        out.program
            .contains("pods { app = \"web\" } in namespace shop -> api-allow:8080"),
        "{}",
        out.program
    );
}

#[test]
fn lists_are_read_and_other_kinds_skipped() {
    let yaml = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicyList
items:
- metadata: {name: a, namespace: x}
  spec: {podSelector: {}}
---
apiVersion: v1
kind: List
items:
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: b}}
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: c}
"#;
    let Read {
        inputs,
        notes,
        errors,
    } = read(&[("l.yaml".into(), yaml.into())]).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<String> = inputs.iter().map(|i| eval::policy_id(&i.policy)).collect();
    assert_eq!(names, ["x/a", "default/b"]);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("skipped CiliumNetworkPolicy `c`"),
        "{notes:?}"
    );
}

#[test]
fn input_without_policies_is_an_error() {
    let e = import(
        &[("d.yaml".into(), "kind: Deployment\n".into())],
        &Manifests::default(),
        &[],
    )
    .unwrap_err();
    assert!(e.contains("no NetworkPolicy in `d.yaml`"), "{e}");
    let e = import(
        &[("x.yaml".into(), "a: [\n".into())],
        &Manifests::default(),
        &[],
    )
    .unwrap_err();
    assert!(e.starts_with("`x.yaml` is not YAML"), "{e}");
}
