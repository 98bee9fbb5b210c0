//! The formatter: one canonical layout for `.netpol` files. Comments are kept: a comment on
//! its own line stays before the declaration or statement that follows it, and a comment at
//! the end of a line stays at the end of that line. One blank line between declarations is
//! kept where the source had one or more. Runs of one-line declarations of the same kind
//! (connections, groups, externals, ports) are aligned on their `->` or `=`.

use crate::span::{FileId, Span};
use crate::syntax::{self, Comment, ast::*};

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
}

/// A one-line rendering split where runs are aligned.
struct Line {
    kind: u8,
    head: String,
    tail: String,
}

impl Formatter<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text
            .get(..offset)
            .map_or(0, |s| s.matches('\n').count())
    }

    /// Comments that start before `offset`, each on its own line, indented.
    fn leading_comments(&mut self, offset: usize, indent: &str) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= offset {
                break;
            }
            self.out.push_str(indent);
            self.out.push_str(&c.text);
            self.out.push('\n');
            self.next_comment += 1;
        }
    }

    /// A comment on the same line as `end`, after it.
    fn trailing_comment(&mut self, end: usize) -> Option<String> {
        let c = self.comments.get(self.next_comment)?;
        if c.span.start >= end && self.line_of(c.span.start) == self.line_of(end.saturating_sub(1))
        {
            self.next_comment += 1;
            return Some(c.text.clone());
        }
        None
    }

    fn blank_line_between(&self, prev_end: usize, next_start: usize) -> bool {
        // Count blank lines between the two, ignoring comment lines.
        let between = self.text.get(prev_end..next_start).unwrap_or("");
        between.lines().skip(1).any(|l| l.trim().is_empty())
    }

    fn file(&mut self, file: &SourceFile) {
        let mut prev_end: Option<usize> = None;
        let mut run: Vec<(Line, Option<String>)> = Vec::new();
        for item in &file.items {
            let span = item.span();
            let blank = prev_end
                .is_some_and(|e| self.blank_line_between(e, first_comment_or(self, span.start)));
            let single = single_line(item);
            let has_leading = self
                .comments
                .get(self.next_comment)
                .is_some_and(|c| c.span.start < span.start);
            let continues_run = match (&single, run.last()) {
                (Some(l), Some((prev, _))) => l.kind == prev.kind && !blank && !has_leading,
                _ => false,
            };
            if !continues_run {
                self.flush_run(&mut run);
                if blank {
                    self.out.push('\n');
                }
            }
            self.leading_comments(span.start, "");
            match single {
                Some(line) => {
                    self.skip_inner_comments(span);
                    let trailing = self.trailing_comment(span.end);
                    run.push((line, trailing));
                }
                None => {
                    self.block_item(item);
                }
            }
            prev_end = Some(span.end);
        }
        self.flush_run(&mut run);
        // Comments after the last declaration.
        let rest: Vec<String> = self
            .comments
            .iter()
            .skip(self.next_comment)
            .map(|c| c.text.clone())
            .collect();
        if !rest.is_empty() {
            if prev_end.is_some_and(|e| {
                self.blank_line_between(
                    e,
                    self.comments
                        .get(self.next_comment)
                        .map_or(e, |c| c.span.start),
                )
            }) {
                self.out.push('\n');
            }
            for c in rest {
                self.out.push_str(&c);
                self.out.push('\n');
            }
        }
    }

    /// Comments inside a one-line item's span move before it.
    fn skip_inner_comments(&mut self, span: Span) {
        let mut inner = Vec::new();
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= span.end {
                break;
            }
            inner.push(c.text.clone());
            self.next_comment += 1;
        }
        for c in inner {
            self.out.push_str(&c);
            self.out.push('\n');
        }
    }

    fn flush_run(&mut self, run: &mut Vec<(Line, Option<String>)>) {
        // Heads longer than this are left unpadded and do not widen the others.
        const ALIGN_LIMIT: usize = 24;
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
                self.after_open(s.name.span.end);
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
                self.after_open(n.name.span.end);
                let stmts: Vec<(Span, String)> =
                    n.isolate.iter().map(|i| (i.span, isolate(i))).collect();
                self.statements(&stmts, n.span.end);
                self.out.push('}');
                self.end_block(n.span.end);
            }
            Item::Test(t) => {
                self.out
                    .push_str(&format!("test {} {{", quote(&t.name.value)));
                self.after_open(t.name.span.end);
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
            _ => {}
        }
    }

    fn after_open(&mut self, after: usize) {
        // A comment right after `{` on the same line.
        let brace = self
            .text
            .get(after..)
            .and_then(|r| r.find('{'))
            .map_or(after, |i| after + i + 1);
        if let Some(c) = self.trailing_comment(brace) {
            self.out.push(' ');
            self.out.push_str(&c);
        }
        self.out.push('\n');
    }

    fn statements(&mut self, stmts: &[(Span, String)], block_end: usize) {
        for (span, text) in stmts {
            self.leading_comments(span.start, "  ");
            self.skip_inner_comments_indented(*span);
            let mut line = format!("  {text}");
            if let Some(c) = self.trailing_comment(span.end) {
                line.push_str("  ");
                line.push_str(&c);
            }
            self.out.push_str(&line);
            self.out.push('\n');
        }
        // Comments before the closing brace.
        self.leading_comments(block_end.saturating_sub(1), "  ");
    }

    fn skip_inner_comments_indented(&mut self, span: Span) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= span.end {
                break;
            }
            let text = c.text.clone();
            self.out.push_str("  ");
            self.out.push_str(&text);
            self.out.push('\n');
            self.next_comment += 1;
        }
    }

    fn end_block(&mut self, end: usize) {
        if let Some(c) = self.trailing_comment(end) {
            self.out.push_str("  ");
            self.out.push_str(&c);
        }
        self.out.push('\n');
    }
}

fn first_comment_or(f: &Formatter<'_>, start: usize) -> usize {
    f.comments
        .get(f.next_comment)
        .filter(|c| c.span.start < start)
        .map_or(start, |c| c.span.start)
}

/// The one-line form of an item, or `None` for items laid out as blocks.
fn single_line(item: &Item) -> Option<Line> {
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

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn selector(s: &Selector) -> String {
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

fn peer(p: &Peer) -> String {
    match p {
        Peer::Ref(n) => n.text.clone(),
        Peer::Set(s) => pod_set(s),
        Peer::Cluster(_) => "cluster".to_string(),
        Peer::Services(_) => "services".to_string(),
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
    };
    format!("{base}{}", protocol(&p.protocol))
}

fn target(t: &Target) -> String {
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

fn port_decl(p: &PortDecl) -> String {
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

fn isolate(i: &Isolate) -> String {
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
    use super::format;

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
}
