//! The compiled YAML allows exactly what the program says: for every example and for a few
//! hundred seeded random programs, the NetworkPolicy evaluator's verdict on the emitted
//! (and re-read) YAML equals the program's meaning, for every ordered pair of pods and
//! external addresses, on every probed port and protocol.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use common::random::{random_cluster, random_program};
use common::*;
use netpol_compiler::db;
use netpol_compiler::k8s::eval::{
    self, Cluster, ContainerPort, Endpoint, Namespace, Pod, Protocol,
};
use netpol_compiler::k8s::workloads::Manifests;
use netpol_compiler::resolve::hir::{PeerKind, PortSel, Program};
use netpol_compiler::semantics;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Compares the evaluator with the program's meaning; returns the mismatches.
fn compare(c: &Compiled, cluster: &Cluster, extra_ips: &[IpAddr]) -> (usize, Vec<String>) {
    let resolved = db::resolved(&c.db, c.ws);
    let manifests = db::manifests(&c.db, c.ws);
    let program = &resolved.program;
    let policies = c.policies();
    let mut endpoints: Vec<Endpoint> = (0..cluster.pods.len()).map(Endpoint::Pod).collect();
    let mut ips: BTreeSet<IpAddr> = extra_ips.iter().copied().collect();
    ips.extend(sample_ips(program));
    endpoints.extend(ips.into_iter().map(Endpoint::External));
    let probes = probe_ports(program, cluster);
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for from in &endpoints {
        for to in &endpoints {
            if matches!((from, to), (Endpoint::External(_), Endpoint::External(_))) {
                continue;
            }
            for &(protocol, port) in &probes {
                let want =
                    semantics::allowed(program, manifests, cluster, from, to, protocol, port);
                let got = eval::evaluate(&policies, cluster, from, to, protocol, port).allowed;
                checked += 1;
                if want != got && mismatches.len() < 20 {
                    mismatches.push(format!(
                        "{} -> {} {port}/{protocol}: program says {want}, policies say {got}",
                        show(cluster, from),
                        show(cluster, to)
                    ));
                }
            }
        }
    }
    (checked, mismatches)
}

fn show(cluster: &Cluster, e: &Endpoint) -> String {
    match e {
        Endpoint::Pod(i) => {
            let p = &cluster.pods[*i];
            format!("{}/{}", p.namespace, p.name)
        }
        Endpoint::External(ip) => ip.to_string(),
    }
}

/// Addresses inside, at the edges of, and just outside every block and except.
fn sample_ips(p: &Program) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for e in &p.externals {
        for b in &e.blocks {
            for net in std::iter::once(&b.cidr).chain(b.except.iter()) {
                out.push(net.network());
                out.push(net.broadcast());
                if let Some(IpAddr::V4(v4)) = Some(net.broadcast()) {
                    let next = u32::from(v4).wrapping_add(1);
                    out.push(IpAddr::V4(next.into()));
                }
            }
        }
    }
    out
}

fn probe_ports(p: &Program, cluster: &Cluster) -> Vec<(Protocol, u16)> {
    let mut set: BTreeSet<(Protocol, u16)> = BTreeSet::new();
    for pod in &cluster.pods {
        for cp in &pod.ports {
            set.insert((cp.protocol, cp.port));
        }
    }
    for c in &p.connections {
        for (sel, _) in &c.ports {
            if let PortSel::Range(r) = sel {
                for port in [
                    r.start,
                    r.end,
                    r.start.saturating_sub(1),
                    r.end.saturating_add(1),
                ] {
                    if port > 0 {
                        set.insert((r.protocol, port));
                    }
                }
            }
        }
    }
    for port in [53, 443, 9999] {
        set.insert((Protocol::Tcp, port));
        set.insert((Protocol::Udp, port));
    }
    let numbers: BTreeSet<u16> = set.iter().map(|(_, p)| *p).collect();
    for n in numbers {
        for proto in Protocol::ALL {
            set.insert((proto, n));
        }
    }
    set.into_iter().collect()
}

