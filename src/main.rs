//! `netpol`: the command-line driver. It does the I/O (reading programs and manifests,
//! expanding globs, writing output atomically) around the compiler library.

mod diff_cmd;
mod files;
mod git;
mod graph_cmd;
mod import_cmd;
mod output;
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
    after_help = "Examples:\n  netpol compile examples/quickstart\n  netpol compile policies/ --out-dir deploy/netpol\n  netpol check policies/ --workloads 'k8s/**/*.yaml'\n  netpol test policies/\n  netpol explain policies/ --from shop/web --to data/db:5432\n  netpol import existing/*.yaml > imported.netpol\n  netpol fmt policies/ --check\n  netpol diff --git main..HEAD policies/ --format markdown\n  netpol graph policies/ --format html -o graph.html\n  netpol lsp   (started by editors; see docs/editors.md)\n\nDocs: docs/cli.md, docs/language.md, docs/diagnostics.md, docs/import.md, docs/review.md, docs/editors.md"
)]
struct Cli {
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
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
struct ProgramArgs {
    /// `.netpol` files, or folders searched (recursively) for them. All of them form one program.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Also read workload manifests matching GLOB (relative to the current folder); objects
    /// without a namespace go to `default`. Repeatable.
    #[arg(long = "workloads", value_name = "GLOB")]
    workloads: Vec<String>,
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
        /// Write one file per policy and a kustomization.yaml into DIR, removing files that
        /// an earlier run wrote there and that are no longer produced (and nothing else).
        #[arg(long = "out-dir", value_name = "DIR")]
        out_dir: Option<PathBuf>,
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
allows. Notes on stderr say what could only be said under an assumption; docs/import.md explains.\n\n\
Examples:\n  netpol import policies/*.yaml > imported.netpol\n  \
netpol import np.yaml --workloads 'k8s/*.yaml' > imported.netpol"
    )]
    Import {
        /// NetworkPolicy YAML files (several documents per file, `List` objects too).
        #[arg(required = true, value_name = "YAML")]
        files: Vec<PathBuf>,
        /// Workload manifests (namespace labels, pods, named ports), written into the program's
        /// `workloads` line as given. Repeatable.
        #[arg(long = "workloads", value_name = "GLOB")]
        workloads: Vec<String>,
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

fn main() -> ExitCode {
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
        } => compile(&program, output, out_dir, color),
        Command::Check { program } => check(&program, color),
        Command::Test { program } => test(&program, color),
        Command::Explain {
            paths,
            policies,
            workloads,
            from,
            to,
            matrix,
            format,
        } => explain(
            &paths,
            &policies,
            &workloads,
            from.zip(to),
            matrix,
            format,
            color,
        ),
        Command::Import { files, workloads } => import_cmd::run(&files, &workloads),
        Command::Fmt { paths, check } => output::fmt(&paths, check),
        Command::Lsp => netpol_lsp::run_stdio(),
        Command::Diff(args) => diff_cmd::run(&args, color),
        Command::Graph(args) => graph_cmd::run(&args, color),
    };
    ExitCode::from(code)
}

/// Prints a usage or I/O error in the house style and returns exit code 2.
pub fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_USAGE
}

/// A loaded program, ready to query.
struct Loaded {
    db: Database,
    ws: Workspace,
    /// File id -> path to show in diagnostics.
    display: Vec<(netpol_compiler::span::FileId, String, String)>,
}

fn load(args: &ProgramArgs) -> Result<Loaded, u8> {
    let program = files::load_program(&args.paths).map_err(fail)?;
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
        eprintln!("error: the program declares nothing: {}", names.join(", "));
        eprintln!(
            "  = help: a program needs at least one `namespace`, `service` or connection; see docs/language.md"
        );
        return Err(EXIT_PROGRAM_ERRORS);
    }
    let mut db = Database::default();
    let ws = db.workspace(
        program
            .files
            .iter()
            .map(|f| (f.rel.clone(), f.text.clone()))
            .collect(),
    );
    let (manifests, errors) =
        files::load_manifests(&db, ws, &program, &args.workloads).map_err(fail)?;
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
    Ok(Loaded { db, ws, display })
}

/// At most this many diagnostics are printed; the count of the rest follows.
const MAX_SHOWN: usize = 200;

/// Prints diagnostics; returns true when there are errors.
fn report(loaded: &Loaded, diags: &[Diagnostic], color: ColorChoice) -> bool {
    let files: Vec<RenderFile<'_>> = loaded
        .display
        .iter()
        .map(|(id, path, text)| RenderFile {
            id: *id,
            path,
            text,
        })
        .collect();
    let (cs_files, ids) = codespan_files(&files);
    let config = term::Config::default();
    let stream = StandardStream::stderr(color);
    let mut lock = stream.lock();
    for d in diags.iter().take(MAX_SHOWN) {
        let _ = term::emit_to_write_style(&mut lock, &config, &cs_files, &to_codespan(d, &ids));
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

fn check(args: &ProgramArgs, color: ColorChoice) -> u8 {
    let loaded = match load(args) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let diags = db::diagnostics(&loaded.db, loaded.ws);
    if report(&loaded, diags, color) {
        EXIT_PROGRAM_ERRORS
    } else {
        EXIT_OK
    }
}

fn compile(
    args: &ProgramArgs,
    output: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    color: ColorChoice,
) -> u8 {
    let loaded = match load(args) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let diags = db::diagnostics(&loaded.db, loaded.ws);
    if report(&loaded, diags, color) {
        return EXIT_PROGRAM_ERRORS;
    }
    let Some(docs) = db::emitted(&loaded.db, loaded.ws) else {
        return fail("the policies could not be serialised");
    };
    let result = match (output, out_dir) {
        (_, Some(dir)) => output::write_dir(&dir, docs),
        (Some(file), None) => output::write_atomic(&file, output::stream(docs).as_bytes()),
        (None, None) => {
            let text = output::stream(docs);
            let mut out = std::io::stdout().lock();
            std::io::Write::write_all(&mut out, text.as_bytes())
                .and_then(|()| std::io::Write::flush(&mut out))
                .map_err(|e| format!("cannot write to stdout: {e}"))
        }
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => fail(e),
    }
}

fn test(args: &ProgramArgs, color: ColorChoice) -> u8 {
    let loaded = match load(args) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let diags = db::diagnostics(&loaded.db, loaded.ws);
    if report(&loaded, diags, color) {
        return EXIT_PROGRAM_ERRORS;
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

fn explain(
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
        let mut policies = Vec::new();
        for f in policy_files {
            let text = match files::read_file(f) {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            match ex::read_policies(&text) {
                Ok(p) => policies.extend(p),
                Err(e) => return fail(format!("`{}` cannot be read: {e}", f.display())),
            }
        }
        let manifests = match files::load_cli_manifests(workloads) {
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
        };
        let loaded = match load(&args) {
            Ok(l) => l,
            Err(code) => return code,
        };
        if report(&loaded, db::diagnostics(&loaded.db, loaded.ws), color) {
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
