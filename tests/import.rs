//! `netpol import`: every published recipe, and every odd construct of the NetworkPolicy API,
//! imports into a program that compiles, and the compiled policies allow exactly what the
//! imported ones allow. Checked by our evaluator over synthetic clusters built from the labels,
//! namespaces, ports and address blocks the policies mention (every ordered pair of pods and
//! addresses, every probed port, every protocol), and by network-config-analyzer
//! (`nca --equiv`) for the recipes. Pods carry no IP: netpol's externals are addresses outside
//! the cluster, and nca never matches an ipBlock against a pod either.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use common::policies::differences;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use netpol_compiler::import;
use netpol_compiler::k8s::eval::{
    self, Cluster, ContainerPort, Endpoint, Namespace, Pod, Protocol,
};
use netpol_compiler::k8s::workloads::{Manifests, parse_manifests};
use netpol_compiler::span::FileId;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

const NAME: &str = eval::NAMESPACE_NAME_LABEL;

// ------------------------------------------------------------------ the synthetic clusters

/// What the policies mention.
#[derive(Default)]
struct Mentioned {
    namespaces: BTreeSet<String>,
    pod_selectors: Vec<LabelSelector>,
    ns_selectors: Vec<LabelSelector>,
    pod_values: BTreeMap<String, BTreeSet<String>>,
    ns_values: BTreeMap<String, BTreeSet<String>>,
    numbers: BTreeSet<u16>,
    /// Port names and the protocols they are named with.
    names: BTreeMap<String, BTreeSet<Protocol>>,
    blocks: Vec<(String, Vec<String>)>,
}

fn values_of(sel: &LabelSelector, into: &mut BTreeMap<String, BTreeSet<String>>) {
    for (k, v) in sel.match_labels.iter().flatten() {
        into.entry(k.clone()).or_default().insert(v.clone());
    }
    for r in sel.match_expressions.iter().flatten() {
        let e = into.entry(r.key.clone()).or_default();
        e.extend(r.values.iter().flatten().cloned());
    }
}

fn mentioned(policies: &[NetworkPolicy]) -> Mentioned {
    let mut m = Mentioned::default();
    m.namespaces.insert("default".into());
    m.namespaces.insert("unrelated".into());
    for p in policies {
        m.namespaces.insert(eval::policy_namespace(p).to_string());
        let Some(spec) = &p.spec else { continue };
        if let Some(s) = &spec.pod_selector {
            m.pod_selectors.push(s.clone());
        }
        let peers = common::spec_peers(spec);
        for peer in peers {
            if let Some(s) = &peer.pod_selector {
                m.pod_selectors.push(s.clone());
            }
            if let Some(s) = &peer.namespace_selector {
                m.ns_selectors.push(s.clone());
            }
            if let Some(b) = &peer.ip_block {
                m.blocks
                    .push((b.cidr.clone(), b.except.clone().unwrap_or_default()));
            }
        }
        let ports = spec
            .ingress
            .iter()
            .flatten()
            .flat_map(|r| r.ports.iter().flatten())
            .chain(
                spec.egress
                    .iter()
                    .flatten()
                    .flat_map(|r| r.ports.iter().flatten()),
            );
        for port in ports {
            let protocol = port
                .protocol
                .as_deref()
                .and_then(Protocol::parse)
                .unwrap_or(Protocol::Tcp);
            match &port.port {
                Some(IntOrString::Int(n)) => {
                    for x in [*n - 1, *n, *n + 1] {
                        if let Ok(x) = u16::try_from(x) {
                            m.numbers.insert(x);
                        }
                    }
                }
                Some(IntOrString::String(name)) => {
                    m.names.entry(name.clone()).or_default().insert(protocol);
                }
                None => {}
            }
            if let Some(end) = port.end_port {
                for x in [end - 1, end, end + 1] {
                    if let Ok(x) = u16::try_from(x) {
                        m.numbers.insert(x);
                    }
                }
            }
        }
    }
    m.numbers.remove(&0);
    for s in m.pod_selectors.clone() {
        values_of(&s, &mut m.pod_values);
    }
    for s in m.ns_selectors.clone() {
        values_of(&s, &mut m.ns_values);
    }
    if let Some(names) = m.ns_values.remove(NAME) {
        m.namespaces.extend(names);
    }
    m
}

