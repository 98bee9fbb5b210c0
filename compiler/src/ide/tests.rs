//! IDE queries over the shop example and small fixtures (`$0` marks the cursor).

use super::*;
use crate::db::{self, Database, Workspace};
use crate::resolve::hir::Def;
use crate::span::FileId;

const SHOP: &str = include_str!("../../../examples/shop/shop.netpol");
const SHOP_K8S: &[(&str, &str)] = &[
    (
        "k8s/data.yaml",
        include_str!("../../../examples/shop/k8s/data.yaml"),
    ),
    (
        "k8s/shop.yaml",
        include_str!("../../../examples/shop/k8s/shop.yaml"),
    ),
];

fn load(files: &[(&str, &str)], manifests: &[(&str, &str)]) -> (Database, Workspace) {
    let mut db = Database::default();
    let ws = db.workspace(
        files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect(),
    );
    db.set_manifests(
        ws,
        manifests
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string(), "default".to_string()))
            .collect(),
        Vec::new(),
    );
    (db, ws)
}

fn shop() -> (Database, Workspace) {
    load(&[("shop.netpol", SHOP)], SHOP_K8S)
}

fn text_of(db: &Database, ws: Workspace, span: Span) -> String {
    let span = db::absolute(db, ws, span);
    let text = db::files_by_id(db, ws)[&span.file].text(db);
    text[span.start..span.end].to_string()
}

/// The file of the shop example's program file.
fn shop_file(db: &Database) -> FileId {
    db.file("shop.netpol").unwrap().id(db)
}

/// Splits `$0` out of a fixture: the text and the cursor offset.
fn cursor(fixture: &str) -> (String, usize) {
    let at = fixture.find("$0").expect("fixture has no $0");
    (fixture.replacen("$0", "", 1), at)
}

#[test]
fn every_reference_goes_to_a_declaration_of_the_same_name() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    assert!(program.references.len() > 20);
    for r in &program.references {
        let decl =
            def_span(program, abs, &r.def).unwrap_or_else(|| panic!("{r:?} has no declaration"));
        assert_eq!(text_of(&db, ws, decl), text_of(&db, ws, r.span), "{r:?}");
        // And the name under the cursor at each byte of the use is that reference.
        let s = abs(r.span);
        for offset in s.start..=s.end {
            assert_eq!(
                name_at(program, abs, s.file, offset).map(|n| n.def),
                Some(r.def.clone())
            );
        }
    }
}

#[test]
fn references_are_the_declaration_and_every_use() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    for (decl, def) in declarations(program, abs) {
        let refs = references(program, abs, &def);
        assert_eq!(refs.first(), Some(&decl), "{def:?}");
        let uses = program.references.iter().filter(|r| r.def == def).count();
        assert!(refs.len() >= uses, "{def:?}");
        for s in &refs {
            assert_eq!(text_of(&db, ws, *s), program.def_name(&def), "{def:?}");
        }
    }
}

#[test]
fn rename_edits_every_reference_and_the_result_resolves_the_same() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    let checkout = program
        .services
        .iter()
        .position(|s| s.name == "checkout")
        .unwrap();
    let edits = rename(
        program,
        abs,
        &Def::Service(checkout),
        "payments-api",
        |_| false,
    )
    .unwrap();
    let mut text = SHOP.to_string();
    let mut sorted = edits.clone();
    sorted.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
    for (s, new) in sorted {
        text.replace_range(s.start..s.end, &new);
    }
    assert_eq!(text.matches("payments-api").count(), edits.len());
    let (db2, ws2) = load(&[("shop.netpol", &text)], SHOP_K8S);
    let before: Vec<_> = db::diagnostics(&db, ws).iter().map(|d| d.code).collect();
    let after: Vec<_> = db::diagnostics(&db2, ws2).iter().map(|d| d.code).collect();
    assert_eq!(before, after);
    let p2 = &db::resolved(&db2, ws2).program;
    assert_eq!(p2.references.len(), program.references.len());
}

