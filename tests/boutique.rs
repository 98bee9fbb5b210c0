//! Online Boutique: `examples/online-boutique/upstream-equivalent` must mean exactly what
//! upstream's 13 hand-written policies mean, over upstream's own manifests, with no more
//! objects. Checked twice: by network-config-analyzer (`nca --equiv`), and by our evaluator
//! over every pair of upstream's pods, a stranger pod, pods of other namespaces and outside
//! addresses, on every port the pods serve and a few more. Upstream's policies and manifests
//! carry no namespace; both are placed in `boutique`, the example's namespace.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use netpol_compiler::explain;
use netpol_compiler::k8s::eval::{ContainerPort, Namespace, Pod, Protocol};
use netpol_compiler::k8s::workloads::parse_manifests;
use netpol_compiler::span::FileId;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn reference() -> Option<PathBuf> {
    common::shared_folder("reference/online-boutique")
}

fn upstream_policies() -> Vec<(String, String)> {
    common::boutique_policy_files()
        .unwrap_or_default()
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect()
}

fn in_boutique(mut p: NetworkPolicy) -> NetworkPolicy {
    p.metadata.namespace = Some("boutique".to_string());
    p
}

fn ours() -> (String, Vec<NetworkPolicy>) {
    let c =
        common::compile_dir(&common::root().join("examples/online-boutique/upstream-equivalent"));
    assert!(c.yaml.is_some(), "{}", c.rendered());
    let policies = c.policies();
    (c.yaml.clone().unwrap(), policies)
}

#[test]
fn upstream_equivalent_matches_upstream_by_our_evaluator() {
    let Some(dir) = reference() else { return };
    let theirs: Vec<NetworkPolicy> = upstream_policies()
        .iter()
        .flat_map(|(_, text)| explain::read_policies(text).unwrap())
        .map(in_boutique)
        .collect();
    assert_eq!(theirs.len(), 13);
    let (_, ours) = ours();
    assert!(
        ours.len() <= theirs.len(),
        "{} objects, upstream has {}",
        ours.len(),
        theirs.len()
    );
    let manifests = parse_manifests(
        FileId(0),
        &std::fs::read_to_string(dir.join("kubernetes-manifests.yaml")).unwrap(),
        "boutique",
    );
    assert!(manifests.errors.is_empty());
    let mut cluster = explain::cluster(&manifests, &["boutique".to_string()]);
    assert_eq!(cluster.pods.len(), 12);
    for (ns, name) in [
        ("boutique", "stranger"),
        ("other", "client"),
        ("kube-system", "coredns"),
    ] {
        cluster.pods.push(Pod {
            namespace: ns.to_string(),
            name: name.to_string(),
            labels: BTreeMap::from([("app".to_string(), name.to_string())]),
            ip: None,
            ports: vec![ContainerPort {
                name: None,
                port: 53,
                protocol: Protocol::Udp,
            }],
        });
        if !cluster.namespaces.iter().any(|n| n.name == ns) {
            cluster.namespaces.push(Namespace {
                name: ns.to_string(),
                labels: BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_string(),
                    ns.to_string(),
                )]),
            });
        }
    }
    let extra = [
        (Protocol::Tcp, 1),
        (Protocol::Tcp, 80),
        (Protocol::Udp, 53),
        (Protocol::Sctp, 7070),
        (Protocol::Tcp, 65535),
    ];
    // first: upstream, second: ours.
    let (checked, diffs) = common::compare_policies(
        &theirs,
        &ours,
        &cluster,
        &["8.8.8.8", "10.3.4.5", "2001:db8::1"],
        &extra,
    );
    assert!(
        diffs.is_empty(),
        "{} differences, e.g.:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!(
        "upstream-equivalent: {} objects (upstream 13), {checked} connections identical",
        ours.len()
    );
}

#[test]
fn upstream_equivalent_matches_upstream_by_network_config_analyzer() {
    let Some(dir) = reference() else { return };
    let Some(nca) = common::venv_tool("nca") else {
        return;
    };
    let tmp = std::env::temp_dir().join(format!("netpol-nca-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let theirs: Vec<String> = upstream_policies()
        .iter()
        .map(|(_, text)| text.replacen("\nmetadata:\n", "\nmetadata:\n  namespace: boutique\n", 1))
        .collect();
    let upstream = theirs.join("\n---\n");
    let manifests = std::fs::read_to_string(dir.join("kubernetes-manifests.yaml"))
        .unwrap()
        .replace("\nmetadata:\n", "\nmetadata:\n  namespace: boutique\n");
    let (yaml, _) = ours();
    if let Err(said) = common::nca_equivalent(&nca, &tmp, &upstream, &yaml, &manifests) {
        panic!("nca says:\n{said}");
    }
    // And the analyzer really compares: a policy left out is not equivalent.
    let fewer: Vec<&str> = yaml_docs(&yaml).into_iter().skip(1).collect();
    assert!(
        common::nca_equivalent(&nca, &tmp, &upstream, &fewer.join("---\n"), &manifests).is_err()
    );
}

fn yaml_docs(text: &str) -> Vec<&str> {
    text.split("---\n")
        .filter(|d| !d.trim().is_empty())
        .collect()
}
