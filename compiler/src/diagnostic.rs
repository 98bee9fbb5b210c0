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

/// Every diagnostic the compiler can produce. Codes are stable: never renumber one.
/// docs/diagnostics.md documents each (a test checks that it does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// E001: the text does not follow the grammar.
    Syntax,
    /// E002: a name that no declaration or import defines.
    UnknownName,
    /// E003: a service in a namespace the program does not declare.
    UnknownNamespace,
    /// E004: a port name that neither the target, the program, nor the target's containers define.
    UnknownPort,
    /// E005: `use` of a module or name the standard library does not have.
    UnknownModule,
    /// E006: two declarations with one name.
    Duplicate,
    /// E007: a label key that Kubernetes would reject.
    InvalidLabelKey,
    /// E008: a label value that Kubernetes would reject.
    InvalidLabelValue,
    /// E009: an address block that does not parse or has host bits set.
    InvalidCidr,
    /// E010: an `except` block that is not inside one of the external's blocks.
    ExceptOutsideBlock,
    /// E011: a port number outside 1..=65535.
    PortOutOfRange,
    /// E012: a port range whose end is below its start.
    EmptyPortRange,
    /// E013: a connection target without a port.
    MissingPort,
    /// E014: a selector that matches no workload in its namespace.
    SelectorMatchesNothing,
    /// E015: a named port that the destination's containers do not declare.
    NamedPortNotDeclared,
    /// E016: a service that isolates fewer directions than its namespace.
    NarrowsNamespaceIsolation,
    /// E017: a name that cannot be a Kubernetes object name.
    InvalidName,
    /// E018: a name of the wrong kind in this place.
    WrongKind,
    /// E019: a named port on an address block, which Kubernetes cannot resolve.
    NamedPortOnExternal,
    /// E020: a workload manifest that cannot be read.
    InvalidManifest,
    /// E021: two emitted policies with the same name in one namespace.
    PolicyNameClash,
    /// E022: an `except` list that names an external with its own `except`.
    NestedExcept,
    /// E023: a service without a `select`.
    MissingSelector,
    /// E024: a selector that no pod can satisfy.
    UnsatisfiableSelector,
    /// E025: a `workloads` pattern that matches no file, or a file that cannot be read.
    NoManifests,
    /// W101: a port number that no container of the destination exposes.
    PortNotExposed,
    /// W102: a namespace that no workload manifest mentions.
    NamespaceNotInManifests,
    /// W103: a peer or port that allows much more than a service usually needs.
    BroadPeer,
    /// W104: an egress-isolated service that cannot reach DNS.
    NoDnsEgress,
    /// W105: two services whose selectors can select the same pod.
    OverlappingServices,
    /// W106: a service that no connection mentions.
    ServiceWithoutConnections,
    /// W107: a group, external, port or import that nothing uses.
    Unused,
    /// W108: a selector on a label that controllers generate.
    GeneratedLabel,
    /// W109: a service that reaches both the internet and other services of the cluster.
    InternetAndCluster,
    /// W110: pods that ask to be scraped, which no monitoring group may reach.
    ScrapeNotAllowed,
    /// W111: pods behind an Ingress, which no ingress controller group may reach.
    IngressBackendNotAllowed,
    /// W112: a group that spans every namespace, in a program that isolates several.
    GroupSpansTenants,
}

impl Code {
    pub const ALL: &'static [Code] = &[
        Code::Syntax,
        Code::UnknownName,
        Code::UnknownNamespace,
        Code::UnknownPort,
        Code::UnknownModule,
        Code::Duplicate,
        Code::InvalidLabelKey,
        Code::InvalidLabelValue,
        Code::InvalidCidr,
        Code::ExceptOutsideBlock,
        Code::PortOutOfRange,
        Code::EmptyPortRange,
        Code::MissingPort,
        Code::SelectorMatchesNothing,
        Code::NamedPortNotDeclared,
        Code::NarrowsNamespaceIsolation,
        Code::InvalidName,
        Code::WrongKind,
        Code::NamedPortOnExternal,
        Code::InvalidManifest,
        Code::PolicyNameClash,
        Code::NestedExcept,
        Code::MissingSelector,
        Code::UnsatisfiableSelector,
        Code::NoManifests,
        Code::PortNotExposed,
        Code::NamespaceNotInManifests,
        Code::BroadPeer,
        Code::NoDnsEgress,
        Code::OverlappingServices,
        Code::ServiceWithoutConnections,
        Code::Unused,
        Code::GeneratedLabel,
        Code::InternetAndCluster,
        Code::ScrapeNotAllowed,
        Code::IngressBackendNotAllowed,
        Code::GroupSpansTenants,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "E001",
            Code::UnknownName => "E002",
            Code::UnknownNamespace => "E003",
            Code::UnknownPort => "E004",
            Code::UnknownModule => "E005",
            Code::Duplicate => "E006",
            Code::InvalidLabelKey => "E007",
            Code::InvalidLabelValue => "E008",
            Code::InvalidCidr => "E009",
            Code::ExceptOutsideBlock => "E010",
            Code::PortOutOfRange => "E011",
            Code::EmptyPortRange => "E012",
            Code::MissingPort => "E013",
            Code::SelectorMatchesNothing => "E014",
            Code::NamedPortNotDeclared => "E015",
            Code::NarrowsNamespaceIsolation => "E016",
            Code::InvalidName => "E017",
            Code::WrongKind => "E018",
            Code::NamedPortOnExternal => "E019",
            Code::InvalidManifest => "E020",
            Code::PolicyNameClash => "E021",
            Code::NestedExcept => "E022",
            Code::MissingSelector => "E023",
            Code::UnsatisfiableSelector => "E024",
            Code::NoManifests => "E025",
            Code::PortNotExposed => "W101",
            Code::NamespaceNotInManifests => "W102",
            Code::BroadPeer => "W103",
            Code::NoDnsEgress => "W104",
            Code::OverlappingServices => "W105",
            Code::ServiceWithoutConnections => "W106",
            Code::Unused => "W107",
            Code::GeneratedLabel => "W108",
            Code::InternetAndCluster => "W109",
            Code::ScrapeNotAllowed => "W110",
            Code::IngressBackendNotAllowed => "W111",
            Code::GroupSpansTenants => "W112",
        }
    }

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
