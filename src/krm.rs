//! `netpol krm`: netpol as a kustomize generator, in both of kustomize's plugin forms.
//!
//! * **KRM function (exec).** kustomize (`build --enable-alpha-plugins --enable-exec`) runs
//!   `netpol krm` in the kustomization's folder with a `ResourceList` (config.kubernetes.io/v1)
//!   on stdin whose `functionConfig` is a [`KIND`] object; the reply is the same list with the
//!   compiled policies appended to `items` (the other items unchanged). kustomize reads only
//!   the exit code, so on errors the diagnostics go to stderr (`path:line:col`) and into
//!   `results`, `items` is empty and the exit code is 1.
//! * **Legacy exec plugin.** kustomize (also the one inside `kubectl kustomize
//!   --enable-alpha-plugins`) runs `$KUSTOMIZE_PLUGIN_HOME/netpol.dev/v1alpha1/netpolgenerator/NetpolGenerator`
//!   with the path of a temporary copy of the config file as its first argument, in the
//!   kustomization's folder, and reads plain YAML from stdout. That file may be a link to
//!   netpol itself (netpol answers to the name `NetpolGenerator`) or a script running
//!   `netpol krm --plugin-config "$1"`.
//!
//! Both forms read the same config; `spec.sources` and `spec.workloads` are relative to the
//! kustomization's folder (the working directory kustomize gives the plugin) and may not
//! leave it.

use crate::report::{self, Report};
use crate::{LoadError, ProgramArgs, output};
use netpol_compiler::db;
use netpol_compiler::diagnostic::Diagnostic;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The config's `apiVersion`.
pub const API_VERSION: &str = "netpol.dev/v1alpha1";
/// The config's `kind`.
pub const KIND: &str = "NetpolGenerator";
/// The name a legacy exec plugin must have (kustomize looks for
/// `<home>/netpol.dev/v1alpha1/netpolgenerator/NetpolGenerator`).
pub const PLUGIN_NAME: &str = "NetpolGenerator";
/// The name under which netpol is the KRM function without arguments (`exec: {path: netpol-krm}`).
pub const FUNCTION_NAME: &str = "netpol-krm";
/// The path of the manifests made from the ResourceList's items (`workloadsFromResources`).
const RESOURCES_PATH: &str = "<kustomization resources>";
/// A ResourceList or config larger than this is refused.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceList {
    api_version: String,
    kind: String,
    #[serde(default)]
    items: Vec<Value>,
    function_config: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply<'a> {
    api_version: &'a str,
    kind: &'static str,
    items: Vec<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    results: Vec<KrmResult>,
}

/// One entry of `results`, as kustomize's kyaml `framework.Result`.
#[derive(Serialize)]
struct KrmResult {
    message: String,
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<KrmFile>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    tags: std::collections::BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct KrmFile {
    path: String,
}

/// The generator's config.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Config {
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: Option<Value>,
    spec: Spec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    /// `.netpol` files, folders or globs, relative to the kustomization.
    sources: Vec<String>,
    /// Globs of workload manifests, relative to the kustomization.
    #[serde(default)]
    workloads: Vec<String>,
    /// Also read the workloads from the ResourceList's items (KRM form only).
    #[serde(default)]
    workloads_from_resources: bool,
}

/// What went wrong: a report with located diagnostics, or a plain message.
enum Failure {
    Diagnostics(Report),
    Message(String),
}

struct Generated {
    docs: Vec<db::EmittedPolicy>,
    /// Warnings (there are no errors when something was generated).
    report: Report,
}

