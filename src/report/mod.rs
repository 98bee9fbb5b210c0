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
        let items = diags.iter().map(|d| item(d, files)).collect();
        Report {
            command,
            items,
            tests: None,
        }
    }

    pub fn with_tests(mut self, results: &[TestResult], files: &FileTable) -> Report {
        let tests = results
            .iter()
            .map(|t| Test {
                name: t.name.clone(),
                place: place(t.span, files),
                assertions: t
                    .assertions
                    .iter()
                    .map(|a| Assertion {
                        place: place(a.span, files),
                        source: source_text(a.span, files),
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

fn file_of(id: FileId, files: &FileTable) -> Option<(&str, &str)> {
    files
        .iter()
        .find(|(f, _, _)| *f == id)
        .map(|(_, p, t)| (p.as_str(), t.as_str()))
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

fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before.get(line_start..).unwrap_or("").chars().count() + 1,
        offset,
    }
}

fn place(span: Span, files: &FileTable) -> Option<Place> {
    let (path, text) = file_of(span.file, files)?;
    Some(Place {
        file: clean_path(path),
        start: position(text, span.start),
        end: position(text, span.end.max(span.start)),
    })
}

fn source_text(span: Span, files: &FileTable) -> String {
    file_of(span.file, files)
        .and_then(|(_, text)| text.get(span.start..span.end))
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn item(d: &Diagnostic, files: &FileTable) -> Item {
    let primary = place(d.primary.span, files);
    let fix = primary.as_ref().and_then(|p| {
        Some(Fix {
            place: p.clone(),
            replacement: fix(d, p, files)?,
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
                    place: place(l.span, files)?,
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
fn fix(d: &Diagnostic, primary: &Place, files: &FileTable) -> Option<String> {
    let help = d.help.as_deref()?;
    let rest = help.strip_prefix("did you mean `")?;
    let (candidate, after) = rest.split_once('`')?;
    if !after.starts_with('?') || candidate.is_empty() || candidate.contains('\n') {
        return None;
    }
    let (_, text) = file_of(d.primary.span.file, files)?;
    let original = text.get(d.primary.span.start..d.primary.span.end)?;
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
    report: &Report,
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
    let text = render(format, report);
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
    emit(
        format,
        &report,
        diags,
        files,
        false,
        codespan_reporting::term::termcolor::ColorChoice::Never,
    );
    let (_, failed) = report.test_counts();
    if report.errors() > 0 || failed > 0 {
        1
    } else {
        0
    }
}
