//! Per-item resolution and the policy-names pass against from-scratch results, over
//! testkit's seeded random programs and every example program:
//! - the diagnostics' name-clash pass (`policy_names`, which builds no rules) reports
//!   exactly the diagnostics lowering reports, and names exactly the policies lowering makes;
//! - the lints over the program's outline (no ports) find exactly what they find over the
//!   whole resolved program;
//! - a database that reached a program by edits (another program first, then the text of
//!   this one, split across files or in one) gives the same diagnostics, rendered text and
//!   YAML as a new database given the program at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use common::random::{random_cluster, random_program};
use netpol_compiler::backend::lower;
use netpol_compiler::check::{self, ConnFacts, Outline};
use netpol_compiler::db::{self, Database, Workspace};
use netpol_compiler::k8s::workloads::WorkloadIndex;
use netpol_compiler::resolve::hir::Def;

const SEEDS: u64 = 150;
/// Fewer for the edits: each builds three databases.
const EDIT_SEEDS: u64 = 60;

type Files = Vec<(String, String)>;

fn manifests(db: &mut Database, ws: Workspace, yaml: &str) {
    db.set_manifests(
        ws,
        vec![("pods.yaml".into(), yaml.to_string(), "default".into())],
        Vec::new(),
    );
}

/// What a client reads of a program: every diagnostic (every field, with its file named by
/// path, since ids follow the order files were added), their rendering, and the YAML.
fn outcome(db: &Database, ws: Workspace) -> (Vec<String>, String, Option<Vec<db::EmittedPolicy>>) {
    let paths: std::collections::BTreeMap<_, _> = db
        .all_files(ws)
        .into_iter()
        .map(|(id, path, _)| (id, path))
        .collect();
    let at = |span: netpol_compiler::span::Span| {
        let path = paths.get(&span.file).cloned().unwrap_or_default();
        format!("{path}:{}-{}", span.start, span.end)
    };
    let diags = db::diagnostics(db, ws).clone();
    let located = diags
        .iter()
        .map(|d| {
            let secondary: Vec<String> = d
                .secondary
                .iter()
                .map(|l| format!("{} {}", at(l.span), l.message))
                .collect();
            format!(
                "{} {:?} {} @{} {} | {secondary:?} | {:?}",
                d.code.as_str(),
                d.severity,
                d.message,
                at(d.primary.span),
                d.primary.message,
                d.help
            )
        })
        .collect();
    let rendered = db.render(ws, &diags);
    (located, rendered, db::emitted(db, ws).clone())
}

/// The program's items split over two files at a line where an item starts.
fn split(text: &str) -> Files {
    let lines: Vec<&str> = text.lines().collect();
    let mid = (lines.len() / 2..lines.len())
        .find(|i| {
            lines[*i]
                .chars()
                .next()
                .is_some_and(|c| !c.is_whitespace() && c != '}')
        })
        .unwrap_or(lines.len());
    vec![
        ("a.netpol".into(), lines[..mid].join("\n") + "\n"),
        ("b.netpol".into(), lines[mid..].join("\n") + "\n"),
    ]
}

fn fresh(files: &Files, yaml: &str) -> (Database, Workspace) {
    let mut db = Database::default();
    let ws = db.workspace(files.clone());
    manifests(&mut db, ws, yaml);
    (db, ws)
}

