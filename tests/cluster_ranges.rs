//! W113 fires exactly when an external's addresses meet one of the cluster's ranges, and names
//! exactly the ranges it meets: for every common range (no `cluster` block) and every declared
//! range (with one), over externals on each side of each boundary of the range (inside, equal,
//! containing, containing with the range cut out, adjacent below and above, spanning the edge,
//! IPv6 and IPv4-mapped forms). The expectation is computed by a reference that knows nothing
//! of the lint's intervals: it probes every address where a block, an exception or a range
//! starts or ends (the least address of any intersection of such sets is one of them), with the
//! evaluator's membership test (`in_blocks`).

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
