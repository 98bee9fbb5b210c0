//! The parser: pest's generated recogniser (from grammar/netpol.pest) plus lowering to the
//! owned AST. Parsing never fails: it returns a (possibly partial) tree and the syntax errors
//! it found, every one of them, not only the first.

use super::ast::*;
use super::keywords::KEYWORDS;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use pest::Parser as _;
use pest::iterators::{Pair, Pairs};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/netpol.pest"]
struct NetpolParser;

/// At most this many syntax errors are reported for one file.
const MAX_SYNTAX_ERRORS: usize = 50;

/// A `//` comment, kept for the formatter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Comment {
    pub span: Span,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Parsed {
    pub ast: SourceFile,
    pub errors: Vec<Diagnostic>,
    pub comments: Vec<Comment>,
}

/// Parses one file. Never fails, never panics.
///
/// A block or list that is never closed is reported once, where it opens; the file is then
/// parsed again with the missing `}` or `)` put where the region that holds it ends (in place
/// of the line break there, so that no position moves), so that what the block declares is
/// still checked and nothing after it is reported as a follow-on error.
pub fn parse(file: FileId, text: &str) -> Parsed {
    let (first, patches) = parse_once(file, text);
    if patches.is_empty() {
        return first;
    }
    let mut patched = text.to_string();
    for (at, closer, _) in patches.iter().rev() {
        if *at == patched.len() {
            patched.push(*closer);
        } else if matches!(patched.as_bytes().get(*at), Some(b'\n' | b'\r')) {
            patched.replace_range(*at..*at + 1, &closer.to_string());
        } else {
            return first;
        }
    }
    let (second, _) = parse_once(file, &patched);
    let unclosed: Vec<Diagnostic> = patches.into_iter().map(|(_, _, d)| d).collect();
    // The repaired file must explain itself with fewer errors, else the first reading stands.
    if second.errors.len() + unclosed.len() > first.errors.len() {
        return first;
    }
    let mut errors = unclosed;
    errors.extend(second.errors);
    errors.sort_by_key(|d| d.primary.span.start);
    Parsed {
        ast: second.ast,
        errors,
        comments: first.comments,
    }
}

/// Where a region needs a closing `}` or `)`: its end, the character, and the error.
type Patch = (usize, char, Diagnostic);

fn parse_once(file: FileId, text: &str) -> (Parsed, Vec<Patch>) {
    let mut p = Lowerer {
        file,
        errors: Vec::new(),
        suppressed: 0,
        patches: Vec::new(),
    };
    let mut items = Vec::new();
    match NetpolParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            if let Some(file_pair) = pairs.next() {
                for pair in file_pair.into_inner() {
                    match pair.as_rule() {
                        Rule::bad_item => p.bad_region(&pair, Rule::decl_probe),
                        Rule::EOI => {}
                        _ => {
                            if let Some(item) = p.item(pair) {
                                items.push(item);
                            }
                        }
                    }
                }
            }
        }
        Err(e) => {
            let pos = error_pos(&e);
            let span = Span::new(file, pos, pos);
            p.push(Diagnostic::new(
                Code::Syntax,
                span,
                format!("cannot parse this file: {}", e.variant.message()),
            ));
        }
    }
    if p.suppressed > 0 {
        let last = Span::new(file, text.len(), text.len());
        let n = p.suppressed;
        p.errors.push(
            Diagnostic::new(
                Code::Syntax,
                last,
                format!("{n} more syntax errors not shown"),
            )
            .help("fix the errors above and run again"),
        );
    }
    (
        Parsed {
            ast: SourceFile { items },
            errors: p.errors,
            comments: comments(file, text),
        },
        p.patches,
    )
}

fn error_pos(e: &pest::error::Error<Rule>) -> usize {
    match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    }
}