#[test]
fn rename_is_refused_for_stdlib_names_and_non_names() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    let dns = program
        .groups
        .iter()
        .position(|g| g.name == "kube-dns")
        .unwrap();
    let std_file = abs(program.groups[dns].name_span).file;
    let err = rename(program, abs, &Def::Group(dns), "dns2", |f| f == std_file).unwrap_err();
    assert!(err.contains("standard library"), "{err}");
    let err = rename(program, abs, &Def::Service(0), "two words", |_| false).unwrap_err();
    assert!(err.contains("is not a name"), "{err}");
    assert!(rename(program, abs, &Def::Service(0), "service", |_| false).is_err());
}

#[test]
fn hover_on_a_service_shows_selector_workloads_ports_and_yaml() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    let manifests = db::manifests(&db, ws);
    let emitted = db::emitted(&db, ws).as_deref();
    assert!(emitted.is_some(), "the shop example compiles");
    let svc = program
        .services
        .iter()
        .find(|s| s.name == "orders-db")
        .unwrap();
    let name = abs(svc.name_span);
    let (span, text) = hover(program, manifests, emitted, abs, name.file, name.start).unwrap();
    assert_eq!(span, name);
    assert!(text.contains("service orders-db in data"), "{text}");
    assert!(text.contains(&svc.selector.display()), "{text}");
    assert!(text.contains("`postgres` = 5432/TCP"), "{text}");
    let matching: Vec<_> = manifests
        .in_namespace("data")
        .filter(|w| svc.selector.matches(&w.labels))
        .collect();
    assert!(!matching.is_empty());
    for w in &matching {
        assert!(text.contains(&w.display()), "{text}");
    }
    let yaml = &emitted
        .unwrap()
        .iter()
        .find(|d| d.name == "orders-db")
        .unwrap()
        .yaml;
    assert!(text.contains(yaml.as_str()), "{text}");
}

#[test]
fn hover_on_a_connection_shows_its_rules() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    let at = SHOP.find("frontend      -> checkout:grpc").unwrap() + "frontend      -".len();
    let file = shop_file(&db);
    let (_, text) = hover(
        program,
        db::manifests(&db, ws),
        db::emitted(&db, ws).as_deref(),
        abs,
        file,
        at,
    )
    .unwrap();
    assert!(
        text.contains("`frontend` → `checkout` on 5050/TCP"),
        "{text}"
    );
    assert!(text.contains("becomes rules of `shop/checkout`"), "{text}");
}

#[test]
fn completion_offers_label_values_of_the_namespace_workloads() {
    let (src, at) = cursor(&SHOP.replacen("select app = \"checkout\"", "select app = \"$0", 1));
    let (db, ws) = load(&[("shop.netpol", SHOP)], SHOP_K8S);
    let program = &db::resolved(&db, ws).program;
    let manifests = db::manifests(&db, ws);
    let items = completions(program, manifests, &src, at);
    let mut expected: Vec<&str> = manifests
        .in_namespace("shop")
        .filter_map(|w| w.labels.get("app").map(String::as_str))
        .collect();
    expected.sort();
    expected.dedup();
    assert!(!expected.is_empty());
    let labels: Vec<&str> = items.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(labels, expected);
    assert!(items.iter().all(|i| i.kind == CompletionKind::LabelValue));
}

#[test]
fn completion_offers_ports_of_the_target_and_std_modules() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let manifests = db::manifests(&db, ws);
    let (src, at) = cursor("frontend -> checkout:$0");
    let labels: Vec<String> = completions(program, manifests, &src, at)
        .into_iter()
        .map(|i| i.label)
        .collect();
    assert!(labels.contains(&"grpc".to_string()), "{labels:?}");
    let (src, at) = cursor("use std::$0");
    let labels: Vec<String> = completions(program, manifests, &src, at)
        .into_iter()
        .map(|i| i.label)
        .collect();
    let modules: Vec<String> = crate::stdlib::MODULES
        .iter()
        .map(|m| m.0.to_string())
        .collect();
    let mut sorted = modules.clone();
    sorted.sort();
    assert_eq!(labels, sorted);
    let (src, at) = cursor("fro$0");
    let items = completions(program, manifests, &src, at);
    for s in &program.services {
        assert!(
            items
                .iter()
                .any(|i| i.label == s.name && i.kind == CompletionKind::Service)
        );
    }
    for k in complete::KEYWORDS {
        assert!(
            items
                .iter()
                .any(|i| i.label == *k && i.kind == CompletionKind::Keyword)
        );
    }
}

