//! Diagnostics are plain data: a code, a severity, a one-line message in the house style
//! (lowercase, no trailing period, user input in backticks), a mandatory primary location,
//! optional secondary labels, and an optional help line. [`render`] turns them into the
//! codespan-reporting text that the CLI prints; the language server converts them itself.

use crate::span::{FileId, Span};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $code:literal,)+) => {
        /// Every diagnostic the compiler can produce. Codes are stable: never renumber one.
        /// docs/diagnostics.md documents each (a test checks that it does). The one table
        /// below gives each code's variant, number and one-line summary.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)+];

            /// The stable code: `E001`, `W101`, …
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)+
                }
            }

            /// What the code means, in one line (the table's doc comment).
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!($($doc),+).trim_ascii(),)+
                }
            }
        }
    };
}

codes! {
    /// the text does not follow the grammar
    Syntax = "E001",
    /// a name that no declaration or import defines
    UnknownName = "E002",
    /// a service in a namespace the program does not declare
    UnknownNamespace = "E003",
    /// a port name that neither the target, the program, nor the target's containers define
    UnknownPort = "E004",
    /// `use` of a module or name the standard library does not have
    UnknownModule = "E005",
    /// two declarations with one name
    Duplicate = "E006",
    /// a label key that Kubernetes would reject
    InvalidLabelKey = "E007",
    /// a label value that Kubernetes would reject
    InvalidLabelValue = "E008",
    /// an address block that does not parse or has host bits set
    InvalidCidr = "E009",
    /// an `except` block that is not inside one of the external's blocks
    ExceptOutsideBlock = "E010",
    /// a port number outside 1..=65535
    PortOutOfRange = "E011",
    /// a port range whose end is below its start
    EmptyPortRange = "E012",
    /// a connection target without a port
    MissingPort = "E013",
    /// a selector that matches no workload in its namespace
    SelectorMatchesNothing = "E014",
    /// a named port that the destination's containers do not declare
    NamedPortNotDeclared = "E015",
    /// a service that isolates fewer directions than its namespace
    NarrowsNamespaceIsolation = "E016",
    /// a name that cannot be a Kubernetes object name
    InvalidName = "E017",
    /// a name of the wrong kind in this place
    WrongKind = "E018",
    /// a named port on an address block, which Kubernetes cannot resolve
    NamedPortOnExternal = "E019",
    /// a workload manifest that cannot be read
    InvalidManifest = "E020",
    /// two emitted policies with the same name in one namespace
    PolicyNameClash = "E021",
    /// an `except` list that names an external with its own `except`
    NestedExcept = "E022",
    /// a service without a `select`
    MissingSelector = "E023",
    /// a selector that no pod can satisfy
    UnsatisfiableSelector = "E024",
    /// a `workloads` pattern that matches no file, or a file that cannot be read
    NoManifests = "E025",
    /// two ranges of the `cluster` block that overlap
    ClusterRangesOverlap = "E026",
    /// a port number that no container of the destination exposes
    PortNotExposed = "W101",
    /// a namespace that no workload manifest mentions
    NamespaceNotInManifests = "W102",
    /// a peer or port that allows much more than a service usually needs
    BroadPeer = "W103",
    /// an egress-isolated service that cannot reach DNS
    NoDnsEgress = "W104",
    /// two services whose selectors can select the same pod
    OverlappingServices = "W105",
    /// a service that no connection mentions
    ServiceWithoutConnections = "W106",
    /// a group, external, port or import that nothing uses
    Unused = "W107",
    /// a selector on a label that controllers generate
    GeneratedLabel = "W108",
    /// a service that reaches both the internet and other services of the cluster
    InternetAndCluster = "W109",
    /// pods that ask to be scraped, which no monitoring group may reach
    ScrapeNotAllowed = "W110",
    /// pods behind an Ingress, which no ingress controller group may reach
    IngressBackendNotAllowed = "W111",
    /// a group that spans every namespace, in a program that isolates several
    GroupSpansTenants = "W112",
    /// an address block that overlaps the cluster's pod or Service ranges
    BlockOverlapsCluster = "W113",
}

