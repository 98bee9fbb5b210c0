//! Positions: LSP speaks (line, UTF-16 column); the compiler speaks byte offsets. Positions
//! past the end of a line clamp to its end, past the last line to the end of the text, and
//! a column in the middle of a surrogate pair (or of any character) to that character's start.

use tower_lsp_server::ls_types::{Position, Range};

/// Where each line starts, for one text.
#[derive(Clone, Debug, Default)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The byte offset of an LSP position.
    pub fn offset(&self, text: &str, pos: Position) -> usize {
        let line = usize::try_from(pos.line).unwrap_or(usize::MAX);
        let Some(&start) = self.starts.get(line) else {
            return text.len();
        };
        let end = self
            .starts
            .get(line + 1)
            .map_or(text.len(), |next| next.saturating_sub(1));
        let line_text = text.get(start..end).unwrap_or_default();
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        let want = usize::try_from(pos.character).unwrap_or(usize::MAX);
        let mut units = 0;
        for (i, c) in line_text.char_indices() {
            if units + c.len_utf16() > want {
                return start + i;
            }
            units += c.len_utf16();
        }
        start + line_text.len()
    }

    /// The LSP position of a byte offset (clamped to the text, and to a character start).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while offset > 0 && !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let units: usize = text
            .get(start..offset)
            .unwrap_or_default()
            .chars()
            .map(char::len_utf16)
            .sum();
        Position::new(
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(units).unwrap_or(u32::MAX),
        )
    }

    pub fn range(&self, text: &str, start: usize, end: usize) -> Range {
        Range::new(self.position(text, start), self.position(text, end))
    }
}

/// Applies LSP content changes (full or ranged) to a text.
pub fn apply_changes(
    text: &mut String,
    changes: Vec<tower_lsp_server::ls_types::TextDocumentContentChangeEvent>,
) {
    for change in changes {
        match change.range {
            None => *text = change.text,
            Some(range) => {
                let index = LineIndex::new(text);
                let start = index.offset(text, range.start);
                let end = index.offset(text, range.end).max(start);
                text.replace_range(start..end, &change.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_at_every_character_boundary() {
        let text = "a\u{1F600}b\r\nß€\n\nx";
        let index = LineIndex::new(text);
        for (offset, _) in text.char_indices().chain([(text.len(), ' ')]) {
            let pos = index.position(text, offset);
            // `\r` of a CRLF is not addressable: it belongs to the line end.
            if text.get(offset..).is_some_and(|t| t.starts_with('\n'))
                && offset > 0
                && text.as_bytes()[offset - 1] == b'\r'
            {
                continue;
            }
            assert_eq!(index.offset(text, pos), offset, "{offset} {pos:?}");
        }
    }

    #[test]
    fn positions_past_the_end_and_inside_a_surrogate_pair_clamp() {
        let text = "a\u{1F600}b\nxy";
        let index = LineIndex::new(text);
        // Column 2 is the middle of the emoji's surrogate pair: the emoji's start.
        assert_eq!(index.offset(text, Position::new(0, 2)), 1);
        assert_eq!(index.offset(text, Position::new(0, 3)), 5);
        assert_eq!(index.offset(text, Position::new(0, 99)), 6);
        assert_eq!(index.offset(text, Position::new(1, 99)), text.len());
        assert_eq!(index.offset(text, Position::new(99, 0)), text.len());
        // Offsets inside a character clamp to its start.
        assert_eq!(index.position(text, 3), Position::new(0, 1));
        assert_eq!(index.position(text, 999), Position::new(1, 2));
    }

    #[test]
    fn ranged_changes_apply_like_an_editor() {
        let mut text = "service a in b {\n}\n".to_string();
        apply_changes(
            &mut text,
            vec![tower_lsp_server::ls_types::TextDocumentContentChangeEvent {
                range: Some(Range::new(Position::new(0, 8), Position::new(0, 9))),
                range_length: None,
                text: "web".into(),
            }],
        );
        assert_eq!(text, "service web in b {\n}\n");
    }
}