#[test]
fn symbols_list_every_declaration_of_the_file() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    let file = shop_file(&db);
    let syms = symbols(program, abs, file);
    let names: Vec<&str> = syms.iter().map(|s| s.name.as_str()).collect();
    for s in &program.services {
        assert!(names.contains(&s.name.as_str()));
    }
    let decls_in_file = declarations(program, abs)
        .into_iter()
        .filter(|(s, d)| s.file == file && !matches!(d, Def::ServicePort(..)))
        .count()
        + program
            .tests
            .iter()
            .filter(|t| abs(t.span).file == file)
            .count();
    assert_eq!(syms.len(), decls_in_file);
}

#[test]
fn inlay_hints_give_the_number_behind_every_declared_port_use() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    let file = shop_file(&db);
    let hints = inlay_hints(program, abs, file);
    let port_uses = program
        .references
        .iter()
        .filter(|r| {
            abs(r.span).file == file && matches!(r.def, Def::Port(_) | Def::ServicePort(..))
        })
        .count();
    assert!(port_uses > 0);
    assert_eq!(hints.len(), port_uses);
    let at = SHOP.find("checkout:grpc").unwrap() + "checkout:grpc".len();
    assert!(
        hints
            .iter()
            .any(|h| h.offset == at && h.label == " = 5050/TCP"),
        "{hints:?}"
    );
}

/// Applies edits (in one file) from the last to the first.
fn apply(text: &mut String, edits: &[(Span, String)]) {
    let mut edits = edits.to_vec();
    edits.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
    for (s, new) in edits {
        text.replace_range(s.start..s.end, &new);
    }
}

#[test]
fn fixes_apply_every_did_you_mean() {
    let src = "namespace shop\nservice web in shop {\n  select app = \"web\"\n}\nservice api in shop {\n  select app = \"api\"\n}\nweb -> apj:80\nwbe -> api:80\n";
    let (db, ws) = load(&[("a.netpol", src)], &[]);
    let diags = db::diagnostics(&db, ws).clone();
    let with_help: Vec<_> = diags
        .iter()
        .filter(|d| {
            d.help
                .as_deref()
                .is_some_and(|h| h.starts_with("did you mean"))
        })
        .collect();
    assert_eq!(with_help.len(), 2, "{diags:?}");
    let mut text = src.to_string();
    let mut edits = Vec::new();
    for d in with_help {
        let fix = fixes(d, src);
        assert_eq!(fix.len(), 1);
        edits.extend(fix[0].edits.clone());
    }
    apply(&mut text, &edits);
    assert!(text.contains("web -> api:80\nweb -> api:80"), "{text}");
    let (db2, ws2) = load(&[("a.netpol", &text)], &[]);
    assert!(!db::diagnostics(&db2, ws2).iter().any(|d| d.is_error()));
}