/// `netpol krm` without arguments: the KRM function. Exit 0, 1 (errors in the program or
/// the config) or 2 (unreadable input).
pub fn run_function() -> u8 {
    let mut input = String::new();
    let read = std::io::stdin()
        .lock()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut input);
    if let Err(e) = read {
        return crate::fail(format!("cannot read the ResourceList on stdin: {e}"));
    }
    if input.len() as u64 > MAX_INPUT_BYTES {
        return crate::fail("the ResourceList on stdin is larger than 64 MiB");
    }
    let list: ResourceList = match serde_saphyr::from_str(&input) {
        Ok(l) => l,
        Err(e) => {
            return krm_failure(
                "config.kubernetes.io/v1",
                Failure::Message(format!(
                    "stdin is not a ResourceList: {}",
                    first_line(&e.to_string())
                )),
            );
        }
    };
    let api_version = list.api_version.clone();
    if list.kind != "ResourceList" || !list.api_version.starts_with("config.kubernetes.io/") {
        return krm_failure(
            &api_version,
            Failure::Message(format!(
                "stdin is a `{}` of `{}`, not a `ResourceList` of `config.kubernetes.io/v1`",
                list.kind, list.api_version
            )),
        );
    }
    let config = match list.function_config.clone() {
        None => Err(Failure::Message(format!(
            "the ResourceList has no `functionConfig`: give a `{KIND}` object"
        ))),
        Some(v) => serde_json::from_value::<Config>(v).map_err(|e| {
            Failure::Message(format!("the `functionConfig` is not a valid `{KIND}`: {e}"))
        }),
    };
    let generated = config.and_then(|c| generate(&c, Some(&list.items)));
    let generated = match generated {
        Ok(g) => g,
        Err(f) => return krm_failure(&api_version, f),
    };
    let mut items = list.items;
    for d in &generated.docs {
        match serde_saphyr::from_str::<Value>(&d.yaml) {
            Ok(v) => items.push(v),
            Err(e) => {
                return krm_failure(
                    &api_version,
                    Failure::Message(format!("cannot read back policy `{}`: {e}", d.name)),
                );
            }
        }
    }
    eprint!("{}", short_warnings(&generated.report));
    let reply = Reply {
        api_version: &api_version,
        kind: "ResourceList",
        items,
        results: results(&generated.report),
    };
    match serde_saphyr::to_string(&reply) {
        Ok(text) => write_stdout(&text),
        Err(e) => crate::fail(format!("cannot write the ResourceList: {e}")),
    }
}

/// `netpol krm --plugin-config FILE` (or netpol run as `NetpolGenerator FILE`): the legacy
/// exec plugin. Plain YAML on stdout, diagnostics on stderr.
pub fn run_plugin(config_path: &Path) -> u8 {
    // kustomize writes the config to a temporary file of its own: that one file may be read.
    let guard = match crate::files::Guard::for_cwd(&[config_path.to_path_buf()]) {
        Ok(g) => g,
        Err(e) => return crate::fail(e),
    };
    let text = match guard.read(config_path) {
        Ok(t) => t,
        Err(e) => return crate::fail(e),
    };
    let config = match serde_saphyr::from_str::<Config>(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: `{}` is not a valid `{KIND}`: {}",
                config_path.display(),
                first_line(&e.to_string())
            );
            return 1;
        }
    };
    if config.spec.workloads_from_resources {
        eprintln!(
            "error: `spec.workloadsFromResources` needs the KRM function form: a legacy exec plugin sees no resources; list them in `spec.workloads`"
        );
        return 1;
    }
    match generate(&config, None) {
        Ok(g) => {
            eprint!("{}", short_warnings(&g.report));
            write_stdout(&output::stream(&g.docs))
        }
        Err(Failure::Message(m)) => {
            eprintln!("error: {m}");
            1
        }
        Err(Failure::Diagnostics(r)) => {
            eprint!("{}", report::human::short(&r));
            1
        }
    }
}

