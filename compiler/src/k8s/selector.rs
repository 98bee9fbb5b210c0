//! Label selectors as sets of pods, with the algebra the compiler needs: conjunction,
//! satisfiability, implication, and a canonical form for emission.
//!
//! A selector is a conjunction of per-key constraints. Each constraint says whether the key
//! may be absent and which values it may take (a finite set, or everything except a finite
//! set). Every Kubernetes requirement maps onto one constraint exactly:
//!
//! | written          | absent allowed | values           |
//! |------------------|----------------|------------------|
//! | `k = v`          | no             | in {v}           |
//! | `k in (a, b)`    | no             | in {a, b}        |
//! | `k != v`         | yes            | not in {v}       |
//! | `k not in (a,b)` | yes            | not in {a, b}    |
//! | `k`              | no             | not in {}        |
//! | `!k`             | yes            | in {}            |

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A selector in Kubernetes form: `matchLabels`, and `matchExpressions` as (key, operator, values).
pub type K8sSelector = (
    BTreeMap<String, String>,
    Vec<(String, &'static str, Vec<String>)>,
);

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Values {
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
}

impl Values {
    fn contains(&self, v: &str) -> bool {
        match self {
            Values::In(s) => s.contains(v),
            Values::NotIn(s) => !s.contains(v),
        }
    }

    fn intersect(&self, other: &Values) -> Values {
        match (self, other) {
            (Values::In(a), Values::In(b)) => Values::In(a.intersection(b).cloned().collect()),
            (Values::In(a), Values::NotIn(b)) | (Values::NotIn(b), Values::In(a)) => {
                Values::In(a.difference(b).cloned().collect())
            }
            (Values::NotIn(a), Values::NotIn(b)) => Values::NotIn(a.union(b).cloned().collect()),
        }
    }

    fn subset_of(&self, other: &Values) -> bool {
        match (self, other) {
            (Values::In(a), Values::In(b)) => a.is_subset(b),
            (Values::In(a), Values::NotIn(b)) => a.is_disjoint(b),
            (Values::NotIn(_), Values::In(_)) => false,
            (Values::NotIn(a), Values::NotIn(b)) => b.is_subset(a),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Values::In(s) if s.is_empty())
    }
}

/// What one key must satisfy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Constraint {
    pub absent_ok: bool,
    pub values: Values,
}

impl Constraint {
    pub fn eq(v: &str) -> Constraint {
        Constraint {
            absent_ok: false,
            values: Values::In(BTreeSet::from([v.to_string()])),
        }
    }
    pub fn is_in<'a>(vs: impl IntoIterator<Item = &'a str>) -> Constraint {
        Constraint {
            absent_ok: false,
            values: Values::In(vs.into_iter().map(str::to_string).collect()),
        }
    }
    pub fn not_in<'a>(vs: impl IntoIterator<Item = &'a str>) -> Constraint {
        Constraint {
            absent_ok: true,
            values: Values::NotIn(vs.into_iter().map(str::to_string).collect()),
        }
    }
    pub fn exists() -> Constraint {
        Constraint {
            absent_ok: false,
            values: Values::NotIn(BTreeSet::new()),
        }
    }
    pub fn does_not_exist() -> Constraint {
        Constraint {
            absent_ok: true,
            values: Values::In(BTreeSet::new()),
        }
    }

    pub fn matches(&self, value: Option<&str>) -> bool {
        match value {
            None => self.absent_ok,
            Some(v) => self.values.contains(v),
        }
    }

    fn and(&self, other: &Constraint) -> Constraint {
        Constraint {
            absent_ok: self.absent_ok && other.absent_ok,
            values: self.values.intersect(&other.values),
        }
    }

    fn is_unsat(&self) -> bool {
        !self.absent_ok && self.values.is_empty()
    }

    /// True when some value (or absence) satisfies both; `!(a.and(b)).is_unsat()` without
    /// building the conjunction.
    fn compatible(&self, other: &Constraint) -> bool {
        if self.absent_ok && other.absent_ok {
            return true;
        }
        match (&self.values, &other.values) {
            (Values::In(a), Values::In(b)) => a.iter().any(|v| b.contains(v)),
            (Values::In(a), Values::NotIn(b)) | (Values::NotIn(b), Values::In(a)) => {
                a.iter().any(|v| !b.contains(v))
            }
            (Values::NotIn(_), Values::NotIn(_)) => true,
        }
    }

    fn implies(&self, other: &Constraint) -> bool {
        self.is_unsat()
            || ((!self.absent_ok || other.absent_ok) && self.values.subset_of(&other.values))
    }
}

