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
use netpol_compiler::resolve::hir::{self, PeerKind, PortSel, Program};
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

// ------------------------------------------------------------------ `test` is exact

/// Where the evaluator's verdict can change, computed here independently of `testing`: the
/// first address of every block and `except` of the program and the policies and the one after
/// its last, and every port where a policy's range starts or ends after.
struct Edges {
    addrs: Vec<IpAddr>,
    ports: BTreeSet<u32>,
}

fn edges(program: &Program, policies: &[k8s_openapi::api::networking::v1::NetworkPolicy]) -> Edges {
    let mut nets: Vec<ipnet::IpNet> = Vec::new();
    for e in &program.externals {
        for b in &e.blocks {
            nets.push(b.cidr);
            nets.extend(b.except.iter().copied());
        }
    }
    let mut ports = BTreeSet::new();
    for p in policies {
        let spec = p.spec.clone().unwrap_or_default();
        let rules = spec
            .ingress
            .iter()
            .flatten()
            .map(|r| (r.from.clone(), r.ports.clone()))
            .chain(
                spec.egress
                    .iter()
                    .flatten()
                    .map(|r| (r.to.clone(), r.ports.clone())),
            );
        for (peers, list) in rules {
            for peer in peers.into_iter().flatten() {
                if let Some(b) = peer.ip_block {
                    for t in std::iter::once(b.cidr).chain(b.except.into_iter().flatten()) {
                        nets.push(t.parse::<ipnet::IpNet>().unwrap().trunc());
                    }
                }
            }
            for port in list.into_iter().flatten() {
                use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
                if let Some(IntOrString::Int(n)) = port.port {
                    ports.insert(n as u32);
                    ports.insert(port.end_port.unwrap_or(n) as u32 + 1);
                }
            }
        }
    }
    let mut addrs = Vec::new();
    for net in nets {
        addrs.push(net.network());
        match net.broadcast() {
            IpAddr::V4(v4) => {
                if let Some(n) = u32::from(v4).checked_add(1) {
                    addrs.push(IpAddr::V4(n.into()));
                }
            }
            IpAddr::V6(v6) => {
                if let Some(n) = u128::from(v6).checked_add(1) {
                    addrs.push(IpAddr::V6(n.into()));
                }
            }
        }
    }
    Edges { addrs, ports }
}

/// Every address the brute force tries for an external: each edge inside it and the addresses
/// either side of it, and random addresses of each block.
fn brute_addresses(
    blocks: &[netpol_compiler::resolve::hir::IpBlock],
    edges: &Edges,
    r: &mut common::random::Rng,
) -> Vec<IpAddr> {
    let mut out = BTreeSet::new();
    let step = |ip: IpAddr, d: i128| -> Option<IpAddr> {
        match ip {
            IpAddr::V4(v4) => u32::try_from(i128::from(u32::from(v4)) + d)
                .ok()
                .map(|n| IpAddr::V4(n.into())),
            IpAddr::V6(v6) => {
                let n = u128::from(v6);
                let m = if d < 0 {
                    n.checked_sub(d.unsigned_abs())
                } else {
                    n.checked_add(d as u128)
                };
                m.map(|n| IpAddr::V6(n.into()))
            }
        }
    };
    for b in blocks {
        out.insert(b.cidr.network());
        out.insert(b.cidr.broadcast());
        for _ in 0..16 {
            let ip = match b.cidr {
                ipnet::IpNet::V4(n) => {
                    let size = 1u64 << (32 - u32::from(n.prefix_len()));
                    let off = (r.next_u64() % size) as u32;
                    IpAddr::V4((u32::from(n.network()) + off).into())
                }
                ipnet::IpNet::V6(n) => {
                    let bits = 128 - u32::from(n.prefix_len());
                    let raw = (u128::from(r.next_u64()) << 64) | u128::from(r.next_u64());
                    let off = if bits == 128 {
                        raw
                    } else {
                        raw & ((1u128 << bits) - 1)
                    };
                    IpAddr::V6((u128::from(n.network()) | off).into())
                }
            };
            out.insert(ip);
        }
    }
    for &e in &edges.addrs {
        for d in [-1, 0, 1] {
            if let Some(ip) = step(e, d) {
                out.insert(ip);
            }
        }
    }
    out.into_iter()
        .filter(|ip| hir::in_blocks(blocks, *ip))
        .collect()
}

