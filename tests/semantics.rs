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

mod common;

use common::*;
use netpol_compiler::db;
use netpol_compiler::eval::{self, Cluster, ContainerPort, Endpoint, Namespace, Pod, Protocol};
use netpol_compiler::hir::{PeerKind, PortSel, Program};
use netpol_compiler::semantics;
use netpol_compiler::workloads::Manifests;
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

/// A small deterministic PRNG (xorshift64*), so failures reproduce from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const NAMESPACES: [&str; 3] = ["n1", "n2", "n3"];

fn random_requirement(r: &mut Rng) -> String {
    let key = *r.pick(&["app", "tier"]);
    let vals: &[&str] = if key == "app" {
        &["a", "b", "c"]
    } else {
        &["x", "y"]
    };
    match r.below(6) {
        0 | 1 => format!("{key} = \"{}\"", r.pick(vals)),
        2 => format!("{key} != \"{}\"", r.pick(vals)),
        3 => format!("{key} in (\"{}\", \"{}\")", r.pick(vals), r.pick(vals)),
        4 => format!("{key} not in (\"{}\")", r.pick(vals)),
        _ => {
            if r.chance(50) {
                key.to_string()
            } else {
                format!("!{key}")
            }
        }
    }
}

fn random_selector(r: &mut Rng) -> String {
    let first = random_requirement(r);
    if r.chance(50) {
        return first;
    }
    // A second requirement on the other key, so the selector stays satisfiable.
    loop {
        let second = random_requirement(r);
        let key = |s: &str| {
            s.trim_start_matches('!')
                .split(' ')
                .next()
                .unwrap_or("")
                .to_string()
        };
        if key(&second) != key(&first) {
            return format!("{first}, {second}");
        }
    }
}

/// A random program over a fixed label vocabulary, and its text.
fn random_program(seed: u64) -> String {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut src = String::new();
    let isolations = [
        "",
        " { isolate ingress, egress }",
        " { isolate ingress }",
        " { isolate egress }",
    ];
    let mut isolated = Vec::new();
    for ns in NAMESPACES {
        let iso = *r.pick(&isolations);
        isolated.push((ns, !iso.is_empty()));
        src.push_str(&format!("namespace {ns}{iso}\n"));
    }
    let mut peers: Vec<String> = Vec::new();
    let mut service_ports: Vec<(String, bool)> = Vec::new();
    for i in 0..1 + r.below(4) {
        let ns = r.pick(&NAMESPACES);
        let name = format!("s{i}");
        let has_port = r.chance(60);
        src.push_str(&format!(
            "service {name} in {ns} {{\n  select {}\n",
            random_selector(&mut r)
        ));
        if has_port {
            src.push_str("  port web = 80, 81\n");
        }
        let ns_isolated = isolated.iter().any(|(n, i)| n == ns && *i);
        if r.chance(25) && !ns_isolated {
            src.push_str(&format!(
                "  isolate {}\n",
                r.pick(&["ingress", "egress", "ingress, egress"])
            ));
        }
        src.push_str("}\n");
        peers.push(name.clone());
        service_ports.push((name, has_port));
    }
    for i in 0..r.below(3) {
        let scope = match r.below(3) {
            0 => format!("namespace {}", r.pick(&NAMESPACES)),
            1 => format!(
                "namespaces {{ kubernetes.io/metadata.name in (\"{}\", \"{}\") }}",
                r.pick(&NAMESPACES),
                r.pick(&NAMESPACES)
            ),
            _ => "cluster".to_string(),
        };
        src.push_str(&format!(
            "group g{i} = pods {{ {} }} in {scope}\n",
            random_selector(&mut r)
        ));
        peers.push(format!("g{i}"));
    }
    let blocks = [
        "203.0.113.0/24",
        "198.51.100.0/24 except 198.51.100.128/25",
        "0.0.0.0/0 except 10.0.0.0/8",
        "2001:db8::/32",
    ];
    for i in 0..r.below(3) {
        src.push_str(&format!("external e{i} = {}\n", r.pick(&blocks)));
        peers.push(format!("e{i}"));
    }
    peers.push(format!("namespace {}", r.pick(&NAMESPACES)));
    peers.push("cluster".to_string());
    peers.push("services".to_string());
    peers.push(format!("pods {{ {} }} in cluster", random_selector(&mut r)));
    peers.push(format!(
        "pods {{ {} }} in namespace {}",
        random_selector(&mut r),
        r.pick(&NAMESPACES)
    ));
    peers.push(format!(
        "namespaces {{ kubernetes.io/metadata.name not in (\"{}\") }}",
        r.pick(&NAMESPACES)
    ));
    for _ in 0..1 + r.below(6) {
        let source = r.pick(&peers).clone();
        let target = r.pick(&peers).clone();
        if source.starts_with('e') && target.starts_with('e') {
            continue;
        }
        let named = service_ports.iter().any(|(n, has)| *n == target && *has);
        let ports = [
            "80",
            "81",
            "80..81",
            "8080/udp",
            "*",
            "(80, 8080/udp)",
            "web",
            "http",
            "*/udp",
        ];
        let mut port = r.pick(&ports).to_string();
        if (port == "web" && !named) || (port == "http" && (target.starts_with('e'))) {
            port = "80".to_string();
        }
        src.push_str(&format!("{source} -> {target}:{port}\n"));
    }
    src
}

/// Pods with every combination of the vocabulary's labels, in each namespace.
fn random_cluster() -> (Cluster, String) {
    let mut pods = Vec::new();
    let mut manifests = String::new();
    for ns in NAMESPACES {
        for app in [Some("a"), Some("b"), Some("c"), None] {
            for tier in [Some("x"), Some("y"), None] {
                let mut labels = BTreeMap::new();
                if let Some(a) = app {
                    labels.insert("app".to_string(), a.to_string());
                }
                if let Some(t) = tier {
                    labels.insert("tier".to_string(), t.to_string());
                }
                let name = format!("p-{}-{}", app.unwrap_or("none"), tier.unwrap_or("none"));
                let label_yaml = labels
                    .iter()
                    .map(|(k, v)| format!("{k}: \"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                manifests.push_str(&format!(
                    "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{label_yaml}}}}}\nspec:\n  containers:\n  - name: c\n    image: x\n    ports: [{{name: http, containerPort: 80}}, {{containerPort: 81}}, {{containerPort: 8080, protocol: UDP}}]\n"
                ));
                pods.push(Pod {
                    namespace: ns.to_string(),
                    name,
                    labels,
                    ip: None,
                    ports: vec![
                        ContainerPort {
                            name: Some("http".into()),
                            port: 80,
                            protocol: Protocol::Tcp,
                        },
                        ContainerPort {
                            name: None,
                            port: 81,
                            protocol: Protocol::Tcp,
                        },
                        ContainerPort {
                            name: None,
                            port: 8080,
                            protocol: Protocol::Udp,
                        },
                    ],
                });
            }
        }
    }
    let namespaces = NAMESPACES
        .iter()
        .map(|n| Namespace {
            name: n.to_string(),
            labels: BTreeMap::from([("kubernetes.io/metadata.name".to_string(), n.to_string())]),
        })
        .collect();
    (Cluster { namespaces, pods }, manifests)
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
