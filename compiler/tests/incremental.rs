//! Which queries an edit re-runs. Each test builds a program, runs what the CLI and the
//! language server ask for (diagnostics and YAML), makes one edit, asks again, and asserts
//! the exact set of queries that executed (salsa's `WillExecute` events).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use netpol_compiler::db::{self, Database, Workspace};
use std::collections::BTreeSet;

const MAIN: &str = "use std::dns\n\nnamespace shop { isolate ingress, egress }\n";
const SERVICES: &str = "\
service web in shop {
  select app = \"web\"
}

service api in shop {
  select app = \"api\"
  port http = 8080
}

web -> api:http, kube-dns:dns
api -> kube-dns:dns
";
const MANIFEST: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 1
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: api:1, ports: [{containerPort: 8080, name: http}]}]}
";

fn setup() -> (Database, Workspace) {
    let mut db = Database::with_execution_log();
    let ws = db.workspace(vec![
        ("main.netpol".into(), MAIN.into()),
        ("services.netpol".into(), SERVICES.into()),
    ]);
    db.set_manifests(
        ws,
        vec![("k8s.yaml".into(), MANIFEST.into(), "default".into())],
        Vec::new(),
    );
    demand(&db, ws);
    db.take_executed();
    (db, ws)
}

/// What a client asks for after every edit.
fn demand(db: &Database, ws: Workspace) -> (usize, String) {
    let diags = db::diagnostics(db, ws);
    assert!(
        diags.iter().all(|d| !d.is_error()),
        "{}",
        db.render(ws, diags)
    );
    let yaml = db::emitted(db, ws)
        .as_ref()
        .expect("compiles")
        .iter()
        .map(|d| d.yaml.clone())
        .collect();
    (diags.len(), yaml)
}

