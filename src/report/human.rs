//! Diagnostics for a terminal (codespan-reporting), and the one-line `path:line:col` form that
//! the kustomize plugins print on stderr.

use super::{FileTable, Report, severity_word};
use codespan_reporting::term;
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use netpol_compiler::diagnostic::{Diagnostic, RenderFile, codespan_files, to_codespan};

/// At most this many diagnostics are printed; the count of the rest follows.
pub const MAX_SHOWN: usize = 200;

/// Prints diagnostics on stderr with a closing count line.
pub fn print(diags: &[Diagnostic], files: &FileTable, color: ColorChoice) {
    let render = RenderFile::all(files);
    let (cs_files, ids) = codespan_files(&render);
    let config = term::Config::default();
    let stream = StandardStream::stderr(color);
    let mut lock = stream.lock();
    for d in diags.iter().take(MAX_SHOWN) {
        let _ = term::emit_to_write_style(&mut lock, &config, &cs_files, &to_codespan(d, &ids));
    }
    let _ = std::io::Write::flush(&mut lock);
    drop(lock);
    if diags.len() > MAX_SHOWN {
        eprintln!("… {} more diagnostics not shown", diags.len() - MAX_SHOWN);
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    if let Some(line) = summary(errors, diags.len() - errors) {
        eprintln!("{line}");
    }
}

/// "2 errors, 1 warning", or `None` when there is nothing.
pub fn summary(errors: usize, warnings: usize) -> Option<String> {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match (errors, warnings) {
        (0, 0) => None,
        (0, w) => Some(format!("{w} warning{}", plural(w))),
        (e, 0) => Some(format!("{e} error{}", plural(e))),
        (e, w) => Some(format!("{e} error{}, {w} warning{}", plural(e), plural(w))),
    }
}

/// One line per diagnostic, `path:line:col: error[E002]: message`, with the help indented
/// below: the form kustomize shows when a plugin fails.
pub fn short(report: &Report) -> String {
    let mut out = String::new();
    for i in &report.items {
        let at = i.place.as_ref().map_or_else(String::new, |p| {
            format!("{}:{}:{}: ", p.file, p.start.line, p.start.column)
        });
        out.push_str(&format!(
            "{at}{}[{}]: {}\n",
            severity_word(i.severity),
            i.code.as_str(),
            i.message
        ));
        if let Some(h) = &i.help {
            out.push_str(&format!("  = help: {h}\n"));
        }
    }
    if let Some(line) = summary(report.errors(), report.warnings()) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
