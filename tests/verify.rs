//! `compile --verify` (translation validation, `compiler/src/verify/`): every example and the
//! random programs of the differential tests verify; every kind of corruption of the output
//! (one emitted policy mutated) is caught with a counterexample.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use netpol_testkit as common;

use common::random::{random_cluster, random_program};
use common::*;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use netpol_compiler::db;
use netpol_compiler::verify::{self, Failure};

fn verified(c: &Compiled) -> Result<verify::Stats, Failure> {
    let program = &db::resolved(&c.db, c.ws).program;
    verify::verify(program, &c.policies())
}

#[test]
fn every_example_verifies() {
    let dirs = example_dirs();
    assert!(!dirs.is_empty());
    for dir in dirs {
        let c = compile_dir(&dir);
        assert!(c.yaml.is_some(), "{}:\n{}", dir.display(), c.rendered());
        match verified(&c) {
            Ok(stats) => println!("{}: {stats:?}", dir.display()),
            Err(f) => panic!("{}: {}", dir.display(), f.message()),
        }
    }
}

/// The random programs of tests/semantics.rs, with their cluster's manifests.
fn random_compiled(seeds: std::ops::Range<u64>) -> Vec<(u64, Compiled)> {
    let (_, manifest_text) = random_cluster();
    let mut out = Vec::new();
    for seed in seeds {
        let src = random_program(seed);
        let mut db = db::Database::default();
        let ws = db.workspace(vec![("random.netpol".into(), src)]);
        db.set_manifests(
            ws,
            vec![("pods.yaml".into(), manifest_text.clone(), "default".into())],
            Vec::new(),
        );
        let diagnostics = db::diagnostics(&db, ws).clone();
        let Some(docs) = db::emitted(&db, ws).clone() else {
            continue;
        };
        let yaml = docs
            .iter()
            .map(|d| d.yaml.as_str())
            .collect::<Vec<_>>()
            .join("---\n");
        out.push((
            seed,
            Compiled {
                db,
                ws,
                diagnostics,
                yaml: Some(yaml),
            },
        ));
    }
    out
}

#[test]
fn random_programs_verify() {
    let programs = 300;
    let compiled = random_compiled(0..programs);
    for (seed, c) in &compiled {
        if let Err(f) = verified(c) {
            panic!(
                "seed {seed}: {}\n{}",
                f.message(),
                c.yaml.as_deref().unwrap_or("")
            );
        }
    }
    println!("random programs verified: {} of {programs}", compiled.len());
    assert!(compiled.len() >= programs as usize / 2);
}

// ------------------------------------------------------------------ corruptions

const SHOP: &str = r#"
namespace shop { isolate ingress, egress }
namespace data { isolate ingress }

service web in shop {
  select app = "web"
}
service api in shop {
  select app = "api"
}
service db in data {
  select app = "db"
}

external payments = 198.51.100.0/24

web -> api:8080, api:9090
api -> db:5432
api -> payments:443
"#;

fn shop() -> Compiled {
    let c = compile_files(vec![("shop.netpol".into(), SHOP.into())], None);
    assert!(c.yaml.is_some(), "{}", c.rendered());
    c
}

/// Applies `mutate` to the policies (it must change one), verifies, and returns the message.
fn corrupted(mutate: impl Fn(&mut Vec<NetworkPolicy>) -> bool) -> String {
    let c = shop();
    let program = &db::resolved(&c.db, c.ws).program;
    let mut policies = c.policies();
    verify::verify(program, &policies).unwrap_or_else(|f| panic!("{}", f.message()));
    assert!(
        mutate(&mut policies),
        "the mutation found nothing to change"
    );
    match verify::verify(program, &policies) {
        Ok(stats) => panic!("the corruption was not caught ({stats:?})"),
        Err(f @ Failure::Mismatch(_)) => f.message(),
        Err(f) => panic!("not a counterexample: {}", f.message()),
    }
}

fn named<'a>(policies: &'a mut [NetworkPolicy], name: &str) -> &'a mut NetworkPolicy {
    policies
        .iter_mut()
        .find(|p| p.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no policy `{name}`"))
}

#[test]
fn a_wider_selector_is_caught() {
    // The ingress peer `app: web` of `api` becomes every pod of the namespace.
    let msg = corrupted(|ps| {
        let api = named(ps, "api");
        let rule = &mut api.spec.as_mut().unwrap().ingress.as_mut().unwrap()[0];
        let peer = &mut rule.from.as_mut().unwrap()[0];
        peer.pod_selector.as_mut().unwrap().match_labels = None;
        true
    });
    assert!(
        msg.contains("the program denies it and the policies allow it"),
        "{msg}"
    );
    assert!(msg.contains("the ingress side of the destination"), "{msg}");
    assert!(
        msg.contains("pods `app = \"api\"` in namespace `shop`"),
        "{msg}"
    );
}

