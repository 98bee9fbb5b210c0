//! `netpol`: the command-line driver. It does the I/O (reading programs and manifests,
//! expanding globs, writing output atomically) around the compiler library.

mod diff_cmd;
mod files;
mod git;
mod graph_cmd;
mod import_cmd;
mod krm;
mod output;
mod report;
mod review;

use clap::{Parser, Subcommand, ValueEnum};
use codespan_reporting::term;
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use netpol_compiler::db::{self, Database, Workspace};
use netpol_compiler::diagnostic::{Diagnostic, RenderFile, Severity, codespan_files, to_codespan};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes.
const EXIT_OK: u8 = 0;
const EXIT_PROGRAM_ERRORS: u8 = 1;
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "netpol",
    version,
    about = "Compile least-privilege .netpol programs into exact Kubernetes NetworkPolicies",
    long_about = "netpol compiles a small policy language (.netpol files: which services may talk to \
which, on which ports) into the minimal, exact set of networking.k8s.io/v1 NetworkPolicy objects, \
type-checked against the labels and ports that your workloads really carry.\n\n\
Exit codes: 0 success (warnings allowed), 1 errors in the program, 2 usage or I/O errors.",
    after_help = "Examples:\n  netpol compile examples/quickstart\n  netpol compile policies/ --out-dir deploy/netpol\n  netpol check policies/ --workloads 'k8s/**/*.yaml'\n  netpol test policies/\n  netpol explain policies/ --from shop/web --to data/db:5432\n  netpol import existing/*.yaml > imported.netpol\n  netpol fmt policies/ --check\n  netpol diff --git main..HEAD policies/ --format markdown\n  netpol graph policies/ --format html -o graph.html\n  netpol check policies/ --format sarif > netpol.sarif\n  kustomize build --enable-alpha-plugins --enable-exec .   (netpol krm)\n  netpol lsp   (started by editors; see docs/editors.md)\n\nDocs: docs/cli.md, docs/language.md, docs/diagnostics.md, docs/import.md, docs/review.md, docs/integrations.md, docs/editors.md"
)]
struct Cli {
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    /// Also read files under PATH, outside the repository (the git top-level, or the
    /// program's folder outside git), which is otherwise the only place netpol reads from.
    /// Repeatable.
    #[arg(long = "allow-outside", value_name = "PATH", global = true)]
    allow_outside: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
pub struct ProgramArgs {
    /// `.netpol` files, or folders searched (recursively) for them. All of them form one program.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Also read workload manifests matching GLOB (relative to the current folder); objects
    /// without a namespace go to `default`. Repeatable.
    #[arg(long = "workloads", value_name = "GLOB")]
    workloads: Vec<String>,
    /// How to print diagnostics (and test results): `human` on stderr; `json`, `github`
    /// (workflow commands) or `sarif` on stdout (on stderr for `compile` without -o/--out-dir).
    #[arg(long, value_enum, default_value_t = report::Format::Human)]
    format: report::Format,
    /// Print the warnings also when there are errors (by default they are held back until
    /// the errors are fixed: most of them follow from the errors).
    #[arg(long)]
    warnings: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a program to NetworkPolicy YAML (stdout by default).
    Compile {
        #[command(flatten)]
        program: ProgramArgs,
        /// Write the YAML stream to FILE (atomically) instead of stdout.
        #[arg(
            short = 'o',
            long = "output",
            value_name = "FILE",
            conflicts_with = "out_dir"
        )]
        output: Option<PathBuf>,
        /// Write one file per policy and a kustomization.yaml into DIR, atomically (the whole
        /// old set or the whole new set), removing files that an earlier run wrote there and
        /// that are no longer produced (and nothing else).
        #[arg(long = "out-dir", value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// With --out-dir: write nothing; exit 0 when DIR already holds exactly what would be
        /// written, 1 when it drifted (added, changed and stale files are listed).
        #[arg(long, requires = "out_dir")]
        check: bool,
        /// Replace files in the way (-o FILE, or files in --out-dir) even when netpol did not
        /// write them.
        #[arg(long)]
        force: bool,
        /// Prove, before writing, that the YAML means exactly the program for every cluster
        /// (translation validation: every class of pods, address range and port the selectors,
        /// blocks and ranges tell apart); on a mismatch print the counterexample, write
        /// nothing and exit 1.
        #[arg(long, overrides_with = "no_verify")]
        verify: bool,
        /// Skip the proof of --verify.
        #[arg(long = "no-verify", overrides_with = "verify")]
        no_verify: bool,
    },
    /// Check a program and print its diagnostics, without writing output.
    Check {
        #[command(flatten)]
        program: ProgramArgs,
    },
    /// Run the program's `test` blocks against its compiled policies and workloads.
    #[command(
        long_about = "Run the program's `test` blocks. Each `allowed A -> B:ports` (or `denied`) is checked \
with a NetworkPolicy evaluator against the compiled policies, for every pod of A and every pod of B \
(from the workloads, plus one synthesized pod for each service, group or set of pods that no workload \
matches), on every port named. Exit code 1 when an assertion fails."
    )]
    Test {
        #[command(flatten)]
        program: ProgramArgs,
    },
    /// Explain why a connection is allowed or denied, or print the connectivity matrix.
    #[command(
        long_about = "Explain why a connection is allowed or denied, under Kubernetes NetworkPolicy \
semantics, for a compiled program (PATH...) or for plain NetworkPolicy YAML (--policies FILE...), over the \
pods of the workload manifests (one pod per workload, named namespace/workload-name).\n\n\
Examples:\n  netpol explain examples/shop --from shop/frontend --to data/postgres:5432\n  \
netpol explain --policies np.yaml --workloads 'k8s/*.yaml' --from shop/a --to shop/b:http\n  \
netpol explain examples/shop --matrix --format json"
    )]
    Explain {
        /// `.netpol` files or folders (omit with --policies).
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// NetworkPolicy YAML files to explain instead of a program. Repeatable.
        #[arg(long = "policies", value_name = "FILE")]
        policies: Vec<PathBuf>,
        /// Workload manifests (besides the program's own `workloads`). Repeatable.
        #[arg(long = "workloads", value_name = "GLOB")]
        workloads: Vec<String>,
        /// The source: `namespace/pod` or an IP address.
        #[arg(long, value_name = "FROM", requires = "to", conflicts_with = "matrix")]
        from: Option<String>,
        /// The destination: `namespace/pod:port[/protocol]` or `IP:port`; port may be a container port name.
        #[arg(long, value_name = "TO", requires = "from")]
        to: Option<String>,
        /// Print every ordered pair of pods on every container port of the destination.
        #[arg(long)]
        matrix: bool,
        /// Output format of --matrix.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Turn NetworkPolicy YAML into a .netpol program that compiles to the same meaning (stdout).
    #[command(
        long_about = "Turn existing NetworkPolicy YAML (networking.k8s.io/v1) into a readable .netpol \
program, printed on stdout. Compiling it gives policies that allow exactly the connections the input \
allows, on every cluster. A policy that is invalid (an unknown field, a value the API server rejects) or \
that netpol cannot say exactly is not imported: an error on stderr gives its file and line, the program \
holds the others, and the exit code is 1. An ipBlock that overlaps the cluster's pod or Service ranges \
(--pod-cidr and --service-cidr, else the common private ranges) is a warning on stderr: whether it matches \
pod traffic depends on the network plugin. docs/import.md explains.\n\n\
Examples:\n  netpol import policies/*.yaml > imported.netpol\n  \
netpol import np.yaml --workloads 'k8s/*.yaml' > imported.netpol\n  \
netpol import np.yaml --pod-cidr 10.244.0.0/16 --service-cidr 10.96.0.0/12 > imported.netpol"
    )]
    Import {
        /// NetworkPolicy YAML files (several documents per file, `List` objects too).
        #[arg(required = true, value_name = "YAML")]
        files: Vec<PathBuf>,
        /// Workload manifests (namespace labels, pods, named ports), written into the program's
        /// `workloads` line as given. Repeatable.
        #[arg(long = "workloads", value_name = "GLOB")]
        workloads: Vec<String>,
        /// The cluster's pod range (kube-controller-manager's `--cluster-cidr`). Repeatable.
        /// ipBlocks are checked against the given pod and Service ranges instead of the common
        /// private ranges, and the program declares them in its `cluster` block.
        #[arg(long = "pod-cidr", value_name = "CIDR")]
        pod_cidr: Vec<String>,
        /// The cluster's Service range (kube-apiserver's `--service-cluster-ip-range`). Repeatable.
        #[arg(long = "service-cidr", value_name = "CIDR")]
        service_cidr: Vec<String>,
    },
    /// Run the language server on stdin/stdout (for editors; docs/editors.md).
    #[command(
        long_about = "Run the netpol language server, speaking the Language Server Protocol on stdin and \
stdout. Editors start it: the VS Code extension (editors/vscode), Neovim and Helix (docs/editors.md). \
Every .netpol file under a workspace folder belongs to the program of the topmost folder holding one, \
as `netpol check FOLDER` would read it."
    )]
    Lsp,
    /// Which connections a change adds or removes, computed from meaning.
    #[command(
        long_about = "Compare two versions of the network policy in connection terms, computed from \
meaning (the NetworkPolicy evaluator), never from text: the connections between the workloads' pods \
(and addresses, and pods that do not exist yet) that start or stop being allowed, grouped by service \
pairs and port sets, and the policy objects that changed.\n\n\
Examples:\n  netpol diff old/ new/\n  netpol diff --git main..HEAD policies/ --format markdown\n  \
netpol diff --policies old.yaml new.yaml --workloads 'k8s/*.yaml' --format json\n  \
netpol diff --git HEAD policies/ --exit-code"
    )]
    Diff(diff_cmd::DiffArgs),
    /// Draw the service graph (DOT, Mermaid, SVG, or an HTML page).
    #[command(
        long_about = "Draw a program's service graph: services, groups and externals as nodes, \
clustered by namespace, edges labelled with ports; DNS and internet peers and warnings (W103, W109) \
stand out. SVG is laid out by Graphviz when `dot` is on PATH, else by a built-in layout. The HTML page \
is one self-contained file (pan, zoom, click a node for its connections and policies).\n\n\
Examples:\n  netpol graph examples/shop --format svg -o shop.svg\n  \
netpol graph policies/ --format html --diff main -o review.html\n  netpol graph policies/ --format mermaid"
    )]
    Graph(graph_cmd::GraphArgs),
    /// Run as a kustomize generator (a KRM function, or the legacy exec plugin).
    #[command(long_about = KRM_ABOUT)]
    Krm {
        /// Legacy exec-plugin form: the config file kustomize passes (plain YAML out).
        #[arg(long = "plugin-config", value_name = "FILE")]
        plugin_config: Option<PathBuf>,
    },
    /// Format .netpol files in the one canonical layout (comments are kept).
    Fmt {
        /// `.netpol` files or folders.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Do not write; exit 1 if any file is not formatted, and list them.
        #[arg(long)]
        check: bool,
    },
}