/// Finds `//` comments outside string literals.
fn comments(file: FileId, text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(b'\n');
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' | b'\n' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            let end = text
                .get(i..)
                .and_then(|rest| rest.find('\n'))
                .map_or(text.len(), |n| i + n);
            let end_trimmed = text.get(i..end).map_or(end, |c| i + c.trim_end().len());
            out.push(Comment {
                span: Span::new(file, i, end_trimmed),
                text: text.get(i..end_trimmed).unwrap_or("").to_string(),
            });
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

struct Lowerer {
    file: FileId,
    errors: Vec<Diagnostic>,
    suppressed: usize,
    /// Blocks and lists never closed, for the second reading.
    patches: Vec<Patch>,
}

impl Lowerer {
    fn push(&mut self, d: Diagnostic) {
        if self.errors.len() >= MAX_SYNTAX_ERRORS {
            self.suppressed += 1;
        } else {
            self.errors.push(d);
        }
    }

    /// The span of a pair without the white space and comments that pest's implicit
    /// whitespace leaves at the end of rules ending in `?` or `*`.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), trimmed_end(pair))
    }

    /// Explains a region that did not parse by parsing it alone with `probe`.
    fn bad_region(&mut self, pair: &Pair<'_, Rule>, probe: Rule) {
        if self.errors.len() >= MAX_SYNTAX_ERRORS {
            self.suppressed += 1;
            return;
        }
        let start = pair.as_span().start();
        let region = pair.as_str();
        let before = pair.get_input().get(..start).unwrap_or("");
        // The causes that confuse every later token come first: a string that is never
        // closed, then (for a declaration) a block that is never closed.
        if let Some(d) = unterminated_string(self.file, start, region) {
            self.push(d);
            return;
        }
        if probe == Rule::decl_probe
            && let Some(d) = misplaced_statement(self.file, start, region)
        {
            self.push(d);
            return;
        }
        if probe == Rule::decl_probe
            && let Some((closer, d)) = unclosed_block(self.file, start, region)
        {
            if let Some(closer) = closer {
                self.patches.push((start + region.len(), closer, d.clone()));
            }
            self.push(d);
            return;
        }
        let known = protocol_typo(self.file, start, region, before)
            .or_else(|| missing_comma(self.file, start, region, before))
            .or_else(|| trailing_comma(self.file, start, region))
            .or_else(|| missing_value(self.file, start, region))
            .or_else(|| keyword_typo(self.file, start, region));
        if let Some(d) = known {
            self.push(d);
            return;
        }
        let probed = NetpolParser::parse(probe, region);
        let (pos, expected) = match probed {
            Ok(pairs) => {
                let consumed = pairs.map(|p| p.as_span().end()).max().unwrap_or(0);
                (consumed, Vec::new())
            }
            Err(e) => (error_pos(&e), expected_words(&e)),
        };
        let expected = if probe == Rule::decl_probe && after_first_name(region, pos) {
            // A declaration that starts with a name is a connection: pest reports the rules
            // it tried there (`in`), not the literal `->` and `,` it tried too.
            ["`,`", "`->`", "`in`"].map(str::to_string).to_vec()
        } else {
            expected
        };
        // Skip white space and comments to the offending token.
        let mut pos = pos.min(region.len());
        let after = region.get(pos..).unwrap_or("");
        let trimmed = after.trim_start();
        pos += after.len() - trimmed.len();
        let abs = start + pos;
        // The token is read from the whole input: a region that stops at `}` or at the end
        // of its line ends before the token that the parser met.
        let (found, len) = found_token(pair.get_input().get(abs..).unwrap_or(""));
        let span = Span::new(self.file, abs, abs + len);
        let message = if expected.is_empty() {
            format!("unexpected {found}")
        } else {
            format!("expected {}, found {found}", join_words(&expected))
        };
        // A word close to a keyword that could stand here is most likely that keyword.
        let word = region.get(pos..pos + len).unwrap_or("");
        let keywords = expected
            .iter()
            .filter_map(|w| w.strip_prefix('`')?.strip_suffix('`'))
            .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()));
        let hint = (word.len() > 2 && word.chars().all(|c| c.is_ascii_alphanumeric()))
            .then(|| crate::k8s::names::did_you_mean(word, keywords))
            .flatten();
        self.push(
            Diagnostic::new(Code::Syntax, span, message)
                .label("unexpected here")
                .help_opt(hint),
        );
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Option<Item> {
        Some(match pair.as_rule() {
            Rule::use_decl => Item::Use(self.use_decl(pair)?),
            Rule::workloads_decl => {
                let span = self.span(&pair);
                let mut globs = Vec::new();
                let mut namespace = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::string => globs.push(self.string(p)),
                        Rule::namespace_all => {
                            namespace = p
                                .into_inner()
                                .find(|n| n.as_rule() == Rule::name)
                                .map(|n| self.name(n));
                        }
                        _ => {}
                    }
                }
                Item::Workloads(WorkloadsDecl {
                    span,
                    globs,
                    namespace,
                })
            }
            Rule::namespace_decl => Item::Namespace(self.namespace_decl(pair)?),
            Rule::service_decl => Item::Service(self.service_decl(pair)?),
            Rule::group_decl => {
                let span = self.span(&pair);
                let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_group);
                let name = self.name(inner.next()?);
                let set = self.pod_set(inner.next()?)?;
                Item::Group(GroupDecl { span, name, set })
            }
            Rule::external_decl => Item::External(self.external_decl(pair)?),
            Rule::port_decl => Item::Port(self.port_decl(pair)?),
            Rule::test_decl => Item::Test(self.test_decl(pair)?),
            Rule::cluster_decl => Item::Cluster(self.cluster_decl(pair)?),
            Rule::connection => Item::Connection(self.connection(pair)?),
            _ => return None,
        })
    }

    fn name(&self, pair: Pair<'_, Rule>) -> Name {
        Name {
            text: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn string(&self, pair: Pair<'_, Rule>) -> Str {
        let span = self.span(&pair);
        let raw = match pair.as_rule() {
            Rule::string => pair
                .into_inner()
                .next()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            _ => pair.as_str().to_string(),
        };
        Str {
            value: raw.replace("\\\"", "\"").replace("\\\\", "\\"),
            span,
        }
    }

    fn use_decl(&mut self, pair: Pair<'_, Rule>) -> Option<UseDecl> {
        let span = self.span(&pair);
        let path_pair = pair.into_inner().find(|p| p.as_rule() == Rule::use_path)?;
        let mut path = Vec::new();
        let mut names = None;
        for p in path_pair.into_inner() {
            match p.as_rule() {
                Rule::name => path.push(self.name(p)),
                Rule::use_list => {
                    names = Some(p.into_inner().map(|n| self.name(n)).collect());
                }
                _ => {}
            }
        }
        Some(UseDecl { span, path, names })
    }

    fn namespace_decl(&mut self, pair: Pair<'_, Rule>) -> Option<NamespaceDecl> {
        let span = self.span(&pair);
        let mut name = None;
        let mut isolate = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.name(p)),
                Rule::ns_body => {
                    for stmt in p.into_inner() {
                        match stmt.as_rule() {
                            Rule::isolate_stmt => isolate.push(self.isolate(stmt)),
                            Rule::bad_stmt => self.bad_region(&stmt, Rule::ns_stmt_probe),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Some(NamespaceDecl {
            span,
            name: name?,
            isolate,
        })
    }

    fn isolate(&self, pair: Pair<'_, Rule>) -> Isolate {
        let span = self.span(&pair);
        let directions = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::direction)
            .map(|p| {
                let d = if p.as_str() == "ingress" {
                    Direction::Ingress
                } else {
                    Direction::Egress
                };
                (d, self.span(&p))
            })
            .collect();
        Isolate { span, directions }
    }

    fn service_decl(&mut self, pair: Pair<'_, Rule>) -> Option<ServiceDecl> {
        let span = self.span(&pair);
        let mut names = Vec::new();
        let mut selects = Vec::new();
        let mut ports = Vec::new();
        let mut isolate = Vec::new();
        let mut broken = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => names.push(self.name(p)),
                Rule::svc_body => {
                    for stmt in p.into_inner() {
                        match stmt.as_rule() {
                            Rule::select_stmt => {
                                if let Some(sel) = stmt
                                    .into_inner()
                                    .find(|s| s.as_rule() == Rule::selector)
                                    .map(|s| self.selector(s))
                                {
                                    selects.push(sel);
                                }
                            }
                            Rule::port_decl => {
                                if let Some(pd) = self.port_decl(stmt) {
                                    ports.push(pd);
                                }
                            }
                            Rule::isolate_stmt => isolate.push(self.isolate(stmt)),
                            Rule::bad_stmt => {
                                broken = true;
                                self.bad_region(&stmt, Rule::svc_stmt_probe);
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let mut names = names.into_iter();
        Some(ServiceDecl {
            span,
            name: names.next()?,
            namespace: names.next()?,
            selects,
            ports,
            isolate,
            broken,
        })
    }

    fn selector(&self, pair: Pair<'_, Rule>) -> Selector {
        let span = self.span(&pair);
        let requirements = pair
            .into_inner()
            .filter_map(|r| self.requirement(r))
            .collect();
        Selector { span, requirements }
    }

    fn requirement(&self, pair: Pair<'_, Rule>) -> Option<Requirement> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair
            .into_inner()
            .filter(|p| !matches!(p.as_rule(), Rule::kw_in | Rule::kw_not));
        let key = self.string(inner.next()?);
        let values = |inner: &mut dyn Iterator<Item = Pair<'_, Rule>>| -> Vec<Str> {
            inner
                .next()
                .map(|list| list.into_inner().map(|v| self.string(v)).collect())
                .unwrap_or_default()
        };
        let op = match rule {
            Rule::req_eq => ReqOp::Eq(self.string(inner.next()?)),
            Rule::req_ne => ReqOp::Ne(self.string(inner.next()?)),
            Rule::req_in => ReqOp::In(values(&mut inner)),
            Rule::req_not_in => ReqOp::NotIn(values(&mut inner)),
            Rule::req_exists => ReqOp::Exists,
            Rule::req_not_exists => ReqOp::NotExists,
            _ => return None,
        };
        Some(Requirement { span, key, op })
    }

    fn optional_selector(&self, pairs: Pairs<'_, Rule>) -> Option<Selector> {
        pairs
            .into_iter()
            .find(|p| p.as_rule() == Rule::selector)
            .map(|p| self.selector(p))
    }

    fn pod_set(&self, pair: Pair<'_, Rule>) -> Option<PodSet> {
        let span = self.span(&pair);
        Some(match pair.as_rule() {
            Rule::pods_in => {
                let mut selector = None;
                let mut scope = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::selector => selector = Some(self.selector(p)),
                        Rule::namespace_all => {
                            let name = p.into_inner().find(|n| n.as_rule() == Rule::name)?;
                            scope = Some(Scope::Namespace(self.name(name)));
                        }
                        Rule::namespaces_sel => {
                            let s = self.span(&p);
                            scope = Some(Scope::Namespaces {
                                span: s,
                                selector: self.optional_selector(p.into_inner()),
                            });
                        }
                        Rule::cluster_all => scope = Some(Scope::Cluster(self.span(&p))),
                        _ => {}
                    }
                }
                PodSet::Pods {
                    span,
                    selector,
                    scope: scope?,
                }
            }
            Rule::namespace_all => {
                let name = pair.into_inner().find(|n| n.as_rule() == Rule::name)?;
                PodSet::Namespace {
                    span,
                    name: self.name(name),
                }
            }
            Rule::namespaces_sel => PodSet::Namespaces {
                span,
                selector: self.optional_selector(pair.into_inner()),
            },
            _ => return None,
        })
    }

    fn external_decl(&mut self, pair: Pair<'_, Rule>) -> Option<ExternalDecl> {
        let span = self.span(&pair);
        let mut name = None;
        let mut lists = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.name(p)),
                Rule::cidr_list => lists.push(
                    p.into_inner()
                        .map(|c| match c.as_rule() {
                            Rule::cidr => CidrItem::Cidr(self.string(c)),
                            _ => CidrItem::Name(self.name(c)),
                        })
                        .collect::<Vec<_>>(),
                ),
                _ => {}
            }
        }
        let mut lists = lists.into_iter();
        Some(ExternalDecl {
            span,
            name: name?,
            blocks: lists.next().unwrap_or_default(),
            except: lists.next().unwrap_or_default(),
        })
    }

    fn cluster_decl(&mut self, pair: Pair<'_, Rule>) -> Option<ClusterDecl> {
        let span = self.span(&pair);
        let mut keyword = None;
        let mut ranges = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_cluster => keyword = Some(self.span(&p)),
                Rule::cluster_body => {
                    for stmt in p.into_inner() {
                        match stmt.as_rule() {
                            Rule::cluster_stmt => ranges.push(self.cluster_ranges(stmt)),
                            Rule::bad_stmt => self.bad_region(&stmt, Rule::cluster_stmt_probe),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Some(ClusterDecl {
            span,
            keyword: keyword?,
            ranges,
        })
    }

    fn cluster_ranges(&self, pair: Pair<'_, Rule>) -> ClusterRanges {
        let span = self.span(&pair);
        let mut kind = RangeKind::Pods;
        let mut cidrs = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_services => kind = RangeKind::Services,
                Rule::cidr => cidrs.push(self.string(p)),
                _ => {}
            }
        }
        ClusterRanges { span, kind, cidrs }
    }

    fn port_decl(&mut self, pair: Pair<'_, Rule>) -> Option<PortDecl> {
        let span = self.span(&pair);
        let mut name = None;
        let mut values = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.name(p)),
                Rule::port_values => {
                    for v in p.into_inner() {
                        if let Some(pv) = self.port_value(v) {
                            values.push(pv);
                        }
                    }
                }
                _ => {}
            }
        }
        Some(PortDecl {
            span,
            name: name?,
            values,
        })
    }

    fn protocol(&self, pair: Pair<'_, Rule>) -> (Proto, Span) {
        let proto = match pair.as_str().to_ascii_lowercase().as_str() {
            "udp" => Proto::Udp,
            "sctp" => Proto::Sctp,
            _ => Proto::Tcp,
        };
        (proto, self.span(&pair))
    }

    fn port_value(&self, pair: Pair<'_, Rule>) -> Option<PortValue> {
        let span = self.span(&pair);
        let mut start = None;
        let mut end = None;
        let mut protocol = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::number => start = Some(number(p.as_str())),
                Rule::port_range => {
                    let mut nums = p.into_inner().map(|n| number(n.as_str()));
                    start = nums.next();
                    end = nums.next();
                }
                Rule::protocol => protocol = Some(self.protocol(p)),
                _ => {}
            }
        }
        Some(PortValue {
            span,
            start: start?,
            end,
            protocol,
        })
    }

    fn connection(&mut self, pair: Pair<'_, Rule>) -> Option<Connection> {
        let span = self.span(&pair);
        let mut sources = Vec::new();
        let mut targets = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::peer_list => {
                    for peer in p.into_inner() {
                        sources.push(self.peer(peer)?);
                    }
                }
                Rule::target => targets.push(self.target(p)?),
                _ => {}
            }
        }
        Some(Connection {
            span,
            sources,
            targets,
        })
    }

    fn peer(&self, pair: Pair<'_, Rule>) -> Option<Peer> {
        let inner = pair.into_inner().next()?;
        Some(match inner.as_rule() {
            Rule::name => Peer::Ref(self.name(inner)),
            Rule::cluster_all => Peer::Cluster(self.span(&inner)),
            Rule::all_services => Peer::Services(self.span(&inner)),
            Rule::narrowed => {
                let span = self.span(&inner);
                let mut parts = inner.into_inner();
                let name = self.name(parts.find(|p| p.as_rule() == Rule::name)?);
                let scope_pair = parts
                    .find(|p| matches!(p.as_rule(), Rule::namespace_all | Rule::namespaces_sel))?;
                let scope = match scope_pair.as_rule() {
                    Rule::namespace_all => Scope::Namespace(
                        self.name(
                            scope_pair
                                .into_inner()
                                .find(|n| n.as_rule() == Rule::name)?,
                        ),
                    ),
                    _ => Scope::Namespaces {
                        span: self.span(&scope_pair),
                        selector: self.optional_selector(scope_pair.into_inner()),
                    },
                };
                Peer::Narrowed { span, name, scope }
            }
            _ => Peer::Set(self.pod_set(inner)?),
        })
    }

    fn target(&self, pair: Pair<'_, Rule>) -> Option<Target> {
        let span = self.span(&pair);
        let mut peer = None;
        let mut ports = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::peer => peer = self.peer(p),
                Rule::port_list => {
                    ports = Some(
                        p.into_inner()
                            .filter_map(|item| self.port_item(item))
                            .collect(),
                    )
                }
                _ => {}
            }
        }
        Some(Target {
            span,
            peer: peer?,
            ports,
        })
    }

    fn port_item(&self, pair: Pair<'_, Rule>) -> Option<PortItem> {
        let span = self.span(&pair);
        let mut kind = None;
        let mut protocol = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::any_port => kind = Some(PortItemKind::Any),
                Rule::number => kind = Some(PortItemKind::Number(number(p.as_str()))),
                Rule::port_range => {
                    let mut nums = p.into_inner().map(|n| number(n.as_str()));
                    kind = Some(PortItemKind::Range(nums.next()?, nums.next()?));
                }
                Rule::name => kind = Some(PortItemKind::Name(self.name(p))),
                Rule::string => kind = Some(PortItemKind::PodPort(self.string(p))),
                Rule::protocol => protocol = Some(self.protocol(p)),
                _ => {}
            }
        }
        Some(PortItem {
            span,
            kind: kind?,
            protocol,
        })
    }

    fn test_decl(&mut self, pair: Pair<'_, Rule>) -> Option<TestDecl> {
        let span = self.span(&pair);
        let mut name = None;
        let mut assertions = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::string => name = Some(self.string(p)),
                Rule::test_body => {
                    for stmt in p.into_inner() {
                        match stmt.as_rule() {
                            Rule::assertion => {
                                if let Some(a) = self.assertion(stmt) {
                                    assertions.push(a);
                                }
                            }
                            Rule::bad_stmt => self.bad_region(&stmt, Rule::test_stmt_probe),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Some(TestDecl {
            span,
            name: name?,
            assertions,
        })
    }

    fn assertion(&self, pair: Pair<'_, Rule>) -> Option<Assertion> {
        let span = self.span(&pair);
        let mut allowed = None;
        let mut from = None;
        let mut to = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::verdict => allowed = Some(p.as_str() == "allowed"),
                Rule::peer => from = self.peer(p),
                Rule::target => to = self.target(p),
                _ => {}
            }
        }
        Some(Assertion {
            span,
            expect_allowed: allowed?,
            from: from?,
            to: to?,
        })
    }
}