impl Code {
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('E') {
            Severity::Error
        } else {
            Severity::Warning
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// One lowercase sentence, no trailing period, user input in backticks.
    pub message: String,
    /// Where the problem is; every diagnostic has one.
    pub primary: Label,
    pub secondary: Vec<Label>,
    /// A suggestion, such as "did you mean `frontend`?".
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            primary: Label {
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }

    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file, position, then code, and drops exact duplicates, so output is
/// the same on every run.
pub fn sort_diagnostics(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        (a.primary.span, a.code, &a.message).cmp(&(b.primary.span, b.code, &b.message))
    });
    diags.dedup();
}

/// A source file as the renderer needs it.
pub struct RenderFile<'a> {
    pub id: FileId,
    pub path: &'a str,
    pub text: &'a str,
}

impl<'a> RenderFile<'a> {
    /// The files of a `(id, path, text)` table, as the renderer needs them.
    pub fn all(files: &'a [(FileId, String, String)]) -> Vec<Self> {
        files
            .iter()
            .map(|(id, path, text)| RenderFile {
                id: *id,
                path,
                text,
            })
            .collect()
    }
}

/// Renders diagnostics as codespan-reporting text without colour (the CLI adds colour
/// itself; snapshot tests use this).
pub fn render(diags: &[Diagnostic], files: &[RenderFile<'_>]) -> String {
    let (db, ids) = codespan_files(files);
    let config = term::Config::default();
    let mut out = String::new();
    for diag in diags {
        let cs_diag = to_codespan(diag, &ids);
        match term::emit_into_string(&config, &db, &cs_diag) {
            Ok(text) => out.push_str(&text),
            Err(_) => out.push_str(&format!(
                "{}[{}]: {}\n",
                severity_word(diag.severity),
                diag.code.as_str(),
                diag.message
            )),
        }
    }
    out
}

fn severity_word(sev: Severity) -> &'static str {
    match sev {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The codespan file database and the id map for a set of files.
pub fn codespan_files<'a>(
    files: &[RenderFile<'a>],
) -> (SimpleFiles<&'a str, &'a str>, HashMap<FileId, usize>) {
    let mut db = SimpleFiles::new();
    let mut ids = HashMap::new();
    for f in files {
        let id = db.add(f.path, f.text);
        ids.insert(f.id, id);
    }
    (db, ids)
}

/// Converts one diagnostic for codespan-reporting. Labels in files the renderer does not know
/// are left out.
pub fn to_codespan(diag: &Diagnostic, ids: &HashMap<FileId, usize>) -> cs::Diagnostic<usize> {
    let base = match diag.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    };
    let mut labels = Vec::new();
    if let Some(&id) = ids.get(&diag.primary.span.file) {
        labels.push(
            cs::Label::primary(id, diag.primary.span.start..diag.primary.span.end)
                .with_message(diag.primary.message.clone()),
        );
    }
    for l in &diag.secondary {
        if let Some(&id) = ids.get(&l.span.file) {
            labels.push(
                cs::Label::secondary(id, l.span.start..l.span.end).with_message(l.message.clone()),
            );
        }
    }
    let mut notes = Vec::new();
    if let Some(help) = &diag.help {
        notes.push(format!("help: {help}"));
    }
    base.with_code(diag.code.as_str())
        .with_message(diag.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

#[cfg(test)]
mod code_table_tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_well_formed_and_summarised() {
        let codes: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes.len(), Code::ALL.len());
        for c in Code::ALL {
            let s = c.as_str();
            assert!(
                s.len() == 4 && (s.starts_with('E') || s.starts_with('W')),
                "{s}"
            );
            assert_eq!(c.severity() == Severity::Error, s.starts_with('E'));
            let summary = c.summary();
            assert!(
                !summary.is_empty() && !summary.ends_with('.'),
                "{s}: {summary:?}"
            );
            assert!(!summary.contains(s), "{s}: the summary repeats the code");
        }
    }
}