fn executed(db: &Database) -> BTreeSet<String> {
    db.take_executed().into_iter().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Queries from name resolution on: what a firewall must keep from re-running.
const PROGRAM: [&str; 18] = [
    "declarations",
    "program_items",
    "resolve_item",
    "container_ports",
    "resolved",
    "check_item",
    "item_diagnostics",
    "item_outline",
    "outline",
    "namespaces",
    "namespace_lints",
    "namespace_policy_names",
    "lints",
    "policy_names",
    "lowered",
    "optimized",
    "program_diagnostics",
    "isolated_services",
];

/// The queries run once per service, connection and test.
const PER_ITEM: [&str; 4] = [
    "resolve_item",
    "check_item",
    "item_diagnostics",
    "item_outline",
];

/// What the lints and policy naming re-run: only when an item's outline changed, and then
/// the lints and naming of the namespaces whose part changed (here, the one namespace); the
/// union of the names re-runs only when a namespace's names changed (none here).
const LINTS: [&str; 5] = [
    "outline",
    "namespaces",
    "namespace_lints",
    "namespace_policy_names",
    "lints",
];

/// Asserts that the queries of `log` are exactly those of `reparse` and `rest`.
fn assert_ran_exactly(log: Vec<String>, reparse: &[&str], rest: &[&str]) {
    assert_eq!(
        log.into_iter().collect::<BTreeSet<_>>(),
        set(&[reparse, rest].concat())
    );
}

/// How many times query `q` ran.
fn count(log: &[String], q: &str) -> usize {
    log.iter().filter(|l| *l == q).count()
}

#[test]
fn the_first_run_executes_every_stage_once() {
    let mut db = Database::with_execution_log();
    let ws = db.workspace(vec![(
        "services.netpol".into(),
        format!("{MAIN}{SERVICES}"),
    )]);
    demand(&db, ws);
    let log = db.take_executed();
    // No peer is `cluster`, so no check asks which services are isolated; every port name
    // is declared in the program, so none is looked up in the containers.
    for q in PROGRAM
        .iter()
        .filter(|q| !PER_ITEM.contains(q) && !["isolated_services", "container_ports"].contains(q))
        .chain(&["emitted", "diagnostics"])
    {
        assert_eq!(count(&log, q), 1, "{q} in {log:?}");
    }
    assert_eq!(count(&log, "isolated_services"), 0, "{log:?}");
    assert_eq!(count(&log, "container_ports"), 0, "{log:?}");
    // Once per service, connection and test: web, api and two connections.
    for q in PER_ITEM {
        assert_eq!(count(&log, q), 4, "{q} in {log:?}");
    }
}

#[test]
fn diagnostics_never_run_lowering() {
    let mut db = Database::with_execution_log();
    let ws = db.workspace(vec![(
        "services.netpol".into(),
        format!("{MAIN}{SERVICES}"),
    )]);
    let _ = db::diagnostics(&db, ws);
    let log = db.take_executed();
    assert!(log.contains(&"policy_names".to_string()), "{log:?}");
    for q in ["lowered", "optimized", "emitted"] {
        assert!(!log.contains(&q.to_string()), "{q} in {log:?}");
    }
}

#[test]
fn a_comment_edit_stops_at_the_item_tree() {
    let (mut db, ws) = setup();
    let before = demand(&db, ws);
    // A comment above everything: every item moves down two lines.
    db.set_file(
        "services.netpol",
        format!("// the shop's services\n\n{SERVICES}"),
    );
    let after = demand(&db, ws);
    let ran = executed(&db);
    for q in PROGRAM {
        assert!(!ran.contains(q), "{q} re-ran after a comment edit: {ran:?}");
    }
    // Only the edited file is parsed again; its syntax errors (none) are equal, and no
    // diagnostic has a position to move, so the union is not rebuilt; the annotations follow
    // the moved lines.
    assert_eq!(
        ran,
        set(&[
            "parse",
            "item_tree",
            "file_items",
            "item_positions",
            "line_index",
            "syntax_errors",
            "source_lines",
            "emitted",
        ])
    );
    assert_ne!(
        before.1, after.1,
        "the source lines in the annotations moved"
    );
    assert!(after.1.contains("services.netpol:3"), "{}", after.1);
}

#[test]
fn a_comment_edit_between_items_that_moves_no_line_re_emits_nothing() {
    let (mut db, ws) = setup();
    let before = demand(&db, ws);
    db.set_file(
        "services.netpol",
        SERVICES.replace("}\n\nservice api", "}\n// the API\nservice api"),
    );
    let after = demand(&db, ws);
    let ran = executed(&db);
    for q in PROGRAM.iter().chain(&["emitted"]) {
        assert!(!ran.contains(*q), "{q} re-ran: {ran:?}");
    }
    assert_eq!(before, after);
}

/// What an edit of the text of an item of `services.netpol` always re-runs before
/// resolution: its parse and item tree (in a file without syntax errors, its parse of each
/// item moved to the item's anchor: no item is parsed alone), the per-file queries over
/// them, and the list of the program's items (which backdate).
const REPARSE: [&str; 9] = [
    "parse",
    "item_tree",
    "file_items",
    "item_positions",
    "line_index",
    "syntax_errors",
    "file_item_refs",
    "file_declarations",
    "program_items",
];

#[test]
fn a_comment_inside_an_item_re_resolves_that_item_only() {
    let (mut db, ws) = setup();
    let before = demand(&db, ws);
    // Spans inside the service move relative to its start: its resolution, checks and
    // outline run again, and so do the lints and naming (its selector's span is in the
    // outline); the diagnostics and lowering's policies are equal; the items after it moved
    // a line down, so the annotations are written again.
    db.set_file(
        "services.netpol",
        SERVICES.replace(
            "  select app = \"web\"",
            "  // the front end\n  select app = \"web\"",
        ),
    );
    let after = demand(&db, ws);
    let log = db.take_executed();
    assert_eq!(count(&log, "resolve_item"), 1, "{log:?}");
    assert_eq!(count(&log, "parse_alone"), 0, "{log:?}");
    assert_ran_exactly(
        log,
        &REPARSE,
        &[
            "resolve_item",
            "check_item",
            "item_diagnostics",
            "item_outline",
            "resolved",
            "lowered",
            "source_lines",
            "emitted",
        ]
        .iter()
        .chain(&LINTS)
        .copied()
        .collect::<Vec<_>>(),
    );
    assert_eq!(before.0, after.0);
}

#[test]
fn an_edit_inside_one_service_body_re_resolves_that_service_only() {
    let (mut db, ws) = setup();
    let before = demand(&db, ws);
    db.set_file(
        "services.netpol",
        SERVICES.replace("select app = \"web\"", "select   app =  \"web\""),
    );
    let after = demand(&db, ws);
    let log = db.take_executed();
    // The service's own resolution, and no other item's: the declarations are equal, and
    // no connection reads the body of `web` (so its `service_def` was never asked for).
    assert_eq!(count(&log, "resolve_item"), 1, "{log:?}");
    assert_eq!(count(&log, "parse_alone"), 0, "{log:?}");
    // Its selector's span changed length, so its outline changed and the lints and naming
    // run again; its diagnostics (none) are equal, so the union is not rebuilt; lowering's
    // result is equal (positions are relative to the service), so nothing after it runs.
    for q in PER_ITEM {
        assert_eq!(count(&log, q), 1, "{q}: {log:?}");
    }
    assert_ran_exactly(
        log,
        &REPARSE,
        &[
            &PER_ITEM[..],
            &LINTS[..],
            &["resolved", "lowered", "source_lines"],
        ]
        .concat(),
    );
    assert_eq!(before, after);
}

#[test]
fn a_port_number_change_re_resolves_the_service_and_the_connection_that_reads_it() {
    let (mut db, ws) = setup();
    let before = demand(&db, ws);
    db.set_file("services.netpol", SERVICES.replace("8080", "9090"));
    let after = demand(&db, ws);
    let log = db.take_executed();
    // `api` (its port changed) and `web -> api:http` (it reads the port); not `web`, not
    // `api -> kube-dns:dns`.
    // Both run their checks again, and their outlines, which are equal (a port number is
    // not in an outline): no lint runs, nor policy naming.
    for q in PER_ITEM {
        assert_eq!(count(&log, q), 2, "{q}: {log:?}");
    }
    assert_eq!(count(&log, "service_def"), 1, "{log:?}");
    // Only the text of `api` changed: the connection that reads its port is not parsed again.
    assert_eq!(count(&log, "parse_alone"), 0, "{log:?}");
    // Same length: no item moved, so the source lines are equal. The diagnostics change:
    // the containers of `api` declare 8080, not 9090.
    assert_ran_exactly(
        log,
        &REPARSE,
        &[
            &PER_ITEM[..],
            &[
                "service_def",
                "program_diagnostics",
                "diagnostics_by_file",
                "diagnostics",
                "resolved",
                "lowered",
                "optimized",
                "emitted",
            ],
        ]
        .concat(),
    );
    assert_ne!(before.1, after.1);
    assert!(after.1.contains("port: 9090"), "{}", after.1);
}

#[test]
fn adding_a_file_parses_only_that_file() {
    let (mut db, ws) = setup();
    db.set_file(
        "more.netpol",
        "service db in shop {\n  select app = \"db\"\n}\napi -> db:5432\n".into(),
    );
    let diags = db::diagnostics(&db, ws).clone();
    let log = db.take_executed();
    // The new file alone is parsed; a new declaration changes the declarations, so every
    // item resolves again (the old four and the new two), each once. No position is
    // asked for (no diagnostic has moved): the line index is not built.
    let reparse: Vec<&str> = REPARSE.into_iter().filter(|q| *q != "line_index").collect();
    for q in &reparse {
        assert_eq!(count(&log, q), 1, "{q}: {log:?}");
    }
    // Its items are its parse moved to their anchors: none is parsed alone.
    assert_eq!(count(&log, "parse_alone"), 0, "{log:?}");
    for q in PER_ITEM {
        assert_eq!(count(&log, q), 6, "{q}: {log:?}");
    }
    assert_ran_exactly(
        log,
        &reparse,
        &[
            &PER_ITEM[..],
            &LINTS[..],
            &[
                "declarations",
                "service_def",
                "program_diagnostics",
                "files_by_id",
                "diagnostics_by_file",
                "diagnostics",
            ],
        ]
        .concat(),
    );
    // The new service matches no workload: the file's own diagnostics say so.
    let more = db.file("more.netpol").unwrap();
    let in_more = db::file_diagnostics(&db, ws, more);
    assert!(
        in_more.iter().any(|d| d.code.as_str() == "E014"),
        "{in_more:?}"
    );
    assert!(diags.iter().any(|d| d.code.as_str() == "E014"));
}

#[test]
fn a_manifest_edit_that_changes_no_label_or_port_re_resolves_nothing() {
    let (mut db, ws) = setup();
    let before = demand(&db, ws);
    db.set_manifests(
        ws,
        vec![(
            "k8s.yaml".into(),
            format!(
                "# edited\n{}",
                MANIFEST.replace("replicas: 1", "replicas: 3")
            ),
            "default".into(),
        )],
        Vec::new(),
    );
    let after = demand(&db, ws);
    // The checks read the cluster (no positions), so none runs again; the union reads the
    // manifest's errors (none).
    assert_eq!(
        executed(&db),
        set(&["manifest", "manifests", "cluster", "diagnostics_by_file"])
    );
    assert_eq!(before, after);
}

#[test]
fn a_manifest_edit_that_changes_a_label_re_checks_but_re_resolves_nothing() {
    let (mut db, ws) = setup();
    db.set_manifests(
        ws,
        vec![(
            "k8s.yaml".into(),
            MANIFEST.replace("{app: api}", "{app: apx}"),
            "default".into(),
        )],
        Vec::new(),
    );
    let diags = db::diagnostics(&db, ws);
    // No item reads the workloads (every port is declared in the program), so resolution
    // is not re-run, nor the outlines; the workloads' index by namespace is built again
    // (and backdates: no workload changed namespace); every item's checks, the lints and policy naming
    // read them; only the checks of `api` find something new, so only its diagnostics are
    // gathered again.
    let log = db.take_executed();
    assert_eq!(count(&log, "check_item"), 4, "{log:?}");
    assert_eq!(count(&log, "item_diagnostics"), 1, "{log:?}");
    assert_eq!(
        log.into_iter().collect::<BTreeSet<_>>(),
        set(&[
            "manifest",
            "manifests",
            "cluster",
            "namespace_index",
            "check_item",
            "item_diagnostics",
            "namespaces",
            "namespace_lints",
            "namespace_policy_names",
            "lints",
            "program_diagnostics",
            "diagnostics_by_file",
            "diagnostics",
        ])
    );
    assert!(
        diags.iter().any(|d| d.code.as_str() == "E014"),
        "{}",
        db.render(ws, diags)
    );
}

/// A program whose one connection names a port only the containers declare (`metrics`).
const CONTAINER_PORT: &str = "\
service web in shop {
  select app = \"web\"
}

