//! The item tree of one file: its top-level items, each with spans relative to the item's own
//! start and a stable anchor (rust-analyzer's `ItemTree` and `AstId`, in small).
//!
//! An item's anchor is derived from what the item *is* (its kind and name, or for unnamed
//! items its text), never from where it stands, so typing in one item, in a comment or in
//! the white space between items leaves every other item's tree equal, and the queries
//! that read items (resolution and everything after it) are not re-run. Positions live in
//! a separate table ([`ItemTree::positions`]) that only the edge reads: diagnostics, the
//! `netpol.dev/source` annotation, the language server.

use super::ast::Item;
use super::parse;
use crate::span::FileId;
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

/// Builds the item tree of `file` from its parsed items: each item's text is parsed again
/// alone, so its spans come out relative to its start.
pub fn item_tree(file: FileId, text: &str, items: &[Item]) -> ItemTree {
    item_tree_with(file, text, items, &mut |anchor, source| {
        parse(anchor, source).ast.items
    })
}

/// [`item_tree`], with `alone` parsing one item's text under its anchor (the database
/// memoizes it, so an edit parses again only the items whose text changed).
pub fn item_tree_with(
    file: FileId,
    text: &str,
    items: &[Item],
    alone: &mut dyn FnMut(FileId, &str) -> Vec<Item>,
) -> ItemTree {
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
        let mut alone = alone(anchor, source);
        let item = match (alone.pop(), alone.is_empty()) {
            (Some(relative), true) => {
                tree.positions.insert(anchor, span.start);
                relative
            }
            // Parsed alone, the text is not the same one item (never seen): keep the
            // item's own spans, which are correct but move with the text.
            _ => item.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> ItemTree {
        let parsed = parse(FileId(3), text);
        item_tree(FileId(3), text, &parsed.ast.items)
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
