//! The formatter: one canonical layout for `.netpol` files. Comments are kept: a comment on
//! its own line stays before the declaration or statement that follows it, and a comment at
//! the end of a line stays at the end of that line. Wherever the source had one or more blank
//! lines (between declarations, statements or comments) one blank line is kept, except right
//! after a `{` and right before a `}`. Runs of one-line declarations of the same kind
//! (connections, groups, externals, ports) are aligned on their `->` or `=`. A connection
//! longer than [`MAX_WIDTH`] columns is wrapped after the commas between its sources and
//! targets, with continuation lines indented by four spaces.

use crate::span::{FileId, Span};
use crate::syntax::{self, Comment, ast::*};

mod print;

/// The printers import writes its program with, so that the two never disagree on how a
/// selector, a peer or a port is written.
pub(crate) mod unparse {
    pub(crate) use super::print::{peer, port_item, quote, selector};
}
use print::{
    cluster_ranges, connection_too_long, isolate, peer, port_decl, quote, selector, single_line,
    target, wrap_connection,
};

/// Connections whose one-line form is wider than this are wrapped.
const MAX_WIDTH: usize = 100;
/// The indentation of the continuation lines of a wrapped connection. It must not be empty:
/// error recovery reads a line starting at column 0 with a letter as a new declaration.
const CONTINUATION: &str = "    ";
/// Heads longer than this are left unpadded and do not widen the others.
const ALIGN_LIMIT: usize = 24;

/// Formats a file, or says why it cannot (syntax errors).
pub fn format(text: &str) -> Result<String, String> {
    let parsed = syntax::parse(FileId(0), text);
    if let Some(e) = parsed.errors.first() {
        let (line, col) = crate::span::line_col(text, e.primary.span.start);
        return Err(format!("syntax error at {line}:{col}: {}", e.message));
    }
    let mut f = Formatter {
        text,
        comments: parsed.comments,
        next_comment: 0,
        out: String::new(),
        last_end: None,
    };
    f.file(&parsed.ast);
    let mut out = f.out.trim_end().to_string();
    out.push('\n');
    if out.trim().is_empty() {
        out.clear();
    }
    Ok(out)
}

struct Formatter<'t> {
    text: &'t str,
    comments: Vec<Comment>,
    next_comment: usize,
    out: String,
    /// Where the last declaration, statement or comment written ended in the source: blank
    /// lines are looked for between it and the next. `None` at the start of the file and
    /// right after a `{`, where no blank line is written.
    last_end: Option<usize>,
}

/// A one-line rendering split where runs are aligned.
struct Line {
    kind: u8,
    head: String,
    tail: String,
}

/// True when `s` holds a line with nothing but white space: two line breaks with only white
/// space between them.
fn has_blank_line(s: &str) -> bool {
    let mut after_newline = false;
    for c in s.chars() {
        if c == '\n' {
            if after_newline {
                return true;
            }
            after_newline = true;
        } else if !c.is_whitespace() {
            after_newline = false;
        }
    }
    false
}