/// The names pass and lowering on one program: the same diagnostics, the same policies
/// (names, pods, directions, origins); the number of clashes.
fn names_agree(name: &str, db: &Database, ws: Workspace) -> usize {
    let program = &db::resolved(db, ws).program;
    let cluster = db::cluster(db, ws);
    let full = lower::lower(program, cluster);
    let names = lower::policy_names(program, cluster);
    assert_eq!(names.diagnostics, full.diagnostics, "{name}");
    // The database names each namespace's policies over that namespace's part alone: the
    // same clashes, in the order of the diagnostics.
    let mut ordered = full.diagnostics.clone();
    db::names_order(&mut ordered);
    assert_eq!(db::policy_names(db, ws), &ordered, "{name}");
    let shape = |policies: &lower::Targets| -> Vec<_> {
        policies
            .iter()
            .map(|(k, p)| (k.clone(), p.pods.clone(), p.types, p.origin.span))
            .collect()
    };
    assert_eq!(shape(&names.policies), shape(&full.policies), "{name}");
    // And every namespace's part names exactly the program's policies in that namespace.
    let declarations = db::declarations(db, ws).program();
    let mut by_part = lower::Targets::new();
    for part in check::parts::split(db::outline(db, ws), cluster) {
        let has_ports: Vec<bool> = part.facts.iter().map(|f| f.has_ports).collect();
        let sub = check::parts::part_program(&part, declarations);
        let named = lower::policy_names_of(&sub, &has_ports, cluster);
        for (ns, _) in named.policies.keys() {
            assert_eq!(*ns, part.namespace, "{name}: a policy outside its part");
        }
        by_part.extend(named.policies);
    }
    assert_eq!(shape(&by_part), shape(&full.policies), "{name}");
    full.diagnostics.len()
}

#[test]
fn the_names_pass_agrees_with_lowering() {
    let (_, yaml) = random_cluster();
    for seed in 0..SEEDS {
        let (db, ws) = fresh(&vec![("random.netpol".into(), random_program(seed))], &yaml);
        names_agree(&format!("seed {seed}"), &db, ws);
    }
    let examples = common::example_dirs();
    assert!(examples.len() >= 5, "{examples:?}");
    for dir in examples {
        let compiled = common::compile_dir(&dir);
        names_agree(&dir.display().to_string(), &compiled.db, compiled.ws);
    }
    // The fixture of E021: the pass is seen to find the clash.
    let fixture =
        std::fs::read_to_string(common::root().join("tests/diagnostics/isolation.netpol")).unwrap();
    let (db, ws) = fresh(&vec![("isolation.netpol".into(), fixture)], "");
    assert!(names_agree("isolation.netpol", &db, ws) > 0);
}

/// The lints over the outline (services and connections without their ports, references
/// reduced to what they refer to) against the lints over the whole resolved program: the
/// same findings, so leaving the ports out of the outline loses nothing the lints read.
fn lints_agree(name: &str, db: &Database, ws: Workspace) -> usize {
    let resolved = db::resolved(db, ws);
    let p = &resolved.program;
    let mut used: Vec<Def> = Vec::new();
    for r in &p.references {
        if !used.contains(&r.def) {
            used.push(r.def.clone());
        }
    }
    let whole = Outline {
        program: p.clone(),
        facts: p.connections.iter().map(ConnFacts::of).collect(),
        used,
        unused_imports: resolved.unused_imports.clone(),
    };
    // The index built here, from the cluster alone, not the database's; the lints in one pass
    // over the whole program, not split by namespace: what the database's lints of each
    // namespace, merged, must find, in the same order.
    let cluster = db::cluster(db, ws);
    let index = WorkloadIndex::new(cluster);
    let want = check::lints_unsplit(&whole, &index);
    assert_eq!(db::lints(db, ws), &want, "{name}");
    assert_eq!(check::lints(&whole, &index), want, "{name}");
    // And the outline is the program's, but for what it leaves out.
    let outline = db::outline(db, ws);
    assert_eq!(outline.program.services.len(), p.services.len(), "{name}");
    assert_eq!(
        outline.program.connections.len(),
        p.connections.len(),
        "{name}"
    );
    want.len()
}

#[test]
fn the_lints_of_the_outline_are_the_lints_of_the_program() {
    let (_, yaml) = random_cluster();
    let mut found = 0;
    for seed in 0..SEEDS {
        let (db, ws) = fresh(&vec![("random.netpol".into(), random_program(seed))], &yaml);
        found += lints_agree(&format!("seed {seed}"), &db, ws);
    }
    for dir in common::example_dirs() {
        let compiled = common::compile_dir(&dir);
        found += lints_agree(&dir.display().to_string(), &compiled.db, compiled.ws);
    }
    // Every diagnostics fixture, with the manifests its `workloads` names.
    let fixtures = common::root().join("tests/diagnostics");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "netpol") {
            let text = std::fs::read_to_string(&path).unwrap();
            let compiled =
                common::compile_files(vec![("fixture.netpol".into(), text)], Some(&fixtures));
            found += lints_agree(&path.display().to_string(), &compiled.db, compiled.ws);
        }
    }
    // The comparison is seen to compare findings, not two empty lists.
    assert!(found > 0);
}

