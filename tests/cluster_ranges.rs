//! W113 fires exactly when an external's addresses meet one of the cluster's ranges, and names
//! exactly the ranges it meets: for every common range (no `cluster` block) and every declared
//! range (with one), over externals on each side of each boundary of the range (inside, equal,
//! containing, containing with the range cut out, adjacent below and above, spanning the edge,
//! IPv6 and IPv4-mapped forms). The expectation is computed by a reference that knows nothing
//! of the lint's intervals: it probes every address where a block, an exception or a range
//! starts or ends (the least address of any intersection of such sets is one of them), with the
//! evaluator's membership test (`in_blocks`). `netpol import` warns, with the same reference,
//! on exactly the ipBlocks of the reference policies (../shared/reference) that meet the
//! ranges, and the program it writes declares them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failure should stop the test"
)]

use ipnet::IpNet;
use netpol_compiler::check::cluster_ranges::COMMON_RANGES;
use netpol_compiler::db::{self, Database};
use netpol_compiler::diagnostic::{Code, Severity};
use netpol_compiler::resolve::hir::{IpBlock, in_blocks};
use netpol_testkit as common;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An external as written: blocks and exceptions.
#[derive(Clone, Debug)]
struct Ext {
    blocks: Vec<IpNet>,
    except: Vec<IpNet>,
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn bits(n: &IpNet) -> u8 {
    match n {
        IpNet::V4(_) => 32,
        IpNet::V6(_) => 128,
    }
}

/// `addr + delta` in its own family, if it stays in it.
fn step(addr: IpAddr, delta: i128) -> Option<IpAddr> {
    match addr {
        IpAddr::V4(a) => {
            let v = i128::from(u32::from(a)) + delta;
            u32::try_from(v).ok().map(|v| IpAddr::V4(Ipv4Addr::from(v)))
        }
        IpAddr::V6(a) => {
            let v = u128::from(a).checked_add_signed(delta)?;
            Some(IpAddr::V6(Ipv6Addr::from(v)))
        }
    }
}

fn block(addr: IpAddr, prefix: u8) -> IpNet {
    IpNet::new(addr, prefix).unwrap().trunc()
}

fn host(addr: IpAddr) -> IpNet {
    IpNet::from(addr)
}

/// Externals around range `r`: on each side of each of its boundaries.
fn around(r: IpNet) -> Vec<Ext> {
    let p = r.prefix_len();
    let max = bits(&r);
    let one = |b: IpNet| Ext {
        blocks: vec![b],
        except: vec![],
    };
    let mut out = vec![
        one(r),
        one(block(r.network(), (p + 8).min(max))),
        one(host(r.broadcast())),
        one(host(r.network())),
    ];
    if p + 1 < max {
        // Inside, away from both ends.
        let mid = step(r.network(), 1i128 << (max - p - 1)).unwrap();
        out.push(one(block(mid, p + 2)));
    }
    if p > 0 {
        let sup = block(r.network(), p - 1);
        out.push(one(sup));
        out.push(one(block(r.network(), p.saturating_sub(4))));
        // The range cut out of a block that contains it: disjoint.
        out.push(Ext {
            blocks: vec![sup],
            except: vec![r],
        });
    }
    if p < max {
        // Half of the range cut out: the other half overlaps.
        out.push(Ext {
            blocks: vec![r],
            except: vec![block(r.network(), p + 1)],
        });
        if p > 0 {
            out.push(Ext {
                blocks: vec![block(r.network(), p - 1)],
                except: vec![block(r.network(), p + 1)],
            });
        }
    }
    if let Some(below) = step(r.network(), -1) {
        out.push(one(host(below)));
        out.push(one(block(below, p)));
        // Spanning the lower edge: the last address below and the first inside.
        out.push(Ext {
            blocks: vec![host(below), host(r.network())],
            except: vec![],
        });
    }
    if let Some(above) = step(r.broadcast(), 1) {
        out.push(one(host(above)));
        out.push(one(block(above, p)));
        if let Some(below) = step(r.network(), -1) {
            // Both neighbours, not the range: disjoint.
            out.push(Ext {
                blocks: vec![host(below), host(above)],
                except: vec![],
            });
        }
    }
    // The other family, and the IPv4-mapped IPv6 form of an IPv4 range.
    match r {
        IpNet::V4(v4) => {
            let mapped = v4.network().to_ipv6_mapped();
            out.push(one(block(IpAddr::V6(mapped), 96 + p)));
            out.push(one(net("::/0")));
        }
        IpNet::V6(_) => out.push(one(net("0.0.0.0/0"))),
    }
    out
}

/// The reference: does any address lie in the external and in `range`?
fn meets(e: &Ext, range: IpNet) -> bool {
    let blocks: Vec<IpBlock> = e
        .blocks
        .iter()
        .map(|b| IpBlock {
            cidr: *b,
            except: e
                .except
                .iter()
                .filter(|x| b.contains(*x) && *x != b)
                .copied()
                .collect(),
        })
        .collect();
    let mut probes = Vec::new();
    for n in e.blocks.iter().chain(&e.except).chain([&range]) {
        probes.push(n.network());
        probes.push(n.broadcast());
        probes.extend(step(n.broadcast(), 1));
        probes.extend(step(n.network(), -1));
    }
    probes
        .into_iter()
        .any(|ip| in_blocks(&blocks, ip) && range.contains(&ip.to_canonical()))
}

fn program(cluster: &str, exts: &[Ext]) -> String {
    let mut text = String::from(
        "namespace shop { isolate ingress, egress }\nservice web in shop { select app = \"web\" }\n",
    );
    text.push_str(cluster);
    let list = |v: &[IpNet]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, e) in exts.iter().enumerate() {
        text.push_str(&format!("external e{i} = {}", list(&e.blocks)));
        if !e.except.is_empty() {
            text.push_str(&format!(" except {}", list(&e.except)));
        }
        text.push_str(&format!("\nweb -> e{i}:443\n"));
    }
    text
}

