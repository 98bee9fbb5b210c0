//! The item tree of one file: its top-level items, each with spans relative to the item's own
//! start and a stable anchor (rust-analyzer's `ItemTree` and `AstId`, in small).
//!
//! An item's anchor is derived from what the item *is* (its kind and name, or for unnamed
//! items its text), never from where it stands, so typing in one item, in a comment or in
//! the white space between items leaves every other item's tree equal, and the queries
//! that read items (resolution and everything after it) are not re-run. Positions live in
//! a separate table ([`ItemTree::positions`]) that only the edge reads: diagnostics, the
//! `netpol.dev/source` annotation, the language server.

use super::ast::*;
use super::{Parsed, parse};
use crate::span::{FileId, Span};
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// One item, position-free.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TreeItem {
    /// What the item is: `service web`, `connection web -> api:http`, …
    pub key: String,
    /// The file id its spans are relative to.
    pub anchor: FileId,
    /// The item, its spans relative to its start.
    pub item: Item,
}

/// The items of one file, and where each starts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ItemTree {
    pub items: Vec<TreeItem>,
    /// Anchor -> byte offset of the item's start in the file.
    pub positions: BTreeMap<FileId, usize>,
}

/// Builds the item tree of `file` from its parse: each item with its spans relative to its
/// own start. In a file without syntax errors each item is the file's parse of it moved to
/// its anchor (the same tree as the item's text parsed alone, as `rebased_items_are_the_items_parsed_alone`
/// checks); in a file with errors each item's text is parsed again alone, as recovery may
/// read an item differently in its file.
pub fn item_tree(file: FileId, text: &str, parsed: &Parsed) -> ItemTree {
    item_tree_with(file, text, parsed, &mut |anchor, source| {
        parse(anchor, source).ast.items
    })
}

/// [`item_tree`], with `alone` parsing one item's text under its anchor, for files with
/// syntax errors (the database memoizes it, so an edit parses again only the items whose
/// text changed).
pub fn item_tree_with(
    file: FileId,
    text: &str,
    parsed: &Parsed,
    alone: &mut dyn FnMut(FileId, &str) -> Vec<Item>,
) -> ItemTree {
    if parsed.errors.is_empty() {
        build(file, text, &parsed.ast.items, &mut rebased)
    } else {
        build(
            file,
            text,
            &parsed.ast.items,
            &mut |_item: &Item, anchor: FileId, source: &str, _start: usize| {
                let mut items = alone(anchor, source);
                match (items.pop(), items.is_empty()) {
                    (Some(relative), true) => Some(relative),
                    // Parsed alone, the text is not the same one item.
                    _ => None,
                }
            },
        )
    }
}

/// An item relative to its start: `None` when that cannot be said (the item's own spans are
/// kept, which are correct but move with the text).
type Relative<'a> = dyn FnMut(&Item, FileId, &str, usize) -> Option<Item> + 'a;

/// The item moved to its anchor, every span made relative to its start.
fn rebased(item: &Item, anchor: FileId, _source: &str, start: usize) -> Option<Item> {
    let mut relative = item.clone();
    relative.rebase(&|s| {
        Span::new(
            anchor,
            s.start.saturating_sub(start),
            s.end.saturating_sub(start),
        )
    });
    Some(relative)
}

fn build(file: FileId, text: &str, items: &[Item], relative: &mut Relative<'_>) -> ItemTree {
    let mut tree = ItemTree::default();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut slots: BTreeMap<u32, ()> = BTreeMap::new();
    for item in items {
        let span = item.span();
        let source = text.get(span.start..span.end).unwrap_or("");
        let base = key(item, source);
        let n = seen.entry(base.clone()).or_insert(0);
        let key = if *n == 0 {
            base
        } else {
            format!("{base} #{n}")
        };
        *n += 1;
        let mut slot = slot_of(&key);
        while slots.insert(slot, ()).is_some() {
            slot = slot.wrapping_add(1);
        }
        let anchor = file.anchor(slot);
        let item = match relative(item, anchor, source, span.start) {
            Some(relative) => {
                tree.positions.insert(anchor, span.start);
                relative
            }
            None => item.clone(),
        };
        tree.items.push(TreeItem { key, anchor, item });
    }
    tree
}