/// A few label sets that satisfy `sel` (none when nothing can): the first choice for every
/// requirement, then each other choice one requirement at a time.
fn witnesses(
    sel: &LabelSelector,
    known: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<BTreeMap<String, String>> {
    let mut base: BTreeMap<String, String> = sel.match_labels.clone().unwrap_or_default();
    let mut options: Vec<(String, Vec<Option<String>>)> = Vec::new();
    for r in sel.match_expressions.iter().flatten() {
        let values: Vec<String> = r.values.clone().unwrap_or_default();
        let choices: Vec<Option<String>> = match r.operator.as_str() {
            "In" => values.into_iter().map(Some).collect(),
            "NotIn" => vec![None, Some("zz".into())],
            "Exists" => {
                let mut c: Vec<Option<String>> = known
                    .get(&r.key)
                    .into_iter()
                    .flatten()
                    .take(2)
                    .cloned()
                    .map(Some)
                    .collect();
                c.push(Some("zz".into()));
                c
            }
            _ => vec![None],
        };
        options.push((r.key.clone(), choices));
    }
    let apply = |labels: &mut BTreeMap<String, String>, key: &str, v: &Option<String>| match v {
        Some(v) => {
            labels.insert(key.to_string(), v.clone());
        }
        None => {
            labels.remove(key);
        }
    };
    for (k, c) in &options {
        if let Some(first) = c.first() {
            apply(&mut base, k, first);
        }
    }
    let mut out = vec![base.clone()];
    for (k, c) in &options {
        for v in c.iter().skip(1) {
            let mut w = base.clone();
            apply(&mut w, k, v);
            out.push(w);
        }
    }
    out.retain(|w| eval::selector_matches(sel, w));
    out
}

fn merge(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let mut out = a.clone();
    for (k, v) in b {
        match out.get(k) {
            Some(x) if x != v => return None,
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Some(out)
}

/// The label sets of the pods of every namespace.
fn pod_label_sets(m: &Mentioned) -> Vec<BTreeMap<String, String>> {
    let mut sets: BTreeSet<BTreeMap<String, String>> = BTreeSet::new();
    sets.insert(BTreeMap::new());
    let firsts: Vec<BTreeMap<String, String>> = m
        .pod_selectors
        .iter()
        .filter_map(|s| witnesses(s, &m.pod_values).into_iter().next())
        .collect();
    for s in &m.pod_selectors {
        sets.extend(witnesses(s, &m.pod_values));
    }
    for (i, a) in firsts.iter().enumerate() {
        for b in firsts.iter().skip(i + 1) {
            if let Some(w) = merge(a, b) {
                sets.insert(w);
            }
        }
    }
    for (k, vs) in &m.pod_values {
        sets.insert(BTreeMap::from([(k.clone(), "zz".to_string())]));
        for v in vs {
            sets.insert(BTreeMap::from([(k.clone(), v.clone())]));
        }
    }
    sets.into_iter().collect()
}

/// The clusters to compare on: namespaces with only their name label (plus one namespace per
/// namespace selector, labelled to match it), then one cluster per labelled namespace selector
/// in which every namespace the policies name carries that selector's labels.
fn clusters(m: &Mentioned) -> Vec<Cluster> {
    let label_sets = pod_label_sets(m);
    let ns_witnesses: Vec<BTreeMap<String, String>> = m
        .ns_selectors
        .iter()
        .filter_map(|s| {
            let mut w = witnesses(s, &m.ns_values).into_iter().next()?;
            w.remove(NAME);
            (!w.is_empty()).then_some(w)
        })
        .collect();
    let mut base: Vec<Namespace> = m
        .namespaces
        .iter()
        .map(|n| Namespace {
            name: n.clone(),
            labels: BTreeMap::new(),
        })
        .collect();
    for (i, w) in ns_witnesses.iter().enumerate() {
        base.push(Namespace {
            name: format!("ns-sel-{i}"),
            labels: w.clone(),
        });
    }
    if let Some(u) = base.iter_mut().find(|n| n.name == "unrelated") {
        u.labels = m
            .ns_values
            .keys()
            .map(|k| (k.clone(), "zz".to_string()))
            .collect();
    }
    let mut variants = vec![base.clone()];
    for w in &ns_witnesses {
        let mut v = base.clone();
        for n in &mut v {
            if m.namespaces.contains(&n.name) && n.name != "unrelated" {
                n.labels = w.clone();
            }
        }
        variants.push(v);
    }
    // Port names: a third of the pods declare each at a number the policies mention, a third
    // at another number, a third not at all.
    let first_number = m.numbers.iter().find(|n| **n > 1).copied().unwrap_or(8080);
    variants
        .into_iter()
        .map(|namespaces| {
            let mut pods = Vec::new();
            for ns in &namespaces {
                for (j, labels) in label_sets.iter().enumerate() {
                    let mut ports = vec![ContainerPort {
                        name: Some("unrelated".into()),
                        port: 7777,
                        protocol: Protocol::Tcp,
                    }];
                    for (name, protocols) in &m.names {
                        let number = match j % 3 {
                            0 => continue,
                            1 => first_number,
                            _ => 9999,
                        };
                        for protocol in protocols {
                            ports.push(ContainerPort {
                                name: Some(name.clone()),
                                port: number,
                                protocol: *protocol,
                            });
                        }
                    }
                    pods.push(Pod {
                        namespace: ns.name.clone(),
                        name: format!("p{j}"),
                        labels: labels.clone(),
                        ip: None,
                        ports,
                    });
                }
            }
            Cluster { namespaces, pods }
        })
        .collect()
}

fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = text.split_once('/')?;
    Some((addr.parse().ok()?, len.parse().ok()?))
}

/// The first and last address of a block, and the addresses just outside it.
fn around(text: &str) -> Vec<IpAddr> {
    let Some((addr, len)) = parse_cidr(text) else {
        return Vec::new();
    };
    let (bits, width) = match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    let space = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let host = u32::from(len).min(width);
    let mask = if host == 0 {
        0
    } else {
        (space << (width - host)) & space
    };
    let first = bits & mask;
    let last = first | (!mask & space);
    [
        first.wrapping_sub(1),
        first,
        first.wrapping_add(1),
        last,
        last.wrapping_add(1),
    ]
    .into_iter()
    .map(|x| match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from((x & space) as u32)),
        IpAddr::V6(_) => IpAddr::V6(x.into()),
    })
    .collect()
}