const KRM_ABOUT: &str = "Run as a kustomize generator. Without arguments, a KRM function: kustomize \
(`kustomize build --enable-alpha-plugins --enable-exec`) passes a ResourceList on stdin whose \
functionConfig is a `NetpolGenerator` (apiVersion netpol.dev/v1alpha1; spec.sources, spec.workloads, \
spec.workloadsFromResources, paths relative to the kustomization); the compiled policies are appended \
to its items. Run through a link named netpol-krm, netpol is this function without arguments (for \
kustomize before v5, whose exec functions take none). With --plugin-config FILE (or run through a link named NetpolGenerator), the legacy exec \
plugin that `kubectl kustomize --enable-alpha-plugins` runs: plain YAML on stdout. On errors: \
`path:line:col` diagnostics on stderr (and in the ResourceList's results), no output, exit 1.\n\n\
Docs: docs/integrations.md, examples/kustomize/";

fn main() -> ExitCode {
    if let Some(code) = krm::run_if_named() {
        return ExitCode::from(code);
    }
    let cli = Cli::parse();
    let color = match cli.color {
        Color::Auto => {
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                ColorChoice::Auto
            } else {
                ColorChoice::Never
            }
        }
        Color::Always => ColorChoice::Always,
        Color::Never => ColorChoice::Never,
    };
    let code = match cli.command {
        Command::Compile {
            program,
            output,
            out_dir,
            check,
            force,
            verify,
            no_verify,
        } => compile(
            &program,
            &cli.allow_outside,
            Output {
                file: output,
                dir: out_dir,
                check,
                force,
                verify: verify || (VERIFY_BY_DEFAULT && !no_verify),
            },
            color,
        ),
        Command::Check { program } => check(&program, &cli.allow_outside, color),
        Command::Test { program } => test(&program, &cli.allow_outside, color),
        Command::Explain {
            paths,
            policies,
            workloads,
            from,
            to,
            matrix,
            format,
        } => explain(
            &cli.allow_outside,
            &paths,
            &policies,
            &workloads,
            from.zip(to),
            matrix,
            format,
            color,
        ),
        Command::Import {
            files,
            workloads,
            pod_cidr,
            service_cidr,
        } => match files::Guard::for_cwd(&cli.allow_outside) {
            Ok(guard) => import_cmd::run(&guard, &files, &workloads, &pod_cidr, &service_cidr),
            Err(e) => fail(e),
        },
        Command::Fmt { paths, check } => {
            match files::Guard::for_program(&paths, &cli.allow_outside) {
                Ok(guard) => output::fmt(&guard, &paths, check),
                Err(e) => fail(e),
            }
        }
        Command::Krm { plugin_config } => match plugin_config {
            Some(config) => krm::run_plugin(&config),
            None => krm::run_function(),
        },
        Command::Lsp => netpol_lsp::run_stdio(),
        Command::Diff(args) => diff_cmd::run(&args, &cli.allow_outside, color),
        Command::Graph(args) => graph_cmd::run(&args, &cli.allow_outside, color),
    };
    ExitCode::from(code)
}

