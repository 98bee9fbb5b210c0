//! `netpol diff`: which connections a change adds or removes, computed from meaning by the
//! compiler library (`netpol_compiler::diff`); this file reads the two sides and prints.

use crate::git::Repo;
use crate::review::{self, Side, Source};
use crate::{EXIT_OK, fail};
use clap::ValueEnum;
use codespan_reporting::term::termcolor::ColorChoice;
use netpol_compiler::diff::{self, Naming};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(clap::Args)]
pub struct DiffArgs {
    /// OLD and NEW program folders (or files); with --policies, OLD and NEW NetworkPolicy YAML
    /// (files or folders); with --git, the program's PATHs (or YAML with --policies) in the
    /// repository.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Compare two revisions of the repository holding the current folder, read without
    /// checking them out: `REV..REV`, or `REV` alone for that revision against the files on disk.
    #[arg(long, value_name = "REV[..REV]")]
    pub git: Option<String>,
    /// The sides are NetworkPolicy YAML, not programs.
    #[arg(long)]
    pub policies: bool,
    /// Workload manifests, besides the programs' own (with --git, matched in each revision).
    /// Repeatable.
    #[arg(long = "workloads", value_name = "GLOB")]
    pub workloads: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Exit with code 1 when the allowed connections changed.
    #[arg(long = "exit-code")]
    pub exit_code: bool,
}

/// The two sides of a comparison, compiled.
pub fn sides(
    paths: &[PathBuf],
    git: Option<&str>,
    policies: bool,
    workloads: &[String],
    color: ColorChoice,
) -> Result<(Side, Side), u8> {
    let read = |source: &Source<'_>, paths: &[PathBuf]| {
        if policies {
            review::policies(source, paths, workloads)
        } else {
            review::program(source, paths, workloads, color)
        }
    };
    match git {
        None => {
            let [old, new] = paths else {
                return Err(fail(
                    "give two sides: `netpol diff OLD NEW`, or `--git REV[..REV] PATH...`",
                ));
            };
            Ok((
                read(&Source::Disk, std::slice::from_ref(old))?,
                read(&Source::Disk, std::slice::from_ref(new))?,
            ))
        }
        Some(range) => {
            if range.contains("...") {
                return Err(fail(format!(
                    "`{range}`: use `REV..REV` (two dots) or a single revision"
                )));
            }
            let repo = Repo::open().map_err(fail)?;
            let (a, b) = match range.split_once("..") {
                Some((a, b)) => (a, Some(b)),
                None => (range, None),
            };
            let old_rev = repo.revision(a).map_err(fail)?;
            let old = read(&Source::Git(&repo, &old_rev), paths)?;
            let new = match b {
                Some(b) => {
                    let new_rev = repo.revision(b).map_err(fail)?;
                    read(&Source::Git(&repo, &new_rev), paths)?
                }
                None => read(&Source::Disk, paths)?,
            };
            Ok((old, new))
        }
    }
}

/// The semantic difference of two compiled sides, over the union of their workloads.
pub fn compare(old: &Side, new: &Side) -> diff::Diff {
    let cluster = diff::union_cluster(&old.cluster(), &new.cluster());
    let programs: Vec<_> = [new.program.as_ref(), old.program.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    let naming = Naming::from_programs(&programs, &cluster);
    diff::diff(&old.policies, &new.policies, &cluster, &naming)
}

pub fn run(args: &DiffArgs, color: ColorChoice) -> u8 {
    let (old, new) = match sides(
        &args.paths,
        args.git.as_deref(),
        args.policies,
        &args.workloads,
        color,
    ) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let d = compare(&old, &new);
    let text = match args.format {
        DiffFormat::Text => diff::render_text(&d),
        DiffFormat::Markdown => diff::render_markdown(&d),
        DiffFormat::Json => diff::render_json(&d),
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = std::io::Write::write_all(&mut out, text.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut out))
    {
        return fail(format!("cannot write to stdout: {e}"));
    }
    if args.exit_code && d.changed() {
        1
    } else {
        EXIT_OK
    }
}