/// The identity of an item: kind and name for declarations, the text for the rest.
fn key(item: &Item, source: &str) -> String {
    let words = || source.split_whitespace().collect::<Vec<_>>().join(" ");
    match item {
        Item::Namespace(d) => format!("namespace {}", d.name.text),
        Item::Service(d) => format!("service {}", d.name.text),
        Item::Group(d) => format!("group {}", d.name.text),
        Item::External(d) => format!("external {}", d.name.text),
        Item::Port(d) => format!("port {}", d.name.text),
        Item::Test(d) => format!("test {}", d.name.value),
        Item::Cluster(_) => "cluster".to_string(),
        Item::Use(_) | Item::Workloads(_) | Item::Connection(_) => words(),
    }
}

/// A slot from a key's hash: stable within a build, the same on every run.
fn slot_of(key: &str) -> u32 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() & 0xffff_ffff) as u32
}

/// Moves every span of a syntax node by a function (to re-anchor an item parsed as part of
/// its file: spans relative to the item's start, under the item's anchor).
trait Rebase {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span);
}

impl Rebase for Span {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        *self = f(*self);
    }
}

impl<T: Rebase> Rebase for Vec<T> {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        for x in self {
            x.rebase(f);
        }
    }
}

impl<T: Rebase> Rebase for Option<T> {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        if let Some(x) = self {
            x.rebase(f);
        }
    }
}

impl<T> Rebase for (T, Span) {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        self.1.rebase(f);
    }
}

impl Rebase for Name {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        let Name { text: _, span } = self;
        span.rebase(f);
    }
}

impl Rebase for Str {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        let Str { value: _, span } = self;
        span.rebase(f);
    }
}

impl Rebase for Item {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        match self {
            Item::Use(UseDecl { span, path, names }) => {
                span.rebase(f);
                path.rebase(f);
                names.rebase(f);
            }
            Item::Workloads(WorkloadsDecl {
                span,
                globs,
                namespace,
            }) => {
                span.rebase(f);
                globs.rebase(f);
                namespace.rebase(f);
            }
            Item::Namespace(NamespaceDecl {
                span,
                name,
                isolate,
            }) => {
                span.rebase(f);
                name.rebase(f);
                isolate.rebase(f);
            }
            Item::Service(ServiceDecl {
                span,
                name,
                namespace,
                selects,
                ports,
                isolate,
                broken: _,
            }) => {
                span.rebase(f);
                name.rebase(f);
                namespace.rebase(f);
                selects.rebase(f);
                ports.rebase(f);
                isolate.rebase(f);
            }
            Item::Group(GroupDecl { span, name, set }) => {
                span.rebase(f);
                name.rebase(f);
                set.rebase(f);
            }
            Item::External(ExternalDecl {
                span,
                name,
                blocks,
                except,
            }) => {
                span.rebase(f);
                name.rebase(f);
                blocks.rebase(f);
                except.rebase(f);
            }
            Item::Port(d) => d.rebase(f),
            Item::Cluster(ClusterDecl {
                span,
                keyword,
                ranges,
            }) => {
                span.rebase(f);
                keyword.rebase(f);
                for ClusterRanges {
                    span,
                    kind: _,
                    cidrs,
                } in ranges
                {
                    span.rebase(f);
                    cidrs.rebase(f);
                }
            }
            Item::Test(TestDecl {
                span,
                name,
                assertions,
            }) => {
                span.rebase(f);
                name.rebase(f);
                for Assertion {
                    span,
                    expect_allowed: _,
                    from,
                    to,
                } in assertions
                {
                    span.rebase(f);
                    from.rebase(f);
                    to.rebase(f);
                }
            }
            Item::Connection(Connection {
                span,
                sources,
                targets,
            }) => {
                span.rebase(f);
                sources.rebase(f);
                targets.rebase(f);
            }
        }
    }
}

