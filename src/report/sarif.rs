//! `--format sarif`: a SARIF 2.1.0 log (the types are serde-sarif's, generated from the OASIS
//! schema). One rule per diagnostic code, titled and linked as in docs/diagnostics.md (the
//! file is compiled in, so the titles cannot drift from the docs) and described by the code's
//! summary, plus one rule for failed `test` assertions. Columns count Unicode code points
//! (`columnKind`).

use super::{Item, Place, Report};
use netpol_compiler::diagnostic::{Code, Severity};
use serde_sarif::sarif;

const DIAGNOSTICS_MD: &str = include_str!("../../docs/diagnostics.md");
const DOCS_BASE: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/");

/// The rule id of a failed `test` assertion.
pub const TEST_RULE: &str = "test-failed";

/// The heading of `code` in docs/diagnostics.md (`E002: unknown name` gives `unknown name`).
pub fn title(code: Code) -> &'static str {
    let prefix = format!("## {}: ", code.as_str());
    DIAGNOSTICS_MD
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or("")
        .trim()
}

/// GitHub's anchor for a Markdown heading: lowercase, punctuation dropped, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The documentation of `code`: docs/diagnostics.md at its heading.
pub fn help_uri(code: Code) -> String {
    format!(
        "{DOCS_BASE}diagnostics.md#{}",
        anchor(&format!("{}: {}", code.as_str(), title(code)))
    )
}

fn text(s: &str) -> sarif::Message {
    sarif::Message::builder().text(s).build()
}

fn region(p: &Place) -> sarif::Region {
    let to_i = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    sarif::Region::builder()
        .start_line(to_i(p.start.line))
        .start_column(to_i(p.start.column))
        .end_line(to_i(p.end.line))
        .end_column(to_i(p.end.column))
        .build()
}

/// A path as a URI reference: bytes outside RFC 3986's unreserved set and `/` are
/// percent-encoded.
fn uri_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Relative paths are relative to the checkout (`%SRCROOT%`); absolute ones are `file:` URIs.
fn artifact(p: &Place) -> sarif::ArtifactLocation {
    if p.file.starts_with('/') {
        sarif::ArtifactLocation::builder()
            .uri(format!("file://{}", uri_path(&p.file)))
            .build()
    } else {
        sarif::ArtifactLocation::builder()
            .uri(uri_path(&p.file))
            .uri_base_id("%SRCROOT%")
            .build()
    }
}

fn location(p: &Place, message: &str, id: Option<i64>) -> sarif::Location {
    let physical = sarif::PhysicalLocation::builder()
        .artifact_location(artifact(p))
        .region(region(p))
        .build();
    match (message.is_empty(), id) {
        (true, None) => sarif::Location::builder()
            .physical_location(physical)
            .build(),
        (false, None) => sarif::Location::builder()
            .physical_location(physical)
            .message(text(message))
            .build(),
        (true, Some(id)) => sarif::Location::builder()
            .physical_location(physical)
            .id(id)
            .build(),
        (false, Some(id)) => sarif::Location::builder()
            .physical_location(physical)
            .message(text(message))
            .id(id)
            .build(),
    }
}

fn rule(code: Code) -> sarif::ReportingDescriptor {
    let level = match code.severity() {
        Severity::Error => sarif::ReportingConfigurationLevel::Error,
        Severity::Warning => sarif::ReportingConfigurationLevel::Warning,
    };
    let title = title(code);
    sarif::ReportingDescriptor::builder()
        .id(code.as_str())
        .name(format!("{code:?}"))
        .short_description(
            sarif::MultiformatMessageString::builder()
                .text(title)
                .build(),
        )
        .full_description(
            sarif::MultiformatMessageString::builder()
                .text(code.summary())
                .build(),
        )
        .help_uri(help_uri(code))
        .help(
            sarif::MultiformatMessageString::builder()
                .text(format!(
                    "{} {title}: {}; see {}",
                    code.as_str(),
                    code.summary(),
                    help_uri(code)
                ))
                .build(),
        )
        .default_configuration(
            sarif::ReportingConfiguration::builder()
                .level(serde_json::json!(level.to_string()))
                .build(),
        )
        .build()
}