#[test]
fn a_program_reached_by_edits_compiles_as_a_new_one() {
    let (_, yaml) = random_cluster();
    let mut compared = 0;
    for seed in 0..EDIT_SEEDS {
        let text = random_program(seed);
        let before = random_program(seed + 1000);
        for layout in [
            vec![("random.netpol".to_string(), text.clone())],
            split(&text),
        ] {
            let (want_db, want_ws) = fresh(&layout, &yaml);
            let want = outcome(&want_db, want_ws);
            // The same database, edited from another program to this one.
            let (mut db, ws) = fresh(&split(&before), &yaml);
            let _ = outcome(&db, ws);
            let got = {
                let ws = db.workspace(layout.clone());
                outcome(&db, ws)
            };
            assert_eq!(got, want, "seed {seed}, {} file(s)", layout.len());
            // And one more edit: the first item's text moved down by a comment.
            let moved: Files = layout
                .iter()
                .map(|(p, t)| (p.clone(), format!("// moved\n\n{t}")))
                .collect();
            let (moved_db, moved_ws) = fresh(&moved, &yaml);
            let ws = db.workspace(moved);
            assert_eq!(
                outcome(&db, ws),
                outcome(&moved_db, moved_ws),
                "seed {seed}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 2 * EDIT_SEEDS);
}

/// The containers of the program of `container_ports_stand_where_they_are_written`: `api`
/// declares `metrics` over TCP and UDP and `http` over TCP, `web` declares `metrics` over
/// TCP.
const CONTAINERS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: api:1
        ports:
        - {containerPort: 9090, name: metrics}
        - {containerPort: 9090, name: metrics, protocol: UDP}
        - {containerPort: 8080, name: http}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1, ports: [{containerPort: 7070, name: metrics}]}]}
";