/// Every port the brute force tries for a selection towards `to`: each edge (of the policies
/// and the destination's container ports) inside it and either side of it, its ends, and
/// random ports.
fn brute_ports(
    sel: &PortSel,
    to: Option<&Pod>,
    edges: &Edges,
    r: &mut common::random::Rng,
) -> Vec<(Protocol, u16)> {
    let range = |protocol: Protocol, start: u16, end: u16, r: &mut common::random::Rng| {
        let mut set: BTreeSet<u32> = [u32::from(start), u32::from(end)].into();
        let own: Vec<u32> = to
            .iter()
            .flat_map(|p| p.ports.iter())
            .flat_map(|c| [u32::from(c.port), u32::from(c.port) + 1])
            .collect();
        for &e in edges.ports.iter().chain(&own) {
            for d in [e.saturating_sub(1), e, e + 1] {
                set.insert(d);
            }
        }
        for _ in 0..8 {
            set.insert(u32::from(start) + (r.next_u64() % (u64::from(end - start) + 1)) as u32);
        }
        set.into_iter()
            .filter(|n| (u32::from(start)..=u32::from(end)).contains(n))
            .map(|n| (protocol, n as u16))
            .collect::<Vec<_>>()
    };
    match sel {
        PortSel::All => Protocol::ALL
            .into_iter()
            .flat_map(|p| range(p, 1, 65535, r))
            .collect(),
        PortSel::AllOf(p) => range(*p, 1, 65535, r),
        PortSel::Range(x) => range(x.protocol, x.start, x.end, r),
        PortSel::Named { protocol, name } => to
            .iter()
            .flat_map(|p| p.ports.iter())
            .filter(|c| c.name.as_deref() == Some(name.as_str()) && c.protocol == *protocol)
            .map(|c| (*protocol, c.port))
            .collect(),
    }
}