fn test_rule() -> sarif::ReportingDescriptor {
    let uri = format!("{DOCS_BASE}cli.md#netpol-test");
    sarif::ReportingDescriptor::builder()
        .id(TEST_RULE)
        .name("TestFailed")
        .short_description(
            sarif::MultiformatMessageString::builder()
                .text("a test assertion does not hold")
                .build(),
        )
        .help_uri(uri.clone())
        .help(
            sarif::MultiformatMessageString::builder()
                .text(format!(
                    "an `allowed`/`denied` assertion of a `test` block does not hold: see {uri}"
                ))
                .build(),
        )
        .build()
}

fn result(i: &Item, rule_index: usize) -> sarif::Result {
    let level = match i.severity {
        Severity::Error => sarif::ResultLevel::Error,
        Severity::Warning => sarif::ResultLevel::Warning,
    };
    let mut message = i.message.clone();
    if let Some(h) = &i.help {
        message.push_str(&format!("\nhelp: {h}"));
    }
    let locations: Vec<sarif::Location> = i
        .place
        .iter()
        .map(|p| location(p, &i.label, None))
        .collect();
    let related: Vec<sarif::Location> = i
        .related
        .iter()
        .zip(1..)
        .map(|(r, id)| location(&r.place, &r.message, Some(id)))
        .collect();
    let fixes: Vec<sarif::Fix> = i
        .fix
        .iter()
        .map(|f| {
            let replacement = sarif::Replacement::builder()
                .deleted_region(region(&f.place))
                .inserted_content(
                    sarif::ArtifactContent::builder()
                        .text(f.replacement.clone())
                        .build(),
                )
                .build();
            sarif::Fix::builder()
                .description(text(&format!("replace with `{}`", f.replacement)))
                .artifact_changes(vec![
                    sarif::ArtifactChange::builder()
                        .artifact_location(artifact(&f.place))
                        .replacements(vec![replacement])
                        .build(),
                ])
                .build()
        })
        .collect();
    let rule_index = i64::try_from(rule_index).unwrap_or(0);
    let base = sarif::Result::builder()
        .rule_id(i.code.as_str())
        .rule_index(rule_index)
        .level(level)
        .message(text(&message))
        .locations(locations);
    match (related.is_empty(), fixes.is_empty()) {
        (true, true) => base.build(),
        (false, true) => base.related_locations(related).build(),
        (true, false) => base.fixes(fixes).build(),
        (false, false) => base.related_locations(related).fixes(fixes).build(),
    }
}

/// The report as a SARIF 2.1.0 log (pretty JSON, newline-terminated).
pub fn render(report: &Report) -> Result<String, String> {
    let mut rules: Vec<sarif::ReportingDescriptor> = Code::ALL.iter().map(|c| rule(*c)).collect();
    rules.push(test_rule());
    let test_index = Code::ALL.len();
    let mut results: Vec<sarif::Result> = report
        .items
        .iter()
        .map(|i| {
            let index = Code::ALL.iter().position(|c| *c == i.code).unwrap_or(0);
            result(i, index)
        })
        .collect();
    for t in report.tests.iter().flatten() {
        for a in t.assertions.iter().filter(|a| !a.passed) {
            let mut message = format!("test \"{}\": `{}` does not hold", t.name, a.source);
            if let Some(f) = &a.failure {
                message.push_str(&format!("\n{f}"));
            }
            let locations: Vec<sarif::Location> =
                a.place.iter().map(|p| location(p, "", None)).collect();
            results.push(
                sarif::Result::builder()
                    .rule_id(TEST_RULE)
                    .rule_index(i64::try_from(test_index).unwrap_or(0))
                    .level(sarif::ResultLevel::Error)
                    .message(text(&message))
                    .locations(locations)
                    .build(),
            );
        }
    }
    let driver = sarif::ToolComponent::builder()
        .name("netpol")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .information_uri(env!("CARGO_PKG_REPOSITORY"))
        .rules(rules)
        .build();
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .column_kind(serde_json::json!("unicodeCodePoints"))
        .results(results)
        .build();
    let log = sarif::Sarif::builder()
        .schema(sarif::SCHEMA_URL)
        .version(serde_json::json!("2.1.0"))
        .runs(vec![run])
        .build();
    let mut out = serde_json::to_string_pretty(&log).map_err(|e| e.to_string())?;
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_become_uri_references() {
        assert_eq!(super::uri_path("a b/c%d.netpol"), "a%20b/c%25d.netpol");
        assert_eq!(super::uri_path("p/ä.netpol"), "p/%C3%A4.netpol");
    }
}