impl Rebase for Isolate {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        let Isolate { span, directions } = self;
        span.rebase(f);
        directions.rebase(f);
    }
}

impl Rebase for PortDecl {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        let PortDecl { span, name, values } = self;
        span.rebase(f);
        name.rebase(f);
        for PortValue {
            span,
            start: _,
            end: _,
            protocol,
        } in values
        {
            span.rebase(f);
            protocol.rebase(f);
        }
    }
}

impl Rebase for Selector {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        let Selector { span, requirements } = self;
        span.rebase(f);
        for Requirement { span, key, op } in requirements {
            span.rebase(f);
            key.rebase(f);
            match op {
                ReqOp::Eq(v) | ReqOp::Ne(v) => v.rebase(f),
                ReqOp::In(vs) | ReqOp::NotIn(vs) => vs.rebase(f),
                ReqOp::Exists | ReqOp::NotExists => {}
            }
        }
    }
}

impl Rebase for PodSet {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        match self {
            PodSet::Pods {
                span,
                selector,
                scope,
            } => {
                span.rebase(f);
                selector.rebase(f);
                scope.rebase(f);
            }
            PodSet::Namespace { span, name } => {
                span.rebase(f);
                name.rebase(f);
            }
            PodSet::Namespaces { span, selector } => {
                span.rebase(f);
                selector.rebase(f);
            }
        }
    }
}

impl Rebase for Scope {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        match self {
            Scope::Namespace(n) => n.rebase(f),
            Scope::Namespaces { span, selector } => {
                span.rebase(f);
                selector.rebase(f);
            }
            Scope::Cluster(span) => span.rebase(f),
        }
    }
}

impl Rebase for CidrItem {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        match self {
            CidrItem::Cidr(s) => s.rebase(f),
            CidrItem::Name(n) => n.rebase(f),
        }
    }
}

impl Rebase for Peer {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        match self {
            Peer::Ref(n) => n.rebase(f),
            Peer::Set(s) => s.rebase(f),
            Peer::Cluster(s) | Peer::Services(s) => s.rebase(f),
            Peer::Narrowed { span, name, scope } => {
                span.rebase(f);
                name.rebase(f);
                scope.rebase(f);
            }
        }
    }
}

impl Rebase for Target {
    fn rebase(&mut self, f: &dyn Fn(Span) -> Span) {
        let Target { span, peer, ports } = self;
        span.rebase(f);
        peer.rebase(f);
        if let Some(ports) = ports {
            for PortItem {
                span,
                kind,
                protocol,
            } in ports
            {
                span.rebase(f);
                protocol.rebase(f);
                match kind {
                    PortItemKind::Name(n) => n.rebase(f),
                    PortItemKind::PodPort(s) => s.rebase(f),
                    PortItemKind::Any | PortItemKind::Number(_) | PortItemKind::Range(..) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> ItemTree {
        let parsed = parse(FileId(3), text);
        item_tree(FileId(3), text, &parsed)
    }

    #[test]
    fn items_do_not_move_when_text_before_them_changes() {
        let a = tree("service a in s {\n  select app = \"a\"\n}\na -> a:80\n");
        let b = tree("// a comment\n\nservice a in s {\n  select app = \"a\"\n}\n\n\na -> a:80\n");
        assert_eq!(a.items, b.items);
        assert_ne!(a.positions, b.positions);
    }

    #[test]
    fn every_item_is_anchored_and_relative() {
        let text = "namespace s { isolate ingress }\nservice a in s {\n  select app = \"a\"\n}\na -> a:80\na -> a:80\n";
        let t = tree(text);
        assert_eq!(t.items.len(), 4);
        assert_eq!(t.positions.len(), 4);
        for i in &t.items {
            assert_eq!(i.item.span().file, i.anchor);
            assert_eq!(i.item.span().start, 0);
            assert_eq!(i.anchor.file(), FileId(3));
        }
        let anchors: std::collections::BTreeSet<_> = t.items.iter().map(|i| i.anchor).collect();
        assert_eq!(anchors.len(), 4, "duplicates get their own anchors");
    }
}