/// The differential test of `netpol test`: random programs with random `allowed`/`denied`
/// assertions; each verdict of `testing::run` must equal a brute force over the same test
/// cluster that tries every edge of the program and the policies, the addresses and ports
/// either side of each, and random addresses and ports besides. An assertion holds by brute
/// force when every connection tried is allowed (`allowed`) or none is (`denied`).
#[test]
fn test_verdicts_equal_a_brute_force_over_the_evaluator() {
    let (_, manifest_text) = random_cluster();
    let (mut programs, mut assertions, mut connections) = (0, 0, 0usize);
    let mut mismatches = Vec::new();
    for seed in 0..200u64 {
        let base = random_program(seed);
        let src = format!(
            "workloads \"pods.yaml\"\n{base}{}",
            common::random::random_assertions(&base, seed)
        );
        let dir = std::env::temp_dir().join(format!("netpol-testdiff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pods.yaml"), &manifest_text).unwrap();
        let c = compile_files(vec![("t.netpol".into(), src.clone())], Some(&dir));
        let Some(results) = db::run_tests(&c.db, c.ws) else {
            continue;
        };
        programs += 1;
        let program = &db::resolved(&c.db, c.ws).program;
        let manifests = db::manifests(&c.db, c.ws);
        let cluster = netpol_compiler::testing::test_cluster(program, manifests);
        let policies = c.policies();
        let edges = edges(program, &policies);
        let mut r = common::random::Rng(seed | 1);
        let side = |kind: &PeerKind, r: &mut common::random::Rng| -> Vec<Endpoint> {
            if let PeerKind::External(i) = kind {
                return brute_addresses(&program.externals[*i].blocks, &edges, r)
                    .into_iter()
                    .map(Endpoint::External)
                    .collect();
            }
            let Some(set) = program.pod_set(kind) else {
                return Vec::new();
            };
            (0..cluster.pods.len())
                .filter(|i| {
                    let pod = &cluster.pods[*i];
                    let ns_ok = match &set.ns {
                        netpol_compiler::resolve::hir::NsScope::Named(n) => *n == pod.namespace,
                        netpol_compiler::resolve::hir::NsScope::Selector(s) => {
                            s.matches(&cluster.namespace_labels(&pod.namespace))
                        }
                    };
                    ns_ok && set.pods.matches(&pod.labels)
                })
                .map(Endpoint::Pod)
                .collect()
        };
        let tests = &program.tests;
        for (t, result) in tests.iter().zip(&results) {
            for (a, got) in t.assertions.iter().zip(&result.assertions) {
                assertions += 1;
                let froms = side(&a.from.kind, &mut r);
                let tos = side(&a.to.kind, &mut r);
                let (mut any, mut all, mut tried) = (false, true, 0);
                for from in &froms {
                    for to in &tos {
                        if from == to {
                            continue;
                        }
                        let pod = match to {
                            Endpoint::Pod(i) => cluster.pods.get(*i),
                            Endpoint::External(_) => None,
                        };
                        for (sel, _) in &a.ports {
                            for (protocol, port) in brute_ports(sel, pod, &edges, &mut r) {
                                let v =
                                    eval::evaluate(&policies, &cluster, from, to, protocol, port);
                                tried += 1;
                                any |= v.allowed;
                                all &= v.allowed;
                            }
                        }
                    }
                }
                connections += tried;
                let want = if froms.is_empty() || tos.is_empty() {
                    false
                } else if a.expect_allowed {
                    all && tried > 0
                } else {
                    !any
                };
                if want != got.passed {
                    mismatches.push(format!(
                        "seed {seed}, `{}`: brute force says {}, `netpol test` says {} ({:?})\n{src}",
                        db::source_ref(&c.db, c.ws, a.span),
                        if want { "holds" } else { "fails" },
                        if got.passed { "holds" } else { "fails" },
                        got.failure
                    ));
                }
            }
        }
    }
    println!(
        "test differential: {programs} programs, {assertions} assertions, {connections} \
         connections tried by brute force, {} mismatches",
        mismatches.len()
    );
    assert!(programs >= 150, "only {programs} random programs compiled");
    assert!(
        mismatches.is_empty(),
        "{}",
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// The two false verdicts of issue 9: an external is every one of its addresses (a `denied`
/// over a wider external that contains an allowed one fails, naming the address), and a port
/// name stands for every protocol the destination's pods give it.
#[test]
fn test_verdicts_cover_every_address_and_every_protocol_of_a_name() {
    let dir = std::env::temp_dir().join(format!("netpol-testexact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("k8s.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: udp, namespace: shop, labels: {app: log}}\nspec:\n  containers:\n  - {name: c, image: x, ports: [{name: syslog, containerPort: 514, protocol: UDP}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: tcp, namespace: shop, labels: {app: log}}\nspec:\n  containers:\n  - {name: c, image: x, ports: [{name: syslog, containerPort: 601}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: api, namespace: shop, labels: {app: api}}\nspec:\n  containers:\n  - {name: c, image: x}\n",
    )
    .unwrap();
    let src = "workloads \"k8s.yaml\"\nnamespace shop\nservice api in shop { select app = \"api\" }\nservice log in shop { select app = \"log\" }\nexternal corp = 10.0.0.0/8\nexternal lab = 10.1.2.0/24\nlab -> api:443\napi -> log:syslog\ntest \"t\" {\n  denied corp -> api:443\n  allowed api -> log:syslog\n  denied api -> log:601/udp\n}\n";
    let c = compile_files(vec![("t.netpol".into(), src.into())], Some(&dir));
    let results = db::run_tests(&c.db, c.ws).expect("compiles");
    let a = &results[0].assertions;
    assert!(!a[0].passed, "{a:?}");
    let why = a[0].failure.clone().unwrap();
    assert!(
        why.starts_with("10.1.2.0 -> shop/api on 443/TCP is allowed"),
        "{why}"
    );
    assert!(a[1].passed, "{a:?}");
    assert_eq!(a[1].checked, 2, "514/UDP and 601/TCP");
    assert!(a[2].passed, "{a:?}");
}
