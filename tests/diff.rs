//! `netpol diff` against the evaluator, over seeded random programs (testkit's): a program
//! compared with itself changes nothing; compared with another, the pod-to-pod entries are
//! exactly the set difference of the two `explain` matrices; every address and future-pod
//! entry is a real change at the address or pod it names; and every change found by probing
//! addresses and new pods directly is reported.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use common::random::{NAMESPACES, random_cluster, random_program};
use ipnet::IpNet;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use netpol_compiler::db;
use netpol_compiler::diff::{self, Change, Connection, Diff, Naming};
use netpol_compiler::explain;
use netpol_compiler::k8s::eval::{self, Cluster, Endpoint, Pod, Protocol};
use netpol_compiler::k8s::selector::{Sel, Values};
use netpol_compiler::resolve::hir::Program;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::str::FromStr;

struct Side {
    policies: Vec<NetworkPolicy>,
    program: Program,
    cluster: Cluster,
}

fn compile(src: &str, manifests: &str) -> Option<Side> {
    let mut db = db::Database::default();
    let ws = db.workspace(vec![("random.netpol".into(), src.to_string())]);
    db.set_manifests(
        ws,
        vec![("pods.yaml".into(), manifests.to_string(), "default".into())],
        Vec::new(),
    );
    let policies = db::policy_objects(&db, ws)?;
    let program = db::resolved(&db, ws).program.clone();
    let namespaces: Vec<String> = program.namespaces.keys().cloned().collect();
    let cluster = explain::cluster(db::manifests(&db, ws), &namespaces);
    Some(Side {
        policies,
        program,
        cluster,
    })
}

fn compare(old: &Side, new: &Side) -> (Cluster, Diff) {
    let cluster = diff::union_cluster(&old.cluster, &new.cluster);
    let naming = Naming::from_programs(&[&new.program, &old.program], &cluster);
    let d = diff::diff(&old.policies, &new.policies, &cluster, &naming);
    (cluster, d)
}

type Cell = (String, String, u16, String);

fn allowed(policies: &[NetworkPolicy], cluster: &Cluster) -> BTreeSet<Cell> {
    explain::matrix(policies, cluster)
        .into_iter()
        .filter(|e| e.allowed)
        .map(|e| (e.from, e.to, e.port, e.protocol))
        .collect()
}

fn pod_cells(list: &[Connection]) -> BTreeSet<Cell> {
    list.iter()
        .filter(|c| {
            c.from_external.is_none()
                && c.to_external.is_none()
                && c.from_future.is_none()
                && c.to_future.is_none()
        })
        .map(|c| {
            assert!(c.end_port.is_none(), "a pod cell is one port: {c:?}");
            (
                c.from.clone().unwrap(),
                c.to.clone().unwrap(),
                c.port,
                c.protocol.clone(),
            )
        })
        .collect()
}

fn block_contains(block: &str, ip: IpAddr) -> bool {
    let (cidr, except) = block.split_once(" except ").unwrap_or((block, ""));
    let cidr = IpNet::from_str(cidr).unwrap();
    cidr.contains(&ip)
        && !except
            .split(", ")
            .filter(|e| !e.is_empty())
            .any(|e| IpNet::from_str(e).unwrap().contains(&ip))
}

/// Labels satisfying `sel` (an `In` takes its first value, a required `NotIn` a fresh one).
fn labels_for(sel: &Sel) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, c) in &sel.keys {
        match &c.values {
            Values::In(s) if !c.absent_ok || !s.is_empty() => {
                if let Some(v) = s.iter().next() {
                    out.insert(k.clone(), v.clone());
                }
            }
            Values::NotIn(s) if !c.absent_ok => {
                let mut v = "zz".to_string();
                while s.contains(&v) {
                    v.push('z');
                }
                out.insert(k.clone(), v);
            }
            _ => {}
        }
    }
    out
}

fn verdict(
    policies: &[NetworkPolicy],
    cluster: &Cluster,
    from: &Endpoint,
    to: &Endpoint,
    protocol: Protocol,
    port: u16,
) -> bool {
    eval::evaluate(policies, cluster, from, to, protocol, port).allowed
}

fn with_new_pod(cluster: &Cluster, ns: &str, labels: BTreeMap<String, String>) -> (Cluster, usize) {
    let mut c = cluster.clone();
    c.pods.push(Pod {
        namespace: ns.to_string(),
        name: "(new pod)".to_string(),
        labels,
        ip: None,
        ports: Vec::new(),
    });
    let i = c.pods.len() - 1;
    (c, i)
}

