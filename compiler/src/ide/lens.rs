//! Code lenses of `test` blocks: one above each test of a file, saying how its last run went
//! (the language server runs the tests on save and keeps the results of that revision).

use super::Abs;
use crate::resolve::hir::Program;
use crate::span::{FileId, Span};
use crate::testing::TestResult;

/// One lens: where the test starts and what its last run says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestLens {
    /// The test block's span (the lens sits above its first line).
    pub span: Span,
    pub title: String,
    /// Whether every assertion held; `None` when the test did not run at this revision.
    pub passed: Option<bool>,
}

/// A lens for every `test` block of `file`, in source order. `run` is the last run's results
/// when they were computed on this same program (same revision, so the same spans); a test
/// without a result there says that it has not run since the last edit.
pub fn test_lenses(
    program: &Program,
    abs: Abs<'_>,
    file: FileId,
    run: Option<&[TestResult]>,
) -> Vec<TestLens> {
    let mut out: Vec<TestLens> = program
        .tests
        .iter()
        .map(|t| (abs(t.span), t))
        .filter(|(span, _)| span.file == file)
        .map(|(span, t)| {
            let result = run
                .into_iter()
                .flatten()
                .find(|r| r.span == span && r.name == t.name);
            match result {
                Some(r) => {
                    let total = r.assertions.len();
                    let failed = r.assertions.iter().filter(|a| !a.passed).count();
                    let checked: usize = r.assertions.iter().map(|a| a.checked).sum();
                    let title = if failed == 0 {
                        format!(
                            "✓ passed: {total} {} ({checked} {} checked)",
                            plural(total, "assertion", "assertions"),
                            plural(checked, "connection", "connections"),
                        )
                    } else {
                        format!(
                            "✗ failed: {failed} of {total} {} {}",
                            plural(total, "assertion", "assertions"),
                            plural(failed, "fails", "fail"),
                        )
                    };
                    TestLens {
                        span,
                        title,
                        passed: Some(failed == 0),
                    }
                }
                None => TestLens {
                    span,
                    title: "not run since the last edit: save to run the tests".to_string(),
                    passed: None,
                },
            }
        })
        .collect();
    out.sort_by_key(|l| l.span);
    out
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
