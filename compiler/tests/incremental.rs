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
const PROGRAM: [&str; 5] = [
    "resolved",
    "checked",
    "lowered",
    "optimized",
    "program_diagnostics",
];

#[test]
fn the_first_run_executes_every_stage_once() {
    let mut db = Database::with_execution_log();
    let ws = db.workspace(vec![(
        "services.netpol".into(),
        format!("{MAIN}{SERVICES}"),
    )]);
    demand(&db, ws);
    let log = db.take_executed();
    for q in PROGRAM.iter().chain(&["emitted", "diagnostics"]) {
        assert_eq!(log.iter().filter(|l| l == q).count(), 1, "{q} in {log:?}");
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
    assert!(!ran.contains("scope"), "{ran:?}");
    // Only the edited file is parsed again; its diagnostics (none) are equal, so the
    // union is not rebuilt; the annotations follow the moved lines.
    assert_eq!(
        ran,
        set(&[
            "parse",
            "item_tree",
            "file_items",
            "item_positions",
            "line_index",
            "diagnostics_by_file",
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
    for q in PROGRAM.iter().chain(&["emitted", "scope"]) {
        assert!(!ran.contains(*q), "{q} re-ran: {ran:?}");
    }
    assert_eq!(before, after);
}

#[test]
fn a_comment_inside_an_item_stops_at_lowering() {
    let (mut db, ws) = setup();
    let before = demand(&db, ws);
    // Spans inside the service move relative to its start: resolution runs again, and
    // lowering finds the same policies.
    db.set_file(
        "services.netpol",
        SERVICES.replace(
            "  select app = \"web\"",
            "  // the front end\n  select app = \"web\"",
        ),
    );
    let after = demand(&db, ws);
    let ran = executed(&db);
    assert!(
        ran.contains("resolved") && ran.contains("lowered"),
        "{ran:?}"
    );
    for q in ["optimized", "scope", "declared_names"] {
        assert!(!ran.contains(q), "{q} re-ran: {ran:?}");
    }
    assert_eq!(before.0, after.0);
}

#[test]
fn an_edit_inside_one_service_that_keeps_its_meaning_stops_at_lowering() {
    let (mut db, ws) = setup();
    let before = demand(&db, ws);
    db.set_file(
        "services.netpol",
        SERVICES.replace("select app = \"api\"", "select   app =  \"api\""),
    );
    let after = demand(&db, ws);
    let ran = executed(&db);
    assert!(
        ran.contains("resolved") && ran.contains("lowered"),
        "{ran:?}"
    );
    // Lowering's result is equal (positions are relative to the service), so nothing
    // after it runs, and the scope did not change.
    for q in ["optimized", "emitted", "scope", "declared_names"] {
        assert!(!ran.contains(q), "{q} re-ran: {ran:?}");
    }
    assert_eq!(before, after);
}

#[test]
fn a_port_number_change_recompiles_but_keeps_the_scope() {
    let (mut db, ws) = setup();
    let before = demand(&db, ws);
    db.set_file("services.netpol", SERVICES.replace("8080", "9090"));
    let after = demand(&db, ws);
    let ran = executed(&db);
    for q in PROGRAM.iter().chain(&["emitted"]) {
        assert!(ran.contains(*q), "{q} did not re-run: {ran:?}");
    }
    assert!(
        !ran.contains("scope") && !ran.contains("declared_names"),
        "{ran:?}"
    );
    assert!(
        !ran.contains("cluster") && !ran.contains("manifest"),
        "{ran:?}"
    );
    assert_ne!(before.1, after.1);
    assert!(after.1.contains("port: 9090"), "{}", after.1);
}

#[test]
fn adding_a_file_parses_only_that_file() {
    let (mut db, ws) = setup();
    let scope_before = db::scope(&db, ws).clone();
    db.take_executed();
    db.set_file(
        "more.netpol",
        "service db in shop {\n  select app = \"db\"\n}\napi -> db:5432\n".into(),
    );
    let diags = db::diagnostics(&db, ws);
    let scope_after = db::scope(&db, ws).clone();
    let log = db.take_executed();
    assert_eq!(log.iter().filter(|q| *q == "parse").count(), 1, "{log:?}");
    assert_eq!(
        log.iter().filter(|q| *q == "declared_names").count(),
        1,
        "{log:?}"
    );
    assert!(log.contains(&"scope".to_string()), "{log:?}");
    assert_eq!(scope_after.len(), scope_before.len() + 1);
    // The new service matches no workload: the file's own diagnostics say so, and
    // the other files' ids and positions did not move.
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
    let ran = executed(&db);
    assert!(
        ran.contains("manifest") && ran.contains("cluster"),
        "{ran:?}"
    );
    for q in ["resolved", "lowered", "optimized", "emitted", "parse"] {
        assert!(!ran.contains(q), "{q} re-ran: {ran:?}");
    }
    assert_eq!(before, after);
}

#[test]
fn a_manifest_edit_that_changes_a_label_is_seen() {
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
    let ran = executed(&db);
    assert!(
        ran.contains("cluster") && ran.contains("resolved"),
        "{ran:?}"
    );
    assert!(!ran.contains("parse"), "{ran:?}");
    assert!(
        diags.iter().any(|d| d.code.as_str() == "E014"),
        "{}",
        db.render(ws, diags)
    );
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