/// A port name that the program does not declare is looked up in the containers after
/// resolution and put back in place: for random port lists over every kind of target (a
/// service, a group, pods written in place, `services`, a test's destination), each port of
/// the resolved program is, in order, what its text says (a number; the program's port; a
/// named port per protocol the target's containers declare the name with), and carries the
/// span of that text.
#[test]
fn container_ports_stand_where_they_are_written() {
    use netpol_compiler::k8s::eval::Protocol;
    use netpol_compiler::resolve::hir::{PortRange, PortSel};
    let program = "\
namespace shop
service web in shop {
  select app = \"web\"
}
service api in shop {
  select app = \"api\"
  port grpc = 5000
}
group g = pods { app = \"api\" } in namespace shop
";
    // Per target: the port texts it may have, and the containers' (name, protocol) pairs.
    let api: &[(&str, Protocol)] = &[
        ("metrics", Protocol::Tcp),
        ("metrics", Protocol::Udp),
        ("http", Protocol::Tcp),
    ];
    let web: &[(&str, Protocol)] = &[("metrics", Protocol::Tcp)];
    type Containers<'a> = &'a [(&'a str, Protocol)];
    let common = [
        "80",
        "81/udp",
        "\"pod\"",
        "\"pod\"/udp",
        "metrics",
        "metrics/tcp",
    ];
    let api_only = ["metrics/udp", "http", "http/tcp"];
    let targets: Vec<(&str, Vec<&str>, Vec<Containers<'_>>)> = vec![
        (
            "api",
            [&common[..], &api_only, &["grpc"]].concat(),
            vec![api],
        ),
        ("g", [&common[..], &api_only].concat(), vec![api]),
        (
            "pods { app = \"api\" } in namespace shop",
            [&common[..], &api_only].concat(),
            vec![api],
        ),
        ("web", common.to_vec(), vec![web]),
        ("services", common.to_vec(), vec![web, api]),
    ];
    fn parse(text: &str) -> (Option<Protocol>, &str) {
        match text.rsplit_once('/') {
            Some((name, "udp")) => (Some(Protocol::Udp), name),
            Some((name, "tcp")) => (Some(Protocol::Tcp), name),
            _ => (None, text),
        }
    }
    // What one port text means for one target.
    let meaning = |text: &str, containers: &[(&str, Protocol)], is_api: bool| -> Vec<PortSel> {
        let (protocol, name) = parse(text);
        if let Ok(n) = name.parse::<u16>() {
            let protocol = protocol.unwrap_or(Protocol::Tcp);
            return vec![PortSel::Range(PortRange {
                protocol,
                start: n,
                end: n,
            })];
        }
        if let Some(quoted) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            return vec![PortSel::Named {
                protocol: protocol.unwrap_or(Protocol::Tcp),
                name: quoted.to_string(),
            }];
        }
        if name == "grpc" && is_api {
            return vec![PortSel::Range(PortRange {
                protocol: Protocol::Tcp,
                start: 5000,
                end: 5000,
            })];
        }
        let mut protos: Vec<Protocol> = containers
            .iter()
            .filter(|(n, p)| *n == name && protocol.is_none_or(|want| want == *p))
            .map(|(_, p)| *p)
            .collect();
        protos.sort();
        protos.dedup();
        protos
            .into_iter()
            .map(|protocol| PortSel::Named {
                protocol,
                name: name.to_string(),
            })
            .collect()
    };
    let mut rng = common::random::Rng(7);
    let mut checked = 0;
    for seed in 0..120 {
        let mut text = program.to_string();
        // Per connection and per assertion: the targets it expands to (with their containers)
        // and its port texts.
        type Want<'a> = Vec<(Vec<(Containers<'a>, bool)>, Vec<&'a str>)>;
        let mut conns: Want<'_> = Vec::new();
        let mut asserts: Want<'_> = Vec::new();
        let mut tests = String::new();
        for _ in 0..1 + rng.below(4) {
            let (target, vocabulary, containers) = rng.pick(&targets);
            let ports: Vec<&str> = (0..1 + rng.below(5))
                .map(|_| *rng.pick(vocabulary))
                .collect();
            let list = format!("({})", ports.join(", "));
            let is_api = |c: &&[(&str, Protocol)]| std::ptr::eq(*c, api) && *target == "api";
            let expanded = containers.iter().map(|c| (*c, is_api(c))).collect();
            // The connections come first in the resolved program, then the test's assertions.
            if rng.chance(30) {
                tests.push_str(&format!("  allowed web -> {target}:{list}\n"));
                asserts.push((expanded, ports));
            } else {
                text.push_str(&format!("web -> {target}:{list}\n"));
                conns.push((expanded, ports));
            }
        }
        if !tests.is_empty() {
            text.push_str(&format!("test \"ports\" {{\n{tests}}}\n"));
        }
        let (db, ws) = fresh(&vec![("ports.netpol".into(), text.clone())], CONTAINERS);
        let errors: Vec<_> = db::diagnostics(&db, ws)
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "seed {seed}:\n{text}\n{errors:?}");
        let program = &db::resolved(&db, ws).program;
        let got: Vec<&Vec<(PortSel, netpol_compiler::span::Span)>> = program
            .connections
            .iter()
            .map(|c| &c.ports)
            .chain(
                program
                    .tests
                    .iter()
                    .flat_map(|t| t.assertions.iter().map(|a| &a.ports)),
            )
            .collect();
        let expected: Vec<Vec<(PortSel, &str)>> = conns
            .iter()
            .chain(&asserts)
            .flat_map(|(targets, ports)| {
                targets.iter().map(move |(containers, is_api)| {
                    ports
                        .iter()
                        .flat_map(|p| {
                            meaning(p, containers, *is_api)
                                .into_iter()
                                .map(move |sel| (sel, *p))
                        })
                        .collect()
                })
            })
            .collect();
        assert_eq!(got.len(), expected.len(), "seed {seed}:\n{text}");
        for (ports, want) in got.iter().zip(&expected) {
            let as_written: Vec<(PortSel, &str)> = ports
                .iter()
                .map(|(sel, span)| {
                    let span = db::absolute(&db, ws, *span);
                    (sel.clone(), &text[span.start..span.end])
                })
                .collect();
            assert_eq!(&as_written, want, "seed {seed}:\n{text}");
            checked += 1;
        }
    }
    assert!(checked > 300, "{checked}");
}