service api in shop {
  select app = \"api\"
  port http = 8080
}

web -> api:http
web -> api:metrics
";

#[test]
fn a_manifest_edit_of_labels_and_container_ports_re_resolves_nothing() {
    let mut db = Database::with_execution_log();
    let ws = db.workspace(vec![
        ("main.netpol".into(), MAIN.into()),
        ("services.netpol".into(), CONTAINER_PORT.into()),
    ]);
    let manifest = |ports: &str| {
        MANIFEST.replace(
            "ports: [{containerPort: 8080, name: http}]",
            &format!("ports: [{{containerPort: 8080, name: http}}, {ports}]"),
        )
    };
    let tcp = manifest("{containerPort: 9090, name: metrics}");
    db.set_manifests(
        ws,
        vec![("k8s.yaml".into(), tcp.clone(), "default".into())],
        Vec::new(),
    );
    let before = demand(&db, ws);
    assert!(before.1.contains("port: metrics"), "{}", before.1);
    assert!(!before.1.contains("protocol: UDP"), "{}", before.1);
    db.take_executed();
    // Labels (a new one on both workloads) and container ports (`metrics` over UDP too).
    let edited = manifest(
        "{containerPort: 9090, name: metrics}, {containerPort: 9090, name: metrics, protocol: UDP}",
    )
    .replace("{app: web}", "{app: web, tier: front}")
    .replace("{app: api}", "{app: api, tier: back}");
    db.set_manifests(
        ws,
        vec![("k8s.yaml".into(), edited, "default".into())],
        Vec::new(),
    );
    let after = demand(&db, ws);
    let log = db.take_executed();
    // Nothing of resolution runs: resolution never reads the workloads. The port name is
    // looked up again (only for the one item that has one), every item's checks run
    // against the new workloads, and the item's outline is rebuilt (and backdates: a named
    // port over UDP or TCP is the same fact to the lints); the namespaces' lints and names
    // read the workloads, and run again; their names are equal, so their union does not;
    // lowering gets the UDP port.
    assert_eq!(count(&log, "container_ports"), 1, "{log:?}");
    assert_eq!(count(&log, "check_item"), 4, "{log:?}");
    assert_eq!(count(&log, "item_outline"), 1, "{log:?}");
    assert_ran_exactly(
        log,
        &["manifest", "manifests", "cluster", "namespace_index"],
        &[
            "container_ports",
            "check_item",
            "item_outline",
            "namespaces",
            "namespace_lints",
            "namespace_policy_names",
            "lints",
            "diagnostics_by_file",
            "resolved",
            "lowered",
            "optimized",
            "emitted",
        ],
    );
    assert!(after.1.contains("protocol: UDP"), "{}", after.1);
    assert_eq!(before.0, after.0);
    // And back: the lookup finds the TCP port alone again; the YAML is the first one.
    db.set_manifests(
        ws,
        vec![("k8s.yaml".into(), tcp, "default".into())],
        Vec::new(),
    );
    assert_eq!(demand(&db, ws), before);
    let log = db.take_executed();
    for q in [
        "declarations",
        "resolve_item",
        "service_def",
        "file_declarations",
    ] {
        assert_eq!(count(&log, q), 0, "{q}: {log:?}");
    }
}