/// A conjunction of constraints, one per key. The empty selector selects every pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sel {
    pub keys: BTreeMap<String, Constraint>,
}

impl Sel {
    /// Labels that satisfy the selector, or `None` when none do: a value for every key that
    /// must be present (the first allowed value, or a fresh `netpol-N` outside a `notin`),
    /// nothing for keys whose absence satisfies it.
    pub fn witness(&self) -> Option<BTreeMap<String, String>> {
        if self.is_unsat() {
            return None;
        }
        let mut labels = BTreeMap::new();
        for (k, c) in &self.keys {
            if c.absent_ok {
                continue;
            }
            let value = match &c.values {
                Values::In(vals) => vals.iter().next()?.clone(),
                Values::NotIn(vals) => (0..)
                    .map(|i| format!("netpol-{i}"))
                    .find(|v| !vals.contains(v))?,
            };
            labels.insert(k.clone(), value);
        }
        Some(labels)
    }

    pub fn all() -> Sel {
        Sel::default()
    }

    pub fn is_all(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds a requirement (conjunction).
    pub fn require(&mut self, key: &str, c: Constraint) {
        let merged = match self.keys.get(key) {
            Some(old) => old.and(&c),
            None => c,
        };
        self.keys.insert(key.to_string(), merged);
    }

    pub fn and(&self, other: &Sel) -> Sel {
        let mut out = self.clone();
        for (k, c) in &other.keys {
            out.require(k, c.clone());
        }
        out
    }

    /// True when no set of labels can satisfy the selector.
    pub fn is_unsat(&self) -> bool {
        self.keys.values().any(Constraint::is_unsat)
    }

    /// True when every pod this selector selects is also selected by `other`.
    pub fn implies(&self, other: &Sel) -> bool {
        if self.is_unsat() {
            return true;
        }
        other.keys.iter().all(|(k, oc)| match self.keys.get(k) {
            Some(mine) => mine.implies(oc),
            // An unmentioned key may be absent or take any value.
            None => oc.absent_ok && matches!(&oc.values, Values::NotIn(s) if s.is_empty()),
        })
    }

    /// True when some labels satisfy both.
    pub fn overlaps(&self, other: &Sel) -> bool {
        !self.is_unsat()
            && !other.is_unsat()
            && self
                .keys
                .iter()
                .all(|(k, c)| other.keys.get(k).is_none_or(|o| c.compatible(o)))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.keys
            .iter()
            .all(|(k, c)| c.matches(labels.get(k).map(String::as_str)))
    }

    /// If the two selectors differ in exactly one key, and on that key both are `In` sets
    /// with no absence, returns their union (which selects exactly the union of the pods).
    pub fn merge_in(&self, other: &Sel) -> Option<Sel> {
        if self.keys.len() != other.keys.len() {
            return None;
        }
        let mut differing = None;
        for (k, c) in &self.keys {
            let oc = other.keys.get(k)?;
            if c != oc {
                if differing.is_some() {
                    return None;
                }
                differing = Some((k, c, oc));
            }
        }
        let (k, c, oc) = differing?;
        match (&c.values, &oc.values, c.absent_ok, oc.absent_ok) {
            (Values::In(a), Values::In(b), false, false) => {
                let mut out = self.clone();
                out.keys.insert(
                    k.clone(),
                    Constraint {
                        absent_ok: false,
                        values: Values::In(a.union(b).cloned().collect()),
                    },
                );
                Some(out)
            }
            _ => None,
        }
    }

    /// The selector as Kubernetes `matchLabels` and `matchExpressions` (operator, values),
    /// both sorted by key. Unsatisfiable selectors are never emitted, so this assumes
    /// satisfiable input.
    pub fn to_k8s(&self) -> K8sSelector {
        let mut labels = BTreeMap::new();
        let mut exprs = Vec::new();
        for (k, c) in &self.keys {
            match (&c.values, c.absent_ok) {
                (Values::In(s), false) if s.len() == 1 => {
                    if let Some(v) = s.iter().next() {
                        labels.insert(k.clone(), v.clone());
                    }
                }
                (Values::In(s), false) => {
                    exprs.push((k.clone(), "In", s.iter().cloned().collect()))
                }
                (Values::In(_), true) => exprs.push((k.clone(), "DoesNotExist", Vec::new())),
                (Values::NotIn(s), true) => {
                    exprs.push((k.clone(), "NotIn", s.iter().cloned().collect()))
                }
                (Values::NotIn(s), false) => {
                    exprs.push((k.clone(), "Exists", Vec::new()));
                    if !s.is_empty() {
                        exprs.push((k.clone(), "NotIn", s.iter().cloned().collect()));
                    }
                }
            }
        }
        (labels, exprs)
    }

    /// The selector in netpol syntax, for messages: `app = "web", tier`.
    pub fn display(&self) -> String {
        if self.keys.is_empty() {
            return "{}".to_string();
        }
        let quote = |s: &BTreeSet<String>| {
            s.iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.keys
            .iter()
            .map(|(k, c)| match (&c.values, c.absent_ok) {
                (Values::In(s), false) if s.len() == 1 => format!("{k} = {}", quote(s)),
                (Values::In(s), false) => format!("{k} in ({})", quote(s)),
                (Values::In(_), true) => format!("!{k}"),
                (Values::NotIn(s), true) if s.len() == 1 => format!("{k} != {}", quote(s)),
                (Values::NotIn(s), true) => format!("{k} not in ({})", quote(s)),
                (Values::NotIn(s), false) if s.is_empty() => k.clone(),
                (Values::NotIn(s), false) => format!("{k}, {k} not in ({})", quote(s)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Selectors by required label value, to find those that may overlap a selector without
/// comparing it with each: a selector that requires key `k` to be present with one of the
/// values `W` overlaps pods requiring `k` in `V` only if `V` and `W` share a value; so the
/// selectors that may overlap such pods are those listed under (`k`, `v`) for some `v` in `V`,
/// and those without such a requirement on `k`. (Lowering keeps one over each namespace's
/// units; the lints one over each namespace's services.)
#[derive(Default)]
pub struct OverlapIndex {
    /// key -> value -> selectors (nested, so that a lookup borrows the key and the value).
    by_value: HashMap<String, HashMap<String, Vec<usize>>>,
    /// For each key some unit requires: the units that do not require it to be in a set.
    without: HashMap<String, Vec<usize>>,
    /// Every key some unit mentions.
    keys: HashSet<String>,
    len: usize,
}

/// The values of `c` when it says "present, and one of these".
pub fn required_values(c: &Constraint) -> Option<&BTreeSet<String>> {
    match &c.values {
        Values::In(v) if !c.absent_ok => Some(v),
        _ => None,
    }
}

impl OverlapIndex {
    /// The index of `selectors`, by their position.
    pub fn new<'s>(selectors: impl IntoIterator<Item = &'s Sel>) -> OverlapIndex {
        let units: Vec<&Sel> = selectors.into_iter().collect();
        let mut index = OverlapIndex {
            len: units.len(),
            ..OverlapIndex::default()
        };
        let keys: BTreeSet<&String> = units.iter().flat_map(|s| s.keys.keys()).collect();
        index.keys = keys.iter().map(|k| (*k).clone()).collect();
        for (i, sel) in units.iter().enumerate() {
            for k in &keys {
                match sel.keys.get(*k).and_then(required_values) {
                    Some(values) => {
                        let by_key = index.by_value.entry((*k).clone()).or_default();
                        for v in values {
                            by_key.entry(v.clone()).or_default().push(i);
                        }
                    }
                    None => index.without.entry((*k).clone()).or_default().push(i),
                }
            }
        }
        index
    }

    /// The positions (ascending) of the selectors that may overlap `pods`: a superset of
    /// those that do.
    pub fn candidates(&self, pods: &Sel) -> Vec<usize> {
        let required = pods
            .keys
            .iter()
            .find_map(|(k, c)| required_values(c).map(|v| (k, v)));
        let Some((k, values)) = required else {
            return (0..self.len).collect();
        };
        if !self.keys.contains(k) {
            // No unit mentions `k`: all may overlap.
            return (0..self.len).collect();
        }
        self.listed(
            k,
            values,
            self.without.get(k).map(Vec::as_slice).unwrap_or_default(),
        )
    }

    fn listed(&self, k: &str, values: &BTreeSet<String>, without: &[usize]) -> Vec<usize> {
        let mut out = without.to_vec();
        if let Some(by_key) = self.by_value.get(k) {
            for v in values {
                if let Some(hs) = by_key.get(v) {
                    out.extend(hs);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(reqs: &[(&str, Constraint)]) -> Sel {
        let mut s = Sel::all();
        for (k, c) in reqs {
            s.require(k, c.clone());
        }
        s
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operators_match_like_kubernetes() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(sel(&[("app", Constraint::eq("web"))]).matches(&l));
        assert!(!sel(&[("app", Constraint::eq("db"))]).matches(&l));
        assert!(sel(&[("app", Constraint::is_in(["db", "web"]))]).matches(&l));
        assert!(
            sel(&[("env", Constraint::not_in(["prod"]))]).matches(&l),
            "NotIn matches an absent key"
        );
        assert!(!sel(&[("app", Constraint::not_in(["web"]))]).matches(&l));
        assert!(sel(&[("tier", Constraint::exists())]).matches(&l));
        assert!(!sel(&[("env", Constraint::exists())]).matches(&l));
        assert!(sel(&[("env", Constraint::does_not_exist())]).matches(&l));
        assert!(!sel(&[("app", Constraint::does_not_exist())]).matches(&l));
        assert!(Sel::all().matches(&l));
    }

    #[test]
    fn conjunction_and_satisfiability() {
        let a = sel(&[("app", Constraint::eq("web"))]);
        let b = sel(&[("app", Constraint::eq("db"))]);
        assert!(!a.overlaps(&b));
        let c = sel(&[("app", Constraint::is_in(["web", "db"]))]);
        assert!(a.overlaps(&c));
        let d = sel(&[("app", Constraint::does_not_exist())]);
        assert!(!a.overlaps(&d));
        let e = sel(&[("tier", Constraint::eq("x"))]);
        assert!(a.overlaps(&e));
    }

    #[test]
    fn overlaps_agrees_with_the_conjunction() {
        let cs = [
            Constraint::eq("a"),
            Constraint::eq("b"),
            Constraint::is_in(["a", "b"]),
            Constraint::not_in(["a"]),
            Constraint::exists(),
            Constraint::does_not_exist(),
        ];
        for x in &cs {
            for y in &cs {
                let a = sel(&[("k", x.clone())]);
                let b = sel(&[("k", y.clone()), ("j", Constraint::eq("z"))]);
                assert_eq!(a.overlaps(&b), !a.and(&b).is_unsat(), "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn implication() {
        let web = sel(&[("app", Constraint::eq("web"))]);
        let web_front = sel(&[
            ("app", Constraint::eq("web")),
            ("tier", Constraint::eq("f")),
        ]);
        let web_or_db = sel(&[("app", Constraint::is_in(["web", "db"]))]);
        assert!(web_front.implies(&web));
        assert!(!web.implies(&web_front));
        assert!(web.implies(&web_or_db));
        assert!(web.implies(&Sel::all()));
        assert!(!Sel::all().implies(&web));
        assert!(web.implies(&sel(&[("app", Constraint::exists())])));
        assert!(web.implies(&sel(&[("app", Constraint::not_in(["db"]))])));
        assert!(
            !sel(&[("app", Constraint::not_in(["db"]))])
                .implies(&sel(&[("app", Constraint::exists())]))
        );
    }

    #[test]
    fn merge_in_only_when_exact() {
        let a = sel(&[("app", Constraint::eq("a")), ("t", Constraint::eq("x"))]);
        let b = sel(&[("app", Constraint::eq("b")), ("t", Constraint::eq("x"))]);
        let m = a.merge_in(&b).unwrap();
        assert_eq!(m.keys["app"], Constraint::is_in(["a", "b"]));
        let c = sel(&[("app", Constraint::eq("b")), ("t", Constraint::eq("y"))]);
        assert!(a.merge_in(&c).is_none());
        let d = sel(&[
            ("app", Constraint::not_in(["b"])),
            ("t", Constraint::eq("x")),
        ]);
        assert!(a.merge_in(&d).is_none());
    }
}

#[cfg(test)]
mod overlap_index_tests {
    use super::*;
    use testing::selectors;

    #[test]
    fn the_overlap_index_finds_every_overlapping_selector() {
        let all = selectors();
        // Every set of selectors is too many; every selector in the index, and every selector
        // alone and with those that mention only `b`, covers each kind of index entry.
        let only_b: Vec<Sel> = all
            .iter()
            .filter(|s| !s.keys.contains_key("a"))
            .cloned()
            .collect();
        for set in [&all, &only_b] {
            let index = OverlapIndex::new(set.iter());
            for pods in &all {
                let found = index.candidates(pods);
                assert!(found.windows(2).all(|w| w[0] < w[1]), "{found:?}");
                for (i, unit) in set.iter().enumerate() {
                    // And it prunes: a unit requiring `a` in a set disjoint from the pods'
                    // required `a` values is never a candidate.
                    if let (Some(mine), Some(theirs)) = (
                        unit.keys.get("a").and_then(required_values),
                        pods.keys.get("a").and_then(required_values),
                    ) && mine.is_disjoint(theirs)
                        && pods.keys.keys().next().map(String::as_str) == Some("a")
                    {
                        assert!(!found.contains(&i), "{unit:?} listed for {pods:?}");
                    }
                    if unit.overlaps(pods) {
                        assert!(
                            found.contains(&i),
                            "unit {unit:?} overlaps {pods:?} but is not a candidate"
                        );
                    }
                }
            }
        }
    }
}

/// Selectors for tests of what reads them.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Every selector over keys `a`, `b` and values `x`, `y` whose constraints are one of the
    /// Kubernetes requirements (or no constraint).
    pub fn selectors() -> Vec<Sel> {
        let options = || {
            vec![
                None,
                Some(Constraint::eq("x")),
                Some(Constraint::eq("y")),
                Some(Constraint::is_in(["x", "y"])),
                Some(Constraint::not_in(["x"])),
                Some(Constraint::exists()),
                Some(Constraint::does_not_exist()),
            ]
        };
        let mut out = Vec::new();
        for a in options() {
            for b in options() {
                let mut sel = Sel::all();
                if let Some(c) = a.clone() {
                    sel.require("a", c);
                }
                if let Some(c) = b {
                    sel.require("b", c);
                }
                out.push(sel);
            }
        }
        out
    }
}