/// For each external that W113 names, the ranges its message names.
fn warned(text: &str) -> BTreeMap<usize, BTreeSet<IpNet>> {
    let mut db = Database::default();
    let ws = db.workspace(vec![("p.netpol".to_string(), text.to_string())]);
    let diags = db::diagnostics(&db, ws);
    let errors: Vec<_> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.message.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    let mut out = BTreeMap::new();
    for d in diags
        .iter()
        .filter(|d| d.code == Code::BlockOverlapsCluster)
    {
        let quoted: Vec<&str> = d.message.split('`').skip(1).step_by(2).collect();
        let index: usize = quoted[0].strip_prefix('e').unwrap().parse().unwrap();
        let ranges = quoted[1..].iter().map(|q| net(q)).collect();
        assert!(
            out.insert(index, ranges).is_none(),
            "two warnings for e{index}"
        );
    }
    out
}

fn check(cluster: &str, ranges: &[IpNet], around_of: &[IpNet]) {
    let exts: Vec<Ext> = around_of.iter().flat_map(|r| around(*r)).collect();
    let got = warned(&program(cluster, &exts));
    let mut fired = 0;
    for (i, e) in exts.iter().enumerate() {
        let want: BTreeSet<IpNet> = ranges.iter().filter(|r| meets(e, **r)).copied().collect();
        let have = got.get(&i).cloned().unwrap_or_default();
        assert_eq!(have, want, "e{i} = {e:?}");
        fired += usize::from(!want.is_empty());
    }
    // Both outcomes occur, for the test to mean something.
    assert!(fired > 0 && fired < exts.len(), "{fired} of {}", exts.len());
}

