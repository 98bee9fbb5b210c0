//! `explain`: why the Kubernetes NetworkPolicy semantics allow or deny a connection, and the
//! whole connectivity matrix, for compiled programs or any NetworkPolicy YAML.

use crate::k8s::eval::{self, Cluster, Endpoint, Namespace, Pod, Protocol, SideVerdict, Verdict};
use crate::k8s::workloads::Manifests;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::Serialize;
use std::net::IpAddr;

/// Reads the NetworkPolicies of a YAML stream; other kinds of object are skipped.
pub fn read_policies(text: &str) -> Result<Vec<NetworkPolicy>, String> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple_with_options(
        text,
        crate::k8s::workloads::yaml_options(text.len()),
    )
    .map_err(|e| first_line(&e.to_string()))?;
    let mut out = Vec::new();
    for doc in docs {
        let items = match doc.get("kind").and_then(|k| k.as_str()) {
            Some("List") => doc
                .get("items")
                .and_then(|i| i.as_array())
                .cloned()
                .unwrap_or_default(),
            _ => vec![doc],
        };
        for item in items {
            if item.get("kind").and_then(|k| k.as_str()) == Some("NetworkPolicy") {
                let np: NetworkPolicy = serde_json::from_value(item)
                    .map_err(|e| format!("a NetworkPolicy is not valid: {e}"))?;
                out.push(np);
            }
        }
    }
    Ok(out)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// The pods of the manifests (one per workload, named after it) and their namespaces.
pub fn cluster(manifests: &Manifests, extra_namespaces: &[String]) -> Cluster {
    let mut names: Vec<String> = extra_namespaces.to_vec();
    names.extend(manifests.namespaces.iter().map(|n| n.name.clone()));
    names.extend(manifests.workloads.iter().map(|w| w.namespace.clone()));
    names.sort();
    names.dedup();
    Cluster {
        namespaces: names
            .iter()
            .map(|n| Namespace {
                name: n.clone(),
                labels: manifests.namespace_labels(n),
            })
            .collect(),
        pods: manifests
            .workloads
            .iter()
            .map(|w| Pod {
                namespace: w.namespace.clone(),
                name: w.name.clone(),
                labels: w.labels.clone(),
                ip: None,
                ports: w.ports.clone(),
            })
            .collect(),
    }
}

/// Finds `ns/pod` or an IP address.
pub fn endpoint(cluster: &Cluster, text: &str) -> Result<Endpoint, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Endpoint::External(ip));
    }
    let (ns, name) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is neither `namespace/pod` nor an IP address"))?;
    cluster
        .pods
        .iter()
        .position(|p| p.namespace == ns && p.name == name)
        .map(Endpoint::Pod)
        .ok_or_else(|| {
            let known: Vec<String> = cluster
                .pods
                .iter()
                .map(|p| format!("{}/{}", p.namespace, p.name))
                .collect();
            match crate::k8s::names::suggest(text, known.iter().map(String::as_str)) {
                Some(s) => format!("no workload `{text}`; did you mean `{s}`?"),
                None => format!("no workload `{text}` in the manifests"),
            }
        })
}

/// Parses `target:port[/proto]`; `port` may be a container port name of a pod target.
pub fn target(cluster: &Cluster, text: &str) -> Result<(Endpoint, Protocol, u16), String> {
    let (who, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("`{text}` needs a port: `namespace/pod:port[/protocol]`"))?;
    let who = who.trim_start_matches('[').trim_end_matches(']');
    let to = endpoint(cluster, who)?;
    let (port, proto) = match port.split_once('/') {
        Some((p, proto)) => (
            p,
            Some(Protocol::parse(proto).ok_or_else(|| format!("unknown protocol `{proto}`"))?),
        ),
        None => (port, None),
    };
    if let Ok(n) = port.parse::<u16>() {
        if n == 0 {
            return Err("port 0 is not a port".to_string());
        }
        return Ok((to, proto.unwrap_or(Protocol::Tcp), n));
    }
    // A container port name of the destination pod.
    if let Endpoint::Pod(i) = &to
        && let Some(cp) = cluster.pods.get(*i).and_then(|p| {
            p.ports
                .iter()
                .find(|c| c.name.as_deref() == Some(port) && proto.is_none_or(|x| x == c.protocol))
        })
    {
        return Ok((to, cp.protocol, cp.port));
    }
    Err(format!(
        "`{port}` is not a port number or a container port name of `{who}`"
    ))
}

pub fn show(cluster: &Cluster, e: &Endpoint) -> String {
    match e {
        Endpoint::Pod(i) => cluster
            .pods
            .get(*i)
            .map_or("?".into(), |p| format!("{}/{}", p.namespace, p.name)),
        Endpoint::External(ip) => ip.to_string(),
    }
}

