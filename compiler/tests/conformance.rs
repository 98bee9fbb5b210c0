//! Conformance of `netpol_compiler::k8s::eval` against the NetworkPolicy truth tables in
//! `shared/conformance/` (ported from the Kubernetes e2e network-policy suite, plus extra cases;
//! see its README.md).
//!
//! Every probe is checked, loopback ones included (their `allowed` is what the policy semantics
//! give when a pod's traffic to itself is treated like any other pod-to-pod traffic), and every
//! external (pod <-> IP address) probe. All mismatches are collected and reported together.
//!
//! If the corpus folder is missing the test fails when `CI` is set (e.g. `CI=true`), and
//! otherwise prints a notice and passes.

#![allow(
    clippy::disallowed_methods,
    reason = "the no-I/O rule is for the compiler library; this test reads its fixture files"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use k8s_openapi::api::networking::v1::NetworkPolicy;
use netpol_compiler::k8s::eval::{
    Cluster, ContainerPort, Endpoint, Namespace, Pod, Protocol, Verdict, evaluate,
};
use serde::Deserialize;

/// `cases/<name>/expect.yaml`.
#[derive(Debug, Deserialize)]
struct Expect {
    source: String,
    /// Path of the topology, relative to the case folder.
    topology: String,
    /// `<port>/<PROTOCOL>` combinations the probes cover.
    probed: Vec<String>,
    #[serde(default)]
    probes: Option<Vec<Probe>>,
    #[serde(default)]
    external_probes: Option<Vec<Probe>>,
}

/// One expected verdict. `from`/`to` are `namespace/pod` or an IP address.
#[derive(Debug, Deserialize)]
struct Probe {
    from: String,
    to: String,
    port: u16,
    protocol: String,
    allowed: bool,
    #[serde(default)]
    loopback: bool,
}

/// `topology.yaml`: a `kind: List` of Namespaces and Pods.
#[derive(Debug, Deserialize)]
struct TopologyList {
    kind: String,
    items: Vec<TopologyItem>,
}

#[derive(Debug, Deserialize)]
struct TopologyItem {
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    spec: Option<PodSpec>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct PodSpec {
    #[serde(default)]
    containers: Vec<Container>,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    ports: Vec<TopologyPort>,
}

#[derive(Debug, Deserialize)]
struct TopologyPort {
    #[serde(rename = "containerPort")]
    container_port: u16,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    protocol: Option<String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
}

fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| {
        let value = value.trim().to_ascii_lowercase();
        !value.is_empty() && value != "false" && value != "0"
    })
}

/// A deterministic pod IP: 10.244.x.y, inside 0.0.0.0/0 and outside the RFC 5737 TEST-NETs
/// (the README's assumption for the ipBlock cases).
fn pod_ip(index: usize) -> Option<IpAddr> {
    let high = u8::try_from(index / 250).ok()?;
    let low = u8::try_from(index % 250 + 1).ok()?;
    Some(IpAddr::V4(Ipv4Addr::new(10, 244, high, low)))
}

fn load_cluster(path: &Path) -> Result<Cluster, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let list: TopologyList =
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if list.kind != "List" {
        return Err(format!(
            "{}: expected kind List, found {}",
            path.display(),
            list.kind
        ));
    }
    let mut cluster = Cluster::default();
    for item in list.items {
        match item.kind.as_str() {
            "Namespace" => cluster.namespaces.push(Namespace {
                name: item.metadata.name,
                labels: item.metadata.labels,
            }),
            "Pod" => {
                let mut ports = Vec::new();
                for container in item.spec.into_iter().flat_map(|spec| spec.containers) {
                    for port in container.ports {
                        let protocol_text = port.protocol.as_deref().unwrap_or("TCP");
                        let protocol = Protocol::parse(protocol_text).ok_or_else(|| {
                            format!("{}: unknown protocol {protocol_text}", path.display())
                        })?;
                        ports.push(ContainerPort {
                            name: port.name,
                            port: port.container_port,
                            protocol,
                        });
                    }
                }
                let ip = pod_ip(cluster.pods.len())
                    .ok_or_else(|| format!("{}: too many pods", path.display()))?;
                cluster.pods.push(Pod {
                    namespace: item
                        .metadata
                        .namespace
                        .unwrap_or_else(|| "default".to_owned()),
                    name: item.metadata.name,
                    labels: item.metadata.labels,
                    ip: Some(ip),
                    ports,
                });
            }
            other => {
                return Err(format!("{}: unexpected item kind {other}", path.display()));
            }
        }
    }
    Ok(cluster)
}