fn trimmed_end(pair: &Pair<'_, Rule>) -> usize {
    let end = pair.as_span().end();
    let Some(last) = pair.clone().into_inner().last() else {
        return end;
    };
    let inner_end = trimmed_end(&last);
    let rest = pair.get_input().get(inner_end..end).unwrap_or("");
    if only_trivia(rest) { inner_end } else { end }
}

/// True when `s` holds only white space and `//` comments.
fn only_trivia(s: &str) -> bool {
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return true;
        }
        if rest.starts_with("//") {
            rest = rest.find('\n').map_or("", |i| rest.get(i..).unwrap_or(""));
        } else {
            return false;
        }
    }
}

/// Parses a decimal number, saturating so that the checker can report it as out of range.
fn number(s: &str) -> u64 {
    s.parse::<u64>().unwrap_or(u64::MAX)
}

/// Describes the token at the start of `rest`, and its length in bytes.
fn found_token(rest: &str) -> (String, usize) {
    let Some(c) = rest.chars().next() else {
        return ("end of file".to_string(), 0);
    };
    if c == '\n' || c == '\r' {
        return ("end of line".to_string(), 0);
    }
    if c.is_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
            .take(40)
            .collect();
        let len = word.len();
        return (format!("`{word}`"), len);
    }
    if c == '"' {
        return ("a string".to_string(), c.len_utf8());
    }
    if c.is_control() || c == '\u{FFFD}' {
        return (format!("character U+{:04X}", c as u32), c.len_utf8());
    }
    (format!("`{c}`"), c.len_utf8())
}