impl Formatter<'_> {
    /// True when the source has a blank line between what was written last and `start`.
    fn blank_before(&self, start: usize) -> bool {
        self.last_end
            .is_some_and(|e| self.text.get(e..start).is_some_and(has_blank_line))
    }

    /// Writes a blank line if the source had one before `start`.
    fn keep_blank(&mut self, start: usize) {
        if self.blank_before(start) && !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Notes that the source up to `end` has been written.
    fn written(&mut self, end: usize) {
        self.last_end = Some(self.last_end.map_or(end, |e| e.max(end)));
    }

    /// True when the next comment starts before `offset`.
    fn comment_before(&self, offset: usize) -> bool {
        self.comments
            .get(self.next_comment)
            .is_some_and(|c| c.span.start < offset)
    }

    /// Comments that start before `offset`, each on its own line, indented, with the blank
    /// lines of the source between them.
    fn leading_comments(&mut self, offset: usize, indent: &str) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= offset {
                break;
            }
            let (start, end, text) = (c.span.start, c.span.end, c.text.clone());
            self.keep_blank(start);
            self.out.push_str(indent);
            self.out.push_str(&text);
            self.out.push('\n');
            self.next_comment += 1;
            self.written(end);
        }
    }

    /// Comments inside an item or statement written on one line: they move before it, each on
    /// its own line.
    fn inner_comments(&mut self, span: Span, indent: &str) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= span.end {
                break;
            }
            let text = c.text.clone();
            self.out.push_str(indent);
            self.out.push_str(&text);
            self.out.push('\n');
            self.next_comment += 1;
        }
    }

    /// A comment on the same line as `end`, after it (and before `limit`).
    fn trailing_comment(&mut self, end: usize, limit: usize) -> Option<String> {
        let c = self.comments.get(self.next_comment)?;
        let same_line = c.span.start >= end
            && c.span.start < limit
            && self
                .text
                .get(end..c.span.start)
                .is_some_and(|between| !between.contains('\n'));
        if !same_line {
            return None;
        }
        let (text, comment_end) = (c.text.clone(), c.span.end);
        self.next_comment += 1;
        self.written(comment_end);
        Some(text)
    }

    fn file(&mut self, file: &SourceFile) {
        let mut run: Vec<(Line, Option<String>)> = Vec::new();
        for item in &file.items {
            let span = item.span();
            let single = match item {
                Item::Connection(c) if connection_too_long(c) => None,
                _ => single_line(item),
            };
            // Comments before or inside the item, and blank lines, end a run.
            let commented = self.comment_before(span.end);
            let continues_run = match (&single, run.last()) {
                (Some(l), Some((prev, _))) => {
                    l.kind == prev.kind && !commented && !self.blank_before(span.start)
                }
                _ => false,
            };
            if !continues_run {
                self.flush_run(&mut run);
            }
            self.leading_comments(span.start, "");
            self.keep_blank(span.start);
            match single {
                Some(line) => {
                    self.inner_comments(span, "");
                    self.written(span.end);
                    let trailing = self.trailing_comment(span.end, usize::MAX);
                    run.push((line, trailing));
                }
                None => {
                    self.block_item(item);
                    self.written(span.end);
                }
            }
        }
        self.flush_run(&mut run);
        // Comments after the last declaration.
        self.leading_comments(usize::MAX, "");
    }

    fn flush_run(&mut self, run: &mut Vec<(Line, Option<String>)>) {
        let width = run
            .iter()
            .map(|(l, _)| l.head.chars().count())
            .filter(|w| *w <= ALIGN_LIMIT)
            .max()
            .unwrap_or(0);
        let single = run.len() == 1;
        for (line, trailing) in run.drain(..) {
            let pad = if single {
                0
            } else {
                width.saturating_sub(line.head.chars().count())
            };
            let mut s = format!("{}{} {}", line.head, " ".repeat(pad), line.tail);
            if line.tail.is_empty() {
                s = line.head.clone();
            }
            if let Some(c) = trailing {
                s.push_str("  ");
                s.push_str(&c);
            }
            self.out.push_str(s.trim_end());
            self.out.push('\n');
        }
    }

    fn block_item(&mut self, item: &Item) {
        match item {
            Item::Service(s) => {
                self.out.push_str(&format!(
                    "service {} in {} {{",
                    s.name.text, s.namespace.text
                ));
                self.after_open(s.name.span.end, s.span.end);
                let mut stmts: Vec<(Span, String)> = Vec::new();
                for sel in &s.selects {
                    stmts.push((sel.span, format!("select {}", selector(sel))));
                }
                for p in &s.ports {
                    stmts.push((p.span, port_decl(p)));
                }
                for i in &s.isolate {
                    stmts.push((i.span, isolate(i)));
                }
                stmts.sort_by_key(|(span, _)| span.start);
                self.statements(&stmts, s.span.end);
                self.out.push('}');
                self.end_block(s.span.end);
            }
            Item::Namespace(n) => {
                self.out.push_str(&format!("namespace {} {{", n.name.text));
                self.after_open(n.name.span.end, n.span.end);
                let stmts: Vec<(Span, String)> =
                    n.isolate.iter().map(|i| (i.span, isolate(i))).collect();
                self.statements(&stmts, n.span.end);
                self.out.push('}');
                self.end_block(n.span.end);
            }
            Item::Test(t) => {
                self.out
                    .push_str(&format!("test {} {{", quote(&t.name.value)));
                self.after_open(t.name.span.end, t.span.end);
                let stmts: Vec<(Span, String)> = t
                    .assertions
                    .iter()
                    .map(|a| {
                        let verdict = if a.expect_allowed {
                            "allowed"
                        } else {
                            "denied"
                        };
                        (
                            a.span,
                            format!("{verdict} {} -> {}", peer(&a.from), target(&a.to)),
                        )
                    })
                    .collect();
                self.statements(&stmts, t.span.end);
                self.out.push('}');
                self.end_block(t.span.end);
            }
            Item::Cluster(c) => {
                self.out.push_str("cluster {");
                self.after_open(c.keyword.end, c.span.end);
                let stmts: Vec<(Span, String)> = c
                    .ranges
                    .iter()
                    .map(|r| (r.span, cluster_ranges(r)))
                    .collect();
                self.statements(&stmts, c.span.end);
                self.out.push('}');
                self.end_block(c.span.end);
            }
            Item::Connection(c) => {
                self.inner_comments(c.span, "");
                self.written(c.span.end);
                let mut lines = wrap_connection(c).join("\n");
                if let Some(comment) = self.trailing_comment(c.span.end, usize::MAX) {
                    lines.push_str("  ");
                    lines.push_str(&comment);
                }
                self.out.push_str(&lines);
                self.out.push('\n');
            }
            _ => {}
        }
    }

    /// After the `{` of a block that ends at `block_end`: a comment on the same line stays.
    fn after_open(&mut self, after: usize, block_end: usize) {
        let brace = self
            .text
            .get(after..)
            .and_then(|r| r.find('{'))
            .map_or(after, |i| after.saturating_add(i).saturating_add(1));
        // The closing brace keeps a comment that follows it on the same line.
        let closing = block_end.saturating_sub(1);
        if let Some(c) = self.trailing_comment(brace, closing) {
            self.out.push(' ');
            self.out.push_str(&c);
        }
        self.out.push('\n');
        self.last_end = None;
    }

    fn statements(&mut self, stmts: &[(Span, String)], block_end: usize) {
        for (span, text) in stmts {
            self.leading_comments(span.start, "  ");
            self.keep_blank(span.start);
            self.inner_comments(*span, "  ");
            self.written(span.end);
            let mut line = format!("  {text}");
            if let Some(c) = self.trailing_comment(span.end, block_end) {
                line.push_str("  ");
                line.push_str(&c);
            }
            self.out.push_str(&line);
            self.out.push('\n');
        }
        // Comments before the closing brace.
        self.leading_comments(block_end.saturating_sub(1), "  ");
    }

    fn end_block(&mut self, end: usize) {
        self.written(end);
        if let Some(c) = self.trailing_comment(end, usize::MAX) {
            self.out.push_str("  ");
            self.out.push_str(&c);
        }
        self.out.push('\n');
    }
}

#[cfg(test)]
mod tests;
