//! `--format github`: GitHub Actions workflow commands, which the runner turns into
//! annotations on the pull request's files. Format and escaping as GitHub specifies
//! (`::error file=F,line=L,col=C,endLine=L,endColumn=C,title=T::message`; in the message `%`,
//! CR and LF are escaped as `%25`, `%0D`, `%0A`; in property values also `:` and `,`, as
//! `%3A` and `%2C`).

use super::{Place, Report, severity_word};

/// Escapes a command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn command(kind: &str, place: Option<&Place>, title: &str, message: &str) -> String {
    let mut props = Vec::new();
    if let Some(p) = place {
        props.push(format!("file={}", escape_property(&p.file)));
        props.push(format!("line={}", p.start.line));
        props.push(format!("col={}", p.start.column));
        props.push(format!("endLine={}", p.end.line));
        props.push(format!("endColumn={}", p.end.column));
    }
    props.push(format!("title={}", escape_property(title)));
    format!("::{kind} {}::{}\n", props.join(","), escape_data(message))
}

/// The report as workflow commands, one a line: each diagnostic, and each failed test
/// assertion as an error on the assertion.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for i in &report.items {
        let mut message = i.message.clone();
        if !i.label.is_empty() {
            message.push_str(&format!("\n{}", i.label));
        }
        if let Some(h) = &i.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        let title = format!("netpol {}", i.code.as_str());
        out.push_str(&command(
            severity_word(i.severity),
            i.place.as_ref(),
            &title,
            &message,
        ));
    }
    for t in report.tests.iter().flatten() {
        for a in t.assertions.iter().filter(|a| !a.passed) {
            let mut message = format!("test \"{}\": `{}` does not hold", t.name, a.source);
            if let Some(f) = &a.failure {
                message.push_str(&format!("\n{f}"));
            }
            out.push_str(&command(
                "error",
                a.place.as_ref(),
                "netpol test failed",
                &message,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_github_specifies() {
        assert_eq!(escape_data("100% a\r\nb: c, d"), "100%25 a%0D%0Ab: c, d");
        assert_eq!(
            escape_property("100% a\r\nb: c, d"),
            "100%25 a%0D%0Ab%3A c%2C d"
        );
        // `%` first, so that the escapes themselves are not escaped again.
        assert_eq!(escape_property("%3A"), "%253A");
    }
}