/// Human names of what the parser expected, for "expected …, found …": each word once,
/// sorted.
fn expected_words(e: &pest::error::Error<Rule>) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant {
        // Each rule tried, as the words that can start it (derived from the grammar).
        for r in positives {
            items.extend(super::expected::words(&format!("{r:?}"), rule_name));
        }
    }
    items.sort();
    items.dedup();
    items
}

/// `a`, `b` or `c`, cut to a readable length.
fn join_words(words: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut items: Vec<&str> = words.iter().map(String::as_str).take(SHOWN).collect();
    if words.len() > SHOWN {
        items.push("…");
    }
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// A `"` with no closing `"` on its line: every later token would be misread, so this is
/// the error to report, at the string's start.
fn unterminated_string(file: FileId, start: usize, region: &str) -> Option<Diagnostic> {
    let mut open = None;
    let mut chars = region.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (open, c) {
            (None, '/') if chars.peek().is_some_and(|(_, n)| *n == '/') => {
                // A comment: skip to the end of its line.
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            (None, '"') => open = Some(i),
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(_), '"') => open = None,
            (Some(at), '\n') => return Some(unterminated_at(file, start + at)),
            _ => {}
        }
    }
    open.map(|at| unterminated_at(file, start + at))
}

fn unterminated_at(file: FileId, at: usize) -> Diagnostic {
    Diagnostic::new(
        Code::Syntax,
        Span::new(file, at, at + 1),
        "unterminated string".to_string(),
    )
    .label("this string is never closed")
    .help("close it with `\"` on the same line: a string cannot span lines")
}