fn write_stdout(text: &str) -> u8 {
    let mut out = std::io::stdout().lock();
    match std::io::Write::write_all(&mut out, text.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut out))
    {
        Ok(()) => crate::EXIT_OK,
        Err(e) => crate::fail(format!("cannot write to stdout: {e}")),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

fn short_warnings(r: &Report) -> String {
    if r.items.is_empty() {
        String::new()
    } else {
        report::human::short(r)
    }
}

/// Prints the failure on stderr and replies with no items and the failure in `results`.
fn krm_failure(api_version: &str, failure: Failure) -> u8 {
    let results = match &failure {
        Failure::Message(m) => {
            eprintln!("error: {m}");
            vec![KrmResult {
                message: m.clone(),
                severity: "error",
                file: None,
                tags: Default::default(),
            }]
        }
        Failure::Diagnostics(r) => {
            eprint!("{}", report::human::short(r));
            results(r)
        }
    };
    let reply = Reply {
        api_version,
        kind: "ResourceList",
        items: Vec::new(),
        results,
    };
    if let Ok(text) = serde_saphyr::to_string(&reply) {
        let _ = write_stdout(&text);
    }
    1
}

fn results(r: &Report) -> Vec<KrmResult> {
    r.items
        .iter()
        .map(|i| {
            let mut tags = std::collections::BTreeMap::new();
            tags.insert("code", i.code.as_str().to_string());
            let at = i.place.as_ref().map_or_else(String::new, |p| {
                tags.insert("line", p.start.line.to_string());
                tags.insert("column", p.start.column.to_string());
                format!("{}:{}:{}: ", p.file, p.start.line, p.start.column)
            });
            let mut message = format!(
                "{at}{}[{}]: {}",
                report::severity_word(i.severity),
                i.code.as_str(),
                i.message
            );
            if let Some(h) = &i.help {
                message.push_str(&format!(" (help: {h})"));
            }
            KrmResult {
                message,
                severity: report::severity_word(i.severity),
                file: i.place.as_ref().map(|p| KrmFile {
                    path: p.file.clone(),
                }),
                tags,
            }
        })
        .collect()
}

/// A path from the config: relative, without `..`, and (after links) inside the
/// kustomization's folder.
fn confined(field: &str, value: &str) -> Result<(), Failure> {
    let p = Path::new(value);
    let bad = p.is_absolute()
        || p.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::Prefix(_) | Component::RootDir
            )
        });
    if value.is_empty() || bad {
        return Err(Failure::Message(format!(
            "`{field}: {value}` must be a path relative to the kustomization's folder, without `..`"
        )));
    }
    Ok(())
}

/// Every path exists inside `root` once links are followed.
fn inside(root: &Path, paths: &[PathBuf], field: &str) -> Result<(), Failure> {
    for p in paths {
        let real = std::fs::canonicalize(p).map_err(|e| {
            Failure::Message(format!("cannot read `{}`: {}", p.display(), e.kind()))
        })?;
        if !real.starts_with(root) {
            return Err(Failure::Message(format!(
                "`{field}`: `{}` leads outside the kustomization's folder",
                p.display()
            )));
        }
    }
    Ok(())
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The program's paths: each source as given, or the files and folders its glob matches.
fn source_paths(sources: &[String]) -> Result<Vec<PathBuf>, Failure> {
    let mut out = Vec::new();
    for s in sources {
        confined("spec.sources", s)?;
        if is_glob(s) {
            let matched = glob::glob(s).map_err(|e| {
                Failure::Message(format!(
                    "`spec.sources: {s}` is not a valid pattern: {}",
                    e.msg
                ))
            })?;
            let mut found: Vec<PathBuf> = matched
                .filter_map(Result::ok)
                .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "netpol"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(Failure::Message(format!(
                    "`spec.sources: {s}` matches no `.netpol` file or folder"
                )));
            }
            out.extend(found);
        } else {
            out.push(PathBuf::from(s));
        }
    }
    Ok(out)
}

