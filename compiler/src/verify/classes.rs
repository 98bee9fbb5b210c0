//! The finite pieces `verify` reasons over: label classes (the atoms of a set of selectors),
//! namespace classes, address regions and port pieces.

use crate::k8s::eval::{NAMESPACE_NAME_LABEL, Protocol};
use crate::k8s::selector::{Constraint, Sel, Values};
use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A Kubernetes label selector as a [`Sel`], or `None` when the API server would reject it
/// (the evaluator matches nothing with it: it tells no pods apart).
pub fn sel_of(selector: &LabelSelector) -> Option<Sel> {
    let mut sel = Sel::all();
    for (k, v) in selector.match_labels.iter().flatten() {
        sel.require(k, Constraint::eq(v));
    }
    for e in selector.match_expressions.iter().flatten() {
        let values: Vec<&str> = e.values.iter().flatten().map(String::as_str).collect();
        let c = match e.operator.as_str() {
            "In" if !values.is_empty() => Constraint::is_in(values),
            "NotIn" if !values.is_empty() => Constraint::not_in(values),
            "Exists" if values.is_empty() => Constraint::exists(),
            "DoesNotExist" if values.is_empty() => Constraint::does_not_exist(),
            _ => return None,
        };
        sel.require(&e.key, c);
    }
    Some(sel)
}

/// The constraint met exactly by the values (and absence) `c` is not met by.
fn negate(c: &Constraint) -> Constraint {
    Constraint {
        absent_ok: !c.absent_ok,
        values: match &c.values {
            Values::In(s) => Values::NotIn(s.clone()),
            Values::NotIn(s) => Values::In(s.clone()),
        },
    }
}

/// The classes of label sets within `base` that `sels` tell apart: disjoint selectors covering
/// `base`, each wholly inside or wholly outside every one of `sels`. `None` when there would be
/// more than `cap`.
pub fn atoms(base: Sel, sels: &[&Sel], cap: usize) -> Option<Vec<Sel>> {
    let mut distinct: Vec<&Sel> = sels.to_vec();
    distinct.sort();
    distinct.dedup();
    let mut classes = vec![base];
    for s in distinct {
        let mut next = Vec::with_capacity(classes.len() + 1);
        for c in classes {
            if c.implies(s) || !c.overlaps(s) {
                next.push(c);
                continue;
            }
            next.push(c.and(s));
            // Outside `s`: the first key whose constraint fails, the earlier ones holding.
            let mut prefix = c;
            for (k, con) in &s.keys {
                let mut piece = prefix.clone();
                piece.require(k, negate(con));
                if !piece.is_unsat() {
                    next.push(piece);
                }
                prefix.require(k, con.clone());
            }
        }
        if next.len() > cap {
            return None;
        }
        classes = next;
    }
    Some(classes)
}

/// A class of namespaces: a name (one the program or the policies mention, or one they do not)
/// and labels, with everything the namespace selectors can tell apart fixed.
#[derive(Clone, Debug)]
pub struct NsClass {
    pub name: String,
    /// Its labels, `kubernetes.io/metadata.name` included.
    pub labels: BTreeMap<String, String>,
    /// The class, as a selector over namespace labels.
    pub sel: Sel,
    /// Whether the name is one the program or the policies mention.
    pub named: bool,
}

/// The namespace classes that `names` and the namespace selectors `sels` tell apart.
pub fn namespace_classes(
    names: &BTreeSet<String>,
    sels: &[Sel],
    cap: usize,
) -> Option<Vec<NsClass>> {
    let by_name: Vec<Sel> = names
        .iter()
        .map(|n| {
            let mut s = Sel::all();
            s.require(NAMESPACE_NAME_LABEL, Constraint::eq(n));
            s
        })
        .collect();
    let mut base = Sel::all();
    base.require(NAMESPACE_NAME_LABEL, Constraint::exists());
    let all: Vec<&Sel> = by_name.iter().chain(sels.iter()).collect();
    let classes = atoms(base, &all, cap)?;
    Some(
        classes
            .into_iter()
            .filter_map(|sel| {
                let labels = sel.witness()?;
                let name = labels.get(NAMESPACE_NAME_LABEL)?.clone();
                Some(NsClass {
                    named: names.contains(&name),
                    name,
                    labels,
                    sel,
                })
            })
            .collect(),
    )
}

