//! `--format json`: one document, versioned. The schema is
//! `docs/schemas/report-v1.schema.json` (a test validates the output against it); a change
//! that is not a pure addition of optional fields bumps [`VERSION`].

use super::{Item, Place, Position, Report, severity_word};
use serde_json::{Value, json};

/// The report format's version (`"version"` in every document).
pub const VERSION: u32 = 1;

fn position(p: &Position) -> Value {
    json!({ "line": p.line, "column": p.column, "offset": p.offset })
}

fn place(p: &Place) -> Value {
    json!({ "file": p.file, "start": position(&p.start), "end": position(&p.end) })
}

fn opt_place(p: Option<&Place>) -> Value {
    p.map_or(Value::Null, place)
}

fn item(i: &Item) -> Value {
    json!({
        "code": i.code.as_str(),
        "severity": severity_word(i.severity),
        "message": i.message,
        "location": opt_place(i.place.as_ref()),
        "label": i.label,
        "related": i.related.iter().map(|r| json!({
            "location": place(&r.place),
            "message": r.message,
        })).collect::<Vec<_>>(),
        "help": i.help,
        "fix": i.fix.as_ref().map(|f| json!({
            "location": place(&f.place),
            "replacement": f.replacement,
        })),
        "docs": super::sarif::help_uri(i.code),
    })
}

/// The report as pretty JSON, newline-terminated.
pub fn render(report: &Report) -> String {
    let mut summary = serde_json::Map::new();
    summary.insert("errors".into(), json!(report.errors()));
    summary.insert("warnings".into(), json!(report.warnings()));
    let mut doc = serde_json::Map::new();
    doc.insert("version".into(), json!(VERSION));
    doc.insert(
        "tool".into(),
        json!({ "name": "netpol", "version": env!("CARGO_PKG_VERSION") }),
    );
    doc.insert("command".into(), json!(report.command));
    doc.insert(
        "diagnostics".into(),
        Value::Array(report.items.iter().map(item).collect()),
    );
    if let Some(tests) = &report.tests {
        let (passed, failed) = report.test_counts();
        let tests: Vec<Value> = tests
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "location": opt_place(t.place.as_ref()),
                    "assertions": t.assertions.iter().map(|a| json!({
                        "source": a.source,
                        "location": opt_place(a.place.as_ref()),
                        "passed": a.passed,
                        "checked": a.checked,
                        "failure": a.failure,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        doc.insert("tests".into(), Value::Array(tests));
        summary.insert("passed".into(), json!(passed));
        summary.insert("failed".into(), json!(failed));
    }
    doc.insert("summary".into(), Value::Object(summary));
    let mut text = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
    text.push('\n');
    text
}