const PROBE_IPS: [&str; 8] = [
    "203.0.113.7",
    "198.51.100.5",
    "198.51.100.200",
    "10.1.2.3",
    "8.8.8.8",
    "2001:db8::1",
    "2001:4860::8888",
    "fd00::1",
];
const PROBE_PORTS: [(Protocol, u16); 6] = [
    (Protocol::Tcp, 80),
    (Protocol::Tcp, 81),
    (Protocol::Tcp, 443),
    (Protocol::Udp, 8080),
    (Protocol::Udp, 53),
    (Protocol::Sctp, 80),
];

fn port_in(c: &Connection, protocol: Protocol, port: u16) -> bool {
    c.protocol == protocol.as_str() && c.port <= port && port <= c.end_port.unwrap_or(c.port)
}

/// Every entry of `d` that names an address or a future pod is a real change there.
fn entries_are_real(old: &Side, new: &Side, cluster: &Cluster, d: &Diff) -> usize {
    let mut checked = 0;
    // One more pod, relabelled for each future-pod entry.
    let (mut local, slot) = with_new_pod(cluster, "", BTreeMap::new());
    for (change, list) in [(Change::Added, &d.added), (Change::Removed, &d.removed)] {
        for c in list {
            let future = c.from_future.as_ref().or(c.to_future.as_ref());
            if let Some(f) = future {
                local.pods[slot].namespace = f.namespace.clone();
                local.pods[slot].labels = labels_for(&f.selector);
            }
            let end = |pod: &Option<String>, future: &Option<diff::FuturePods>| match future {
                Some(_) => Endpoint::Pod(slot),
                None => explain::endpoint(&local, pod.as_deref().unwrap()).unwrap(),
            };
            let from = end(&c.from, &c.from_future);
            let to = end(&c.to, &c.to_future);
            let protocol = Protocol::parse(&c.protocol).unwrap();
            for port in [c.port, c.end_port.unwrap_or(c.port)] {
                let a = verdict(&old.policies, &local, &from, &to, protocol, port);
                let b = verdict(&new.policies, &local, &from, &to, protocol, port);
                let expected = change == Change::Added;
                assert!(
                    a != b && b == expected,
                    "not a real change: {c:?} (old {a}, new {b})"
                );
                checked += 1;
            }
        }
    }
    checked
}

/// Changes found by probing addresses and new pods directly are all reported.
fn probes_are_reported(old: &Side, new: &Side, cluster: &Cluster, d: &Diff) -> usize {
    // The entries by the pod at their known end, so that each probe looks at a few.
    let index = |list: &[Connection]| -> BTreeMap<String, Vec<Connection>> {
        let mut m: BTreeMap<String, Vec<Connection>> = BTreeMap::new();
        for c in list {
            for pod in [&c.from, &c.to].into_iter().flatten() {
                m.entry(pod.clone()).or_default().push(c.clone());
            }
        }
        m
    };
    let (added, removed) = (index(&d.added), index(&d.removed));
    let none = Vec::new();
    let list = |change: bool, pod: &str| -> &Vec<Connection> {
        (if change { &added } else { &removed })
            .get(pod)
            .unwrap_or(&none)
    };
    let mut found = 0;
    // Pods to and from addresses.
    for (i, pod) in cluster.pods.iter().enumerate() {
        let name = format!("{}/{}", pod.namespace, pod.name);
        for ip in PROBE_IPS {
            let ip: IpAddr = ip.parse().unwrap();
            for (protocol, port) in PROBE_PORTS {
                let (p, x) = (Endpoint::Pod(i), Endpoint::External(ip));
                for (from, to, outgoing) in [(&p, &x, true), (&x, &p, false)] {
                    if !outgoing
                        && !pod
                            .ports
                            .iter()
                            .any(|c| c.port == port && c.protocol == protocol)
                    {
                        continue; // addresses to pods: on the pods' container ports
                    }
                    let a = verdict(&old.policies, cluster, from, to, protocol, port);
                    let b = verdict(&new.policies, cluster, from, to, protocol, port);
                    if a == b {
                        continue;
                    }
                    found += 1;
                    let hit = list(b, &name).iter().any(|c| {
                        port_in(c, protocol, port)
                            && if outgoing {
                                c.from.as_deref() == Some(&name)
                                    && c.to_external
                                        .as_deref()
                                        .is_some_and(|b| block_contains(b, ip))
                            } else {
                                c.to.as_deref() == Some(&name)
                                    && c.from_external
                                        .as_deref()
                                        .is_some_and(|b| block_contains(b, ip))
                            }
                    });
                    assert!(
                        hit,
                        "{name} {} {ip} {port}/{protocol} changed ({a} -> {b}) but is not reported",
                        if outgoing { "->" } else { "<-" }
                    );
                }
            }
        }
    }
    // New pods, with every combination of the vocabulary's labels and one more value.
    for ns in NAMESPACES {
        for app in [Some("a"), Some("b"), Some("c"), Some("zz"), None] {
            for tier in [Some("x"), Some("y"), Some("zz"), None] {
                let mut labels = BTreeMap::new();
                if let Some(a) = app {
                    labels.insert("app".to_string(), a.to_string());
                }
                if let Some(t) = tier {
                    labels.insert("tier".to_string(), t.to_string());
                }
                let (local, me) = with_new_pod(cluster, ns, labels.clone());
                for (q, peer) in cluster.pods.iter().enumerate() {
                    let qname = format!("{}/{}", peer.namespace, peer.name);
                    for (protocol, port) in [
                        (Protocol::Tcp, 80),
                        (Protocol::Tcp, 81),
                        (Protocol::Udp, 8080),
                    ] {
                        let (n, p) = (Endpoint::Pod(me), Endpoint::Pod(q));
                        for (from, to, outgoing) in [(&n, &p, true), (&p, &n, false)] {
                            let a = verdict(&old.policies, &local, from, to, protocol, port);
                            let b = verdict(&new.policies, &local, from, to, protocol, port);
                            if a == b {
                                continue;
                            }
                            found += 1;
                            let future = list(b, &qname).iter().any(|c| {
                                let f = if outgoing {
                                    &c.from_future
                                } else {
                                    &c.to_future
                                };
                                let other = if outgoing { &c.to } else { &c.from };
                                port_in(c, protocol, port)
                                    && other.as_deref() == Some(&qname)
                                    && f.as_ref().is_some_and(|f| {
                                        f.namespace == ns && f.selector.matches(&labels)
                                    })
                            });
                            // Or an existing pod of the namespace shows the same change.
                            let existing = list(b, &qname).iter().any(|c| {
                                c.protocol == protocol.as_str()
                                    && c.port == port
                                    && if outgoing {
                                        c.to.as_deref() == Some(&qname)
                                            && c.from
                                                .as_deref()
                                                .is_some_and(|f| f.starts_with(&format!("{ns}/")))
                                    } else {
                                        c.from.as_deref() == Some(&qname)
                                            && c.to
                                                .as_deref()
                                                .is_some_and(|t| t.starts_with(&format!("{ns}/")))
                                    }
                            });
                            assert!(
                                future || existing,
                                "a new pod {labels:?} in {ns} {} {qname} on {port}/{protocol} changed ({a} -> {b}) but is not reported",
                                if outgoing { "->" } else { "<-" }
                            );
                        }
                    }
                }
            }
        }
    }
    found
}

