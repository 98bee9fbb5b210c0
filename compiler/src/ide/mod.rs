//! IDE queries as plain data: what is under the cursor, where it is defined and used, what
//! a hover says, what completes here, what a rename edits. The language server converts these
//! to LSP types; this module knows none of them and does no I/O.
//!
//! Every function takes byte offsets into one file and the resolved program (with its
//! references), so the answers are those of the compiler itself: a name the compiler resolves
//! is a name the editor navigates.

mod complete;
mod hover;
mod lens;
mod tokens;

pub use complete::{CompletionItem, CompletionKind, completions};
pub use hover::hover;
pub use lens::{TestLens, test_lenses};
pub use tokens::{SemanticToken, TokenKind, semantic_tokens};

use crate::diagnostic::Diagnostic;
use crate::resolve::hir::{Def, PortRange, Program};
use crate::span::{FileId, Span};

/// Turns the resolved program's spans (relative to item anchors) into file spans:
/// `|s| db::absolute(db, ws, s)`. Every span this module returns is a file span.
pub type Abs<'a> = &'a dyn Fn(Span) -> Span;

/// What a name under the cursor stands for, and the span of the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAt {
    pub span: Span,
    pub def: Def,
}

/// The name at `offset` in `file`: a use the resolver recorded, or a declaration's own name.
pub fn name_at(program: &Program, abs: Abs<'_>, file: FileId, offset: usize) -> Option<NameAt> {
    let hit = |s: Span| s.file == file && s.start <= offset && offset <= s.end;
    if let Some((span, r)) = program
        .references
        .iter()
        .map(|r| (abs(r.span), r))
        .find(|(s, _)| hit(*s))
    {
        return Some(NameAt {
            span,
            def: r.def.clone(),
        });
    }
    declarations(program, abs)
        .into_iter()
        .find(|(s, _)| hit(*s))
        .map(|(span, def)| NameAt { span, def })
}

/// Every declaration of the program (stdlib included) with the span of its name.
pub fn declarations(program: &Program, abs: Abs<'_>) -> Vec<(Span, Def)> {
    let mut out = Vec::new();
    for (i, s) in program.services.iter().enumerate() {
        out.push((s.name_span, Def::Service(i)));
        for p in &s.ports {
            out.push((p.span, Def::ServicePort(i, p.name.clone())));
        }
    }
    for (i, g) in program.groups.iter().enumerate() {
        out.push((g.name_span, Def::Group(i)));
    }
    for (i, e) in program.externals.iter().enumerate() {
        out.push((e.name_span, Def::External(i)));
    }
    for n in program.namespaces.values() {
        out.push((n.span, Def::Namespace(n.name.clone())));
    }
    for p in program.ports.values() {
        out.push((p.span, Def::Port(p.name.clone())));
    }
    out.into_iter().map(|(s, d)| (abs(s), d)).collect()
}

/// Where a definition's name is written.
pub fn def_span(program: &Program, abs: Abs<'_>, def: &Def) -> Option<Span> {
    let span = match def {
        Def::Service(i) => program.services.get(*i).map(|s| s.name_span),
        Def::Group(i) => program.groups.get(*i).map(|g| g.name_span),
        Def::External(i) => program.externals.get(*i).map(|e| e.name_span),
        Def::Namespace(n) => program.namespaces.get(n).map(|n| n.span),
        Def::Port(n) => port_def(program, n).map(|p| p.span),
        Def::ServicePort(i, n) => program
            .services
            .get(*i)
            .and_then(|s| s.ports.iter().find(|p| &p.name == n))
            .map(|p| p.span),
    };
    span.map(abs)
}

fn port_def<'a>(program: &'a Program, name: &str) -> Option<&'a crate::resolve::hir::PortDef> {
    program.ports.values().find(|p| p.name == name)
}

