//! Diagnostics and test results for people and for machines (`--format human|json|github|sarif`).
//!
//! The compiler's diagnostics are plain data with byte spans; [`Report::new`] is the one place
//! that turns them into located items (path, line, column) using the CLI's file table, so the
//! renderers below never see a span. Every renderer reads only a [`Report`].

pub mod github;
pub mod human;
pub mod json;
pub mod sarif;

use netpol_compiler::diagnostic::{Code, Diagnostic, Severity};
use netpol_compiler::span::{FileId, Span};
use netpol_compiler::testing::TestResult;

/// How diagnostics (and test results) are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Rendered for a terminal, on stderr.
    #[default]
    Human,
    /// One JSON document, schema `docs/schemas/report-v1.schema.json`.
    Json,
    /// GitHub Actions workflow commands (`::error file=…,line=…::…`), one a line.
    Github,
    /// A SARIF 2.1.0 log, for code-scanning uploads.
    Sarif,
}

/// The CLI's table of loaded files: (id, path as shown, text).
pub type FileTable = [(FileId, String, String)];

/// A position: 1-based line, 1-based column counted in Unicode scalar values, and the byte
/// offset into the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
    pub offset: usize,
}

/// A range in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub start: Position,
    pub end: Position,
}

/// A secondary location with its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    pub place: Place,
    pub message: String,
}

/// A machine-applicable suggestion: replace the text at `place` by `replacement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub place: Place,
    pub replacement: String,
}

/// One diagnostic, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// `None` only when the diagnostic's file is not in the table (it always is for the CLI).
    pub place: Option<Place>,
    pub label: String,
    pub related: Vec<Related>,
    pub help: Option<String>,
    pub fix: Option<Fix>,
}

/// One assertion of a `test` block, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assertion {
    pub place: Option<Place>,
    /// The assertion's source text, whitespace collapsed.
    pub source: String,
    pub passed: bool,
    pub checked: usize,
    pub failure: Option<String>,
}

/// One `test` block, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test {
    pub name: String,
    pub place: Option<Place>,
    pub assertions: Vec<Assertion>,
}

/// Everything a command reports.
pub struct Report {
    /// `check`, `compile`, `test` or `krm`.
    pub command: &'static str,
    pub items: Vec<Item>,
    /// `Some` for `netpol test` once the tests ran.
    pub tests: Option<Vec<Test>>,
}

impl Report {
    pub fn new(command: &'static str, diags: &[Diagnostic], files: &FileTable) -> Report {
        let index = Index::new(files);
        let items = diags.iter().map(|d| item(d, &index)).collect();
        Report {
            command,
            items,
            tests: None,
        }
    }

    pub fn with_tests(mut self, results: &[TestResult], files: &FileTable) -> Report {
        let index = Index::new(files);
        let source_text = |span: Span| {
            index
                .text(span)
                .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        let tests = results
            .iter()
            .map(|t| Test {
                name: t.name.clone(),
                place: index.place(t.span),
                assertions: t
                    .assertions
                    .iter()
                    .map(|a| Assertion {
                        place: index.place(a.span),
                        source: source_text(a.span),
                        passed: a.passed,
                        checked: a.checked,
                        failure: a.failure.clone(),
                    })
                    .collect(),
            })
            .collect();
        self.tests = Some(tests);
        self
    }

    pub fn errors(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.items.len() - self.errors()
    }

    /// (passed, failed) assertions.
    pub fn test_counts(&self) -> (usize, usize) {
        let all = self.tests.iter().flatten().flat_map(|t| &t.assertions);
        all.fold(
            (0, 0),
            |(p, f), a| {
                if a.passed { (p + 1, f) } else { (p, f + 1) }
            },
        )
    }
}

/// "error" or "warning".
pub fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The file table with a line index per file, so that locating n diagnostics costs
/// O(n log lines), not O(n × file size).
struct Index<'a> {
    files: Vec<IndexedFile<'a>>,
}

struct IndexedFile<'a> {
    id: FileId,
    path: &'a str,
    text: &'a str,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
}

impl<'a> Index<'a> {
    fn new(files: &'a FileTable) -> Index<'a> {
        let files = files
            .iter()
            .map(|(id, path, text)| IndexedFile {
                id: *id,
                path,
                text,
                line_starts: std::iter::once(0)
                    .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                    .collect(),
            })
            .collect();
        Index { files }
    }

    fn file(&self, id: FileId) -> Option<&IndexedFile<'a>> {
        self.files.iter().find(|f| f.id == id)
    }

    fn place(&self, span: Span) -> Option<Place> {
        let f = self.file(span.file)?;
        Some(Place {
            file: clean_path(f.path),
            start: f.position(span.start),
            end: f.position(span.end.max(span.start)),
        })
    }

    fn text(&self, span: Span) -> Option<&'a str> {
        self.file(span.file)?.text.get(span.start..span.end)
    }
}

impl IndexedFile<'_> {
    fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|s| *s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        Position {
            line,
            column: self.text.get(start..offset).unwrap_or("").chars().count() + 1,
            offset,
        }
    }
}

/// The path as a repository-relative URI-ish path: forward slashes, no leading `./`.
fn clean_path(path: &str) -> String {
    let p = path.replace('\\', "/");
    let mut s = p.as_str();
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    s.to_string()
}