/// A `{` of a declaration with no matching `}` in the region (which runs to the next line
/// that starts with a letter, where the next declaration begins).
/// With the error, the one character that closes the region, when one does.
fn unclosed_block(file: FileId, start: usize, region: &str) -> Option<(Option<char>, Diagnostic)> {
    let mut open: Vec<usize> = Vec::new();
    let mut chars = region.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' if chars.peek().is_some_and(|(_, n)| *n == '/') => {
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some((_, n)) = chars.next() {
                    match n {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '{' | '(' => open.push(i),
            '}' | ')' => {
                open.pop();
            }
            _ => {}
        }
    }
    let at = *open.first()?;
    let closer = match open.as_slice() {
        [one] if region.get(*one..).is_some_and(|r| r.starts_with('(')) => Some(')'),
        [_] => Some('}'),
        _ => None,
    };
    if region.get(at..).is_some_and(|r| r.starts_with('(')) {
        return Some((
            closer,
            Diagnostic::new(
                Code::Syntax,
                Span::new(file, start + at, start + at + 1),
                "this `(` is never closed".to_string(),
            )
            .label("this `(` has no matching `)`")
            .help("add `)` after the list's last item"),
        ));
    }
    // The block's head: what comes before the brace on its line, in this region.
    let line_start = region
        .get(..at)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |n| n + 1);
    let head: Vec<&str> = region
        .get(line_start..at)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let message = if head.is_empty() {
        "this block is never closed".to_string()
    } else {
        let head = head.join(" ");
        let head: String = head.chars().take(60).collect();
        format!("the block of `{head}` is never closed")
    };
    Some((
        closer,
        Diagnostic::new(
            Code::Syntax,
            Span::new(file, start + at, start + at + 1),
            message,
        )
        .label("this `{` has no matching `}`")
        .help("add `}` after the block's last statement"),
    ))
}