#[test]
fn without_a_cluster_block_the_warning_fires_exactly_on_the_common_ranges() {
    let common: Vec<IpNet> = COMMON_RANGES.iter().map(|r| net(r)).collect();
    check("", &common, &common);
}

#[test]
fn with_a_cluster_block_the_warning_fires_exactly_on_the_declared_ranges() {
    let pods = [net("10.244.0.0/16"), net("fd00:10:244::/56")];
    let services = [net("10.96.0.0/12"), net("fd00:10:96::/112")];
    let cluster = format!(
        "cluster {{\n  pods {}, {}\n  services {}, {}\n}}\n",
        pods[0], pods[1], services[0], services[1]
    );
    let declared: Vec<IpNet> = pods.iter().chain(&services).copied().collect();
    // Around the declared ranges, and around the common ones, which no longer count.
    let mut around_of = declared.clone();
    around_of.extend(COMMON_RANGES.iter().map(|r| net(r)));
    check(&cluster, &declared, &around_of);
}

#[test]
fn a_second_cluster_block_in_another_file_is_an_error_at_both() {
    let mut db = Database::default();
    let ws = db.workspace(vec![
        (
            "a.netpol".to_string(),
            "cluster {\n  pods 10.244.0.0/16\n}\n".to_string(),
        ),
        (
            "b.netpol".to_string(),
            "namespace shop\n\ncluster {\n  services 10.96.0.0/12\n}\n".to_string(),
        ),
    ]);
    let diags = db::diagnostics(&db, ws);
    let dup: Vec<_> = diags.iter().filter(|d| d.code == Code::Duplicate).collect();
    assert_eq!(dup.len(), 1, "{diags:?}");
    let files = db::files_by_id(&db, ws);
    let path = |span: netpol_compiler::span::Span| {
        let span = db::absolute(&db, ws, span);
        let file = &files[&span.file];
        (file.path(&db).to_string(), span.start)
    };
    assert_eq!(path(dup[0].primary.span), ("b.netpol".to_string(), 16));
    assert_eq!(dup[0].secondary.len(), 1);
    assert_eq!(path(dup[0].secondary[0].span), ("a.netpol".to_string(), 0));
}

/// The reference policy files that carry an ipBlock.
fn reference_files_with_ip_blocks() -> Vec<(String, String)> {
    let dir = common::root().join("../shared/reference");
    let mut out = Vec::new();
    for entry in walk(&dir) {
        let text = std::fs::read_to_string(&entry).unwrap();
        if text.contains("ipBlock") {
            let rel = entry.strip_prefix(common::root()).unwrap();
            out.push((rel.to_string_lossy().into_owned(), text));
        }
    }
    out.sort();
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    out
}

/// Every ipBlock of the policies in `text`: (`file:line` of its policy, path, block).
fn ip_blocks(file: &str, text: &str) -> Vec<(String, String, Ext)> {
    let read = netpol_compiler::import::read(&[(file.to_string(), text.to_string())]).unwrap();
    let mut out = Vec::new();
    for input in &read.inputs {
        let at = format!("{}:{}", input.file, input.line);
        let Some(spec) = &input.policy.spec else {
            continue;
        };
        let mut peers = Vec::new();
        for (i, r) in spec.ingress.iter().flatten().enumerate() {
            for (j, p) in r.from.iter().flatten().enumerate() {
                peers.push((format!("spec.ingress[{i}].from[{j}]"), p));
            }
        }
        for (i, r) in spec.egress.iter().flatten().enumerate() {
            for (j, p) in r.to.iter().flatten().enumerate() {
                peers.push((format!("spec.egress[{i}].to[{j}]"), p));
            }
        }
        for (path, p) in peers {
            if let Some(b) = &p.ip_block {
                let ext = Ext {
                    blocks: vec![net(&b.cidr)],
                    except: b.except.iter().flatten().map(|e| net(e)).collect(),
                };
                out.push((at.clone(), path, ext));
            }
        }
    }
    out
}