/// The values behind a port name (`8080/TCP`), when it names a declared port.
pub fn port_values(program: &Program, def: &Def) -> Option<Vec<PortRange>> {
    match def {
        Def::Port(n) => port_def(program, n).map(|p| p.values.clone()),
        Def::ServicePort(i, n) => program
            .services
            .get(*i)
            .and_then(|s| s.ports.iter().find(|p| &p.name == n))
            .map(|p| p.values.clone()),
        _ => None,
    }
}

/// `8080/TCP, 53/UDP`: port values as the language writes them.
pub fn show_ports(values: &[PortRange]) -> String {
    values
        .iter()
        .map(|r| {
            if r.start == r.end {
                format!("{}/{}", r.start, r.protocol)
            } else {
                format!("{}..{}/{}", r.start, r.end, r.protocol)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every span that names `def`: its declaration first (when it has one), then each use, in
/// source order.
pub fn references(program: &Program, abs: Abs<'_>, def: &Def) -> Vec<Span> {
    let mut uses: Vec<Span> = program
        .references
        .iter()
        .filter(|r| &r.def == def)
        .map(|r| abs(r.span))
        .collect();
    uses.sort();
    uses.dedup();
    let decl = def_span(program, abs, def);
    decl.into_iter()
        .chain(uses.into_iter().filter(|s| Some(*s) != decl))
        .collect()
}

/// The edits of renaming `def` to `new_name`: every reference and the declaration. Refused
/// (with a message) for names the program cannot edit, and for new names that are not names.
pub fn rename(
    program: &Program,
    abs: Abs<'_>,
    def: &Def,
    new_name: &str,
    is_read_only: impl Fn(FileId) -> bool,
) -> Result<Vec<(Span, String)>, String> {
    if !is_valid_name(new_name) {
        return Err(format!(
            "`{new_name}` is not a name: use lowercase letters, digits and `-`, starting with a letter"
        ));
    }
    let Some(decl) = def_span(program, abs, def) else {
        return Err("this name has no declaration to rename".to_string());
    };
    if is_read_only(decl.file) {
        return Err(format!(
            "`{}` is declared in the standard library, which cannot be renamed",
            program.def_name(def)
        ));
    }
    Ok(references(program, abs, def)
        .into_iter()
        .map(|s| (s, new_name.to_string()))
        .collect())
}

fn is_valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !s.ends_with('-')
        && !complete::KEYWORDS.contains(&s)
}

/// A symbol for the outline and workspace symbol search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// Where the name is written.
    pub span: Span,
    /// `in shop`, `= 203.0.113.0/24`: a short detail.
    pub detail: String,
    pub children: Vec<Symbol>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    Namespace,
    Service,
    Group,
    External,
    Port,
    Test,
}

fn leaf(name: String, kind: SymbolKind, span: Span, detail: String) -> Symbol {
    Symbol {
        name,
        kind,
        span,
        detail,
        children: Vec::new(),
    }
}

/// The declarations written in `file`, in source order, service ports as children.
pub fn symbols(program: &Program, abs: Abs<'_>, file: FileId) -> Vec<Symbol> {
    let here = |s: Span| abs(s).file == file;
    let mut out = Vec::new();
    for n in program.namespaces.values().filter(|n| here(n.span)) {
        out.push(leaf(
            n.name.clone(),
            SymbolKind::Namespace,
            abs(n.span),
            format!("isolate {}", n.isolate.describe()),
        ));
    }
    for s in program.services.iter().filter(|s| here(s.name_span)) {
        out.push(Symbol {
            name: s.name.clone(),
            kind: SymbolKind::Service,
            span: abs(s.name_span),
            detail: format!("in {}", s.namespace),
            children: s
                .ports
                .iter()
                .map(|p| {
                    leaf(
                        p.name.clone(),
                        SymbolKind::Port,
                        abs(p.span),
                        format!("= {}", show_ports(&p.values)),
                    )
                })
                .collect(),
        });
    }
    for g in program.groups.iter().filter(|g| here(g.name_span)) {
        out.push(leaf(
            g.name.clone(),
            SymbolKind::Group,
            abs(g.name_span),
            format!("= {}", crate::resolve::hir::describe_set(&g.set)),
        ));
    }
    for e in program.externals.iter().filter(|e| here(e.name_span)) {
        out.push(Symbol {
            name: e.name.clone(),
            kind: SymbolKind::External,
            span: abs(e.name_span),
            detail: format!(
                "= {}",
                e.blocks
                    .iter()
                    .map(|b| b.cidr.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            children: Vec::new(),
        });
    }
    for p in program.ports.values().filter(|p| here(p.span)) {
        out.push(leaf(
            p.name.clone(),
            SymbolKind::Port,
            abs(p.span),
            format!("= {}", show_ports(&p.values)),
        ));
    }
    for t in program.tests.iter().filter(|t| here(t.span)) {
        out.push(leaf(
            t.name.clone(),
            SymbolKind::Test,
            abs(t.span),
            format!("{} assertions", t.assertions.len()),
        ));
    }
    out.sort_by_key(|s| s.span);
    out
}

/// A port number shown after a named port (`:http` → `8080/TCP`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlayHint {
    /// Where the hint goes (the end of the port name).
    pub offset: usize,
    pub label: String,
}

/// One hint after every use of a declared port name in `file`.
pub fn inlay_hints(program: &Program, abs: Abs<'_>, file: FileId) -> Vec<InlayHint> {
    let mut out: Vec<InlayHint> = program
        .references
        .iter()
        .map(|r| (abs(r.span), r))
        .filter(|(s, _)| s.file == file)
        .filter_map(|(span, r)| {
            let values = port_values(program, &r.def)?;
            Some(InlayHint {
                offset: span.end,
                label: format!(" = {}", show_ports(&values)),
            })
        })
        .collect();
    out.sort_by_key(|h| h.offset);
    out.dedup();
    out
}

/// An edit that fixes a diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<(Span, String)>,
}

/// The fixes a diagnostic offers: its "did you mean `x`?" replacement of the primary span,
/// and for W104 (no DNS egress) the connection to kube-dns.
pub fn fixes(diag: &Diagnostic, text: &str) -> Vec<Fix> {
    let mut out = Vec::new();
    if let Some(help) = &diag.help
        && let Some(suggestion) = did_you_mean_target(help)
    {
        out.push(Fix {
            title: format!("replace with `{suggestion}`"),
            edits: vec![(diag.primary.span, suggestion.to_string())],
        });
    }
    if diag.code == crate::diagnostic::Code::NoDnsEgress
        && let Some(name) = text.get(diag.primary.span.start..diag.primary.span.end)
    {
        out.push(allow_dns(diag.primary.span.file, text, name));
    }
    out
}

/// `did you mean `frontend`?` → `frontend`.
fn did_you_mean_target(help: &str) -> Option<&str> {
    let rest = help.strip_prefix("did you mean `")?;
    let (word, tail) = rest.split_once('`')?;
    (tail == "?" && !word.is_empty()).then_some(word)
}

/// "Allow DNS egress" for a service: `use std::dns` when missing, and `NAME -> kube-dns:dns`
/// at the end of the file.
pub fn allow_dns(file: FileId, text: &str, service: &str) -> Fix {
    let mut edits = Vec::new();
    let has_use = text
        .lines()
        .any(|l| l.trim_start().starts_with("use std::dns"));
    if !has_use {
        edits.push((Span::new(file, 0, 0), "use std::dns\n".to_string()));
    }
    let end = text.len();
    let sep = if text.ends_with('\n') || text.is_empty() {
        ""
    } else {
        "\n"
    };
    edits.push((
        Span::new(file, end, end),
        format!("{sep}{service} -> kube-dns:dns\n"),
    ));
    Fix {
        title: format!("allow DNS egress for `{service}`"),
        edits,
    }
}

#[cfg(test)]
mod tests;
