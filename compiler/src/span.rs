//! Source locations. A span is a byte range in one file; files are named by a [`FileId`],
//! so spans are plain data and cheap to copy.
//!
//! A `FileId` names either a whole file (allocated once per path by the database, never
//! reused or renumbered) or one *item* of a file (an anchor: the file's id and a stable slot
//! derived from the item's kind and name). Spans relative to an item's anchor do not move
//! when text before the item changes; that is what keeps the resolved program free of
//! positions. Anchored spans are turned back into file spans at the edge
//! ([`crate::db::absolute`]).

/// Identifies one source file (a `.netpol` program file, a stdlib module or a workload
/// manifest), or one item of a file (see [`FileId::anchor`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, salsa::SalsaValue)]
pub struct FileId(pub u64);

impl FileId {
    /// The anchor of item `slot` of file `self`: spans relative to the item's start.
    pub fn anchor(self, slot: u32) -> FileId {
        FileId(((self.0 + 1) << 32) | u64::from(slot))
    }

    /// For an anchor, the file it lies in and its slot.
    pub fn anchored(self) -> Option<(FileId, u32)> {
        let hi = self.0 >> 32;
        (hi != 0).then(|| (FileId(hi - 1), (self.0 & 0xffff_ffff) as u32))
    }

    /// The file a span of this id lies in (itself, for a file id).
    pub fn file(self) -> FileId {
        self.anchored().map_or(self, |(f, _)| f)
    }
}

/// A byte range `start..end` in file `file`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn contains(self, offset: usize) -> bool {
        self.start <= offset && offset <= self.end
    }
}

/// 1-based line and column of a byte offset, for annotations and messages.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

/// Where each line of a text starts: line and column of an offset by binary search, without
/// rescanning the text (the `line_index` query keeps one per file).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct LineIndex {
    /// Byte offset of the start of every line; the first is 0.
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    /// 1-based line and (byte) column of an offset, as [`line_col`] computes them.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.len);
        let line = self.starts.partition_point(|s| *s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        (line, offset - start + 1)
    }

    /// The byte offset where 0-based `line` starts, if the text has that line.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.starts.get(line).copied()
    }

    /// How many lines the text has (a final line without a newline counts).
    pub fn lines(&self) -> usize {
        self.starts.len()
    }

    /// The length of the text in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_agrees_with_line_col_at_every_offset() {
        for text in ["", "a", "\n", "ab\ncd\n\nxyz", "é\nü\n", "\n\n\n"] {
            let index = LineIndex::new(text);
            let boundaries =
                (0..=text.len() + 2).filter(|o| *o > text.len() || text.is_char_boundary(*o));
            for offset in boundaries {
                assert_eq!(
                    index.line_col(offset),
                    line_col(text, offset),
                    "{text:?} @ {offset}"
                );
            }
        }
    }

    #[test]
    fn anchors_round_trip() {
        for file in [0, 1, 7, u64::from(u32::MAX) - 1] {
            for slot in [0, 1, 0xffff_ffff] {
                let a = FileId(file).anchor(slot);
                assert_eq!(a.anchored(), Some((FileId(file), slot)));
                assert_eq!(a.file(), FileId(file));
            }
            assert_eq!(FileId(file).anchored(), None);
        }
    }
}