fn externals(m: &Mentioned) -> Vec<IpAddr> {
    let mut out: BTreeSet<IpAddr> = ["8.8.8.8", "10.0.0.1", "192.168.1.1", "2001:db8::1", "::1"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    for (cidr, except) in &m.blocks {
        out.extend(around(cidr));
        for e in except {
            out.extend(around(e));
        }
    }
    out.into_iter().collect()
}

fn probed_ports(m: &Mentioned) -> Vec<(Protocol, u16)> {
    let mut numbers: BTreeSet<u16> = m.numbers.clone();
    numbers.extend([1, 53, 80, 443, 7777, 9999, 65535]);
    if let Some(n) = m.numbers.iter().find(|n| **n > 1) {
        numbers.insert(*n);
    } else {
        numbers.insert(8080);
    }
    Protocol::ALL
        .into_iter()
        .flat_map(|p| numbers.iter().map(move |n| (p, *n)))
        .collect()
}

/// The cluster as manifests: Namespace and Pod objects.
fn manifests_yaml(cluster: &Cluster) -> String {
    let mut docs = Vec::new();
    for n in &cluster.namespaces {
        let mut labels = n.labels.clone();
        labels.insert(NAME.into(), n.name.clone());
        docs.push(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": n.name, "labels": labels},
        }));
    }
    for p in &cluster.pods {
        let ports: Vec<serde_json::Value> = p
            .ports
            .iter()
            .map(|c| {
                let mut v =
                    serde_json::json!({"containerPort": c.port, "protocol": c.protocol.as_str()});
                if let Some(name) = &c.name {
                    v["name"] = serde_json::json!(name);
                }
                v
            })
            .collect();
        docs.push(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
            "spec": {"containers": [{"name": "main", "image": "example.invalid/app", "ports": ports}]},
        }));
    }
    docs.iter()
        .map(|d| serde_saphyr::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

// ------------------------------------------------------------------ import, compile, compare

fn read(name: &str, yaml: &str) -> Vec<NetworkPolicy> {
    import::read(&[(name.to_string(), yaml.to_string())])
        .unwrap()
        .inputs
        .into_iter()
        .map(|i| i.policy)
        .collect()
}

/// Compiles an imported program; no errors allowed.
fn compile(program: &str, dir: Option<&Path>) -> (String, Vec<NetworkPolicy>) {
    let c = common::compile_files(vec![("imported.netpol".into(), program.into())], dir);
    assert!(
        c.yaml.is_some(),
        "the imported program does not compile:\n{}\n{program}",
        c.rendered()
    );
    (c.yaml.clone().unwrap(), c.policies())
}

fn labels_of(cluster: &Cluster) -> String {
    cluster
        .namespaces
        .iter()
        .filter(|n| !n.labels.is_empty())
        .map(|n| format!("{} {:?}", n.name, n.labels))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A scratch folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("netpol-import-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// The outcome of checking one input.
struct Checked {
    connections: usize,
    clusters: usize,
    programs: Vec<String>,
    /// The importer's errors (policies left out), over every import made.
    errors: Vec<String>,
}

/// Imports `yaml` and compares, on every synthetic cluster, with the policies the importer did
/// not leave out (each one it leaves out must have an error). With `workloads`, each cluster is
/// also given to the importer and the compiler as manifests (namespace labels).
fn check(name: &str, yaml: &str, workloads: bool) -> Checked {
    let all = read(name, yaml);
    assert!(!all.is_empty(), "{name}: no policy read");
    let kept = |imported: &import::Imported| -> Vec<NetworkPolicy> {
        assert_eq!(
            imported.left_out.len(),
            imported.errors.len(),
            "{name}: {:?}",
            imported.errors
        );
        all.iter()
            .filter(|p| !imported.left_out.contains(&eval::policy_id(p)))
            .cloned()
            .collect()
    };
    let theirs = all.clone();
    let m = mentioned(&theirs);
    let addresses = externals(&m);
    let ports = probed_ports(&m);
    let mut out = Checked {
        connections: 0,
        clusters: 0,
        programs: Vec::new(),
        errors: Vec::new(),
    };
    let plain = if workloads {
        None
    } else {
        let imported = import::import(
            &[(name.to_string(), yaml.to_string())],
            &Manifests::default(),
            &[],
        )
        .unwrap();
        Some((imported.program.clone(), kept(&imported), imported.errors))
    };
    let tag: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    for (v, cluster) in clusters(&m).iter().enumerate() {
        let (program, yaml_out, ours, theirs, errors) = match &plain {
            Some((program, theirs, errors)) => {
                let (y, o) = compile(program, None);
                (program.clone(), y, o, theirs.clone(), errors.clone())
            }
            None => {
                let dir = temp_dir(&format!("{tag}-{v}"));
                let text = manifests_yaml(cluster);
                std::fs::write(dir.join("cluster.yaml"), &text).unwrap();
                let manifests = parse_manifests(FileId(1_000_000), &text, "default");
                assert!(manifests.errors.is_empty(), "{:?}", manifests.errors);
                let imported = import::import(
                    &[(name.to_string(), yaml.to_string())],
                    &manifests,
                    &["cluster.yaml".to_string()],
                )
                .unwrap();
                let (y, o) = compile(&imported.program, Some(&dir));
                let theirs = kept(&imported);
                (imported.program, y, o, theirs, imported.errors)
            }
        };
        for e in errors {
            if !out.errors.contains(&e) {
                out.errors.push(e);
            }
        }
        let (checked, diffs) = differences(&theirs, &ours, cluster, &addresses, &ports);
        assert!(
            diffs.is_empty(),
            "{name}: {} of {checked} connections differ (namespace labels: {}), e.g.:\n{}\n\n\
             imported program:\n{program}\ncompiled:\n{yaml_out}",
            diffs.len(),
            labels_of(cluster),
            diffs
                .iter()
                .take(12)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        out.connections += checked;
        out.clusters += 1;
        if !out.programs.contains(&program) {
            out.programs.push(program);
        }
    }
    out
}

// ------------------------------------------------------------------ the recipes

fn recipes_dir() -> Option<PathBuf> {
    common::shared_folder("reference/recipes")
}

/// Every recipe: (path relative to the recipes folder, text).
fn recipes(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for folder in std::fs::read_dir(dir).unwrap().flatten() {
        if !folder.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(folder.path()).unwrap().flatten() {
            let p = f.path();
            if p.extension().is_some_and(|x| x == "yaml") {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_recipe_imports_and_means_the_same_by_our_evaluator() {
    let Some(dir) = recipes_dir() else { return };
    let all = recipes(&dir);
    assert_eq!(all.len(), 27, "the recipes folder should hold 27 policies");
    let results: Vec<(String, Checked)> = std::thread::scope(|s| {
        let (a, b) = all.split_at(all.len() / 2);
        let handles: Vec<_> = [a, b]
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(name, text)| (name.clone(), check(name, text, false)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let connections: usize = results.iter().map(|(_, c)| c.connections).sum();
    let clusters: usize = results.iter().map(|(_, c)| c.clusters).sum();
    println!(
        "{} recipes imported, compiled and compared on {clusters} clusters: {connections} connections identical",
        results.len()
    );
}

/// Recipes `explain` reads exactly as the evaluator does: the matrix over the synthetic
/// cluster's manifests, from plain YAML.
#[test]
fn every_recipe_explains_like_the_evaluator() {
    let Some(dir) = recipes_dir() else { return };
    let tmp = temp_dir("explain");
    for (name, text) in recipes(&dir) {
        let theirs = read(&name, &text);
        assert_eq!(
            netpol_compiler::explain::read_policies(&text).unwrap(),
            theirs,
            "{name}: explain and import read different policies"
        );
        let m = mentioned(&theirs);
        let cluster = clusters(&m).remove(0);
        std::fs::write(tmp.join("cluster.yaml"), manifests_yaml(&cluster)).unwrap();
        // The recipes and the temporary cluster are outside the repository: allowed explicitly.
        let out = netpol_testkit::output_ok(
            Command::new(env!("CARGO_BIN_EXE_netpol"))
                .arg("--allow-outside")
                .arg(&dir)
                .arg("--allow-outside")
                .arg(&*tmp)
                .args(["explain", "--matrix", "--format", "json", "--policies"])
                .arg(dir.join(&name))
                .arg("--workloads")
                .arg(tmp.join("cluster.yaml")),
        );
        let entries: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert!(!entries.is_empty(), "{name}: empty matrix");
        for e in entries {
            let find = |text: &str| {
                let (ns, pod) = text.split_once('/').unwrap();
                cluster.find_pod(ns, pod).unwrap()
            };
            let from = find(e["from"].as_str().unwrap());
            let to = find(e["to"].as_str().unwrap());
            let protocol = Protocol::parse(e["protocol"].as_str().unwrap()).unwrap();
            let port = u16::try_from(e["port"].as_u64().unwrap()).unwrap();
            let v = eval::evaluate(
                &theirs,
                &cluster,
                &Endpoint::Pod(from),
                &Endpoint::Pod(to),
                protocol,
                port,
            );
            assert_eq!(e["allowed"].as_bool().unwrap(), v.allowed, "{name}: {e}");
        }
    }
}

#[test]
fn every_recipe_means_the_same_by_network_config_analyzer() {
    let Some(dir) = recipes_dir() else { return };
    let Some(nca) = common::venv_tool("nca") else {
        return;
    };
    let tmp = temp_dir("nca");
    let mut runs = 0;
    for (name, text) in recipes(&dir) {
        let theirs = read(&name, &text);
        let m = mentioned(&theirs);
        let imported =
            import::import(&[(name.clone(), text.clone())], &Manifests::default(), &[]).unwrap();
        let (ours, _) = compile(&imported.program, None);
        // nca 2.1.0 rejects `policyTypes: [Egress, Ingress]` in that order (the conformance
        // README's gap 1); `network-policy-allow-all-egress-deny-all-ingress.yaml` has it. The
        // same policy with the list in the other order is given to nca instead.
        let mut original = text.clone();
        if name.ends_with("network-policy-allow-all-egress-deny-all-ingress.yaml") {
            let swapped = original.replace(
                "    - Egress\n    - Ingress\n",
                "    - Ingress\n    - Egress\n",
            );
            assert_ne!(swapped, original, "{name}: the policyTypes list moved");
            original = swapped;
        }
        for (v, cluster) in clusters(&m).iter().enumerate() {
            let resources = manifests_yaml(cluster);
            if let Err(said) = common::nca_equivalent(&nca, &tmp, &original, &ours, &resources) {
                panic!(
                    "{name} (cluster {v}): nca says:\n{said}\nimported program:\n{}\ncompiled:\n{ours}",
                    imported.program
                );
            }
            runs += 1;
        }
    }
    println!("nca: {runs} comparisons, all semantically equivalent");
}

// ------------------------------------------------------------------ the odd constructs

fn policy(name: &str, ns: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{spec}"
    )
}

fn stream(docs: &[String]) -> String {
    docs.join("---\n")
}

#[test]
fn policies_that_only_isolate() {
    let yaml = stream(&[
        policy(
            "web-deny-all",
            "shop",
            "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress, Egress]",
        ),
        policy("deny-ingress", "data", "podSelector: {}\ningress: []"),
        policy(
            "deny-egress",
            "data",
            "podSelector: {}\npolicyTypes: [Egress]",
        ),
        policy(
            "nothing",
            "jobs",
            "podSelector: {matchLabels: {app: batch}}",
        ),
    ]);
    let c = check("only-isolate.yaml", &yaml, false);
    let p = &c.programs[0];
    assert!(
        p.contains("namespace data { isolate ingress, egress }"),
        "{p}"
    );
    assert!(
        !p.contains("->"),
        "policies that only isolate allow nothing:\n{p}"
    );
}

#[test]
fn empty_pod_selectors_hold_rules() {
    let yaml = stream(&[
        policy(
            "all-pods",
            "shop",
            "podSelector: {}\npolicyTypes: [Ingress, Egress]\ningress:\n- from: [{podSelector: {}}]\negress:\n- to: [{namespaceSelector: {}}]\n  ports: [{port: 53, protocol: UDP}]",
        ),
        policy(
            "db",
            "shop",
            "podSelector: {matchLabels: {app: db}}\ningress:\n- from: [{podSelector: {matchLabels: {app: api}}}]\n  ports: [{port: 5432}]",
        ),
        policy(
            "api",
            "shop",
            "podSelector: {matchLabels: {app: api}}\npolicyTypes: [Egress]\negress:\n- to: [{podSelector: {matchLabels: {app: db}}}]",
        ),
    ]);
    check("empty-pod-selector.yaml", &yaml, false);
}

#[test]
fn peers_with_only_ports() {
    let yaml = stream(&[
        policy(
            "only-ports",
            "default",
            "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress, Egress]\ningress:\n- ports: [{port: 80}, {port: 8443, protocol: TCP}]\negress:\n- ports: [{protocol: UDP}]\n- ports: [{port: 443}]",
        ),
        policy(
            "other",
            "default",
            "podSelector: {matchLabels: {app: api}}\ningress:\n- ports: [{protocol: SCTP}]",
        ),
    ]);
    check("only-ports.yaml", &yaml, false);
}

#[test]
fn notin_doesnotexist_and_exists_selectors() {
    let yaml = stream(&[
        policy(
            "exprs",
            "default",
            "podSelector:\n  matchExpressions:\n  - {key: tier, operator: NotIn, values: [db, cache]}\n  - {key: canary, operator: DoesNotExist}\npolicyTypes: [Ingress, Egress]\ningress:\n- from:\n  - podSelector:\n      matchExpressions: [{key: role, operator: Exists}]\n    namespaceSelector:\n      matchExpressions: [{key: env, operator: NotIn, values: [prod]}]\n  - namespaceSelector:\n      matchExpressions: [{key: team, operator: DoesNotExist}]\negress:\n- to:\n  - podSelector:\n      matchExpressions: [{key: tier, operator: In, values: [db, web]}]\n  - namespaceSelector:\n      matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [default, kube-system]}]",
        ),
        policy(
            "db",
            "default",
            "podSelector: {matchLabels: {tier: db}}\ningress:\n- from:\n  - podSelector:\n      matchExpressions: [{key: tier, operator: NotIn, values: [web]}, {key: tier, operator: Exists}]",
        ),
    ]);
    check("selectors.yaml", &yaml, false);
}

#[test]
fn ipblocks_with_except() {
    let yaml = stream(&[policy(
        "blocks",
        "default",
        "podSelector: {matchLabels: {app: gw}}\npolicyTypes: [Ingress, Egress]\ningress:\n- from:\n  - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24, 172.17.1.128/25]}\n  - ipBlock: {cidr: '2001:db8::/32', except: ['2001:db8:1::/48']}\negress:\n- to:\n  - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 192.168.0.0/16]}\n  ports: [{port: 443}]\n- to:\n  - ipBlock: {cidr: 10.1.2.3/16}",
    )]);
    let c = check("blocks.yaml", &yaml, false);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let p = &c.programs[0];
    assert!(p.contains("172.17.0.0/16 except 172.17.1.0/24"), "{p}");
    assert!(p.contains("10.1.0.0/16"), "host bits are dropped:\n{p}");
}

#[test]
fn named_ports() {
    // Port names are carried to the output unresolved (`:"http"`), so they need no workloads
    // and are exact on every cluster: every pod resolves them itself.
    let yaml = stream(&[
        policy(
            "named",
            "default",
            "podSelector: {matchLabels: {app: api}}\npolicyTypes: [Ingress, Egress]\ningress:\n- from: [{podSelector: {matchLabels: {app: web}}}]\n  ports: [{port: http}, {port: metrics, protocol: UDP}]\negress:\n- to: [{podSelector: {}}]\n  ports: [{port: http}]\n- to: [{ipBlock: {cidr: 10.0.0.0/8}}]\n  ports: [{port: http}, {port: 8080}]",
        ),
        policy(
            "web",
            "default",
            "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Egress]\negress:\n- to: [{podSelector: {matchLabels: {app: api}}}]\n  ports: [{port: http}, {port: metrics, protocol: UDP}]",
        ),
    ]);
    for workloads in [false, true] {
        let c = check("named-ports.yaml", &yaml, workloads);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert!(
            c.programs
                .iter()
                .all(|p| p.contains("\"http\"") && p.contains("\"metrics\"/udp")),
            "{:?}",
            c.programs
        );
    }
}

#[test]
fn a_port_name_meeting_a_number_is_left_out_with_an_error() {
    // An egress rule on 8080 meets an ingress rule on `http` between two isolated pods: they
    // admit the pods that name 8080 `http`, which no netpol port list can say. One policy is
    // left out with an error at its line; the program means exactly the others.
    let yaml = stream(&[
        policy(
            "api",
            "default",
            "podSelector: {matchLabels: {app: api}}\ningress:\n- from: [{podSelector: {matchLabels: {app: web}}}]\n  ports: [{port: http}]",
        ),
        policy(
            "web",
            "default",
            "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Egress]\negress:\n- to: [{podSelector: {matchLabels: {app: api}}}]\n  ports: [{port: 8080}]",
        ),
    ]);
    for workloads in [false, true] {
        let c = check("meet.yaml", &yaml, workloads);
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        assert!(
            c.errors[0].starts_with("meet.yaml:1: NetworkPolicy `default/api` is not imported:")
                && c.errors[0].contains("one rule allows port `http`, the other 8080"),
            "{:?}",
            c.errors
        );
    }
    let out = netpol_in(&["import", "meet.yaml"], &yaml);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: meet.yaml:1: NetworkPolicy `default/api` is not imported"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("service web in default"));
}

#[test]
fn named_ports_without_workloads_are_carried_unresolved() {
    let yaml = policy(
        "named",
        "default",
        "podSelector: {matchLabels: {app: api}}\ningress:\n- ports: [{port: http}, {port: dns, protocol: UDP}]",
    );
    let out = import::import(
        &[("n.yaml".into(), yaml.clone())],
        &Manifests::default(),
        &[],
    )
    .unwrap();
    assert!(
        out.notes.is_empty() && out.errors.is_empty(),
        "{:?} {:?}",
        out.notes,
        out.errors
    );
    assert!(
        out.program.contains(":(\"dns\"/udp, \"http\")"),
        "{}",
        out.program
    );
    let c = check("n.yaml", &yaml, false);
    assert!(c.errors.is_empty());
}

#[test]
fn port_ranges() {
    let yaml = stream(&[policy(
        "ranges",
        "default",
        "podSelector: {matchLabels: {role: db}}\npolicyTypes: [Ingress, Egress]\ningress:\n- from: [{podSelector: {}}]\n  ports: [{port: 32000, endPort: 32768}, {port: 32769, endPort: 32800, protocol: UDP}, {port: 5000, endPort: 5000}]\negress:\n- to: [{podSelector: {}}]\n  ports: [{port: 32700, endPort: 33000}]",
    )]);
    let c = check("ranges.yaml", &yaml, false);
    assert!(c.programs[0].contains("32000..32768"), "{}", c.programs[0]);
}

#[test]
fn egress_only_policy_types_ignore_ingress_rules() {
    let yaml = stream(&[policy(
        "egress-only",
        "default",
        "podSelector: {matchLabels: {app: foo}}\npolicyTypes: [Egress]\ningress:\n- from: [{podSelector: {matchLabels: {app: bar}}}]\negress:\n- to: [{podSelector: {matchLabels: {app: bar}}}]\n  ports: [{port: 80}]",
    )]);
    let c = check("egress-only.yaml", &yaml, false);
    assert!(
        c.programs[0].contains("ingress rules are ignored"),
        "{}",
        c.programs[0]
    );
}

#[test]
fn ingress_every_source_and_ingress_none() {
    let yaml = stream(&[
        policy(
            "allow-all",
            "default",
            "podSelector: {matchLabels: {app: web}}\ningress:\n- {}",
        ),
        policy(
            "deny-all",
            "default",
            "podSelector: {matchLabels: {app: db}}\ningress: []",
        ),
        policy(
            "egress-empty-list",
            "default",
            "podSelector: {matchLabels: {app: job}}\negress: []",
        ),
    ]);
    let c = check("every-or-none.yaml", &yaml, false);
    let p = &c.programs[0];
    assert!(p.contains("cluster, anywhere -> allow-all:*"), "{p}");
}

#[test]
fn both_ends_isolated_in_one_namespace() {
    // The usual GitOps layout: deny everything, then open what each app needs.
    let yaml = stream(&[
        policy(
            "default-deny",
            "shop",
            "podSelector: {}\npolicyTypes: [Ingress, Egress]",
        ),
        policy(
            "dns",
            "shop",
            "podSelector: {}\npolicyTypes: [Egress]\negress:\n- to:\n  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}\n    podSelector: {matchLabels: {k8s-app: kube-dns}}\n  ports: [{port: 53, protocol: UDP}, {port: 53}]",
        ),
        policy(
            "web",
            "shop",
            "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress, Egress]\ningress:\n- {}\negress:\n- to: [{podSelector: {matchLabels: {app: api}}}]\n  ports: [{port: 8080}, {port: 9090}]",
        ),
        policy(
            "api",
            "shop",
            "podSelector: {matchLabels: {app: api}}\ningress:\n- from: [{podSelector: {matchLabels: {app: web}}}]\n  ports: [{port: 8080}]\n- from: [{namespaceSelector: {matchLabels: {team: ops}}}]\n  ports: [{port: 9090}]\negress:\n- to: [{namespaceSelector: {matchLabels: {team: ops}}}]",
        ),
    ]);
    let c = check("shop.yaml", &yaml, false);
    let p = &c.programs[0];
    assert!(p.contains("web -> api:8080"), "{p}");
    assert!(p.contains("Both ends isolated"), "{p}");
}

#[test]
fn both_ends_isolated_across_namespaces() {
    let yaml = stream(&[
        policy(
            "deny",
            "a",
            "podSelector: {}\npolicyTypes: [Ingress, Egress]",
        ),
        policy(
            "deny",
            "b",
            "podSelector: {}\npolicyTypes: [Ingress, Egress]",
        ),
        policy(
            "out",
            "a",
            "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Egress]\negress:\n- to: [{namespaceSelector: {}}]\n  ports: [{port: 80}]\n- to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}, podSelector: {matchLabels: {app: db}}}]",
        ),
        policy(
            "in",
            "b",
            "podSelector: {matchLabels: {app: db}}\ningress:\n- from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: a}}}]\n  ports: [{port: 80}, {port: 5432}]\n- from: [{namespaceSelector: {matchLabels: {team: ops}}}]",
        ),
    ]);
    // Without workloads, the rule from `team: ops` namespaces into `b` meets `a/out`'s rules
    // between isolated pods, and whether it admits `a`'s pods depends on `a`'s labels, which
    // netpol decides from the workloads: one policy is left out with an error, and the program
    // is exact for the others on every cluster.
    let c = check("across.yaml", &yaml, false);
    assert!(
        c.errors
            .iter()
            .any(|e| e.contains("depends on whether namespace `a` has labels")),
        "{:?}",
        c.errors
    );
    check("across.yaml", &yaml, true);
}

#[test]
fn namespace_labels_on_the_isolated_side() {
    // Same namespace: a condition on the namespace's labels is tested on the cluster.
    let yaml = stream(&[
        policy(
            "web",
            "shop",
            "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Egress]\negress:\n- to: [{namespaceSelector: {matchLabels: {team: ops}}, podSelector: {matchLabels: {app: api}}}]\n  ports: [{port: 8080}]",
        ),
        policy(
            "api",
            "shop",
            "podSelector: {matchLabels: {app: api}}\ningress:\n- from: [{namespaceSelector: {matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}}]\n  ports: [{port: 8080}, {port: 9090}]",
        ),
    ]);
    check("labels.yaml", &yaml, false);
    check("labels.yaml", &yaml, true);
}

#[test]
fn what_the_api_server_rejects_is_an_error_at_its_line() {
    // Each of these is rejected by the API server (or by `kubectl apply --validate=strict`):
    // the policy is not imported, an error gives its file, line and column and why, the
    // others are imported, and the command exits 1.
    let cases: &[(&str, &str)] = &[
        (
            "ingress:\n- froms: [{podSelector: {}}]",
            "unknown field `spec.ingress[0].froms`",
        ),
        (
            "ingress:\n- from: [{podSelector: {matchLabel: {app: x}}}]",
            "unknown field `spec.ingress[0].from[0].podSelector.matchLabel`",
        ),
        (
            "ingress:\n- ports: [{prot: UDP}]",
            "unknown field `spec.ingress[0].ports[0].prot`",
        ),
        (
            "egress:\n- to: [{ipBlock: {cidr: 999.1.2.0/24}}]",
            "is not a valid CIDR",
        ),
        (
            "egress:\n- to: [{ipBlock: {cidr: 10.0.0.0/33}}]",
            "is not a valid CIDR",
        ),
        (
            "egress:\n- to: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}}]",
            "must be a strict subset",
        ),
        (
            "egress:\n- ports: [{port: 70000}]",
            "must be between 1 and 65535",
        ),
        (
            "egress:\n- ports: [{port: 0}]",
            "must be between 1 and 65535",
        ),
        (
            "egress:\n- ports: [{port: 90, endPort: 80}]",
            "must be greater than or equal",
        ),
        ("egress:\n- ports: [{endPort: 80}]", "without `port`"),
        (
            "egress:\n- ports: [{port: http, endPort: 80}]",
            "with a named port",
        ),
        (
            "egress:\n- ports: [{port: 80, protocol: tcp}]",
            "unsupported value `tcp`",
        ),
        (
            "egress:\n- ports: [{port: Not_A_Name}]",
            "not a valid port name",
        ),
        (
            "ingress:\n- from: [{podSelector: {matchExpressions: [{key: a, operator: Foo, values: [x]}]}}]",
            "`Foo` is not a valid selector operator",
        ),
        (
            "ingress:\n- from: [{podSelector: {matchExpressions: [{key: a, operator: In, values: []}]}}]",
            "must be specified when `operator` is `In`",
        ),
        (
            "ingress:\n- from: [{podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}}]",
            "may not be specified",
        ),
        ("ingress:\n- from: [{}]", "must specify a peer"),
        (
            "ingress:\n- from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]",
            "may not specify both",
        ),
        ("policyTypes: [Bogus]", "unsupported value `Bogus`"),
        (
            "ingress:\n- from: [{podSelector: {matchLabels: {app: 'a b'}}}]",
            "value `a b`",
        ),
    ];
    let good = policy(
        "good",
        "default",
        "podSelector: {matchLabels: {app: ok}}\ningress: []",
    );
    for (spec, why) in cases {
        let bad = policy("bad", "default", &format!("podSelector: {{}}\n{spec}"));
        let yaml = stream(&[good.clone(), bad]);
        let out = import::import(
            &[("r.yaml".into(), yaml.clone())],
            &Manifests::default(),
            &[],
        )
        .unwrap();
        assert_eq!(out.errors.len(), 1, "{spec}: {:?}", out.errors);
        let e = &out.errors[0];
        // The bad policy starts on line 10 of the stream; its spec's rules on line 17.
        let line: u64 = e.split(':').nth(1).unwrap().parse().unwrap();
        assert!(
            e.starts_with("r.yaml:") && (17..=19).contains(&line),
            "{spec}: {e}"
        );
        assert!(
            e.contains("NetworkPolicy `bad` is not imported") && e.contains(why),
            "{spec}: {e}"
        );
        assert!(
            out.program.contains("service good in default"),
            "{}",
            out.program
        );
        assert!(!out.program.contains("bad"), "{}", out.program);
    }
    let yaml = stream(&[
        good,
        policy("bad", "default", "podSelector: {}\ningress:\n- froms: []"),
    ]);
    let out = netpol_in(&["import", "r.yaml"], &yaml);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: r.yaml:18:5: NetworkPolicy `bad` is not imported: unknown field `spec.ingress[0].froms`"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn several_files_and_overlapping_policies() {
    let yaml = stream(&[
        policy(
            "web-a",
            "default",
            "podSelector: {matchLabels: {app: web}}\ningress:\n- from: [{podSelector: {matchLabels: {role: a}}}]",
        ),
        policy(
            "web-b",
            "default",
            "podSelector: {matchExpressions: [{key: app, operator: In, values: [web, api]}]}\npolicyTypes: [Ingress, Egress]\ningress:\n- from: [{podSelector: {matchLabels: {role: b}}}]\n  ports: [{port: 80}]\negress:\n- to: [{podSelector: {matchLabels: {app: web}}}]",
        ),
        policy(
            "web-a",
            "other",
            "podSelector: {matchLabels: {app: web}}\ningress:\n- from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}]",
        ),
    ]);
    let c = check("overlap.yaml", &yaml, false);
    let p = &c.programs[0];
    assert!(p.contains("service web-a-default in default"), "{p}");
    assert!(p.contains("service web-a-other in other"), "{p}");
}

// ------------------------------------------------------------------ the command line

/// Runs netpol in a scratch folder holding `yaml` as the file named by `args[1]`.
fn netpol_in(args: &[&str], yaml: &str) -> std::process::Output {
    let dir = temp_dir(&format!("cli-{}", args[1].replace('.', "-")));
    std::fs::write(dir.join(args[1]), yaml).unwrap();
    netpol(args, &dir)
}

fn netpol(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netpol"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_cli_prints_a_program_that_compiles() {
    let dir = temp_dir("cli");
    std::fs::write(
        dir.join("np.yaml"),
        policy(
            "api-allow",
            "shop",
            "podSelector: {matchLabels: {app: api}}\ningress:\n- from: [{podSelector: {matchLabels: {app: web}}}]\n  ports: [{port: 8080}]",
        ),
    )
    .unwrap();
    let out = netpol(&["import", "np.yaml"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let program = String::from_utf8(out.stdout).unwrap();
    assert!(program.contains("service api-allow in shop"), "{program}");
    std::fs::write(dir.join("imported.netpol"), &program).unwrap();
    let out = netpol(&["compile", "imported.netpol"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("name: api-allow"), "{yaml}");
}

#[test]
fn the_cli_reads_workloads_for_port_names() {
    let dir = temp_dir("cli-workloads");
    std::fs::create_dir_all(dir.join("k8s")).unwrap();
    std::fs::write(
        dir.join("np.yaml"),
        policy(
            "api",
            "default",
            "podSelector: {matchLabels: {app: api}}\ningress:\n- ports: [{port: http}]",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("k8s/api.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: api, labels: {app: api}}\nspec:\n  containers:\n  - name: api\n    image: x\n    ports: [{name: http, containerPort: 8080}]\n",
    )
    .unwrap();
    let out = netpol(&["import", "np.yaml", "--workloads", "k8s/*.yaml"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let program = String::from_utf8(out.stdout).unwrap();
    assert!(program.contains("workloads \"k8s/*.yaml\""), "{program}");
    assert!(program.contains(":\"http\""), "{program}");
    std::fs::write(dir.join("imported.netpol"), &program).unwrap();
    let out = netpol(&["compile", "imported.netpol"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("port: http"));
}

#[test]
fn the_cli_rejects_what_is_not_a_networkpolicy() {
    let dir = temp_dir("cli-bad");
    std::fs::write(dir.join("broken.yaml"), "kind: [NetworkPolicy\n").unwrap();
    std::fs::write(
        dir.join("deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
    )
    .unwrap();
    let out = netpol(&["import", "broken.yaml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: `broken.yaml` is not YAML"), "{err}");
    assert!(out.stdout.is_empty());
    let out = netpol(&["import", "deploy.yaml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no NetworkPolicy in `deploy.yaml`"), "{err}");
    let out = netpol(&["import", "missing.yaml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read `missing.yaml`"));
}

// ------------------------------------------------------------------ the checks themselves

#[test]
fn the_comparisons_catch_a_difference() {
    let yaml = policy(
        "api-allow",
        "default",
        "podSelector: {matchLabels: {app: api}}\ningress:\n- from: [{podSelector: {matchLabels: {app: web}}}]\n  ports: [{port: 8080}]",
    );
    let theirs = read("np.yaml", &yaml);
    let m = mentioned(&theirs);
    let cluster = clusters(&m).remove(0);
    assert_eq!(
        cluster.pods.len(),
        8,
        "default and unrelated, each with pods {{}}, app=api, app=web, app=zz"
    );
    let program = import::import(
        &[("np.yaml".into(), yaml.clone())],
        &Manifests::default(),
        &[],
    )
    .unwrap()
    .program;
    let wrong = program.replace(":8080", ":8081");
    assert_ne!(wrong, program);
    let (wrong_yaml, ours) = compile(&wrong, None);
    let (_, diffs) = differences(&theirs, &ours, &cluster, &externals(&m), &probed_ports(&m));
    assert!(
        !diffs.is_empty(),
        "the evaluator comparison missed a changed port"
    );
    let Some(nca) = common::venv_tool("nca") else {
        return;
    };
    let tmp = temp_dir("nca-sanity");
    let resources = manifests_yaml(&cluster);
    assert!(
        common::nca_equivalent(&nca, &tmp, &yaml, &wrong_yaml, &resources).is_err(),
        "nca missed a changed port"
    );
}

/// The seeded round trip: 500 random valid policy sets (every field and operator, see
/// `testkit::policies`), each imported without workloads, compiled, and compared by the
/// evaluator with the policies that were imported, over three random clusters per set (pods,
/// labels and namespaces the policies never mention, port names on several protocols), on
/// every ordered pair of pods and addresses and every probed port and protocol. A policy the
/// importer leaves out must come with an error; the program must mean exactly the others.
#[test]
fn random_policy_sets_import_exactly_on_random_clusters() {
    use common::policies::{
        addresses, differences, probed_ports, random_k8s_cluster, random_policy_set,
    };
    const SETS: u64 = 500;
    let addresses = addresses();
    let ports = probed_ports();
    let (mut compared, mut policies, mut left_out) = (0usize, 0usize, 0usize);
    for case in 0..SETS {
        let yaml = random_policy_set(case);
        let imported = import::import(
            &[("random.yaml".to_string(), yaml.clone())],
            &Manifests::default(),
            &[],
        )
        .unwrap();
        let all = read("random.yaml", &yaml);
        policies += all.len();
        left_out += imported.left_out.len();
        assert_eq!(
            imported.errors.len(),
            imported.left_out.len(),
            "case {case}: every policy left out has an error and nothing else is one: {:?}",
            imported.errors
        );
        let theirs: Vec<NetworkPolicy> = all
            .into_iter()
            .filter(|p| !imported.left_out.contains(&eval::policy_id(p)))
            .collect();
        let (out, ours) = compile(&imported.program, None);
        for c in 0..3 {
            let cluster = random_k8s_cluster(case * 3 + c);
            let (checked, diffs) = differences(&theirs, &ours, &cluster, &addresses, &ports);
            assert!(
                diffs.is_empty(),
                "case {case}, cluster {c} ({}): {} of {checked} differ, e.g.:\n{}\n\npolicies:\n{yaml}\nimported:\n{}\nerrors: {:?}\ncompiled:\n{out}",
                labels_of(&cluster),
                diffs.len(),
                diffs.iter().take(8).cloned().collect::<Vec<_>>().join("\n"),
                imported.program,
                imported.errors,
            );
            compared += checked;
        }
    }
    println!(
        "random round trip: {SETS} sets, {policies} policies, {left_out} left out with an error, \
         {compared} connections compared, 0 differ"
    );
    // The generator must mostly produce what netpol can say, or the test proves little.
    assert!(
        left_out * 4 < policies,
        "{left_out} of {policies} policies left out"
    );
}

#[test]
fn namespaces_netpol_cannot_name() {
    let yaml = stream(&[
        policy(
            "from-digits",
            "default",
            "podSelector: {matchLabels: {app: web}}\ningress:\n- from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 1team}}}, {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: cluster}}}]",
        ),
        policy("inside", "2fast", "podSelector: {}\ningress: []"),
    ]);
    let out = import::import(
        &[("n.yaml".into(), yaml.clone())],
        &Manifests::default(),
        &[],
    )
    .unwrap();
    assert!(
        out.errors
            .iter()
            .any(|n| n.starts_with("n.yaml:") && n.contains("cannot name its namespace `2fast`")),
        "{:?}",
        out.errors
    );
    assert_eq!(out.left_out, ["2fast/inside"]);
    assert!(
        out.program
            .contains("namespaces { kubernetes.io/metadata.name = \"1team\" }"),
        "{}",
        out.program
    );
    // Exact apart from the policy that is not imported.
    let theirs: Vec<NetworkPolicy> = read("n.yaml", &yaml)
        .into_iter()
        .filter(|p| eval::policy_namespace(p) != "2fast")
        .collect();
    let m = mentioned(&theirs);
    let (_, ours) = compile(&out.program, None);
    for cluster in clusters(&m) {
        let (_, diffs) = differences(&theirs, &ours, &cluster, &externals(&m), &probed_ports(&m));
        assert!(diffs.is_empty(), "{diffs:?}\n{}", out.program);
    }
}

/// Online Boutique's 13 upstream policies (a namespace denied both ways, then one policy per
/// app): many pairs of rules meet between isolated pods.
#[test]
fn online_boutique_upstream_policies_import_exactly() {
    let Some(files) = common::boutique_policy_files() else {
        return;
    };
    let inputs: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    let imported = import::import(&inputs, &Manifests::default(), &[]).unwrap();
    assert!(imported.notes.is_empty(), "{:?}", imported.notes);
    assert_eq!(imported.policies, 13);
    let theirs: Vec<NetworkPolicy> = inputs.iter().flat_map(|(n, t)| read(n, t)).collect();
    let (_, ours) = compile(&imported.program, None);
    let manifests = parse_manifests(
        FileId(0),
        &std::fs::read_to_string(
            common::root().join("../shared/reference/online-boutique/kubernetes-manifests.yaml"),
        )
        .unwrap(),
        "default",
    );
    let mut cluster = netpol_compiler::explain::cluster(&manifests, &["default".to_string()]);
    for (ns, name) in [("default", "stranger"), ("other", "client")] {
        cluster.pods.push(Pod {
            namespace: ns.into(),
            name: name.into(),
            labels: BTreeMap::from([("app".to_string(), name.to_string())]),
            ip: None,
            ports: Vec::new(),
        });
    }
    let mut ports: Vec<(Protocol, u16)> = cluster
        .pods
        .iter()
        .flat_map(|p| p.ports.iter().map(|c| (c.protocol, c.port)))
        .chain([
            (Protocol::Tcp, 1),
            (Protocol::Udp, 53),
            (Protocol::Sctp, 7070),
        ])
        .collect();
    ports.sort();
    ports.dedup();
    let addresses: Vec<IpAddr> = ["8.8.8.8", "2001:db8::1"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let (checked, diffs) = differences(&theirs, &ours, &cluster, &addresses, &ports);
    assert!(
        diffs.is_empty(),
        "{} of {checked} differ:\n{}\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        imported.program
    );
    println!("online boutique: {checked} connections identical");
}

/// docs/import.md shows what the importer really prints for the Kubernetes docs' example.
#[test]
fn the_docs_example_is_real_output() {
    let Some(dir) = recipes_dir() else { return };
    let name = "kubernetes-website/networkpolicy.yaml";
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    let program = import::import(&[(name.to_string(), text)], &Manifests::default(), &[])
        .unwrap()
        .program;
    let docs = std::fs::read_to_string(common::root().join("docs/import.md")).unwrap();
    let block = docs
        .split("imports as:\n\n```netpol\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the example block in docs/import.md");
    assert_eq!(
        block, program,
        "docs/import.md's example differs from the importer's output"
    );
}