/// `5050/tpc`: a `/` after a port, followed by something that is not a protocol.
fn protocol_typo(file: FileId, start: usize, region: &str, before: &str) -> Option<Diagnostic> {
    let rest = region.strip_prefix('/')?;
    if !before
        .trim_end()
        .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ')')
    {
        return None;
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if super::keywords::PROTOCOLS.contains(&word.to_ascii_lowercase().as_str()) {
        return None;
    }
    let protocols = "`tcp`, `udp` or `sctp`";
    Some(if word.is_empty() {
        Diagnostic::new(
            Code::Syntax,
            Span::new(file, start, start + 1),
            format!("a protocol must follow `/`: write {protocols}"),
        )
        .label("no protocol after this `/`")
    } else {
        let at = start + 1;
        Diagnostic::new(
            Code::Syntax,
            Span::new(file, at, at + word.len()),
            format!("`{word}` is not a protocol: write {protocols}"),
        )
        .label("not a protocol")
        .help_opt(crate::k8s::names::did_you_mean(
            &word.to_ascii_lowercase(),
            super::keywords::PROTOCOLS.iter().copied(),
        ))
    })
}

/// Whether `pos` is just after the first word of `region`, a name that is not a keyword.
fn after_first_name(region: &str, pos: usize) -> bool {
    let word: String = region
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    !word.is_empty()
        && !KEYWORDS.contains(&word.as_str())
        && region
            .get(word.len()..pos)
            .is_some_and(|gap| gap.trim().is_empty())
}

