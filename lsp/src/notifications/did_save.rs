//! `textDocument/didSave`: runs the program's `test` blocks; failed assertions become
//! diagnostics on the assertion (until the next edit), and a summary goes to the log.

use crate::requests::FileText;
use crate::server::{Backend, Notifier, lock};
use crate::session::Origin;
use tower_lsp_server::ls_types as lsp;

pub async fn handle<N: Notifier>(backend: &Backend<N>, params: lsp::DidSaveTextDocumentParams) {
    let Some(path) = crate::requests::path_of(&params.text_document.uri) else {
        return;
    };
    let ran = backend
        .query(path.clone(), |snap| {
            let results = snap.run_tests()?;
            let mut failures = Vec::new();
            let (mut passed, mut failed) = (0, 0);
            for t in &results {
                for a in &t.assertions {
                    if a.passed {
                        passed += 1;
                        continue;
                    }
                    failed += 1;
                    let (Some(Origin::Disk(p)), Some(file)) =
                        (snap.origin(a.span.file), FileText::of(snap, a.span.file))
                    else {
                        continue;
                    };
                    let message = format!(
                        "test `{}` failed: {}",
                        t.name,
                        a.failure
                            .as_deref()
                            .unwrap_or("the assertion does not hold")
                    );
                    failures.push((
                        p,
                        lsp::Diagnostic {
                            range: file.span_range(a.span),
                            severity: Some(lsp::DiagnosticSeverity::ERROR),
                            code: Some(lsp::NumberOrString::String("test".to_string())),
                            source: Some("netpol test".to_string()),
                            message,
                            ..Default::default()
                        },
                    ));
                }
            }
            Some((
                snap.root().to_path_buf(),
                snap.revision,
                failures,
                passed,
                failed,
            ))
        })
        .await;
    if let Ok(Some(Some((root, revision, failures, passed, failed)))) = ran {
        {
            let mut tests = lock(&backend.state.tests);
            tests.retain(|(r, _, _)| r != &root);
            tests.push((root, revision, failures));
        }
        backend
            .client
            .log(format!("netpol test: {passed} passed, {failed} failed"))
            .await;
    }
    crate::diagnostics::publish(backend, Some(path)).await;
}