/// Prints a usage or I/O error in the house style and returns exit code 2.
pub fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_USAGE
}

/// A loaded program, ready to query.
pub struct Loaded {
    guard: files::Guard,
    db: Database,
    ws: Workspace,
    /// File id -> path to show in diagnostics.
    display: Vec<(netpol_compiler::span::FileId, String, String)>,
}

/// Why a program could not be loaded.
pub enum LoadError {
    /// An I/O or usage problem (exit 2).
    Usage(String),
    /// The program's files declare nothing (exit 1); the message and its help.
    Empty(String, String),
}

fn load(args: &ProgramArgs, allow_outside: &[PathBuf]) -> Result<Loaded, u8> {
    try_load(args, Vec::new(), allow_outside).map_err(|e| match e {
        LoadError::Usage(m) => fail(m),
        LoadError::Empty(m, help) => {
            eprintln!("error: {m}");
            eprintln!("  = help: {help}");
            EXIT_PROGRAM_ERRORS
        }
    })
}

/// Loads a program and its manifests, plus `extra` manifests given as (path, text, default
/// namespace); reads stay inside the repository unless `allow_outside` says otherwise.
pub fn try_load(
    args: &ProgramArgs,
    extra: Vec<(String, String, String)>,
    allow_outside: &[PathBuf],
) -> Result<Loaded, LoadError> {
    let guard = files::Guard::for_program(&args.paths, allow_outside).map_err(LoadError::Usage)?;
    let program = files::load_program(&guard, &args.paths).map_err(LoadError::Usage)?;
    if program.files.iter().all(|f| {
        netpol_compiler::syntax::parse(netpol_compiler::span::FileId(0), &f.text)
            .ast
            .items
            .is_empty()
            && f.text
                .trim()
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with("//"))
    }) {
        let names: Vec<&str> = program.files.iter().map(|f| f.shown.as_str()).collect();
        return Err(LoadError::Empty(
            format!("the program declares nothing: {}", names.join(", ")),
            "a program needs at least one `namespace`, `service` or connection; see docs/language.md"
                .to_string(),
        ));
    }
    let mut db = Database::default();
    let ws = db.workspace(
        program
            .files
            .iter()
            .map(|f| (f.rel.clone(), f.text.clone()))
            .collect(),
    );
    let (mut manifests, errors) = files::load_manifests(&guard, &db, ws, &program, &args.workloads)
        .map_err(LoadError::Usage)?;
    manifests.extend(extra);
    db.set_manifests(ws, manifests, errors);
    let mut display = db.all_files(ws);
    for f in &program.files {
        let Some(id) = db.file(&f.rel).map(|file| file.id(&db)) else {
            continue;
        };
        if let Some((_, path, _)) = display.iter_mut().find(|(i, _, _)| *i == id) {
            path.clone_from(&f.shown);
        }
    }
    Ok(Loaded {
        guard,
        db,
        ws,
        display,
    })
}