/// Compiles the config's program in the current folder (the kustomization's).
fn generate(config: &Config, items: Option<&[Value]>) -> Result<Generated, Failure> {
    if config.api_version != API_VERSION || config.kind != KIND {
        return Err(Failure::Message(format!(
            "the config is a `{}` of `{}`; expected `kind: {KIND}` and `apiVersion: {API_VERSION}`",
            config.kind, config.api_version
        )));
    }
    let _ = &config.metadata;
    let spec = &config.spec;
    if spec.sources.is_empty() {
        return Err(Failure::Message(
            "`spec.sources` is empty: list the `.netpol` files or folders".to_string(),
        ));
    }
    let root = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Failure::Message(format!("cannot read the working folder: {e}")))?;
    let paths = source_paths(&spec.sources)?;
    inside(&root, &paths, "spec.sources")?;
    for w in &spec.workloads {
        confined("spec.workloads", w)?;
        let matched: Vec<PathBuf> = glob::glob(w)
            .map(|m| m.filter_map(Result::ok).collect())
            .unwrap_or_default();
        inside(&root, &matched, "spec.workloads")?;
    }
    let extra = match items {
        Some(items) if spec.workloads_from_resources => {
            let mut text = String::new();
            for item in items {
                let yaml = serde_saphyr::to_string(item)
                    .map_err(|e| Failure::Message(format!("cannot read an item: {e}")))?;
                text.push_str("---\n");
                text.push_str(&yaml);
            }
            vec![(RESOURCES_PATH.to_string(), text, "default".to_string())]
        }
        _ => Vec::new(),
    };
    let args = ProgramArgs {
        paths,
        workloads: spec.workloads.clone(),
        format: report::Format::Human,
        warnings: false,
    };
    let loaded = crate::try_load(&args, extra, &[]).map_err(|e| match e {
        LoadError::Usage(m) => Failure::Message(m),
        LoadError::Empty(m, help) => Failure::Message(format!("{m} ({help})")),
    })?;
    // Every file read must be inside too: `.netpol` files found in folders (a link in the
    // folder could lead anywhere) and the manifests of the program's own `workloads` lines.
    // Checked before any diagnostic, which could quote the file, is shown.
    let files = db::files_by_id(&loaded.db, loaded.ws);
    let read: Vec<PathBuf> = loaded
        .display
        .iter()
        .filter(|(id, path, _)| {
            let stdlib = files
                .get(id)
                .is_some_and(|f| f.kind(&loaded.db) == db::FileKind::Stdlib);
            !stdlib && path != RESOURCES_PATH
        })
        .map(|(_, path, _)| PathBuf::from(path))
        .collect();
    inside(&root, &read, "a file the program reads")?;
    let diags: &[Diagnostic] = db::diagnostics(&loaded.db, loaded.ws);
    let report = Report::new("krm", diags, &loaded.display);
    if report.errors() > 0 {
        return Err(Failure::Diagnostics(report));
    }
    let docs = db::emitted(&loaded.db, loaded.ws)
        .clone()
        .ok_or_else(|| Failure::Message("the policies could not be serialised".to_string()))?;
    Ok(Generated { docs, report })
}

/// When netpol runs under one of its plugin names, the exit code of that run; `None`
/// otherwise. A link named [`FUNCTION_NAME`] is the KRM function (kustomize before v5 passes
/// no arguments to exec functions); one named [`PLUGIN_NAME`] is the legacy exec plugin.
pub fn run_if_named() -> Option<u8> {
    let mut args = std::env::args_os();
    let name = args.next()?;
    let name = Path::new(&name).file_name()?;
    if name == FUNCTION_NAME {
        if let Some(extra) = args.next() {
            return Some(crate::fail(format!(
                "unexpected argument `{}`: {FUNCTION_NAME} reads a ResourceList on stdin",
                extra.to_string_lossy()
            )));
        }
        return Some(run_function());
    }
    if name != PLUGIN_NAME {
        return None;
    }
    let Some(config) = args.next() else {
        return Some(crate::fail(format!(
            "{PLUGIN_NAME} is netpol's kustomize exec plugin: kustomize runs it with the config file's path"
        )));
    };
    if let Some(extra) = args.next() {
        return Some(crate::fail(format!(
            "unexpected argument `{}`: the plugin takes only the config file",
            extra.to_string_lossy()
        )));
    }
    Some(run_plugin(Path::new(&config)))
}