#[test]
fn removing_a_file_and_adding_it_back_keeps_its_id() {
    let (mut db, ws) = setup();
    let id = db.file("services.netpol").unwrap().id(&db);
    assert!(db.remove_file("services.netpol"));
    assert!(db.file("services.netpol").is_none());
    assert_eq!(ws.files(&db).len(), 1);
    let back = db.set_file("services.netpol", SERVICES.into());
    assert_eq!(back.id(&db), id);
    demand(&db, ws);
}

#[test]
fn diagnostics_point_at_the_moved_text() {
    let (mut db, ws) = setup();
    let text = format!("// one\n// two\n{}", SERVICES.replace("\"web\"", "\"wbe\""));
    let file = db.set_file("services.netpol", text.clone());
    let diags = db::file_diagnostics(&db, ws, file);
    let e014 = diags
        .iter()
        .find(|d| d.code.as_str() == "E014")
        .expect("E014 on the misspelt selector");
    let span = e014.primary.span;
    assert_eq!(span.file, file.id(&db));
    assert_eq!(&text[span.start..span.end], "app = \"wbe\"");
    assert_eq!(db::line_index(&db, file).line_col(span.start), (4, 10));
}

#[test]
fn in_a_file_with_a_syntax_error_an_edit_parses_alone_only_the_edited_item() {
    let (mut db, ws) = setup();
    let broken = format!("{SERVICES}\nservice oops in shop {{\n  select app =\n}}\n");
    db.set_file("services.netpol", broken.clone());
    assert!(db::diagnostics(&db, ws).iter().any(|d| d.is_error()));
    let first = db.take_executed();
    assert!(count(&first, "parse_alone") > 1, "{first:?}");
    db.set_file(
        "services.netpol",
        broken.replace("select app = \"web\"", "select app = \"webx\""),
    );
    assert!(db::diagnostics(&db, ws).iter().any(|d| d.is_error()));
    let log = db.take_executed();
    assert_eq!(count(&log, "parse_alone"), 1, "{log:?}");
}