#[test]
fn a_dropped_port_is_caught() {
    // `web`'s egress rule loses its ports: every port to api.
    let msg = corrupted(|ps| {
        let web = named(ps, "web");
        for rule in web.spec.as_mut().unwrap().egress.as_mut().unwrap() {
            if rule.ports.as_ref().is_some_and(|p| p.len() > 1) {
                rule.ports.as_mut().unwrap().remove(0);
                return true;
            }
        }
        false
    });
    assert!(
        msg.contains("the program allows it and the policies deny it"),
        "{msg}"
    );
    assert!(msg.contains("the egress side of the source"), "{msg}");
}

#[test]
fn a_wider_cidr_is_caught() {
    let msg = corrupted(|ps| {
        let api = named(ps, "api");
        for rule in api.spec.as_mut().unwrap().egress.as_mut().unwrap() {
            for peer in rule.to.iter_mut().flatten() {
                if let Some(b) = &mut peer.ip_block {
                    b.cidr = "198.51.0.0/16".to_string();
                    return true;
                }
            }
        }
        false
    });
    assert!(msg.contains("address `198.51."), "{msg}");
    assert!(
        msg.contains("the program denies it and the policies allow it"),
        "{msg}"
    );
}

#[test]
fn a_missing_namespace_selector_is_caught() {
    // `api -> db` crosses namespaces: without its namespaceSelector the peer means `app: db`
    // pods of `shop`.
    let msg = corrupted(|ps| {
        let api = named(ps, "api");
        for rule in api.spec.as_mut().unwrap().egress.as_mut().unwrap() {
            for peer in rule.to.iter_mut().flatten() {
                if peer.namespace_selector.is_some() && peer.pod_selector.is_some() {
                    peer.namespace_selector = None;
                    return true;
                }
            }
        }
        false
    });
    assert!(
        msg.contains("namespace `data`") || msg.contains("namespace `shop`"),
        "{msg}"
    );
}

#[test]
fn a_dropped_policy_is_caught() {
    let msg = corrupted(|ps| {
        let before = ps.len();
        ps.retain(|p| p.metadata.name.as_deref() != Some("db"));
        ps.len() < before
    });
    assert!(
        msg.contains("the program allows it and the policies deny it"),
        "{msg}"
    );
    assert!(
        msg.contains("pods `app = \"db\"` in namespace `data`"),
        "{msg}"
    );
}

#[test]
fn dropping_every_policy_of_a_namespace_is_caught() {
    let msg = corrupted(|ps| {
        let before = ps.len();
        ps.retain(|p| p.metadata.namespace.as_deref() != Some("data"));
        ps.len() < before
    });
    assert!(msg.contains("no policy isolates it"), "{msg}");
    assert!(
        msg.contains("the program denies it and the policies allow it"),
        "{msg}"
    );
}

#[test]
fn a_counterexample_names_a_port_name_on_its_protocol() {
    // A named port carried to the output: a rule that loses its protocol (TCP by default)
    // no longer admits the name on UDP.
    let src = r#"
namespace logs { isolate ingress }
service collector in logs {
  select app = "collector"
}
cluster -> collector:"syslog"/udp
"#;
    let c = compile_files(vec![("logs.netpol".into(), src.into())], None);
    assert!(c.yaml.is_some(), "{}", c.rendered());
    let program = &db::resolved(&c.db, c.ws).program;
    let mut policies = c.policies();
    verify::verify(program, &policies).unwrap_or_else(|f| panic!("{}", f.message()));
    let mut changed = false;
    for p in &mut policies {
        for rule in p.spec.as_mut().unwrap().ingress.iter_mut().flatten() {
            for port in rule.ports.iter_mut().flatten() {
                port.protocol = None;
                changed = true;
            }
        }
    }
    assert!(changed, "{}", c.yaml.as_deref().unwrap_or(""));
    let msg = verify::verify(program, &policies).unwrap_err().message();
    assert!(
        msg.contains("/UDP (the destination names that port `syslog`)"),
        "{msg}"
    );
}

/// The command: `compile --verify` on every example exits 0 and writes the same bytes as a
/// compile without it; `--no-verify` after `--verify` turns it off.
#[test]
fn compile_verify_on_every_example() {
    let bin = env!("CARGO_BIN_EXE_netpol");
    for dir in example_dirs() {
        let d = dir.to_str().unwrap();
        let plain = run(bin, &root(), &["compile", d, "--color", "never"]);
        let proved = run(
            bin,
            &root(),
            &["compile", d, "--verify", "--color", "never"],
        );
        assert_eq!(plain.code, 0, "{d}: {}", plain.stderr);
        assert_eq!(proved.code, 0, "{d}: {}", proved.stderr);
        assert_eq!(plain.stdout, proved.stdout, "{d}");
        let off = run(bin, &root(), &["compile", d, "--verify", "--no-verify"]);
        assert_eq!(off.code, 0, "{d}: {}", off.stderr);
    }
}