#[test]
fn diff_of_random_programs_is_the_difference_of_their_meanings() {
    let (_, manifests) = random_cluster();
    let (mut pairs, mut cells, mut real, mut probed) = (0, 0, 0, 0);
    // Seeds until 20 pairs compile (random programs may have errors), at most 200.
    for seed in 0..200u64 {
        if pairs == 20 {
            break;
        }
        let Some(a) = compile(&random_program(seed), &manifests) else {
            continue;
        };
        let Some(b) = compile(&random_program(seed + 1000), &manifests) else {
            continue;
        };
        // A program compared with itself: nothing changes.
        let (_, same) = compare(&a, &a);
        assert!(
            same.added.is_empty() && same.removed.is_empty() && same.summary.is_empty(),
            "seed {seed}: a program differs from itself: {same:?}"
        );
        assert!(same.policies.is_empty());
        assert_eq!(
            diff::render_text(&same),
            "no change in allowed connections\npolicy objects: unchanged\n"
        );
        // Two programs: the pod cells are the set difference of the matrices.
        let (cluster, d) = compare(&a, &b);
        let (ma, mb) = (
            allowed(&a.policies, &cluster),
            allowed(&b.policies, &cluster),
        );
        let added: BTreeSet<Cell> = mb.difference(&ma).cloned().collect();
        let removed: BTreeSet<Cell> = ma.difference(&mb).cloned().collect();
        assert_eq!(
            pod_cells(&d.added),
            added,
            "seed {seed}: added pod connections"
        );
        assert_eq!(
            pod_cells(&d.removed),
            removed,
            "seed {seed}: removed pod connections"
        );
        assert_eq!(d.changed(), !d.added.is_empty() || !d.removed.is_empty());
        cells += added.len() + removed.len();
        real += entries_are_real(&a, &b, &cluster, &d);
        probed += probes_are_reported(&a, &b, &cluster, &d);
        pairs += 1;
    }
    println!(
        "random program pairs: {pairs}; pod connections changed: {cells}; address and future entries verified: {real}; changes found by probing and reported: {probed}"
    );
    assert!(pairs >= 15, "too few random program pairs compile: {pairs}");
    assert!(cells > 0 && probed > 0, "the random pairs changed nothing");
}