#[test]
fn allow_dns_fix_silences_w104() {
    let src = "namespace shop { isolate ingress, egress }\nservice web in shop {\n  select app = \"web\"\n}\nservice api in shop {\n  select app = \"api\"\n}\nweb -> api:80\n";
    let (db, ws) = load(&[("a.netpol", src)], &[]);
    let diags = db::diagnostics(&db, ws).clone();
    let no_dns: Vec<_> = diags
        .iter()
        .filter(|d| d.code == crate::diagnostic::Code::NoDnsEgress)
        .collect();
    assert!(!no_dns.is_empty(), "{diags:?}");
    let mut text = src.to_string();
    for d in no_dns {
        let name = &src[d.primary.span.start..d.primary.span.end];
        let fix = fixes(d, &text).pop().unwrap();
        assert!(fix.title.contains("allow DNS egress"));
        apply(&mut text, &fix.edits);
        assert!(text.contains(&format!("{name} -> kube-dns:dns")));
    }
    assert_eq!(text.matches("use std::dns").count(), 1);
    let (db2, ws2) = load(&[("a.netpol", &text)], &[]);
    let left: Vec<_> = db::diagnostics(&db2, ws2)
        .iter()
        .filter(|d| d.code == crate::diagnostic::Code::NoDnsEgress || d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert!(left.is_empty(), "{left:?}\n{text}");
}

#[test]
fn semantic_tokens_classify_every_reference_and_never_overlap() {
    let (db, ws) = shop();
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    let file = shop_file(&db);
    let toks = semantic_tokens(program, abs, file, SHOP);
    for w in toks.windows(2) {
        assert!(w[0].end <= w[1].start, "{w:?}");
    }
    for r in program
        .references
        .iter()
        .map(|r| abs(r.span))
        .filter(|s| s.file == file)
    {
        assert!(
            toks.iter().any(|t| t.start == r.start
                && t.end == r.end
                && !matches!(t.kind, TokenKind::Keyword | TokenKind::Comment)),
            "{r:?} `{}`",
            &SHOP[r.start..r.end]
        );
    }
    let comments = SHOP.lines().filter(|l| l.contains("//")).count();
    assert_eq!(
        toks.iter().filter(|t| t.kind == TokenKind::Comment).count(),
        comments
    );
}

#[test]
fn test_lenses_sit_on_every_test_block_and_say_what_its_run_found() {
    let wrong = SHOP.replace(
        "denied frontend -> orders-db:postgres",
        "allowed frontend -> orders-db:postgres",
    );
    assert_ne!(wrong, SHOP);
    for text in [SHOP, wrong.as_str()] {
        let (db, ws) = load(&[("shop.netpol", text)], SHOP_K8S);
        let file = shop_file(&db);
        let program = &db::resolved(&db, ws).program;
        let abs = |s: Span| db::absolute(&db, ws, s);
        let blocks = text.matches("\ntest \"").count();
        assert!(blocks > 0);
        // Before a run: a lens on each block, saying it has not run.
        let before = test_lenses(program, &abs, file, None);
        assert_eq!(before.len(), blocks);
        for l in &before {
            assert!(text[l.span.start..].starts_with("test \""), "{l:?}");
            assert_eq!(l.passed, None);
            assert!(l.title.contains("save to run"), "{l:?}");
        }
        // After a run: each lens gives its test's counts.
        let run = db::run_tests(&db, ws).unwrap();
        let lenses = test_lenses(program, &abs, file, Some(&run));
        assert_eq!(
            lenses.iter().map(|l| l.span).collect::<Vec<_>>(),
            before.iter().map(|l| l.span).collect::<Vec<_>>()
        );
        for l in &lenses {
            let r = run.iter().find(|r| r.span == l.span).unwrap();
            let failed = r.assertions.iter().filter(|a| !a.passed).count();
            let total = r.assertions.len();
            assert_eq!(l.passed, Some(failed == 0), "{l:?}");
            if failed == 0 {
                assert!(l.title.starts_with(&format!("✓ passed: {total} ")), "{l:?}");
            } else {
                assert!(
                    l.title
                        .starts_with(&format!("✗ failed: {failed} of {total} ")),
                    "{l:?}"
                );
            }
        }
        assert_eq!(
            lenses.iter().any(|l| l.passed == Some(false)),
            text != SHOP,
            "only the changed program fails"
        );
        // A lens only for the file asked about.
        assert!(test_lenses(program, &abs, FileId(u64::MAX), Some(&run)).is_empty());
    }
}

#[test]
fn the_cluster_block_is_highlighted_as_keywords_and_addresses() {
    let text = "cluster {\n  pods 10.244.0.0/16, fd00:10:244::/56\n  services 10.96.0.0/12\n}\n";
    let (db, ws) = load(&[("c.netpol", text)], &[]);
    let program = &db::resolved(&db, ws).program;
    let abs = &|s| db::absolute(&db, ws, s);
    let file = db.file("c.netpol").unwrap().id(&db);
    let toks = semantic_tokens(program, abs, file, text);
    let kind_of = |word: &str| {
        let start = text.find(word).unwrap();
        toks.iter()
            .find(|t| t.start == start && t.end == start + word.len())
            .map(|t| t.kind)
    };
    for word in ["cluster", "pods", "services"] {
        assert_eq!(kind_of(word), Some(TokenKind::Keyword), "{word}");
    }
    let cluster = program.cluster.as_ref().unwrap();
    assert_eq!(cluster.pods.len() + cluster.services.len(), 3);
    for (net, _) in cluster.pods.iter().chain(&cluster.services) {
        assert_eq!(kind_of(&net.to_string()), Some(TokenKind::Number), "{net}");
    }
}
