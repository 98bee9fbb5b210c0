//! `netpol graph`: the service graph of a program as DOT, Mermaid, SVG or a self-contained
//! HTML page. The graph and its text renderings are the compiler library's
//! (`netpol_compiler::graph`); this file lays out SVG (Graphviz's `dot` when it is on PATH,
//! else the layout-rs crate) and writes.

use crate::git::Repo;
use crate::review::{self, Side, Source};
use crate::{EXIT_OK, fail, output};
use clap::ValueEnum;
use codespan_reporting::term::termcolor::ColorChoice;
use netpol_compiler::graph::{self, Graph};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Svg,
    Html,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Layout {
    /// Graphviz when `dot` is on PATH, else the built-in layout.
    Auto,
    /// Graphviz's `dot` (an error when it is missing).
    Graphviz,
    /// The built-in layout (layout-rs): no namespace boxes, namespaces in the node names.
    Builtin,
}

#[derive(clap::Args)]
pub struct GraphArgs {
    /// `.netpol` files, or folders searched (recursively) for them. All of them form one program.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also read workload manifests matching GLOB. Repeatable.
    #[arg(long = "workloads", value_name = "GLOB")]
    pub workloads: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Colour the edges that the change from OLD adds (green) or removes (red, dashed). OLD
    /// is a program folder or file, or a git revision of PATH when no such file exists.
    #[arg(long, value_name = "OLD")]
    pub diff: Option<String>,
    /// How SVG (and the HTML page's picture) is laid out.
    #[arg(long, value_enum, default_value_t = Layout::Auto)]
    pub layout: Layout,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn graph_of(side: &Side) -> Graph {
    match &side.program {
        Some(p) => graph::build(p, &side.diagnostics, &side.policies, &side.manifests),
        None => Graph::default(),
    }
}

pub fn run(args: &GraphArgs, color: ColorChoice) -> u8 {
    let new = match review::program(&Source::Disk, &args.paths, &args.workloads, color) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut g = graph_of(&new);
    if let Some(old) = &args.diff {
        let old_side = if Path::new(old).exists() {
            review::program(&Source::Disk, &[PathBuf::from(old)], &args.workloads, color)
        } else {
            let repo = match Repo::open() {
                Ok(r) => r,
                Err(e) => {
                    return fail(format!(
                        "`--diff {old}` is neither a path nor a revision: {e}"
                    ));
                }
            };
            if !repo.has_revision(old) {
                return fail(format!("`--diff {old}` is neither a path nor a revision"));
            }
            match repo.revision(old) {
                Ok(rev) => review::program(
                    &Source::Git(&repo, &rev),
                    &args.paths,
                    &args.workloads,
                    color,
                ),
                Err(e) => return fail(e),
            }
        };
        match old_side {
            Ok(s) => g = graph::compare(&graph_of(&s), &g),
            Err(code) => return code,
        }
    }
    let text = match args.format {
        GraphFormat::Dot => graph::to_dot(&g, true),
        GraphFormat::Mermaid => graph::to_mermaid(&g),
        GraphFormat::Svg => match svg(&g, args.layout) {
            Ok(s) => s,
            Err(e) => return fail(e),
        },
        GraphFormat::Html => match svg(&g, args.layout) {
            Ok(s) => graph::to_html(&g, &s),
            Err(e) => return fail(e),
        },
    };
    let result = match &args.output {
        Some(file) => output::write_atomic(file, text.as_bytes()),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write to stdout: {e}"))
        }
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => fail(e),
    }
}

/// Whether Graphviz's `dot` runs.
fn has_graphviz() -> bool {
    Command::new("dot")
        .arg("-V")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The graph laid out as SVG.
pub fn svg(g: &Graph, layout: Layout) -> Result<String, String> {
    let graphviz = match layout {
        Layout::Auto => has_graphviz(),
        Layout::Graphviz => {
            if !has_graphviz() {
                return Err("`--layout graphviz`: Graphviz's `dot` is not on PATH (Debian: `apt-get install graphviz`)".to_string());
            }
            true
        }
        Layout::Builtin => false,
    };
    if graphviz {
        graphviz_svg(&graph::to_dot(g, true))
    } else {
        builtin_svg(&graph::to_dot(g, false))
    }
}

fn graphviz_svg(dot: &str) -> Result<String, String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run Graphviz's `dot`: {e}"))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or("cannot write to Graphviz's `dot`")?;
    let input = dot.to_string();
    // Write from another thread, so that a full stdout pipe cannot block both sides.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("Graphviz's `dot` failed: {e}"))?;
    let _ = writer.join();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "Graphviz's `dot` failed: {}",
            err.lines().next().unwrap_or("").trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| "Graphviz's `dot` printed non-UTF-8".to_string())
}

fn builtin_svg(dot: &str) -> Result<String, String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let dot = dot.to_string();
    // layout-rs is a third-party layout engine: a panic inside it becomes an error here.
    std::panic::catch_unwind(move || {
        let mut parser = DotParser::new(&dot);
        let ast = parser.process().map_err(|e| format!("layout: {e}"))?;
        let mut builder = GraphBuilder::new();
        builder.visit_graph(&ast);
        let mut vg = builder.get();
        let mut svg = SVGWriter::new();
        vg.do_it(false, false, false, &mut svg);
        Ok(svg.finalize())
    })
    .unwrap_or_else(|_| {
        Err("the built-in layout failed on this graph; install Graphviz".to_string())
    })
}