/// At most this many diagnostics are printed; the count of the rest follows.
const MAX_SHOWN: usize = 200;

/// Prints diagnostics for people, each quoted line cut to `output::MAX_QUOTED_CHARS`;
/// returns true when there are errors.
fn human_report(loaded: &Loaded, diags: &[Diagnostic], color: ColorChoice) -> bool {
    if diags.is_empty() {
        return false;
    }
    // Only the files diagnostics point into are rendered, each with its lines cut to
    // `output::MAX_QUOTED_CHARS`.
    let used: std::collections::BTreeSet<netpol_compiler::span::FileId> = diags
        .iter()
        .take(MAX_SHOWN)
        .flat_map(|d| std::iter::once(&d.primary).chain(&d.secondary))
        .map(|l| l.span.file)
        .collect();
    let capped: Vec<(netpol_compiler::span::FileId, &str, output::Capped)> = loaded
        .display
        .iter()
        .filter(|(id, _, _)| used.contains(id))
        .map(|(id, path, text)| (*id, path.as_str(), output::Capped::new(text)))
        .collect();
    let files: Vec<RenderFile<'_>> = capped
        .iter()
        .map(|(id, path, c)| RenderFile {
            id: *id,
            path,
            text: &c.text,
        })
        .collect();
    let (cs_files, ids) = codespan_files(&files);
    let remap = |l: &mut netpol_compiler::diagnostic::Label| {
        if let Some((_, _, c)) = capped.iter().find(|(id, _, _)| *id == l.span.file) {
            l.span.start = c.map(l.span.start);
            l.span.end = c.map(l.span.end).max(l.span.start);
        }
    };
    let config = term::Config::default();
    let stream = StandardStream::stderr(color);
    let mut lock = stream.lock();
    for d in diags.iter().take(MAX_SHOWN) {
        let mut d = d.clone();
        remap(&mut d.primary);
        d.secondary.iter_mut().for_each(remap);
        let _ = term::emit_to_write_style(&mut lock, &config, &cs_files, &to_codespan(&d, &ids));
    }
    if diags.len() > MAX_SHOWN {
        let _ = std::io::Write::flush(&mut lock);
        eprintln!("… {} more diagnostics not shown", diags.len() - MAX_SHOWN);
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    if errors > 0 || warnings > 0 {
        let _ = std::io::Write::flush(&mut lock);
        eprintln!(
            "{}",
            match (errors, warnings) {
                (0, w) => format!("{w} warning{}", plural(w)),
                (e, 0) => format!("{e} error{}", plural(e)),
                (e, w) => format!("{e} error{}, {w} warning{}", plural(e), plural(w)),
            }
        );
    }
    errors > 0
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Prints diagnostics in `args.format` (machine formats on stdout, or on stderr when
/// `stdout_taken`); returns true when there are errors.
fn report(
    loaded: &Loaded,
    diags: &[Diagnostic],
    args: &ProgramArgs,
    command: &'static str,
    stdout_taken: bool,
    color: ColorChoice,
) -> bool {
    let (diags, held) = held_back(diags, args.warnings);
    let diags = diags.as_slice();
    if args.format == report::Format::Human {
        let errors = human_report(loaded, diags, color);
        note_held_back(held);
        return errors;
    }
    report::emit(
        args.format,
        command,
        diags,
        &loaded.display,
        stdout_taken,
        color,
    );
    diags.iter().any(Diagnostic::is_error)
}

/// The diagnostics to print: without `--warnings`, the errors only when there are any (most
/// warnings of a broken program follow from its errors); and how many were held back.
fn held_back(diags: &[Diagnostic], warnings: bool) -> (Vec<Diagnostic>, usize) {
    if warnings || !diags.iter().any(Diagnostic::is_error) {
        return (diags.to_vec(), 0);
    }
    let errors: Vec<Diagnostic> = diags.iter().filter(|d| d.is_error()).cloned().collect();
    let held = diags.len() - errors.len();
    (errors, held)
}

/// Says on stderr that warnings were held back, and how to see them.
fn note_held_back(held: usize) {
    if held > 0 {
        eprintln!(
            "note: {held} warning{} held back until the errors are fixed (`--warnings` shows {})",
            plural(held),
            if held == 1 { "it" } else { "them" }
        );
    }
}

/// The exit code of a program with errors: 2 when files are missing (a `workloads` pattern
/// that matches nothing or a manifest that cannot be read, E025), as for a `--workloads` glob
/// that matches nothing or a missing file on the command line; else 1.
fn errors_exit_code(diags: &[Diagnostic]) -> u8 {
    if diags
        .iter()
        .any(|d| d.code == netpol_compiler::diagnostic::Code::NoManifests)
    {
        EXIT_USAGE
    } else {
        EXIT_PROGRAM_ERRORS
    }
}

fn check(args: &ProgramArgs, allow_outside: &[PathBuf], color: ColorChoice) -> u8 {
    let loaded = match load(args, allow_outside) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let diags = db::diagnostics(&loaded.db, loaded.ws);
    if report(&loaded, diags, args, "check", false, color) {
        errors_exit_code(diags)
    } else {
        EXIT_OK
    }
}

/// Where `compile` writes.
struct Output {
    file: Option<PathBuf>,
    dir: Option<PathBuf>,
    check: bool,
    force: bool,
    /// Prove the output means the program before writing it.
    verify: bool,
}

/// Whether `compile` verifies without `--verify` (docs/performance.md has the cost).
const VERIFY_BY_DEFAULT: bool = false;

fn compile(
    args: &ProgramArgs,
    allow_outside: &[PathBuf],
    output: Output,
    color: ColorChoice,
) -> u8 {
    let loaded = match load(args, allow_outside) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let code = compile_loaded(&loaded, args, output, color);
    // The database holds every stage's result, most of the process's memory: the process
    // ends now, so freeing it piece by piece would only cost time (8% of a compile).
    std::mem::forget(loaded);
    code
}

fn compile_loaded(loaded: &Loaded, args: &ProgramArgs, output: Output, color: ColorChoice) -> u8 {
    let diags = db::diagnostics(&loaded.db, loaded.ws);
    let stdout_taken = output.file.is_none() && output.dir.is_none();
    if report(loaded, diags, args, "compile", stdout_taken, color) {
        // With `--check`, exit code 1 means drift only.
        return if output.check {
            EXIT_USAGE
        } else {
            errors_exit_code(diags)
        };
    }
    // Verification reads the documents from the database's query; a plain compile needs them
    // once, so it keeps no stage's result in the database (a lower peak memory).
    let once;
    let docs = if output.verify {
        db::emitted(&loaded.db, loaded.ws).as_deref()
    } else {
        once = db::emit_once(&loaded.db, loaded.ws);
        once.as_deref()
    };
    let Some(docs) = docs else {
        return fail("the policies could not be serialised");
    };
    if output.verify {
        match db::verify(&loaded.db, loaded.ws) {
            None => return fail("the compiled policies could not be read back"),
            Some(Err(failure)) => {
                eprintln!("error: {}", failure.message());
                return EXIT_PROGRAM_ERRORS;
            }
            Some(Ok(_)) => {}
        }
    }
    let result = match (output.file, output.dir) {
        (_, Some(dir)) if output.check => {
            return match output::check_dir(&loaded.guard, &dir, docs) {
                Ok(drift) => report_drift(&dir, &drift),
                Err(e) => fail(e),
            };
        }
        (_, Some(dir)) => output::write_dir(&loaded.guard, &dir, docs, output.force),
        (Some(file), None) => output::write_file(&file, docs, output.force),
        (None, None) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            output::write_stream(&mut out, docs)
                .and_then(|()| std::io::Write::flush(&mut out))
                .map_err(|e| format!("cannot write to stdout: {e}"))
        }
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => fail(e),
    }
}

/// Prints the drift `compile --out-dir DIR --check` found; exit code 1 when there is some.
fn report_drift(dir: &std::path::Path, drift: &output::Drift) -> u8 {
    let lines: Vec<String> = [
        ("added", &drift.added),
        ("changed", &drift.changed),
        ("stale", &drift.stale),
    ]
    .iter()
    .flat_map(|(what, names)| names.iter().map(move |n| format!("{what}: {n}")))
    .collect();
    if lines.is_empty() {
        return EXIT_OK;
    }
    for l in &lines {
        println!("{l}");
    }
    eprintln!(
        "`{}` is not up to date: {} added, {} changed, {} stale; run `netpol compile` with `--out-dir {}`",
        dir.display(),
        drift.added.len(),
        drift.changed.len(),
        drift.stale.len(),
        dir.display()
    );
    EXIT_PROGRAM_ERRORS
}

fn test(args: &ProgramArgs, allow_outside: &[PathBuf], color: ColorChoice) -> u8 {
    let loaded = match load(args, allow_outside) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let diags = db::diagnostics(&loaded.db, loaded.ws);
    if !diags.iter().any(Diagnostic::is_error)
        && db::resolved(&loaded.db, loaded.ws).program.tests.is_empty()
    {
        eprintln!("error: the program has no `test` blocks: nothing to check");
        eprintln!(
            "  = help: add one, such as `test \"web reaches the API\" {{ allowed web -> api:http }}` (docs/language.md#tests)"
        );
        return EXIT_PROGRAM_ERRORS;
    }
    if args.format != report::Format::Human {
        let (diags, _) = held_back(diags, args.warnings);
        return report::test(&loaded.db, loaded.ws, &diags, &loaded.display, args.format);
    }
    if report(&loaded, diags, args, "test", false, color) {
        return errors_exit_code(diags);
    }
    let Some(results) = db::run_tests(&loaded.db, loaded.ws) else {
        return fail("the compiled policies could not be read back");
    };
    let location = |span: netpol_compiler::span::Span| {
        loaded
            .display
            .iter()
            .find(|(id, _, _)| *id == span.file)
            .map(|(_, path, text)| {
                format!(
                    "{path}:{}",
                    netpol_compiler::span::line_col(text, span.start).0
                )
            })
            .unwrap_or_default()
    };
    let source_text = |span: netpol_compiler::span::Span| {
        loaded
            .display
            .iter()
            .find(|(id, _, _)| *id == span.file)
            .and_then(|(_, _, text)| text.get(span.start..span.end))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let (mut passed, mut failed) = (0, 0);
    for t in &results {
        println!("test \"{}\" ({})", t.name, location(t.span));
        for a in &t.assertions {
            if a.passed {
                passed += 1;
                println!(
                    "  ok    {}  {}  ({} checked)",
                    location(a.span),
                    source_text(a.span),
                    a.checked
                );
            } else {
                failed += 1;
                println!("  FAIL  {}  {}", location(a.span), source_text(a.span));
                if let Some(f) = &a.failure {
                    println!("        {f}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        EXIT_PROGRAM_ERRORS
    } else {
        EXIT_OK
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one argument per command-line option"
)]
fn explain(
    allow_outside: &[PathBuf],
    paths: &[PathBuf],
    policy_files: &[PathBuf],
    workloads: &[String],
    connection: Option<(String, String)>,
    matrix: bool,
    format: Format,
    color: ColorChoice,
) -> u8 {
    use netpol_compiler::explain as ex;
    if connection.is_none() && !matrix {
        return fail("say what to explain: `--from X --to Y:port`, or `--matrix`");
    }
    let (policies, manifests, sources, namespaces) = if paths.is_empty() {
        if policy_files.is_empty() {
            return fail("give a program (PATH...) or NetworkPolicy YAML (--policies FILE)");
        }
        let guard = match files::Guard::for_cwd(allow_outside) {
            Ok(g) => g,
            Err(e) => return fail(e),
        };
        let mut policies = Vec::new();
        for f in policy_files {
            let text = match guard.read(f) {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            match ex::read_policies(&text) {
                Ok(p) if p.is_empty() => {
                    return fail(format!(
                        "`{}` holds no NetworkPolicy (`kind: NetworkPolicy`, `apiVersion: networking.k8s.io/v1`): give workload manifests with `--workloads`",
                        f.display()
                    ));
                }
                Ok(p) => policies.extend(p),
                Err(e) => return fail(format!("`{}` cannot be read: {e}", f.display())),
            }
        }
        let manifests = match files::load_cli_manifests(&guard, workloads) {
            Ok(m) => m,
            Err(e) => return fail(e),
        };
        (policies, manifests, Vec::new(), Vec::new())
    } else {
        if !policy_files.is_empty() {
            return fail("give either a program or --policies, not both");
        }
        let args = ProgramArgs {
            paths: paths.to_vec(),
            workloads: workloads.to_vec(),
            format: report::Format::Human,
            warnings: false,
        };
        let loaded = match load(&args, allow_outside) {
            Ok(l) => l,
            Err(code) => return code,
        };
        if report(
            &loaded,
            db::diagnostics(&loaded.db, loaded.ws),
            &args,
            "explain",
            false,
            color,
        ) {
            return EXIT_PROGRAM_ERRORS;
        }
        let Some(policies) = db::policy_objects(&loaded.db, loaded.ws) else {
            return fail("the compiled policies could not be read back");
        };
        let sources: Vec<(String, String, String)> = policies
            .iter()
            .map(|p| {
                let m = &p.metadata;
                let src = m
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("netpol.dev/source"))
                    .cloned()
                    .unwrap_or_default();
                (
                    m.namespace.clone().unwrap_or_default(),
                    m.name.clone().unwrap_or_default(),
                    src,
                )
            })
            .collect();
        let manifests = db::manifests(&loaded.db, loaded.ws).clone();
        let namespaces = db::resolved(&loaded.db, loaded.ws)
            .program
            .namespaces
            .keys()
            .cloned()
            .collect();
        (policies, manifests, sources, namespaces)
    };
    let cluster = ex::cluster(&manifests, &namespaces);
    if matrix {
        let entries = ex::matrix(&policies, &cluster);
        let text = match format {
            Format::Json => serde_json::to_string_pretty(&entries).unwrap_or_default() + "\n",
            Format::Table => ex::matrix_table(&entries),
        };
        print!("{text}");
        return EXIT_OK;
    }
    let Some((from, to)) = connection else {
        return EXIT_OK;
    };
    let from = match ex::endpoint(&cluster, &from) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let (to, protocol, port) = match ex::target(&cluster, &to) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let source = |ns: &str, name: &str| {
        sources
            .iter()
            .find(|(n, p, _)| n == ns && p == name)
            .map(|(_, _, s)| s.clone())
            .filter(|s| !s.is_empty())
    };
    let (_, text) = ex::explain(&policies, &cluster, &from, &to, protocol, port, &source);
    print!("{text}");
    EXIT_OK
}
