//! Helpers shared by the integration tests (each test file uses some of them).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers: a failure should stop the test"
)]

use k8s_openapi::api::networking::v1::NetworkPolicy;
use netpol_compiler::db::{self, Database, Workspace};
use netpol_compiler::diagnostic::Diagnostic;
use std::path::{Path, PathBuf};

/// What a run of a command gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `bin` (pass `env!("CARGO_BIN_EXE_netpol")`) in `dir` with `args`.
pub fn run(bin: &str, dir: &Path, args: &[&str]) -> Run {
    let out = std::process::Command::new(bin)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cmd` and returns its output; fails the test, showing the command, its stdout and its
/// stderr, unless it exits 0.
pub fn output_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} exited with {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn root() -> PathBuf {
    // The workspace root: this crate lives in `testkit/`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ has a parent folder")
        .to_path_buf()
}

/// A Python tool from `.venv` (tests/requirements.txt, installed by .ci/run). In CI a missing
/// tool fails the test; elsewhere the caller skips after a notice.
pub fn venv_tool(name: &str) -> Option<PathBuf> {
    let tool = root().join(".venv/bin").join(name);
    if tool.exists() {
        return Some(tool);
    }
    assert!(
        std::env::var("CI").is_err(),
        "`.venv/bin/{name}` is missing: run .ci/run, which installs tests/requirements.txt"
    );
    eprintln!("skipping: `.venv/bin/{name}` is missing (run .ci/run to install it)");
    None
}

/// Asks network-config-analyzer (`nca --equiv`) whether the NetworkPolicy YAML `second`
/// allows exactly the connections `first` allows on the cluster `resources` (pod and
/// namespace manifests). Writes `first.yaml`, `second.yaml` and `resources.yaml` into `dir`.
/// `Err` holds what nca said (its warnings left out) when it does not report them equivalent.
pub fn nca_equivalent(
    nca: &Path,
    dir: &Path,
    first: &str,
    second: &str,
    resources: &str,
) -> Result<(), String> {
    std::fs::write(dir.join("first.yaml"), first).unwrap();
    std::fs::write(dir.join("second.yaml"), second).unwrap();
    std::fs::write(dir.join("resources.yaml"), resources).unwrap();
    let out = std::process::Command::new(nca)
        .current_dir(dir)
        .args([
            "--equiv",
            "second.yaml",
            "--base_np_list",
            "first.yaml",
            "--resource_list",
            "resources.yaml",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // nca reports identical inputs as having "the same set of policies".
    if stdout.contains("are semantically equivalent")
        || stdout.contains("have the same network topology and the same set of policies")
    {
        return Ok(());
    }
    let said = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    Err(said
        .lines()
        .filter(|l| !l.contains("Warning"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// A folder of `../shared` (beside the workspace root), `rel` below it. In CI a missing folder
/// fails the test; elsewhere the caller skips after a notice.
pub fn shared_folder(rel: &str) -> Option<PathBuf> {
    let dir = root().join("../shared").join(rel);
    if dir.exists() {
        return Some(dir);
    }
    assert!(std::env::var("CI").is_err(), "../shared/{rel} is missing");
    eprintln!("skipping: ../shared/{rel} is missing");
    None
}

/// Every peer of a policy's rules: the `from` of its ingress rules, then the `to` of its
/// egress rules.
pub fn spec_peers(
    spec: &k8s_openapi::api::networking::v1::NetworkPolicySpec,
) -> impl Iterator<Item = &k8s_openapi::api::networking::v1::NetworkPolicyPeer> {
    spec.ingress
        .iter()
        .flatten()
        .flat_map(|r| r.from.iter().flatten())
        .chain(
            spec.egress
                .iter()
                .flatten()
                .flat_map(|r| r.to.iter().flatten()),
        )
}

/// Upstream's Online Boutique NetworkPolicy files (`../shared/reference`), sorted; `None`
/// (a failure in CI) when the reference folder is missing.
pub fn boutique_policy_files() -> Option<Vec<PathBuf>> {
    let dir = shared_folder("reference/online-boutique/network-policies")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("network-policy-")
        })
        .collect();
    files.sort();
    Some(files)
}

/// Compares two policy sets with the evaluator: every ordered pair of the cluster's pods and
/// the addresses `ips` (pod to address and back), on every container port plus `extra_ports`.
/// Returns the number of connections compared and the ones that differ.
pub fn compare_policies(
    a: &[NetworkPolicy],
    b: &[NetworkPolicy],
    cluster: &netpol_compiler::k8s::eval::Cluster,
    ips: &[&str],
    extra_ports: &[(netpol_compiler::k8s::eval::Protocol, u16)],
) -> (usize, Vec<String>) {
    let ips: Vec<std::net::IpAddr> = ips.iter().map(|ip| ip.parse().unwrap()).collect();
    let mut ports: Vec<_> = cluster
        .pods
        .iter()
        .flat_map(|p| p.ports.iter().map(|c| (c.protocol, c.port)))
        .collect();
    ports.extend_from_slice(extra_ports);
    ports.sort();
    ports.dedup();
    policies::differences(a, b, cluster, &ips, &ports)
}

/// Every example program: folders under examples/ that directly hold `.netpol` files.
pub fn example_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join("examples")];
    while let Some(dir) = stack.pop() {
        let mut has = false;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && p.file_name().unwrap() != "k8s" {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "netpol") {
                has = true;
            }
        }
        if has {
            out.push(dir);
        }
    }
    out.sort();
    out
}

/// A compiled program with everything the tests look at.
pub struct Compiled {
    pub db: Database,
    pub ws: Workspace,
    pub diagnostics: Vec<Diagnostic>,
    pub yaml: Option<String>,
}

impl Compiled {
    pub fn policies(&self) -> Vec<NetworkPolicy> {
        parse_policies(self.yaml.as_deref().unwrap_or(""))
    }
    pub fn rendered(&self) -> String {
        self.db.render(self.ws, &self.diagnostics)
    }
    pub fn codes(&self) -> Vec<&'static str> {
        let mut c: Vec<_> = self.diagnostics.iter().map(|d| d.code.as_str()).collect();
        c.sort();
        c
    }
}

pub fn parse_policies(yaml: &str) -> Vec<NetworkPolicy> {
    if yaml.trim().is_empty() {
        return Vec::new();
    }
    serde_saphyr::from_multiple::<NetworkPolicy>(yaml)
        .expect("emitted YAML reads back as NetworkPolicies")
}

/// Compiles in-memory files, loading manifests named by `workloads` relative to `dir`.
pub fn compile_files(files: Vec<(String, String)>, dir: Option<&Path>) -> Compiled {
    let mut db = Database::default();
    let ws = db.workspace(files);
    let mut manifests = Vec::new();
    if let Some(dir) = dir {
        for req in db::workload_requests(&db, ws) {
            let pattern = dir.join(&req.pattern);
            let mut paths: Vec<PathBuf> = glob::glob(pattern.to_str().unwrap())
                .unwrap()
                .flatten()
                .collect();
            paths.sort();
            for p in paths {
                let rel = p.strip_prefix(root()).unwrap_or(&p).display().to_string();
                manifests.push((
                    rel,
                    std::fs::read_to_string(&p).unwrap(),
                    req.default_namespace.clone(),
                ));
            }
        }
    }
    db.set_manifests(ws, manifests, Vec::new());
    let diagnostics = db::diagnostics(&db, ws).clone();
    let yaml = db::emitted(&db, ws).as_ref().map(|docs| {
        docs.iter()
            .map(|d| d.yaml.as_str())
            .collect::<Vec<_>>()
            .join("---\n")
    });
    Compiled {
        db,
        ws,
        diagnostics,
        yaml,
    }
}

/// Compiles the program in a folder (its `.netpol` files, sorted).
pub fn compile_dir(dir: &Path) -> Compiled {
    let mut files = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "netpol"))
        .collect();
    paths.sort();
    for p in paths {
        files.push((
            p.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read_to_string(&p).unwrap(),
        ));
    }
    compile_files(files, Some(dir))
}

/// Seeded random programs over a fixed label vocabulary, and a cluster with every combination
/// of those labels (shared by the semantic and round-trip tests).
pub mod scale;

#[allow(
    clippy::panic,
    reason = "fuzz targets report a failed property by panicking"
)]
pub mod fuzz;
pub mod policies;

pub mod random {
    use netpol_compiler::k8s::eval::{Cluster, ContainerPort, Namespace, Pod, Protocol};
    use std::collections::BTreeMap;

    /// A small deterministic PRNG (xorshift64*), so failures reproduce from the seed.
    pub struct Rng(pub u64);
    impl Rng {
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
        pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[self.below(xs.len())]
        }
        pub fn chance(&mut self, percent: u64) -> bool {
            self.next_u64() % 100 < percent
        }
    }

    pub const NAMESPACES: [&str; 3] = ["n1", "n2", "n3"];

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

    fn program_has_group(src: &str) -> bool {
        src.lines().any(|l| l.starts_with("group g0 "))
    }

    /// A random program over a fixed label vocabulary, and its text.
    pub fn random_program(seed: u64) -> String {
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
        // Narrowed groups: to one namespace, and to a set of namespaces.
        if program_has_group(&src) {
            peers.push(format!("g0 in namespace {}", r.pick(&NAMESPACES)));
            peers.push(format!(
                "g0 in namespaces {{ kubernetes.io/metadata.name in (\"{}\", \"{}\") }}",
                r.pick(&NAMESPACES),
                r.pick(&NAMESPACES)
            ));
        }
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

    /// Random `test` assertions over the peers a program from [`random_program`] declares
    /// (services `sN`, groups `gN`, externals `eN`) and some written in place, as one `test`
    /// block to append to it.
    pub fn random_assertions(program: &str, seed: u64) -> String {
        let mut r = Rng(seed.wrapping_mul(0xA24B_AED4_963E_E407) | 1);
        let mut peers: Vec<String> = program
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                match (words.next(), words.next()) {
                    (Some("service" | "group" | "external"), Some(name)) => Some(name.to_string()),
                    _ => None,
                }
            })
            .collect();
        peers.push(format!("namespace {}", r.pick(&NAMESPACES)));
        peers.push("cluster".to_string());
        peers.push(format!("pods {{ {} }} in cluster", random_selector(&mut r)));
        let ports = [
            "80",
            "81",
            "80..81",
            "1..100",
            "8080/udp",
            "*",
            "*/udp",
            "(80, 8080/udp)",
            "\"http\"",
            "\"http\"/udp",
            "web",
        ];
        let mut out = String::from("test \"random\" {\n");
        for _ in 0..1 + r.below(5) {
            let from = r.pick(&peers).clone();
            let to = r.pick(&peers).clone();
            if from.starts_with('e') && to.starts_with('e') {
                continue; // between two addresses netpol has nothing to say
            }
            let port = *r.pick(&ports);
            // `web` is a port of some services only; a port name never names an address.
            let port = if to.starts_with('e') && (port.contains('"') || port == "web") {
                "443"
            } else if port == "web" && !program.contains(&format!("service {to} ")) {
                "80"
            } else {
                port
            };
            let verdict = if r.chance(50) { "allowed" } else { "denied" };
            out.push_str(&format!("  {verdict} {from} -> {to}:{port}\n"));
        }
        out.push_str("}\n");
        out
    }

    /// Pods with every combination of the vocabulary's labels, in each namespace.
    pub fn random_cluster() -> (Cluster, String) {
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
                labels: BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_string(),
                    n.to_string(),
                )]),
            })
            .collect();
        (Cluster { namespaces, pods }, manifests)
    }
}

/// A tool the tests run that .ci/run installs outside `.venv` (npm packages under
/// `tests/tools/node_modules`, links under `tests/tools/bin`), by its path relative to
/// `tests/tools`. In CI a missing tool fails the test; elsewhere the caller skips.
pub fn installed_tool(rel: &str) -> Option<PathBuf> {
    let tool = root().join("tests/tools").join(rel);
    if tool.exists() {
        return Some(tool);
    }
    assert!(
        std::env::var("CI").is_err(),
        "`tests/tools/{rel}` is missing: run .ci/run, which installs it"
    );
    eprintln!("skipping: `tests/tools/{rel}` is missing (run .ci/run to install it)");
    None
}

/// `kubectl`: the one on PATH, else the one .ci/run put in `tests/tools/bin`. In CI a missing
/// kubectl fails the test; elsewhere the caller skips.
pub fn kubectl() -> Option<PathBuf> {
    let local = root().join("tests/tools/bin/kubectl");
    if local.exists() {
        return Some(local);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    assert!(
        std::env::var("CI").is_err(),
        "kubectl is missing: run .ci/run, which installs it"
    );
    eprintln!("skipping: kubectl is missing (run .ci/run to install it)");
    None
}

/// Makes `dir/bin` with links to `netpol` under each of `names`; returns a PATH that has it
/// first, for running real tools that call netpol.
pub fn netpol_bin(dir: &Path, netpol: &Path, names: &[&str]) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for n in names {
        std::os::unix::fs::symlink(netpol, bin.join(n)).unwrap();
    }
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `git ARGS` in `dir` with a fixed identity and no signing; fails the test on error.
pub fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=netpol",
            "-c",
            "user.email=netpol@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