/// A requirement that ends in `=` or `!=` (`select app =`).
fn missing_value(file: FileId, start: usize, region: &str) -> Option<Diagnostic> {
    let op = ["!=", "="].into_iter().find(|op| region.starts_with(op))?;
    only_trivia(region.get(op.len()..).unwrap_or("")).then(|| {
        Diagnostic::new(
            Code::Syntax,
            Span::new(file, start, start + op.len()),
            format!("`{op}` needs a label value after it"),
        )
        .label("add the value, such as `\"web\"`")
    })
}

/// A statement of a block written at the top level (`select app = "web"` outside a service).
fn misplaced_statement(file: FileId, start: usize, region: &str) -> Option<Diagnostic> {
    let word: String = region
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let (blocks, example) = match word.as_str() {
        "select" => (
            "a `service` block",
            "service web in shop { select app = \"web\" }",
        ),
        "isolate" => (
            "a `namespace` or `service` block",
            "namespace shop { isolate ingress, egress }",
        ),
        "allowed" | "denied" => (
            "a `test` block",
            "test \"web reaches the API\" { allowed web -> api:80 }",
        ),
        _ => return None,
    };
    let next = region.get(word.len()..).unwrap_or("");
    (next.starts_with([' ', '\t']) && !next.trim_start().starts_with("->")).then(|| {
        Diagnostic::new(
            Code::Syntax,
            Span::new(file, start, start + word.len()),
            format!("`{word}` is a statement of {blocks}, not a declaration"),
        )
        .label("outside any block")
        .help(format!("write it inside the block: `{example}`"))
    })
}

/// Two items of a list with no `,` between them: directions (`isolate ingress egress`) or
/// address blocks (`pods 10.0.0.0/16 10.1.0.0/16`).
fn missing_comma(file: FileId, start: usize, region: &str, before: &str) -> Option<Diagnostic> {
    let word = |s: &str| -> bool {
        matches!(s, "ingress" | "egress")
            || (s.contains(['.', ':'])
                && s.chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/')))
    };
    let this: String = region
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '}' | '/'))
        .collect();
    let this_full: String = region
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '}'))
        .collect();
    // The word just before, on the same line (the gap holds spaces and tabs only).
    let head = before.get(..before.trim_end_matches([' ', '\t']).len())?;
    let prev = head
        .rsplit(|c: char| c.is_whitespace() || c == '{')
        .next()
        .unwrap_or("");
    let directions = matches!(this.as_str(), "ingress" | "egress");
    let kinds_match = if directions {
        matches!(prev, "ingress" | "egress")
    } else {
        word(&this_full) && word(prev) && !matches!(prev, "ingress" | "egress")
    };
    if this.is_empty() || !kinds_match {
        return None;
    }
    let shown = if directions { &this } else { &this_full };
    Some(
        Diagnostic::new(
            Code::Syntax,
            Span::new(file, start, start + shown.len()),
            format!("a `,` is missing between `{prev}` and `{shown}`"),
        )
        .label("a `,` must come before this")
        .help(format!("write `{prev}, {shown}`")),
    )
}

/// A list that ends in `,` (`isolate ingress, }`).
fn trailing_comma(file: FileId, start: usize, region: &str) -> Option<Diagnostic> {
    let rest = region.strip_prefix(',')?;
    only_trivia(rest).then(|| {
        Diagnostic::new(
            Code::Syntax,
            Span::new(file, start, start + 1),
            "nothing follows this `,`".to_string(),
        )
        .label("remove it, or add an item after it")
    })
}

/// A mistyped keyword at the start of a region (`servce x in y`): the most helpful thing to
/// point at.
fn keyword_typo(file: FileId, start: usize, region: &str) -> Option<Diagnostic> {
    let first_word: String = region
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    // Two words in a row (`servce checkout`, `workload "k8s"`) start no connection, whose
    // first peer is followed by `->`, `,` or `in`: the first word must be a keyword.
    let rest_starts_with_word = region.get(first_word.len()..).is_some_and(|r| {
        let next = r.trim_start();
        r.starts_with([' ', '\t'])
            && next.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '"' || c == '{')
            && !next.starts_with("in ")
    });
    if first_word.len() < 2 || !rest_starts_with_word || KEYWORDS.contains(&first_word.as_str()) {
        return None;
    }
    let kw = crate::k8s::names::suggest(&first_word, KEYWORDS.iter().copied())?;
    let span = Span::new(file, start, start + first_word.len());
    Some(
        Diagnostic::new(
            Code::Syntax,
            span,
            format!("unknown keyword `{first_word}`"),
        )
        .label("not a keyword")
        .help(format!("did you mean `{kw}`?")),
    )
}