#[test]
fn import_warns_on_exactly_the_reference_ip_blocks_that_meet_the_ranges() {
    let files = reference_files_with_ip_blocks();
    assert!(files.len() >= 3, "{files:?}");
    let common_ranges: Vec<IpNet> = COMMON_RANGES.iter().map(|r| net(r)).collect();
    // No ranges given (the common ones), and two clusters whose ranges fall on each side of
    // the reference blocks (one is exactly an `except` of a reference block).
    let settings: Vec<(Vec<IpNet>, Vec<IpNet>)> = vec![
        (vec![], vec![]),
        (vec![net("10.0.0.0/16")], vec![net("10.96.0.0/12")]),
        (
            vec![net("10.0.2.0/24"), net("192.168.0.0/24")],
            vec![net("172.17.1.0/24"), net("fd00:10:96::/112")],
        ),
    ];
    let mut fired = 0;
    let mut quiet = 0;
    for (pods, services) in &settings {
        let ranges: Vec<IpNet> = if pods.is_empty() && services.is_empty() {
            common_ranges.clone()
        } else {
            pods.iter().chain(services).copied().collect()
        };
        for (file, text) in &files {
            let mut args = vec!["--allow-outside".to_string(), "../shared".to_string()];
            args.extend(["import".to_string(), file.clone()]);
            for p in pods {
                args.extend(["--pod-cidr".to_string(), p.to_string()]);
            }
            for s in services {
                args.extend(["--service-cidr".to_string(), s.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = common::run(env!("CARGO_BIN_EXE_netpol"), &common::root(), &args);
            assert_eq!(run.code, 0, "{file}: {}", run.stderr);
            let mut want = BTreeSet::new();
            for (at, path, ext) in ip_blocks(file, text) {
                let hits: BTreeSet<IpNet> = ranges
                    .iter()
                    .filter(|r| meets(&ext, **r))
                    .copied()
                    .collect();
                if hits.is_empty() {
                    quiet += 1;
                } else {
                    fired += 1;
                    want.insert((at, ext.blocks[0].to_string(), path, hits));
                }
            }
            let mut have = BTreeSet::new();
            for line in run.stderr.lines() {
                let Some(w) = line.strip_prefix("warning: ") else {
                    continue;
                };
                let (at, rest) = w.split_once(": NetworkPolicy ").unwrap();
                let (head, tail) = rest.split_once(" overlaps ").unwrap();
                let quoted: Vec<&str> = head.split('`').skip(1).step_by(2).collect();
                let path = quoted.last().unwrap().to_string();
                let hits = tail.split('`').skip(1).step_by(2).map(net).collect();
                have.insert((at.to_string(), quoted[1].to_string(), path, hits));
            }
            assert_eq!(
                have, want,
                "{file} with {pods:?} {services:?}:\n{}",
                run.stderr
            );
            // The program declares the ranges, and compiled it warns where import did.
            let declared = !pods.is_empty() || !services.is_empty();
            assert_eq!(
                run.stdout.contains("\ncluster {\n"),
                declared,
                "{}",
                run.stdout
            );
            let mut db = Database::default();
            let ws = db.workspace(vec![("imported.netpol".to_string(), run.stdout.clone())]);
            let diags = db::diagnostics(&db, ws);
            assert!(
                diags.iter().all(|d| d.severity != Severity::Error),
                "{diags:?}\n{}",
                run.stdout
            );
            // `anywhere` is the importer's name for an absent peer list (every pod and every
            // address), which is no ipBlock of the input.
            let compiled = diags
                .iter()
                .filter(|d| d.code == Code::BlockOverlapsCluster)
                .filter(|d| !d.message.starts_with("external `anywhere"))
                .count();
            assert_eq!(compiled > 0, !want.is_empty(), "{}", run.stdout);
        }
    }
    assert!(fired > 0 && quiet > 0, "{fired} warned, {quiet} quiet");
}
