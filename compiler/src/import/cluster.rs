//! The cluster's pod and Service ranges in `netpol import`: the ipBlocks of the imported
//! policies that meet them get the warning that `check` gives an external (W113, from
//! `check::cluster_ranges`), and the ranges given to the importer are written into the
//! program's `cluster` block, so that compiling it checks against the same ranges.

use super::read::Input;
use crate::check::cluster_ranges::{self, ClusterRange, RangeKind};
use crate::resolve::hir::IpBlock;
use crate::resolve::{FileAst, assemble, declarations};
use crate::span::FileId;
use crate::syntax::parse;
use ipnet::IpNet;

/// The cluster's ranges as the importer is given them (`--pod-cidr`, `--service-cidr`).
/// Empty: the ranges clusters commonly use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterRanges {
    pub pods: Vec<IpNet>,
    pub services: Vec<IpNet>,
}

impl ClusterRanges {
    /// Reads the ranges as a `cluster` block would hold them, with the rules of one: valid
    /// CIDRs without host bits, no IPv4-mapped IPv6 block, no two sharing an address. The
    /// error names the option and says what is wrong.
    pub fn parse(pods: &[String], services: &[String]) -> Result<ClusterRanges, String> {
        for (flag, list) in [("--pod-cidr", pods), ("--service-cidr", services)] {
            if let Some(bad) = list.iter().find(|c| {
                c.is_empty()
                    || !c
                        .chars()
                        .all(|ch| ch.is_ascii_hexdigit() || matches!(ch, '.' | ':' | '/'))
            }) {
                return Err(format!("{flag}: `{bad}` is not an address block"));
            }
        }
        let text = block(pods, services);
        if text.is_empty() {
            return Ok(ClusterRanges::default());
        }
        let parsed = parse(FileId(0), &text);
        if let Some(e) = parsed.errors.first() {
            return Err(format!("the cluster's ranges: {}", e.message));
        }
        let decls = declarations(
            &[FileAst {
                file: FileId(0),
                ast: &parsed.ast,
            }],
            &[],
        );
        let resolved = assemble(&decls, std::iter::empty());
        if let Some(e) = resolved.diagnostics.first() {
            return Err(format!("the cluster's ranges: {}", e.message));
        }
        let Some(cluster) = resolved.program.cluster else {
            return Ok(ClusterRanges::default());
        };
        Ok(ClusterRanges {
            pods: cluster.pods.iter().map(|(n, _)| *n).collect(),
            services: cluster.services.iter().map(|(n, _)| *n).collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty() && self.services.is_empty()
    }

    /// The ranges the warning checks against.
    fn ranges(&self) -> Vec<ClusterRange> {
        if self.is_empty() {
            return cluster_ranges::ranges(None);
        }
        let with = |list: &[IpNet], kind| {
            list.iter()
                .map(|net| ClusterRange {
                    net: *net,
                    kind,
                    span: None,
                })
                .collect::<Vec<_>>()
        };
        let mut out = with(&self.pods, RangeKind::Pods);
        out.extend(with(&self.services, RangeKind::Services));
        out
    }

    /// Why the warnings matter and what to do, said once after them.
    pub fn warning_help(&self) -> String {
        if self.is_empty() {
            format!(
                "{}; give the cluster's own ranges with `--pod-cidr` and `--service-cidr` to \
                 check against those instead",
                cluster_ranges::WHY
            )
        } else {
            cluster_ranges::WHY.to_string()
        }
    }

    /// The program's `cluster` block, or nothing when no range is given.
    pub(in crate::import) fn block_text(&self) -> String {
        let show = |l: &[IpNet]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
        block(&show(&self.pods), &show(&self.services))
    }
}

fn block(pods: &[String], services: &[String]) -> String {
    if pods.is_empty() && services.is_empty() {
        return String::new();
    }
    let mut text = "cluster {\n".to_string();
    for (word, list) in [("pods", pods), ("services", services)] {
        if !list.is_empty() {
            text.push_str(&format!("  {word} {}\n", list.join(", ")));
        }
    }
    text.push_str("}\n");
    text
}

/// One warning per ipBlock of `input` that meets the cluster's ranges:
/// `file:line: NetworkPolicy `ns/name`: the ipBlock `cidr` of `spec.egress[0].to[1]` overlaps …`.
pub(in crate::import) fn warnings(input: &Input, id: &str, cluster: &ClusterRanges) -> Vec<String> {
    let ranges = cluster.ranges();
    let mut out = Vec::new();
    let Some(spec) = &input.policy.spec else {
        return out;
    };
    let mut peers = Vec::new();
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        for (j, p) in rule.from.iter().flatten().enumerate() {
            peers.push((format!("spec.ingress[{i}].from[{j}]"), p));
        }
    }
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        for (j, p) in rule.to.iter().flatten().enumerate() {
            peers.push((format!("spec.egress[{i}].to[{j}]"), p));
        }
    }
    for (path, peer) in peers {
        let Some(b) = &peer.ip_block else { continue };
        let Ok(block) = super::model::block(b) else {
            continue;
        };
        let blocks = [IpBlock {
            cidr: block.cidr,
            except: block.except.clone(),
        }];
        let hits = cluster_ranges::overlapping(&blocks, &ranges);
        if hits.is_empty() {
            continue;
        }
        let except = match &b.except {
            Some(e) if !e.is_empty() => format!(
                " except {}",
                e.iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        out.push(format!(
            "{}:{}: NetworkPolicy `{id}`: the ipBlock `{}`{except} of `{path}` overlaps {}",
            input.file,
            input.line,
            b.cidr,
            cluster_ranges::describe(&hits),
        ));
    }
    out
}
