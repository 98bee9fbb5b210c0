//! Random valid NetworkPolicy sets and random clusters, for the import round trip: every field
//! and operator of the API, and clusters with pods, labels and namespaces the policies never
//! mention and port names declared on several protocols.

use crate::random::Rng;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use netpol_compiler::k8s::eval::{
    self, Cluster, ContainerPort, Endpoint, Namespace, Pod, Protocol,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The namespaces policies live in; selectors may also name `c`; clusters add `d`, which no
/// policy mentions.
pub const POLICY_NAMESPACES: [&str; 2] = ["a", "b"];
pub const CLUSTER_NAMESPACES: [&str; 4] = ["a", "b", "c", "d"];

const POD_KEYS: [(&str, &[&str]); 2] = [("app", &["x", "y", "z"]), ("tier", &["1", "2"])];
const NS_KEYS: [(&str, &[&str]); 2] = [("team", &["ops", "dev"]), ("env", &["prod"])];

/// The port names the policies use and the pods declare, with the (number, protocol) pairs a
/// pod may give them: one name on several protocols, one number under several names on
/// different pods.
const NAMED: [(&str, &[(u16, Protocol)]); 3] = [
    (
        "http",
        &[
            (80, Protocol::Tcp),
            (8080, Protocol::Tcp),
            (81, Protocol::Udp),
        ],
    ),
    ("dns", &[(53, Protocol::Udp), (53, Protocol::Tcp)]),
    ("metrics", &[(9090, Protocol::Tcp), (80, Protocol::Tcp)]),
];

/// Address blocks (with `except` lists strictly inside) the policies use.
const BLOCKS: [(&str, &[&str]); 6] = [
    ("10.0.0.0/8", &["10.1.0.0/16", "10.2.3.0/24"]),
    ("10.1.0.0/16", &["10.1.2.0/24"]),
    ("192.168.0.0/16", &[]),
    ("0.0.0.0/0", &["10.0.0.0/8"]),
    ("2001:db8::/32", &["2001:db8:1::/48"]),
    ("::/0", &[]),
];

/// Addresses around every block and `except` above, and outside all of them.
pub const ADDRESSES: [&str; 9] = [
    "10.0.0.1",
    "10.1.0.1",
    "10.1.2.1",
    "10.2.3.4",
    "192.168.1.1",
    "8.8.8.8",
    "2001:db8::1",
    "2001:db8:1::1",
    "2001:db9::1",
];

/// Every probed port: each number a policy or a pod uses, and one that none uses, on TCP and
/// UDP, and SCTP on two of them.
pub fn probed_ports() -> Vec<(Protocol, u16)> {
    [53, 80, 81, 443, 8080, 8081, 9090, 7]
        .into_iter()
        .flat_map(|n| [(Protocol::Tcp, n), (Protocol::Udp, n)])
        .chain([(Protocol::Sctp, 80), (Protocol::Sctp, 443)])
        .collect()
}

pub fn addresses() -> Vec<IpAddr> {
    ADDRESSES.iter().map(|a| a.parse().unwrap()).collect()
}

fn values(r: &mut Rng, vals: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = (0..1 + r.below(2))
        .map(|_| r.pick(vals).to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A label selector with `matchLabels` and `matchExpressions` of every operator.
fn selector(r: &mut Rng, keys: &[(&str, &[&str])], namespaces: bool) -> Value {
    let mut sel = serde_json::Map::new();
    if r.chance(30) {
        return json!({});
    }
    if r.chance(50) {
        let (k, vals) = *r.pick(keys);
        let mut labels = serde_json::Map::new();
        labels.insert(k.into(), json!(r.pick(vals)));
        if namespaces && r.chance(20) {
            labels.insert(
                eval::NAMESPACE_NAME_LABEL.into(),
                json!(r.pick(&CLUSTER_NAMESPACES)),
            );
        }
        sel.insert("matchLabels".into(), Value::Object(labels));
    }
    if r.chance(60) || sel.is_empty() {
        let mut exprs = Vec::new();
        for _ in 0..1 + r.below(2) {
            let (key, vals) = if namespaces && r.chance(15) {
                (eval::NAMESPACE_NAME_LABEL, &CLUSTER_NAMESPACES[..])
            } else {
                *r.pick(keys)
            };
            exprs.push(match r.below(4) {
                0 => json!({"key": key, "operator": "In", "values": values(r, vals)}),
                1 => json!({"key": key, "operator": "NotIn", "values": values(r, vals)}),
                2 => json!({"key": key, "operator": "Exists"}),
                _ => json!({"key": key, "operator": "DoesNotExist"}),
            });
        }
        sel.insert("matchExpressions".into(), json!(exprs));
    }
    Value::Object(sel)
}

fn peer(r: &mut Rng) -> Value {
    match r.below(6) {
        0 | 1 => json!({"podSelector": selector(r, &POD_KEYS, false)}),
        2 => json!({"namespaceSelector": selector(r, &NS_KEYS, true)}),
        3 => json!({
            "podSelector": selector(r, &POD_KEYS, false),
            "namespaceSelector": selector(r, &NS_KEYS, true),
        }),
        _ => {
            let (cidr, excepts) = *r.pick(&BLOCKS);
            let except: Vec<&str> = excepts.iter().copied().filter(|_| r.chance(60)).collect();
            if except.is_empty() && r.chance(50) {
                json!({"ipBlock": {"cidr": cidr}})
            } else {
                json!({"ipBlock": {"cidr": cidr, "except": except}})
            }
        }
    }
}

fn port(r: &mut Rng) -> Value {
    let mut p = serde_json::Map::new();
    match r.below(4) {
        0 => {}
        1 => {
            p.insert("protocol".into(), json!("TCP"));
        }
        2 => {
            p.insert("protocol".into(), json!("UDP"));
        }
        _ => {
            p.insert("protocol".into(), json!(*r.pick(&["SCTP", "TCP", "UDP"])));
        }
    }
    match r.below(5) {
        0 => {}
        1 => {
            p.insert("port".into(), json!(*r.pick(&[53u16, 80, 443, 8080])));
        }
        2 => {
            let start = *r.pick(&[53u16, 80, 8080]);
            p.insert("port".into(), json!(start));
            p.insert("endPort".into(), json!(start + *r.pick(&[0u16, 1, 10])));
        }
        _ => {
            p.insert("port".into(), json!(r.pick(&NAMED).0));
        }
    }
    Value::Object(p)
}

fn rules(r: &mut Rng, peers_key: &str) -> Value {
    let mut out = Vec::new();
    for _ in 0..r.below(3) {
        let mut rule = serde_json::Map::new();
        match r.below(5) {
            0 => {}
            1 => {
                rule.insert(peers_key.into(), json!([]));
            }
            _ => {
                let list: Vec<Value> = (0..1 + r.below(2)).map(|_| peer(r)).collect();
                rule.insert(peers_key.into(), json!(list));
            }
        }
        match r.below(4) {
            0 => {}
            1 => {
                rule.insert("ports".into(), json!([]));
            }
            _ => {
                let list: Vec<Value> = (0..1 + r.below(2)).map(|_| port(r)).collect();
                rule.insert("ports".into(), json!(list));
            }
        }
        out.push(Value::Object(rule));
    }
    json!(out)
}

/// A random set of 1 to 4 valid NetworkPolicies (a YAML stream), from the seed.
pub fn random_policy_set(seed: u64) -> String {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut docs = Vec::new();
    for p in 0..1 + r.below(4) {
        let mut spec = serde_json::Map::new();
        spec.insert("podSelector".into(), selector(&mut r, &POD_KEYS, false));
        let types: &[&[&str]] = &[
            &[],
            &["Ingress"],
            &["Egress"],
            &["Ingress", "Egress"],
            &["Egress", "Ingress"],
        ];
        let t = *r.pick(types);
        if !t.is_empty() || r.chance(50) {
            spec.insert("policyTypes".into(), json!(t));
        }
        for (dir, key) in [("ingress", "from"), ("egress", "to")] {
            if r.chance(25) {
                continue;
            }
            spec.insert(dir.into(), rules(&mut r, key));
        }
        docs.push(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": format!("p{p}"), "namespace": r.pick(&POLICY_NAMESPACES)},
            "spec": spec,
        }));
    }
    docs.iter()
        .map(|d| serde_saphyr::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A random cluster: the four namespaces with random labels (the policies' keys and one they
/// never use), 3 to 5 pods in each with random labels (again with a key no policy uses) and
/// random container ports, some named (a name on several protocols across pods; names unique
/// within a pod, as Kubernetes requires).
pub fn random_k8s_cluster(seed: u64) -> Cluster {
    let mut r = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let mut namespaces = Vec::new();
    let mut pods = Vec::new();
    for ns in CLUSTER_NAMESPACES {
        let mut labels = BTreeMap::new();
        for (k, vals) in NS_KEYS {
            if r.chance(50) {
                labels.insert(k.to_string(), r.pick(vals).to_string());
            }
        }
        if r.chance(30) {
            labels.insert("unrelated".to_string(), "yes".to_string());
        }
        namespaces.push(Namespace {
            name: ns.to_string(),
            labels,
        });
        for i in 0..3 + r.below(3) {
            let mut labels = BTreeMap::new();
            for (k, vals) in POD_KEYS {
                if r.chance(60) {
                    labels.insert(k.to_string(), r.pick(vals).to_string());
                }
            }
            if r.chance(20) {
                labels.insert("role".to_string(), "other".to_string());
            }
            let mut ports = Vec::new();
            for (name, choices) in NAMED {
                if r.chance(50) {
                    let (port, protocol) = *r.pick(choices);
                    ports.push(ContainerPort {
                        name: Some(name.to_string()),
                        port,
                        protocol,
                    });
                }
            }
            if r.chance(30) {
                ports.push(ContainerPort {
                    name: None,
                    port: 443,
                    protocol: Protocol::Tcp,
                });
            }
            pods.push(Pod {
                namespace: ns.to_string(),
                name: format!("pod{i}"),
                labels,
                ip: None,
                ports,
            });
        }
    }
    Cluster { namespaces, pods }
}

/// Every connection (pod or address to pod or address, never address to address) on which two
/// sets of policies disagree over `cluster`, and how many were compared.
pub fn differences(
    theirs: &[NetworkPolicy],
    ours: &[NetworkPolicy],
    cluster: &Cluster,
    addresses: &[IpAddr],
    ports: &[(Protocol, u16)],
) -> (usize, Vec<String>) {
    let mut endpoints: Vec<Endpoint> = (0..cluster.pods.len()).map(Endpoint::Pod).collect();
    endpoints.extend(addresses.iter().map(|a| Endpoint::External(*a)));
    let show = |e: &Endpoint| match e {
        Endpoint::Pod(i) => format!(
            "{}/{} {:?} {:?}",
            cluster.pods[*i].namespace,
            cluster.pods[*i].name,
            cluster.pods[*i].labels,
            cluster.pods[*i]
                .ports
                .iter()
                .map(|p| format!(
                    "{}={}/{}",
                    p.name.as_deref().unwrap_or("-"),
                    p.port,
                    p.protocol
                ))
                .collect::<Vec<_>>()
        ),
        Endpoint::External(a) => a.to_string(),
    };
    let verdict = |allowed: bool| if allowed { "allow" } else { "deny" };
    let mut checked = 0;
    let mut diffs = Vec::new();
    for from in &endpoints {
        for to in &endpoints {
            if matches!((from, to), (Endpoint::External(_), Endpoint::External(_))) {
                continue;
            }
            for &(protocol, port) in ports {
                let a = eval::evaluate(theirs, cluster, from, to, protocol, port).allowed;
                let b = eval::evaluate(ours, cluster, from, to, protocol, port).allowed;
                checked += 1;
                if a != b {
                    diffs.push(format!(
                        "{} -> {} {port}/{protocol}: original {}, other {}",
                        show(from),
                        show(to),
                        verdict(a),
                        verdict(b)
                    ));
                }
            }
        }
    }
    (checked, diffs)
}