/// Why `from -> to` on `protocol`/`port` is allowed or denied, for people. `source` gives the
/// program line a policy was compiled from, when known.
pub fn explain(
    policies: &[NetworkPolicy],
    cluster: &Cluster,
    from: &Endpoint,
    to: &Endpoint,
    protocol: Protocol,
    port: u16,
    source: &dyn Fn(&str, &str) -> Option<String>,
) -> (Verdict, String) {
    let v = eval::evaluate(policies, cluster, from, to, protocol, port);
    let mut out = format!(
        "{} -> {} on {port}/{protocol}: {}\n",
        show(cluster, from),
        show(cluster, to),
        if v.allowed { "ALLOWED" } else { "DENIED" }
    );
    out.push_str(&side(
        "egress",
        &show(cluster, from),
        from,
        &v.egress,
        source,
    ));
    out.push_str(&side("ingress", &show(cluster, to), to, &v.ingress, source));
    (v, out)
}

fn side(
    dir: &str,
    who: &str,
    e: &Endpoint,
    s: &SideVerdict,
    source: &dyn Fn(&str, &str) -> Option<String>,
) -> String {
    if let Endpoint::External(_) = e {
        return format!(
            "  {dir} of {who}: an address outside the cluster, which no policy governs\n"
        );
    }
    if !s.isolated {
        return format!(
            "  {dir} of {who}: not isolated (no policy selecting it has {}), so everything is allowed\n",
            capital(dir)
        );
    }
    let isolated_by = s.isolated_by.join(", ");
    if s.allowed_by.is_empty() {
        return format!(
            "  {dir} of {who}: isolated by {isolated_by}; no {dir} rule of these policies allows it\n"
        );
    }
    let rules: Vec<String> = s
        .allowed_by
        .iter()
        .map(|r| {
            let at = source(&r.namespace, &r.policy)
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            format!("{}/{} {dir} rule {}{at}", r.namespace, r.policy, r.rule + 1)
        })
        .collect();
    format!(
        "  {dir} of {who}: isolated by {isolated_by}; allowed by {}\n",
        rules.join(", ")
    )
}

fn capital(dir: &str) -> &'static str {
    if dir == "egress" { "Egress" } else { "Ingress" }
}

/// One cell of the connectivity matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MatrixEntry {
    pub from: String,
    pub to: String,
    pub port: u16,
    pub protocol: String,
    pub allowed: bool,
}

/// The cells of the matrix, in its order: every ordered pair of pods (by index, a pod to
/// itself included) on every container port of the destination pod (sorted, deduplicated).
pub fn cells(cluster: &Cluster) -> Vec<(usize, usize, Protocol, u16)> {
    let mut out = Vec::new();
    for i in 0..cluster.pods.len() {
        for (j, dst) in cluster.pods.iter().enumerate() {
            let mut ports: Vec<(Protocol, u16)> =
                dst.ports.iter().map(|c| (c.protocol, c.port)).collect();
            ports.sort();
            ports.dedup();
            out.extend(
                ports
                    .into_iter()
                    .map(|(protocol, port)| (i, j, protocol, port)),
            );
        }
    }
    out
}

/// Every ordered pair of pods (a pod to itself included) on every container port of the
/// destination pod.
pub fn matrix(policies: &[NetworkPolicy], cluster: &Cluster) -> Vec<MatrixEntry> {
    cells(cluster)
        .into_iter()
        .map(|(i, j, protocol, port)| {
            let v = eval::evaluate(
                policies,
                cluster,
                &Endpoint::Pod(i),
                &Endpoint::Pod(j),
                protocol,
                port,
            );
            MatrixEntry {
                from: show(cluster, &Endpoint::Pod(i)),
                to: show(cluster, &Endpoint::Pod(j)),
                port,
                protocol: protocol.to_string(),
                allowed: v.allowed,
            }
        })
        .collect()
}

/// The matrix as an aligned table for people.
pub fn matrix_table(entries: &[MatrixEntry]) -> String {
    let w_from = entries
        .iter()
        .map(|e| e.from.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let w_to = entries.iter().map(|e| e.to.len()).max().unwrap_or(2).max(2);
    let mut out = format!(
        "{:<w_from$}  {:<w_to$}  {:<10}  VERDICT\n",
        "FROM", "TO", "PORT"
    );
    for e in entries {
        out.push_str(&format!(
            "{:<w_from$}  {:<w_to$}  {:<10}  {}\n",
            e.from,
            e.to,
            format!("{}/{}", e.port, e.protocol),
            if e.allowed { "allowed" } else { "denied" }
        ));
    }
    let allowed = entries.iter().filter(|e| e.allowed).count();
    out.push_str(&format!(
        "{allowed} of {} connections allowed\n",
        entries.len()
    ));
    out
}