fn item(d: &Diagnostic, index: &Index<'_>) -> Item {
    let primary = index.place(d.primary.span);
    let fix = primary.as_ref().and_then(|p| {
        Some(Fix {
            place: p.clone(),
            replacement: fix(d, p, index)?,
        })
    });
    Item {
        code: d.code,
        severity: d.severity,
        message: d.message.clone(),
        place: primary,
        label: d.primary.message.clone(),
        related: d
            .secondary
            .iter()
            .filter_map(|l| {
                Some(Related {
                    place: index.place(l.span)?,
                    message: l.message.clone(),
                })
            })
            .collect(),
        help: d.help.clone(),
        fix,
    }
}

/// The replacement text of a "did you mean `X`?" help, when it can stand for the diagnostic's
/// primary text: the help names one candidate, the primary range is non-empty and on one
/// line, and the candidate is on one line too.
fn fix(d: &Diagnostic, primary: &Place, index: &Index<'_>) -> Option<String> {
    let help = d.help.as_deref()?;
    let rest = help.strip_prefix("did you mean `")?;
    let (candidate, after) = rest.split_once('`')?;
    if !after.starts_with('?') || candidate.is_empty() || candidate.contains('\n') {
        return None;
    }
    let original = index.text(d.primary.span)?;
    if original.is_empty() || original.contains('\n') || original == candidate {
        return None;
    }
    if primary.start.line != primary.end.line {
        return None;
    }
    Some(candidate.to_string())
}

/// The report in a machine format (`Human` gives the short one-line form).
pub fn render(format: Format, report: &Report) -> String {
    match format {
        Format::Human => human::short(report),
        Format::Json => json::render(report),
        Format::Github => github::render(report),
        Format::Sarif => sarif::render(report).unwrap_or_else(|e| {
            eprintln!("error: cannot write the SARIF log: {e}");
            String::new()
        }),
    }
}

/// Prints `report` in `format`: `Human` renders `diags` on stderr; the machine formats go to
/// stdout, or to stderr when `stdout_taken` (compile's YAML is on stdout). `github` also
/// renders the diagnostics for people on stderr, for the job's log.
pub fn emit(
    format: Format,
    command: &'static str,
    diags: &[Diagnostic],
    files: &FileTable,
    stdout_taken: bool,
    color: codespan_reporting::term::termcolor::ColorChoice,
) {
    emit_report(
        format,
        || Report::new(command, diags, files),
        diags,
        files,
        stdout_taken,
        color,
    );
}

/// [`emit`] with the report made by `make`, only when a machine format needs it.
fn emit_report(
    format: Format,
    make: impl FnOnce() -> Report,
    diags: &[Diagnostic],
    files: &FileTable,
    stdout_taken: bool,
    color: codespan_reporting::term::termcolor::ColorChoice,
) {
    if matches!(format, Format::Human | Format::Github) {
        human::print(diags, files, color);
    }
    if format == Format::Human {
        return;
    }
    let text = render(format, &make());
    if stdout_taken {
        eprint!("{text}");
    } else {
        let mut out = std::io::stdout().lock();
        let _ = std::io::Write::write_all(&mut out, text.as_bytes());
        let _ = std::io::Write::flush(&mut out);
    }
}

/// `netpol test --format json|github|sarif`: one document with the diagnostics and, when the
/// program has no errors, the test results. Exit 1 on errors or a failed assertion.
pub fn test(
    db: &netpol_compiler::db::Database,
    ws: netpol_compiler::db::Workspace,
    diags: &[Diagnostic],
    files: &FileTable,
    format: Format,
) -> u8 {
    let mut report = Report::new("test", diags, files);
    if report.errors() == 0 {
        let Some(results) = netpol_compiler::db::run_tests(db, ws) else {
            return crate::fail("the compiled policies could not be read back");
        };
        report = report.with_tests(&results, files);
    }
    let (_, failed) = report.test_counts();
    let code = if report.errors() > 0 {
        crate::errors_exit_code(diags)
    } else if failed > 0 {
        1
    } else {
        0
    };
    emit_report(
        format,
        || report,
        diags,
        files,
        false,
        codespan_reporting::term::termcolor::ColorChoice::Never,
    );
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_code_points() {
        let table = vec![(
            FileId(0),
            "./a/b.netpol".to_string(),
            "ab\nsé x\n\nz".to_string(),
        )];
        let index = Index::new(&table);
        let f = index.file(FileId(0)).unwrap();
        let text = "ab\nsé x\n\nz";
        // Every offset, checked against a count from the start of the text.
        for offset in 0..=text.len() {
            let p = f.position(offset);
            let at = (0..=offset)
                .rev()
                .find(|o| text.is_char_boundary(*o))
                .unwrap();
            let before = &text[..at];
            assert_eq!(p.offset, at);
            assert_eq!(p.line, before.matches('\n').count() + 1);
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            assert_eq!(p.column, before[line_start..].chars().count() + 1);
        }
        assert_eq!(f.position(7).column, 4); // `x`: after `s`, `é` (two bytes) and a space
        let place = index.place(Span::new(FileId(0), 3, 5)).unwrap();
        assert_eq!(place.file, "a/b.netpol");
    }
}
