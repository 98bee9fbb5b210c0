//! Minimal output: network-config-analyzer's redundancy check (`nca --sanity`) finds nothing to
//! remove from any example's output. The analyzer judges redundancy against the pods it is
//! given, so it gets the example's workloads plus what the program speaks of but the manifests
//! lack: one pod per group (ingress controllers, Prometheus, …) and one pod per namespace that
//! no service selects (the pods a namespace-wide default deny exists for).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use netpol_compiler::db;
use netpol_compiler::k8s::eval::{Cluster, Pod};
use netpol_compiler::resolve::hir::NsScope;
use std::collections::BTreeMap;
use std::process::Command;

fn resources(cluster: &Cluster) -> String {
    let mut items = Vec::new();
    for ns in &cluster.namespaces {
        items.push(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns.name, "labels": ns.labels}}));
    }
    for (i, p) in cluster.pods.iter().enumerate() {
        let ports: Vec<serde_json::Value> = p
            .ports
            .iter()
            .map(|c| {
                let mut port = serde_json::json!({"containerPort": c.port, "protocol": c.protocol.to_string()});
                if let Some(n) = &c.name {
                    port["name"] = serde_json::json!(n);
                }
                port
            })
            .collect();
        let name: String = format!("pod-{i}-{}", p.name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        items.push(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name.trim_end_matches('-'), "namespace": p.namespace, "labels": p.labels},
            "spec": {"containers": [{"name": "c", "image": "x", "ports": ports}]}
        }));
    }
    serde_json::to_string_pretty(
        &serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}),
    )
    .unwrap()
}

#[test]
fn no_example_output_has_a_redundant_policy_or_rule() {
    let Some(nca) = common::venv_tool("nca") else {
        return;
    };
    let tmp = std::env::temp_dir().join(format!("netpol-sanity-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut failures = Vec::new();
    for dir in common::example_dirs() {
        let c = common::compile_dir(&dir);
        let yaml = c.yaml.clone().expect("examples compile");
        let program = &db::resolved(&c.db, c.ws).program;
        let mut cluster =
            netpol_compiler::testing::test_cluster(program, db::manifests(&c.db, c.ws));
        // A group that may live in any namespace (`in cluster`, `in namespaces {…}`) gets a
        // pod in every namespace it matches: the policies made for it there are not redundant.
        for g in &program.groups {
            let (NsScope::Selector(ns_sel), Some(labels)) = (&g.set.ns, g.set.pods.witness())
            else {
                continue;
            };
            let namespaces: Vec<String> = cluster
                .namespaces
                .iter()
                .filter(|n| ns_sel.matches(&n.labels))
                .map(|n| n.name.clone())
                .collect();
            for ns in namespaces {
                if !cluster
                    .pods
                    .iter()
                    .any(|p| p.namespace == ns && g.set.pods.matches(&p.labels))
                {
                    cluster.pods.push(Pod {
                        namespace: ns,
                        name: g.name.clone(),
                        labels: labels.clone(),
                        ip: None,
                        ports: Vec::new(),
                    });
                }
            }
        }
        for ns in program.namespaces.keys() {
            cluster.pods.push(Pod {
                namespace: ns.clone(),
                name: "future".to_string(),
                labels: BTreeMap::from([("netpol-test".to_string(), "future".to_string())]),
                ip: None,
                ports: Vec::new(),
            });
        }
        std::fs::write(tmp.join("policies.yaml"), &yaml).unwrap();
        std::fs::write(tmp.join("resources.json"), resources(&cluster)).unwrap();
        let out = Command::new(&nca)
            .current_dir(&tmp)
            .args([
                "--sanity",
                "policies.yaml",
                "--resource_list",
                "resources.json",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !stdout.contains("passed sanity check") {
            let findings: Vec<&str> = stdout
                .lines()
                .filter(|l| !l.contains("Warning") && !l.trim().is_empty())
                .collect();
            failures.push(format!("{}:\n{}", dir.display(), findings.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