fn endpoint(cluster: &Cluster, text: &str) -> Result<Endpoint, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Endpoint::External(ip));
    }
    let (namespace, name) = text
        .split_once('/')
        .ok_or_else(|| format!("endpoint {text:?} is neither namespace/pod nor an IP"))?;
    cluster
        .find_pod(namespace, name)
        .map(Endpoint::Pod)
        .ok_or_else(|| format!("endpoint {text:?}: no such pod in the topology"))
}

fn explain(verdict: &Verdict) -> String {
    let side = |side: &netpol_compiler::k8s::eval::SideVerdict| {
        let rules: Vec<String> = side
            .allowed_by
            .iter()
            .map(|r| format!("{}/{}[{}]", r.namespace, r.policy, r.rule))
            .collect();
        format!(
            "isolated={} allowed={} isolated_by={:?} allowed_by={:?}",
            side.isolated, side.allowed, side.isolated_by, rules
        )
    };
    format!(
        "egress: {}; ingress: {}",
        side(&verdict.egress),
        side(&verdict.ingress)
    )
}

#[derive(Default)]
struct Tally {
    cases: usize,
    pod_probes: usize,
    loopback_probes: usize,
    external_probes: usize,
    failures: Vec<String>,
}

impl Tally {
    fn verdicts(&self) -> usize {
        self.pod_probes + self.external_probes
    }
}