/// Start points of the pieces of the address space that a set of blocks cannot tell apart.
#[derive(Clone, Debug, Default)]
pub struct Regions {
    points: BTreeSet<(bool, u128)>,
}

impl Regions {
    pub fn new() -> Regions {
        let mut r = Regions::default();
        r.points.insert((false, 0));
        r.points.insert((true, 0));
        r
    }

    /// Splits at the start and after the end of `net`; an IPv4 block also splits the IPv4-mapped
    /// IPv6 range, which Kubernetes reads as IPv4.
    pub fn add(&mut self, net: &IpNet) {
        let net = net.trunc();
        match net {
            IpNet::V4(n) => {
                let start = u128::from(u32::from(n.network()));
                let end = u128::from(u32::from(n.broadcast()));
                self.points.insert((false, start));
                if end < u128::from(u32::MAX) {
                    self.points.insert((false, end + 1));
                }
                let mapped = 0xffff_u128 << 32;
                self.points.insert((true, mapped + start));
                self.points.insert((true, mapped + end + 1));
            }
            IpNet::V6(n) => {
                let start = u128::from(n.network());
                let end = u128::from(n.broadcast());
                self.points.insert((true, start));
                if let Some(next) = end.checked_add(1) {
                    self.points.insert((true, next));
                }
            }
        }
    }

    /// One address of each piece.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.points
            .iter()
            .map(|(v6, n)| {
                if *v6 {
                    IpAddr::V6(Ipv6Addr::from(*n))
                } else {
                    IpAddr::V4(Ipv4Addr::from(u32::try_from(*n).unwrap_or(u32::MAX)))
                }
            })
            .collect()
    }
}

/// The pieces of each protocol's port space: numbers that the port ranges cannot tell apart,
/// and the port names that may resolve to them.
#[derive(Clone, Debug, Default)]
pub struct Ports {
    starts: BTreeMap<Protocol, BTreeSet<u32>>,
    names: BTreeMap<Protocol, BTreeSet<String>>,
}

impl Ports {
    pub fn range(&mut self, protocol: Protocol, start: u16, end: u16) {
        let set = self.starts.entry(protocol).or_default();
        set.insert(u32::from(start));
        set.insert(u32::from(end) + 1);
    }

    pub fn name(&mut self, protocol: Protocol, name: &str) {
        self.names
            .entry(protocol)
            .or_default()
            .insert(name.to_string());
    }

    /// (protocol, one port of each piece, the names that can resolve there).
    pub fn probes(&self) -> Vec<(Protocol, u16, Vec<&str>)> {
        let mut out = Vec::new();
        for p in Protocol::ALL {
            let names: Vec<&str> = self
                .names
                .get(&p)
                .map(|s| s.iter().map(String::as_str).collect())
                .unwrap_or_default();
            let mut points: BTreeSet<u32> = BTreeSet::from([1]);
            if let Some(s) = self.starts.get(&p) {
                points.extend(s.iter().copied().filter(|n| (1..=65535).contains(n)));
            }
            for n in points {
                if let Ok(port) = u16::try_from(n) {
                    out.push((p, port, names.clone()));
                }
            }
        }
        out
    }
}

/// Every subset of `names` (at most `2^cap`), or `None` beyond that.
pub fn subsets<'a>(names: &[&'a str], cap: usize) -> Option<Vec<Vec<&'a str>>> {
    if names.len() > cap {
        return None;
    }
    let mut out = vec![Vec::new()];
    for n in names {
        let with: Vec<Vec<&str>> = out
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.push(*n);
                s
            })
            .collect();
        out.extend(with);
    }
    Some(out)
}
