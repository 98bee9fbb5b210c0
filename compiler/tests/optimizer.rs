//! Property: the optimizer never changes what policies allow. For random policies (random
//! selectors, policy types, peers, ports), emitting every grant as its own rule and emitting
//! the optimized policies give identical evaluator verdicts for every pair of pods and
//! addresses, on every probed port, in a cluster with every combination of the labels used.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use netpol_compiler::backend::emit;
use netpol_compiler::backend::ir::{
    Grant, Origin, Policy, PolicyIr, Rule, RulePeer, RulePort, ns_by_name,
};
use netpol_compiler::backend::opt;
use netpol_compiler::k8s::eval::{self, Cluster, Endpoint, Protocol};
use netpol_compiler::k8s::selector::{Constraint, Sel};
use netpol_compiler::resolve::hir::{Dirs, IpBlock};
use netpol_compiler::span::{FileId, Span};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use netpol_testkit::random::NAMESPACES;

fn constraint() -> impl Strategy<Value = (String, Constraint)> {
    prop_oneof![
        Just(("app".to_string(), Constraint::eq("a"))),
        Just(("app".to_string(), Constraint::eq("b"))),
        Just(("app".to_string(), Constraint::is_in(["a", "b"]))),
        Just(("app".to_string(), Constraint::not_in(["a"]))),
        Just(("tier".to_string(), Constraint::exists())),
        Just(("tier".to_string(), Constraint::does_not_exist())),
        Just(("tier".to_string(), Constraint::eq("x"))),
    ]
}

fn selector() -> impl Strategy<Value = Sel> {
    proptest::collection::vec(constraint(), 0..3).prop_map(|cs| {
        let mut s = Sel::all();
        for (k, c) in cs {
            s.require(&k, c);
        }
        s
    })
}

fn peer() -> impl Strategy<Value = RulePeer> {
    let block = prop_oneof![
        Just(IpBlock {
            cidr: "203.0.113.0/24".parse().unwrap(),
            except: vec![]
        }),
        Just(IpBlock {
            cidr: "203.0.113.0/25".parse().unwrap(),
            except: vec![]
        }),
        Just(IpBlock {
            cidr: "0.0.0.0/0".parse().unwrap(),
            except: vec!["10.0.0.0/8".parse().unwrap()]
        }),
    ];
    prop_oneof![
        3 => (selector(), prop_oneof![Just(None), Just(Some(ns_by_name("n1"))), Just(Some(ns_by_name("n2"))), Just(Some(Sel::all()))])
            .prop_map(|(pods, ns)| RulePeer::Pods { ns: ns.map(Arc::new), pods: Arc::new(pods) }),
        1 => block.prop_map(RulePeer::Block),
    ]
}

fn port() -> impl Strategy<Value = RulePort> {
    prop_oneof![
        Just(RulePort::All),
        Just(RulePort::Range {
            protocol: Protocol::Tcp,
            start: 80,
            end: 80
        }),
        Just(RulePort::Range {
            protocol: Protocol::Tcp,
            start: 81,
            end: 81
        }),
        Just(RulePort::Range {
            protocol: Protocol::Tcp,
            start: 80,
            end: 81
        }),
        Just(RulePort::Range {
            protocol: Protocol::Udp,
            start: 53,
            end: 53
        }),
        Just(RulePort::Range {
            protocol: Protocol::Tcp,
            start: 1,
            end: 65535
        }),
        Just(RulePort::Named {
            protocol: Protocol::Tcp,
            name: "http".to_string()
        }),
    ]
}

fn grants() -> impl Strategy<Value = BTreeSet<Grant>> {
    proptest::collection::btree_set(
        (peer(), port()).prop_map(|(peer, port)| Grant { peer, port }),
        0..6,
    )
}

fn policies() -> impl Strategy<Value = Vec<PolicyIr>> {
    proptest::collection::vec((0..2usize, selector(), 1..4u8, grants(), grants()), 1..5).prop_map(
        |ps| {
            ps.into_iter()
                .enumerate()
                .map(|(i, (ns, pods, types, ingress, egress))| PolicyIr {
                    namespace: NAMESPACES[ns].to_string(),
                    name: format!("p{i}"),
                    pods,
                    types: Dirs {
                        ingress: types & 1 != 0,
                        egress: types & 2 != 0,
                    },
                    ingress,
                    egress,
                    origin: Origin {
                        span: Span::new(FileId(0), 0, 0),
                    },
                })
                .collect()
        },
    )
}

/// Every grant its own rule: the reference the optimized output must agree with.
fn unoptimized(p: &PolicyIr) -> Policy {
    let rules = |gs: &BTreeSet<Grant>| -> Vec<Rule> {
        gs.iter()
            .map(|g| Rule {
                peers: vec![g.peer.clone()],
                ports: if g.port == RulePort::All {
                    vec![]
                } else {
                    vec![g.port.clone()]
                },
            })
            .collect()
    };
    Policy {
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        pods: p.pods.clone(),
        types: p.types,
        ingress: rules(&p.ingress),
        egress: rules(&p.egress),
        origin: p.origin.clone(),
    }
}

/// testkit's cluster: pods with every combination of the random programs' labels.
fn cluster() -> Cluster {
    netpol_testkit::random::random_cluster().0
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn optimizing_never_changes_a_verdict(ps in policies()) {
        let lowered: BTreeMap<(String, String), PolicyIr> = ps.iter().map(|p| ((p.namespace.clone(), p.name.clone()), p.clone())).collect();
        let before: Vec<_> = ps.iter().map(|p| emit::to_k8s(&unoptimized(p), "test")).collect();
        let after: Vec<_> = opt::optimize(&lowered).values().map(|p| emit::to_k8s(p, "test")).collect();
        let cluster = cluster();
        let mut endpoints: Vec<Endpoint> = (0..cluster.pods.len()).map(Endpoint::Pod).collect();
        for ip in ["203.0.113.5", "203.0.113.200", "10.1.1.1", "8.8.8.8"] {
            endpoints.push(Endpoint::External(ip.parse().unwrap()));
        }
        let probes = [(Protocol::Tcp, 80), (Protocol::Tcp, 81), (Protocol::Udp, 53), (Protocol::Tcp, 9999)];
        for from in &endpoints {
            for to in &endpoints {
                if matches!((from, to), (Endpoint::External(_), Endpoint::External(_))) {
                    continue;
                }
                for (protocol, port) in probes {
                    let a = eval::evaluate(&before, &cluster, from, to, protocol, port).allowed;
                    let b = eval::evaluate(&after, &cluster, from, to, protocol, port).allowed;
                    prop_assert_eq!(a, b, "{:?} -> {:?} {}/{}", from, to, port, protocol);
                }
            }
        }
    }
}