#[test]
fn adding_a_connection_re_runs_the_lints_and_naming_of_its_namespace_only() {
    let mut db = Database::with_execution_log();
    let office = "\
namespace office { isolate ingress, egress }

service mail in office {
  select app = \"mail\"
  port smtp = 25
}

mail -> kube-dns:dns
";
    let ws = db.workspace(vec![
        ("main.netpol".into(), MAIN.into()),
        ("office.netpol".into(), office.into()),
        ("services.netpol".into(), SERVICES.into()),
    ]);
    let before = demand(&db, ws);
    assert_eq!(db::namespaces(&db, ws).len(), 2);
    db.take_executed();
    // A connection inside `shop`: the outline changes, and of the two namespaces' parts only
    // `shop`'s; `office`'s lints and names are not computed again; `shop`'s names are equal
    // (no clash), so their union is not gathered again.
    db.set_file("services.netpol", format!("{SERVICES}api -> web:8080\n"));
    let after = demand(&db, ws);
    let log = db.take_executed();
    for q in ["outline", "namespaces", "lints"] {
        assert_eq!(count(&log, q), 1, "{q}: {log:?}");
    }
    assert_eq!(count(&log, "policy_names"), 0, "{log:?}");
    for q in ["namespace_lints", "namespace_policy_names"] {
        assert_eq!(count(&log, q), 1, "{q}: {log:?}");
    }
    assert_ne!(before.1, after.1, "the new connection is compiled");
    // The other way round: a connection inside `office` re-runs `office`'s only, and the
    // result is the program's (a new database agrees).
    db.set_file("office.netpol", format!("{office}mail -> mail:smtp\n"));
    let edited = demand(&db, ws);
    let log = db.take_executed();
    for q in ["namespace_lints", "namespace_policy_names"] {
        assert_eq!(count(&log, q), 1, "{q}: {log:?}");
    }
    let mut fresh = Database::default();
    let fresh_ws = fresh.workspace(vec![
        ("main.netpol".into(), MAIN.into()),
        (
            "office.netpol".into(),
            format!("{office}mail -> mail:smtp\n"),
        ),
        (
            "services.netpol".into(),
            format!("{SERVICES}api -> web:8080\n"),
        ),
    ]);
    assert_eq!(demand(&fresh, fresh_ws), edited);
}