/// Checks one case folder, adding to `tally`.
fn check_case(dir: &Path, name: &str, tally: &mut Tally) -> Result<(), String> {
    let expect_path = dir.join("expect.yaml");
    let expect_text = std::fs::read_to_string(&expect_path)
        .map_err(|e| format!("{}: {e}", expect_path.display()))?;
    let expect: Expect = serde_saphyr::from_str(&expect_text)
        .map_err(|e| format!("{}: {e}", expect_path.display()))?;

    let policy_path = dir.join("policy.yaml");
    let policy_text = std::fs::read_to_string(&policy_path)
        .map_err(|e| format!("{}: {e}", policy_path.display()))?;
    let policies: Vec<NetworkPolicy> = serde_saphyr::from_multiple(&policy_text)
        .map_err(|e| format!("{}: {e}", policy_path.display()))?;
    let declared = policy_text
        .lines()
        .filter(|line| line.trim() == "kind: NetworkPolicy")
        .count();
    if policies.len() != declared {
        return Err(format!(
            "{}: parsed {} NetworkPolicies, the file declares {declared}",
            policy_path.display(),
            policies.len()
        ));
    }

    let cluster = load_cluster(&dir.join(&expect.topology))?;
    let pods: Vec<Endpoint> = (0..cluster.pods.len()).map(Endpoint::Pod).collect();

    // The probes must cover every ordered pod pair for every probed port/protocol.
    let mut wanted = BTreeSet::new();
    for combination in &expect.probed {
        let (port, protocol) = combination
            .split_once('/')
            .ok_or_else(|| format!("probed entry {combination:?} is not <port>/<protocol>"))?;
        let port: u16 = port
            .parse()
            .map_err(|e| format!("probed entry {combination:?}: {e}"))?;
        let protocol = Protocol::parse(protocol)
            .ok_or_else(|| format!("probed entry {combination:?}: unknown protocol"))?;
        for from in &pods {
            for to in &pods {
                wanted.insert((*from, *to, port, protocol));
            }
        }
    }

    let mut seen = BTreeSet::new();
    let probes = expect.probes.iter().flatten().map(|p| (p, false));
    let external = expect.external_probes.iter().flatten().map(|p| (p, true));
    for (probe, is_external) in probes.chain(external) {
        let label = format!(
            "[{name}] {} -> {} {}/{}",
            probe.from, probe.to, probe.port, probe.protocol
        );
        let protocol =
            Protocol::parse(&probe.protocol).ok_or_else(|| format!("{label}: unknown protocol"))?;
        let from = endpoint(&cluster, &probe.from).map_err(|e| format!("{label}: {e}"))?;
        let to = endpoint(&cluster, &probe.to).map_err(|e| format!("{label}: {e}"))?;
        let both_pods = matches!((from, to), (Endpoint::Pod(_), Endpoint::Pod(_)));
        if both_pods == is_external {
            return Err(format!(
                "{label}: listed under {} but {} external endpoint",
                if is_external {
                    "external_probes"
                } else {
                    "probes"
                },
                if both_pods { "has no" } else { "has an" }
            ));
        }
        if probe.loopback != (from == to) {
            return Err(format!("{label}: loopback flag disagrees with from/to"));
        }
        if is_external {
            tally.external_probes += 1;
        } else {
            tally.pod_probes += 1;
            if probe.loopback {
                tally.loopback_probes += 1;
            }
            if !seen.insert((from, to, probe.port, protocol)) {
                return Err(format!("{label}: duplicate probe"));
            }
        }

        let verdict = evaluate(&policies, &cluster, &from, &to, protocol, probe.port);
        if verdict.allowed != probe.allowed {
            tally.failures.push(format!(
                "{label}{}: expected {}, evaluated {} ({})",
                if probe.loopback { " (loopback)" } else { "" },
                if probe.allowed { "allowed" } else { "denied" },
                if verdict.allowed { "allowed" } else { "denied" },
                explain(&verdict)
            ));
        }
    }

    if seen != wanted {
        return Err(format!(
            "[{name}] ({}) probes cover {} pod pairs x port/protocol, expected {} (probed {:?})",
            expect.source,
            seen.len(),
            wanted.len(),
            expect.probed
        ));
    }
    Ok(())
}

#[test]
fn kubernetes_networkpolicy_conformance_corpus() {
    let root = corpus_dir();
    let cases_dir = root.join("cases");
    if !cases_dir.is_dir() {
        let notice = format!(
            "conformance corpus not found at {} (expected ../shared/conformance relative to the \
             workspace root)",
            root.display()
        );
        assert!(
            !running_in_ci(),
            "{notice}; CI is set, so this is a failure"
        );
        eprintln!("NOTICE: {notice}; skipping (set CI=true to make this a failure)");
        return;
    }

    let mut names: Vec<String> = std::fs::read_dir(&cases_dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no cases under {}", cases_dir.display());

    let mut tally = Tally::default();
    for name in &names {
        tally.cases += 1;
        if let Err(problem) = check_case(&cases_dir.join(name), name, &mut tally) {
            tally
                .failures
                .push(format!("[{name}] case not checked: {problem}"));
        }
    }

    println!(
        "conformance: {} verdicts checked across {} cases ({} pod-to-pod probes, {} of them \
         loopback; {} external probes); {} mismatches",
        tally.verdicts(),
        tally.cases,
        tally.pod_probes,
        tally.loopback_probes,
        tally.external_probes,
        tally.failures.len()
    );
    if !tally.failures.is_empty() {
        let mut report = String::new();
        for failure in &tally.failures {
            writeln!(report, "  {failure}").unwrap();
        }
        panic!(
            "{} of {} conformance verdicts failed:\n{report}",
            tally.failures.len(),
            tally.verdicts()
        );
    }
}
