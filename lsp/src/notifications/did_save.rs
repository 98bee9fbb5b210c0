//! `textDocument/didSave`: runs the program's `test` blocks; failed assertions become
//! diagnostics on the assertion (until the next edit), every test's result shows in its
//! code lens (requests/code_lens.rs), and a summary goes to the log.

use crate::requests::FileText;
use crate::server::{Backend, Notifier, TestRun, lock};
use crate::session::Origin;
use tower_lsp_server::ls_types as lsp;

pub async fn handle<N: Notifier>(backend: &Backend<N>, params: lsp::DidSaveTextDocumentParams) {
    let Some(path) = crate::requests::path_of(&params.text_document.uri) else {
        return;
    };
    // Held until the run is stored: a code lens request that came after this save waits for
    // it (the lock is taken on the first poll, in message order).
    let running = backend.state.testing.lock().await;
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
            let run = TestRun {
                root: snap.root().to_path_buf(),
                revision: snap.revision,
                failures,
                results,
            };
            Some((run, passed, failed))
        })
        .await;
    let stored = matches!(ran, Ok(Some(Some(_))));
    if let Ok(Some(Some((run, passed, failed)))) = ran {
        {
            let mut tests = lock(&backend.state.tests);
            tests.retain(|r| r.root != run.root);
            tests.push(run);
        }
        drop(running);
        backend
            .client
            .log(format!("netpol test: {passed} passed, {failed} failed"))
            .await;
    }
    crate::diagnostics::publish(backend, Some(path)).await;
    if stored && lock(&backend.state.caps).code_lens_refresh {
        backend.client.refresh_code_lenses().await;
    }
}