/// Adds pods that no selector of the program means to select, to catch over-allowing.
fn with_strangers(mut cluster: Cluster, p: &Program) -> Cluster {
    let mut namespaces: BTreeSet<String> =
        cluster.namespaces.iter().map(|n| n.name.clone()).collect();
    namespaces.insert("elsewhere".to_string());
    for ns in &namespaces {
        cluster.pods.push(Pod {
            namespace: ns.clone(),
            name: "stranger".to_string(),
            labels: BTreeMap::from([("app".to_string(), "stranger".to_string())]),
            ip: None,
            ports: vec![ContainerPort {
                name: Some("http".into()),
                port: 8080,
                protocol: Protocol::Tcp,
            }],
        });
    }
    if !cluster.namespaces.iter().any(|n| n.name == "elsewhere") {
        cluster.namespaces.push(Namespace {
            name: "elsewhere".to_string(),
            labels: BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                "elsewhere".to_string(),
            )]),
        });
    }
    let _ = p;
    cluster
}

#[test]
fn every_example_compiles_to_exactly_its_meaning() {
    let fixed: Vec<IpAddr> = [
        "8.8.8.8",
        "10.1.2.3",
        "169.254.169.254",
        "2001:4860:4860::8888",
        "fd00::1",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let mut total = 0;
    let dirs = example_dirs();
    assert!(!dirs.is_empty());
    for dir in dirs {
        let c = compile_dir(&dir);
        assert!(
            c.yaml.is_some(),
            "{} does not compile:\n{}",
            dir.display(),
            c.rendered()
        );
        let resolved = db::resolved(&c.db, c.ws);
        let manifests: &Manifests = db::manifests(&c.db, c.ws);
        let cluster = with_strangers(
            semantics::cluster_from_manifests(&resolved.program, manifests),
            &resolved.program,
        );
        let (checked, mismatches) = compare(&c, &cluster, &fixed);
        assert!(
            mismatches.is_empty(),
            "{}:\n{}",
            dir.display(),
            mismatches.join("\n")
        );
        total += checked;
    }
    println!("semantic verdicts checked over the examples: {total}");
}

#[test]
fn random_programs_compile_to_exactly_their_meaning() {
    let (cluster, manifest_text) = random_cluster();
    let programs = 300;
    let mut compiled = 0;
    let mut verdicts = 0;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for seed in 0..programs {
        let src = random_program(seed);
        let mut db = netpol_compiler::db::Database::default();
        let ws = db.workspace(vec![("random.netpol".into(), src.clone())]);
        db.set_manifests(
            ws,
            vec![("pods.yaml".into(), manifest_text.clone(), "default".into())],
            Vec::new(),
        );
        let diagnostics = db::diagnostics(&db, ws).clone();
        let Some(docs) = db::emitted(&db, ws).clone() else {
            // Programs with errors (a service narrowing its namespace, a selector no pod can
            // match, a port no container declares) are expected now and then.
            for d in diagnostics.iter().filter(|d| d.is_error()) {
                *kinds.entry(d.code.as_str()).or_default() += 1;
            }
            continue;
        };
        let yaml = docs
            .iter()
            .map(|d| d.yaml.as_str())
            .collect::<Vec<_>>()
            .join("---\n");
        let c = Compiled {
            db,
            ws,
            diagnostics,
            yaml: Some(yaml),
        };
        let program = &db::resolved(&c.db, c.ws).program;
        let _ = program
            .connections
            .iter()
            .any(|x| matches!(x.source.kind, PeerKind::Pods(_)));
        let (checked, mismatches) = compare(&c, &cluster, &[]);
        assert!(
            mismatches.is_empty(),
            "seed {seed}:\n{src}\n{}\n{}",
            mismatches.join("\n"),
            c.yaml.as_deref().unwrap_or("")
        );
        compiled += 1;
        verdicts += checked;
    }
    println!(
        "random programs: {programs} generated, {compiled} compiled and checked ({verdicts} verdicts); rejected by code: {kinds:?}"
    );
    assert!(
        compiled >= programs as usize / 2,
        "too few random programs compile: {compiled}"
    );
}
/// Prints one random program and its diagnostics, to reproduce a failure:
/// `NETPOL_SEED=17 cargo test --test semantics show_seed -- --ignored --nocapture`.
#[test]
#[ignore]
fn show_seed() {
    let seed: u64 = std::env::var("NETPOL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (_, manifests) = random_cluster();
    let src = random_program(seed);
    let mut db = netpol_compiler::db::Database::default();
    let ws = db.workspace(vec![("random.netpol".into(), src.clone())]);
    db.set_manifests(
        ws,
        vec![("pods.yaml".into(), manifests, "default".into())],
        Vec::new(),
    );
    let d = db::diagnostics(&db, ws).clone();
    println!("{src}\n{}", db.render(ws, &d));
}
