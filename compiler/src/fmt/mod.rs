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

/// The one-line form of a connection, unaligned.
fn connection_line(c: &Connection) -> String {
    format!(
        "{} -> {}",
        c.sources.iter().map(peer).collect::<Vec<_>>().join(", "),
        c.targets.iter().map(target).collect::<Vec<_>>().join(", ")
    )
}

pub(in crate::fmt) fn connection_too_long(c: &Connection) -> bool {
    connection_line(c).chars().count() > MAX_WIDTH
}

/// A connection on several lines: filled greedily up to [`MAX_WIDTH`] columns, broken only
/// after the commas between sources and between targets, so the last source, the `->` and
/// the first target stay together.
pub(in crate::fmt) fn wrap_connection(c: &Connection) -> Vec<String> {
    let mut atoms: Vec<String> = Vec::new();
    let sources = c.sources.len();
    for (i, p) in c.sources.iter().enumerate() {
        let mut s = peer(p);
        if i.saturating_add(1) < sources {
            s.push(',');
        }
        atoms.push(s);
    }
    let targets = c.targets.len();
    for (i, t) in c.targets.iter().enumerate() {
        let mut s = target(t);
        if i.saturating_add(1) < targets {
            s.push(',');
        }
        if i == 0 {
            s = match atoms.pop() {
                Some(last) => format!("{last} -> {s}"),
                None => format!("-> {s}"),
            };
        }
        atoms.push(s);
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut width = 0usize;
    let mut empty = true;
    for atom in atoms {
        let w = atom.chars().count();
        if empty {
            line.push_str(&atom);
            width = width.saturating_add(w);
            empty = false;
        } else if width.saturating_add(1).saturating_add(w) <= MAX_WIDTH {
            line.push(' ');
            line.push_str(&atom);
            width = width.saturating_add(1).saturating_add(w);
        } else {
            lines.push(std::mem::take(&mut line));
            line = format!("{CONTINUATION}{atom}");
            width = CONTINUATION.len().saturating_add(w);
        }
    }
    lines.push(line);
    lines
}

/// The one-line form of an item, or `None` for items laid out as blocks.
pub(in crate::fmt) fn single_line(item: &Item) -> Option<Line> {
    Some(match item {
        Item::Use(u) => {
            let mut path = u
                .path
                .iter()
                .map(|n| n.text.as_str())
                .collect::<Vec<_>>()
                .join("::");
            if let Some(names) = &u.names {
                path.push_str(&format!(
                    "::{{{}}}",
                    names
                        .iter()
                        .map(|n| n.text.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Line {
                kind: 0,
                head: format!("use {path}"),
                tail: String::new(),
            }
        }
        Item::Workloads(w) => {
            let mut s = format!(
                "workloads {}",
                w.globs
                    .iter()
                    .map(|g| quote(&g.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(ns) = &w.namespace {
                s.push_str(&format!(" in namespace {}", ns.text));
            }
            Line {
                kind: 1,
                head: s,
                tail: String::new(),
            }
        }
        Item::Namespace(n) if n.isolate.is_empty() => Line {
            kind: 2,
            head: format!("namespace {}", n.name.text),
            tail: String::new(),
        },
        Item::Namespace(n) if n.isolate.len() == 1 => Line {
            kind: 2,
            head: format!("namespace {}", n.name.text),
            tail: format!(
                "{{ {} }}",
                n.isolate.iter().map(isolate).collect::<Vec<_>>().join("; ")
            ),
        },
        Item::Group(g) => Line {
            kind: 3,
            head: format!("group {}", g.name.text),
            tail: format!("= {}", pod_set(&g.set)),
        },
        Item::External(e) => {
            let mut tail = format!("= {}", cidrs(&e.blocks));
            if !e.except.is_empty() {
                tail.push_str(&format!(" except {}", cidrs(&e.except)));
            }
            Line {
                kind: 4,
                head: format!("external {}", e.name.text),
                tail,
            }
        }
        Item::Port(p) => {
            let full = port_decl(p);
            let (head, tail) = full.split_once(" = ").unwrap_or((&full, ""));
            Line {
                kind: 5,
                head: head.to_string(),
                tail: format!("= {tail}"),
            }
        }
        Item::Connection(c) => Line {
            kind: 6,
            head: c.sources.iter().map(peer).collect::<Vec<_>>().join(", "),
            tail: format!(
                "-> {}",
                c.targets.iter().map(target).collect::<Vec<_>>().join(", ")
            ),
        },
        _ => return None,
    })
}

pub(in crate::fmt) fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub(in crate::fmt) fn selector(s: &Selector) -> String {
    s.requirements
        .iter()
        .map(|r| {
            let k = &r.key.value;
            let list = |vs: &[Str]| {
                vs.iter()
                    .map(|v| quote(&v.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match &r.op {
                ReqOp::Eq(v) => format!("{k} = {}", quote(&v.value)),
                ReqOp::Ne(v) => format!("{k} != {}", quote(&v.value)),
                ReqOp::In(vs) => format!("{k} in ({})", list(vs)),
                ReqOp::NotIn(vs) => format!("{k} not in ({})", list(vs)),
                ReqOp::Exists => k.clone(),
                ReqOp::NotExists => format!("!{k}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn braces(s: &Option<Selector>) -> String {
    match s {
        Some(s) if !s.requirements.is_empty() => format!("{{ {} }}", selector(s)),
        _ => "{}".to_string(),
    }
}

fn pod_set(s: &PodSet) -> String {
    match s {
        PodSet::Pods {
            selector, scope, ..
        } => {
            let scope = match scope {
                Scope::Namespace(n) => format!("namespace {}", n.text),
                Scope::Namespaces { selector, .. } => format!("namespaces {}", braces(selector)),
                Scope::Cluster(_) => "cluster".to_string(),
            };
            format!("pods {} in {scope}", braces(selector))
        }
        PodSet::Namespace { name, .. } => format!("namespace {}", name.text),
        PodSet::Namespaces { selector, .. } => format!("namespaces {}", braces(selector)),
    }
}

pub(in crate::fmt) fn peer(p: &Peer) -> String {
    match p {
        Peer::Ref(n) => n.text.clone(),
        Peer::Set(s) => pod_set(s),
        Peer::Cluster(_) => "cluster".to_string(),
        Peer::Services(_) => "services".to_string(),
        Peer::Narrowed { name, scope, .. } => match scope {
            Scope::Namespace(n) => format!("{} in namespace {}", name.text, n.text),
            Scope::Namespaces { selector, .. } => {
                format!("{} in namespaces {}", name.text, braces(selector))
            }
            Scope::Cluster(_) => name.text.clone(),
        },
    }
}

fn protocol(p: &Option<(Proto, Span)>) -> String {
    match p {
        Some((Proto::Tcp, _)) | None => String::new(),
        Some((p, _)) => format!("/{}", p.as_str()),
    }
}

fn port_item(p: &PortItem) -> String {
    let base = match &p.kind {
        PortItemKind::Any => "*".to_string(),
        PortItemKind::Number(n) => n.to_string(),
        PortItemKind::Range(a, b) => format!("{a}..{b}"),
        PortItemKind::Name(n) => n.text.clone(),
        PortItemKind::PodPort(s) => quote(&s.value),
    };
    // `/tcp` is the default only for numbers, ranges and container port names: `*` and a
    // declared name without a protocol mean every protocol, so their `/tcp` stays.
    let proto = match (&p.kind, &p.protocol) {
        (PortItemKind::Any | PortItemKind::Name(_), Some((Proto::Tcp, _))) => "/tcp".to_string(),
        _ => protocol(&p.protocol),
    };
    format!("{base}{proto}")
}

pub(in crate::fmt) fn target(t: &Target) -> String {
    match &t.ports {
        None => peer(&t.peer),
        Some(items) if items.len() == 1 => format!(
            "{}:{}",
            peer(&t.peer),
            items.iter().map(port_item).collect::<String>()
        ),
        Some(items) => format!(
            "{}:({})",
            peer(&t.peer),
            items.iter().map(port_item).collect::<Vec<_>>().join(", ")
        ),
    }
}

pub(in crate::fmt) fn port_decl(p: &PortDecl) -> String {
    let values = p
        .values
        .iter()
        .map(|v| {
            let base = match v.end {
                Some(e) => format!("{}..{e}", v.start),
                None => v.start.to_string(),
            };
            format!("{base}{}", protocol(&v.protocol))
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("port {} = {values}", p.name.text)
}

pub(in crate::fmt) fn isolate(i: &Isolate) -> String {
    format!(
        "isolate {}",
        i.directions
            .iter()
            .map(|(d, _)| d.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn cidrs(items: &[CidrItem]) -> String {
    items
        .iter()
        .map(|c| match c {
            CidrItem::Cidr(s) => s.value.clone(),
            CidrItem::Name(n) => n.text.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{MAX_WIDTH, format};
    use crate::span::FileId;
    use crate::syntax;

    /// The declarations of `text` without their spans, with `/tcp` (which the formatter
    /// leaves out) read as no protocol.
    fn ast_without_spans(text: &str) -> String {
        let parsed = syntax::parse(FileId(0), text);
        assert!(parsed.errors.is_empty(), "{:?}\n{text}", parsed.errors);
        let debug = format!("{:?}", parsed.ast);
        let mut out = String::new();
        let mut rest = debug.as_str();
        while let Some(i) = rest.find("Span {") {
            out.push_str(&rest[..i]);
            out.push('_');
            let after = &rest[i..];
            let close = after.find('}').unwrap();
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out.replace("Some((Tcp, _))", "None")
    }

    fn comments(text: &str) -> Vec<String> {
        let mut c: Vec<String> = syntax::parse(FileId(0), text)
            .comments
            .into_iter()
            .map(|c| c.text)
            .collect();
        c.sort();
        c
    }

    /// Formatting keeps the declarations and the comments, and formats its own output
    /// unchanged.
    fn assert_round_trip(src: &str) -> String {
        let once = format(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        assert_eq!(
            ast_without_spans(src),
            ast_without_spans(&once),
            "{src}\n=>\n{once}"
        );
        assert_eq!(comments(src), comments(&once), "{src}\n=>\n{once}");
        let twice = format(&once).unwrap_or_else(|e| panic!("{e}\n{once}"));
        assert_eq!(once, twice, "not idempotent:\n{src}");
        once
    }

    #[test]
    fn formats_and_is_idempotent() {
        let src = "// header\nuse std::dns\n\n\nnamespace shop{isolate ingress,egress}\nservice a in shop{ // svc\n select app=\"a\" // sel\n  // before port\n port http=8080/TCP\n}\na->kube-dns:dns // trailing\nfrontend,a   ->   a:(http,9090/udp)\n\n// end\n";
        let once = format(src).unwrap();
        let twice = format(&once).unwrap();
        assert_eq!(once, twice);
        for c in [
            "// header",
            "// svc",
            "// sel",
            "// before port",
            "// trailing",
            "// end",
        ] {
            assert!(once.contains(c), "lost {c}:\n{once}");
        }
        assert!(once.contains("service a in shop { // svc\n  select app = \"a\"  // sel\n  // before port\n  port http = 8080\n}\n"), "{once}");
        assert!(
            once.contains(
                "a           -> kube-dns:dns  // trailing\nfrontend, a -> a:(http, 9090/udp)"
            ),
            "{once}"
        );
    }

    #[test]
    fn refuses_files_with_syntax_errors() {
        assert!(format("service {").is_err());
    }

    #[test]
    fn keeps_blank_lines_around_comments() {
        let src = "// header\n\nuse std::dns\n\n// about ns\n\nnamespace a\n";
        assert_eq!(format(src).unwrap(), src);
        // Several blank lines become one; between comments too; none at the start or end.
        let src =
            "\n\n// one\n\n\n// two\n// three\n\n\n\ngroup g = namespace a\n\n\n// tail\n\n\n";
        assert_eq!(
            format(src).unwrap(),
            "// one\n\n// two\n// three\n\ngroup g = namespace a\n\n// tail\n"
        );
        // Inside blocks, but never right after `{` or right before `}`.
        let src = "test \"t\" {\n\n  allowed a -> b:1\n\n\n  // why\n\n  denied a -> c:1\n  denied a -> d:1\n\n}\n";
        assert_eq!(
            format(src).unwrap(),
            "test \"t\" {\n  allowed a -> b:1\n\n  // why\n\n  denied a -> c:1\n  denied a -> d:1\n}\n"
        );
        // A blank line or a comment ends an alignment run.
        let src = "a -> b:1\nlonger -> b:1\n\nx -> b:1\n// c\nxyz -> b:1\n";
        assert_eq!(
            format(src).unwrap(),
            "a      -> b:1\nlonger -> b:1\n\nx -> b:1\n// c\nxyz -> b:1\n"
        );
        for src in [
            "// header\n\nuse std::dns\n\n// about ns\n\nnamespace a\n",
            "namespace a {\n  isolate ingress\n\n  // e\n  isolate egress\n}\n\n// end\n",
        ] {
            assert_round_trip(src);
        }
    }

    #[test]
    fn comments_inside_a_run_keep_their_place() {
        // The comment inside the second connection moves before it, not before the first.
        let src = "a -> b:1\nc,\n  // inner\n  d -> b:1\n";
        assert_eq!(assert_round_trip(src), "a -> b:1\n// inner\nc, d -> b:1\n");
        // A comment after a block's closing brace stays after it.
        assert_eq!(
            assert_round_trip("service s in n { select app } // after\n"),
            "service s in n {\n  select app\n}  // after\n"
        );
    }

    #[test]
    fn wraps_long_connections() {
        let src = "frontend, checkout, cartservice, recommendationservice, loadgenerator, shippingservice -> kube-dns:dns, internet:443\n";
        let out = assert_round_trip(src);
        assert_eq!(
            out,
            "frontend, checkout, cartservice, recommendationservice, loadgenerator,\n    shippingservice -> kube-dns:dns, internet:443\n"
        );
        // Many targets: every line fits, continuation lines are indented, `->` stays with the
        // last source and the first target.
        let targets: Vec<String> = (0..30).map(|i| format!("service-{i}:grpc")).collect();
        let src = format!(
            "// calls\nweb -> a:1\nfrontend, checkout -> {} // all\napi -> b:2\n",
            targets.join(", ")
        );
        let out = assert_round_trip(&src);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "// calls");
        // The wrapped connection is not aligned with its neighbours, nor they with each other.
        assert_eq!(lines[1], "web -> a:1");
        assert!(
            lines[2].starts_with("frontend, checkout -> service-0:grpc, "),
            "{out}"
        );
        assert_eq!(*lines.last().unwrap(), "api -> b:2");
        let wrapped = &lines[2..lines.len() - 1];
        assert!(wrapped.len() > 2, "{out}");
        for (i, l) in wrapped.iter().enumerate() {
            assert!(l.chars().count() <= MAX_WIDTH, "too long: {l}");
            assert_eq!(i > 0, l.starts_with("    "), "{out}");
            assert!(!l.starts_with("     "), "{out}");
            if i + 1 < wrapped.len() {
                assert!(l.ends_with(','), "{out}");
            }
        }
        assert!(
            wrapped.last().unwrap().ends_with("service-29:grpc  // all"),
            "{out}"
        );
        // Exactly 100 columns stays on one line; 101 wraps.
        let fits = format!("a -> {}:1\n", "b".repeat(MAX_WIDTH - 7));
        assert_eq!(format(&fits).unwrap(), fits);
        let long = format!("a, c -> {}:1\n", "b".repeat(MAX_WIDTH - 9));
        assert_eq!(
            assert_round_trip(&long),
            format!("a,\n    c -> {}:1\n", "b".repeat(MAX_WIDTH - 9))
        );
        // A peer too long for any line goes on a line of its own.
        let huge = format!(
            "x, y, pods {{ app = \"{}\" }} in cluster -> z:1\n",
            "v".repeat(120)
        );
        let out = assert_round_trip(&huge);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.starts_with("x, y,\n    pods {"), "{out}");
    }

    /// Every `.netpol` file under `dir`, recursively.
    #[allow(
        clippy::disallowed_methods,
        reason = "a test reading the repository's own files; the library itself does no I/O"
    )]
    fn netpol_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                netpol_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "netpol") {
                out.push(path);
            }
        }
    }

    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "a test reading the repository's own files; the library itself does no I/O"
    )]
    fn examples_and_stdlib_are_stable_and_keep_their_comments() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        netpol_files(&root.join("examples"), &mut files);
        netpol_files(&root.join("stdlib"), &mut files);
        assert!(files.len() >= 10, "{files:?}");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let once = format(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let twice = format(&once).unwrap();
            assert_eq!(once, twice, "{} is not formatted stably", path.display());
            assert_eq!(
                comments(&text),
                comments(&once),
                "{} lost or changed comments",
                path.display()
            );
            assert_eq!(
                ast_without_spans(&text),
                ast_without_spans(&once),
                "{}",
                path.display()
            );
        }
    }

    /// SplitMix64: a tiny seeded generator, so the generated programs are the same every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// Generates valid programs with irregular layout: odd spacing, line breaks inside
    /// declarations, comments everywhere a comment may go, runs of blank lines.
    struct Gen {
        rng: Rng,
        comments: usize,
    }

    const NAMES: &[&str] = &[
        "a",
        "web",
        "db-1",
        "kube_dns",
        "x2",
        "frontend",
        "inbound",
        "notify",
        "pods2",
        "services-a",
        "clusterwide",
        "exceptional",
        "_p",
        "recommendationservice",
        "productcatalogservice",
    ];
    const KEYS: &[&str] = &[
        "app",
        "tier",
        "app.kubernetes.io/name",
        "k8s-app",
        "_x",
        "a/b",
        "internal",
        "note",
    ];

    impl Gen {
        fn comment(&mut self) -> String {
            self.comments += 1;
            format!(
                "// c{} {}",
                self.comments,
                self.rng.pick(&["", "x", "-> y:1", "\"q\"", "ü {"])
            )
        }

        /// White space between two tokens of one declaration or statement.
        fn sp(&mut self) -> String {
            match self.rng.below(20) {
                0 => "\n    ".to_string(),
                1 => format!(" {}\n      ", self.comment()),
                2 => "  ".to_string(),
                3 => "\t".to_string(),
                4 => "\n\n  ".to_string(),
                _ => " ".to_string(),
            }
        }

        fn name(&mut self) -> String {
            self.rng.pick(NAMES).to_string()
        }

        fn string(&mut self) -> String {
            let inner = self.rng.pick(&[
                "web",
                "",
                "a b",
                "with \\\"quotes\\\"",
                "back\\\\slash",
                "\\\\\\\"",
                "ü",
                "k8s/*.yaml",
                "// not a comment",
            ]);
            format!("\"{inner}\"")
        }

        fn value(&mut self) -> String {
            if self.rng.chance(50) {
                self.string()
            } else {
                self.rng
                    .pick(&["web", "v1.2", "x_y", "0", "inner"])
                    .to_string()
            }
        }

        fn values(&mut self) -> String {
            let n = self.rng.below(4);
            let vs: Vec<String> = (0..n).map(|_| self.value()).collect();
            let comma = if n > 0 && self.rng.chance(20) {
                ","
            } else {
                ""
            };
            format!("({}{comma})", vs.join(", "))
        }

        fn selector(&mut self) -> String {
            let n = 1 + self.rng.below(3);
            let reqs: Vec<String> = (0..n)
                .map(|_| {
                    let key = self.rng.pick(KEYS);
                    match self.rng.below(6) {
                        0 => format!("{key}{}={}{}", self.sp(), self.sp(), self.value()),
                        1 => format!("{key} != {}", self.value()),
                        2 => format!("{key} in {}", self.values()),
                        3 => format!("{key} not in{}{}", self.sp(), self.values()),
                        4 => format!("!{key}"),
                        _ => key.to_string(),
                    }
                })
                .collect();
            let sep = format!(",{}", self.sp());
            reqs.join(&sep)
        }

        fn braces(&mut self) -> String {
            if self.rng.chance(25) {
                "{}".to_string()
            } else {
                format!("{{{}{}{}}}", self.sp(), self.selector(), self.sp())
            }
        }

        fn pod_set(&mut self) -> String {
            match self.rng.below(3) {
                0 => {
                    let scope = match self.rng.below(3) {
                        0 => format!("namespace {}", self.name()),
                        1 => format!("namespaces {}", self.braces()),
                        _ => "cluster".to_string(),
                    };
                    format!(
                        "pods{}{}{}in{}{scope}",
                        self.sp(),
                        self.braces(),
                        self.sp(),
                        self.sp()
                    )
                }
                1 => format!("namespace{}{}", self.sp(), self.name()),
                _ => format!("namespaces {}", self.braces()),
            }
        }

        fn peer(&mut self) -> String {
            match self.rng.below(10) {
                0 => self.pod_set(),
                1 => "cluster".to_string(),
                2 => "services".to_string(),
                _ => self.name(),
            }
        }

        fn protocol(&mut self) -> String {
            if self.rng.chance(30) {
                format!("/{}", self.rng.pick(&["tcp", "TCP", "udp", "Udp", "sctp"]))
            } else {
                String::new()
            }
        }

        fn number(&mut self) -> String {
            self.rng
                .pick(&[
                    "80",
                    "443",
                    "0",
                    "8080",
                    "007",
                    "65535",
                    "99999999999999999999999",
                ])
                .to_string()
        }

        fn port_item(&mut self) -> String {
            let base = match self.rng.below(4) {
                0 => "*".to_string(),
                1 => format!("{}..{}", self.number(), self.number()),
                2 => self.number(),
                _ => self.rng.pick(&["http", "grpc", "dns", "https"]).to_string(),
            };
            format!("{base}{}", self.protocol())
        }

        fn target(&mut self) -> String {
            let peer = self.peer();
            match self.rng.below(8) {
                0 => peer,
                1 | 2 => {
                    let n = 1 + self.rng.below(3);
                    let items: Vec<String> = (0..n).map(|_| self.port_item()).collect();
                    format!("{peer}:({})", items.join(", "))
                }
                _ => format!("{peer}:{}", self.port_item()),
            }
        }

        fn list(&mut self, max: usize, f: fn(&mut Gen) -> String) -> String {
            let n = 1 + self.rng.below(max);
            let mut s = f(self);
            for _ in 1..n {
                let sp = self.sp();
                s.push(',');
                s.push_str(&sp);
                s.push_str(&f(self));
            }
            s
        }

        fn connection(&mut self) -> String {
            let (ns, nt) = if self.rng.chance(30) { (8, 8) } else { (3, 3) };
            let sources = self.list(ns, Gen::peer);
            let targets = self.list(nt, Gen::target);
            format!("{sources}{}->{}{targets}", self.sp(), self.sp())
        }

        /// White space between two statements of a block.
        fn stmt_sep(&mut self) -> String {
            match self.rng.below(8) {
                0 => "\n\n  ".to_string(),
                1 => format!("\n  {}\n  ", self.comment()),
                2 => format!(" {}\n  ", self.comment()),
                3 => " ".to_string(),
                4 => "\n\n\n  ".to_string(),
                _ => "\n  ".to_string(),
            }
        }

        fn block(&mut self, stmts: Vec<String>) -> String {
            let mut s = String::from("{");
            s.push_str(&self.stmt_sep());
            for st in stmts {
                s.push_str(&st);
                s.push_str(&self.stmt_sep());
            }
            s.push('}');
            s
        }

        fn isolate(&mut self) -> String {
            let d = ["ingress", "egress"];
            match self.rng.below(3) {
                0 => format!("isolate {}", d[self.rng.below(2)]),
                1 => format!("isolate ingress,{}egress", self.sp()),
                _ => "isolate egress, ingress".to_string(),
            }
        }

        fn port_values(&mut self) -> String {
            let n = 1 + self.rng.below(3);
            let vs: Vec<String> = (0..n)
                .map(|_| {
                    let base = if self.rng.chance(30) {
                        format!("{}..{}", self.number(), self.number())
                    } else {
                        self.number()
                    };
                    format!("{base}{}", self.protocol())
                })
                .collect();
            vs.join(", ")
        }

        fn item(&mut self) -> String {
            match self.rng.below(14) {
                0 => {
                    if self.rng.chance(50) {
                        format!("use std::{}", self.name())
                    } else {
                        let n = 1 + self.rng.below(3);
                        let names: Vec<String> = (0..n).map(|_| self.name()).collect();
                        format!("use std::net::{{{}}}", names.join(", "))
                    }
                }
                1 => {
                    let n = 1 + self.rng.below(2);
                    let globs: Vec<String> = (0..n).map(|_| self.string()).collect();
                    let ns = if self.rng.chance(50) {
                        format!(" in namespace {}", self.name())
                    } else {
                        String::new()
                    };
                    format!("workloads {}{ns}", globs.join(", "))
                }
                2 => {
                    let n = self.rng.below(3);
                    let body = if n == 0 && self.rng.chance(50) {
                        String::new()
                    } else {
                        let stmts = (0..n).map(|_| self.isolate()).collect();
                        format!("{}{}", self.sp(), self.block(stmts))
                    };
                    format!("namespace {}{body}", self.name())
                }
                3 => {
                    let n = self.rng.below(5);
                    let stmts = (0..n)
                        .map(|_| match self.rng.below(3) {
                            0 => format!("select{}{}", self.sp(), self.selector()),
                            1 => {
                                format!("port {} ={}{}", self.name(), self.sp(), self.port_values())
                            }
                            _ => self.isolate(),
                        })
                        .collect();
                    format!(
                        "service {} in {}{}{}",
                        self.name(),
                        self.name(),
                        self.sp(),
                        self.block(stmts)
                    )
                }
                4 => format!(
                    "group {}{}={}{}",
                    self.name(),
                    self.sp(),
                    self.sp(),
                    self.pod_set()
                ),
                5 => {
                    let cidr = |g: &mut Gen| {
                        if g.rng.chance(70) {
                            g.rng
                                .pick(&[
                                    "10.0.0.0/8",
                                    "192.168.1.1",
                                    "::1/128",
                                    "fe80::/10",
                                    "1.2.3.4/32",
                                ])
                                .to_string()
                        } else {
                            g.name()
                        }
                    };
                    let blocks = self.list(3, cidr);
                    let except = if self.rng.chance(30) {
                        format!(" except {}", self.list(2, cidr))
                    } else {
                        String::new()
                    };
                    format!("external {} = {blocks}{except}", self.name())
                }
                6 => format!(
                    "port {}{}={}{}",
                    self.name(),
                    self.sp(),
                    self.sp(),
                    self.port_values()
                ),
                7 => {
                    let n = self.rng.below(4);
                    let stmts = (0..n)
                        .map(|_| {
                            let verdict = self.rng.pick(&["allowed", "denied"]);
                            format!(
                                "{verdict} {}{}->{}{}",
                                self.peer(),
                                self.sp(),
                                self.sp(),
                                self.target()
                            )
                        })
                        .collect();
                    format!("test {} {}", self.string(), self.block(stmts))
                }
                _ => self.connection(),
            }
        }

        /// White space between two declarations.
        fn item_sep(&mut self) -> String {
            match self.rng.below(10) {
                0 => "\n\n".to_string(),
                1 => format!("\n{}\n", self.comment()),
                2 => format!("\n\n{}\n\n\n{}\n", self.comment(), self.comment()),
                3 => format!("  {}\n", self.comment()),
                4 => "\n\n\n\n".to_string(),
                5 => format!("\n{}\n\n", self.comment()),
                _ => "\n".to_string(),
            }
        }

        fn program(&mut self) -> String {
            let mut s = String::new();
            if self.rng.chance(50) {
                s.push_str(&self.comment());
                s.push_str(if self.rng.chance(50) { "\n\n" } else { "\n" });
            }
            let n = self.rng.below(12);
            for _ in 0..n {
                s.push_str(&self.item());
                s.push_str(&self.item_sep());
            }
            if self.rng.chance(30) {
                s.push_str(&self.comment());
            }
            s
        }
    }

    #[test]
    fn generated_programs_round_trip() {
        let mut g = Gen {
            rng: Rng(0x6E65_7470_6F6C),
            comments: 0,
        };
        let mut wrapped = 0;
        for _ in 0..400 {
            let src = g.program();
            let out = assert_round_trip(&src);
            if out
                .lines()
                .any(|l| l.starts_with("    ") && !l.trim_start().starts_with("//"))
            {
                wrapped += 1;
            }
        }
        // The generator makes some connections long enough to wrap.
        assert!(
            wrapped > 10,
            "only {wrapped} programs had wrapped connections"
        );
    }
}