/// The human name of a grammar rule, by the rule's name in the grammar.
fn rule_name(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "name" => "a name",
        "string" | "string_inner" => "a string",
        "number" => "a number",
        "label_key" => "a label key",
        "bare_value" => "a label value",
        "cidr" => "an address block",
        "kw_use" => "`use`",
        "kw_workloads" => "`workloads`",
        "kw_namespace" => "`namespace`",
        "kw_namespaces" => "`namespaces`",
        "kw_service" => "`service`",
        "kw_services" => "`services`",
        "kw_group" => "`group`",
        "kw_external" => "`external`",
        "kw_port" => "`port`",
        "kw_test" => "`test`",
        "kw_in" => "`in`",
        "kw_not" => "`not`",
        "kw_select" => "`select`",
        "kw_isolate" => "`isolate`",
        "kw_pods" => "`pods`",
        "kw_cluster" => "`cluster`",
        "kw_except" => "`except`",
        "any_port" => "`*`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Parsed {
        parse(FileId(0), src)
    }

    #[test]
    fn parses_the_brief_example_shape() {
        let src = r#"
use std::dns
use std::net::{internet}
workloads "k8s/*.yaml"
namespace shop { isolate ingress, egress }
service orders-db in data {
  select app = "postgres", role in ("primary", "replica"), !legacy, tier, env != "dev", zone not in (a, b)
  port postgres = 5432
}
group ingress-nginx = pods { app.kubernetes.io/name = "ingress-nginx" } in namespace ingress-nginx
external payments = 203.0.113.0/24, 2001:db8::/32 except 203.0.113.8/29
frontend, checkout -> orders-db:postgres, payments:(443, 8000..8100/udp, *)
test "t" {
  allowed checkout -> orders-db:postgres
  denied frontend -> payments:443
}
"#;
        let parsed = p(src);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.ast.items.len(), 9);
    }

    #[test]
    fn reports_every_bad_declaration() {
        let src = "service a in b {\n  select app =\n  port http = 99x\n}\nfrontend -> :80\nnamespace ok\nservce x in y {}\n";
        let parsed = p(src);
        let msgs: Vec<_> = parsed.errors.iter().map(|e| e.message.clone()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(
            msgs.iter().any(|m| m.contains("unknown keyword `servce`")),
            "{msgs:?}"
        );
        assert!(
            parsed
                .ast
                .items
                .iter()
                .any(|i| matches!(i, Item::Namespace(_)))
        );
        assert!(
            parsed
                .ast
                .items
                .iter()
                .any(|i| matches!(i, Item::Service(_)))
        );
    }

    #[test]
    fn survives_hostile_input() {
        for src in [
            "",
            "((((((((((((((((((((",
            &"{".repeat(100_000),
            &"(".repeat(100_000),
            "\u{0}\u{1}\u{7f}é🦀",
            "a -> b:(((((",
        ] {
            let _ = p(src);
        }
    }

    #[test]
    fn a_namespace_peer_can_start_a_line() {
        let parsed =
            p("namespace a -> namespace b:80\nnamespace c, namespace a -> x:1\nnamespace d\n");
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let kinds: Vec<_> = parsed
            .ast
            .items
            .iter()
            .map(|i| matches!(i, Item::Connection(_)))
            .collect();
        assert_eq!(kinds, [true, true, false]);
    }

    #[test]
    fn cluster_starts_a_block_or_a_connection() {
        let parsed = p(
            "cluster { pods 10.244.0.0/16, fd00:10:244::/56 services 10.96.0.0/12 }\ncluster -> x:80\ncluster, namespace a -> x:1\n",
        );
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let Some(Item::Cluster(c)) = parsed.ast.items.first() else {
            panic!("{:?}", parsed.ast.items);
        };
        let ranges: Vec<(RangeKind, Vec<&str>)> = c
            .ranges
            .iter()
            .map(|r| (r.kind, r.cidrs.iter().map(|s| s.value.as_str()).collect()))
            .collect();
        assert_eq!(
            ranges,
            [
                (RangeKind::Pods, vec!["10.244.0.0/16", "fd00:10:244::/56"]),
                (RangeKind::Services, vec!["10.96.0.0/12"])
            ]
        );
        assert!(
            parsed.ast.items[1..]
                .iter()
                .all(|i| matches!(i, Item::Connection(_)))
        );
    }

    #[test]
    fn comments_are_collected_outside_strings() {
        let parsed = p("// one\nnamespace a // two\nworkloads \"x//y\"\n");
        let texts: Vec<_> = parsed.comments.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["// one", "// two"]);
    }
}
