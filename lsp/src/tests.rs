//! In-process tests of every request and notification, with a recording client (the wire
//! itself is covered by tests/lsp with a real client).

use crate::server::{Backend, Notifier};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tower_lsp_server::LanguageServer;
use tower_lsp_server::jsonrpc::ErrorCode;
use tower_lsp_server::ls_types::*;

type Published = Arc<Mutex<Vec<(Uri, Vec<Diagnostic>, Option<i32>)>>>;

#[derive(Clone, Default)]
struct Recorder {
    published: Published,
    logs: Arc<Mutex<Vec<String>>>,
    lens_refreshes: Arc<Mutex<usize>>,
}

impl Notifier for Recorder {
    async fn publish_diagnostics(
        &self,
        uri: Uri,
        diagnostics: Vec<Diagnostic>,
        version: Option<i32>,
    ) {
        self.published
            .lock()
            .unwrap()
            .push((uri, diagnostics, version));
    }
    async fn log(&self, message: String) {
        self.logs.lock().unwrap().push(message);
    }
    async fn watch_files(&self) {}
    async fn refresh_code_lenses(&self) {
        *self.lens_refreshes.lock().unwrap() += 1;
    }
}

impl Recorder {
    /// The last diagnostics published for a file.
    fn last(&self, path: &Path) -> Option<(Vec<Diagnostic>, Option<i32>)> {
        let u = Uri::from_file_path(path).unwrap();
        self.published
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(x, _, _)| *x == u)
            .map(|(_, d, v)| (d.clone(), *v))
    }
}

const SHOP: &str = include_str!("../../examples/shop/shop.netpol");

/// examples/shop in a temporary folder, initialized, with shop.netpol open.
async fn shop() -> (tempfile::TempDir, PathBuf, Backend<Recorder>, Recorder) {
    shop_with(ClientCapabilities::default()).await
}

/// A client that declares related information and code lens refreshes.
fn capable_client() -> ClientCapabilities {
    ClientCapabilities {
        text_document: Some(TextDocumentClientCapabilities {
            publish_diagnostics: Some(PublishDiagnosticsClientCapabilities {
                related_information: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }),
        workspace: Some(WorkspaceClientCapabilities {
            code_lens: Some(CodeLensWorkspaceClientCapabilities {
                refresh_support: Some(true),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// examples/shop, initialized by a client with `capabilities`, with shop.netpol open.
async fn shop_with(
    capabilities: ClientCapabilities,
) -> (tempfile::TempDir, PathBuf, Backend<Recorder>, Recorder) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shop");
    std::fs::create_dir_all(root.join("k8s")).unwrap();
    std::fs::write(root.join("shop.netpol"), SHOP).unwrap();
    for (name, text) in [
        (
            "data.yaml",
            include_str!("../../examples/shop/k8s/data.yaml"),
        ),
        (
            "shop.yaml",
            include_str!("../../examples/shop/k8s/shop.yaml"),
        ),
    ] {
        std::fs::write(root.join("k8s").join(name), text).unwrap();
    }
    let rec = Recorder::default();
    let backend = Backend::new(rec.clone());
    #[allow(deprecated)]
    let params = InitializeParams {
        root_uri: Some(Uri::from_file_path(&root).unwrap()),
        capabilities,
        ..Default::default()
    };
    let init = backend.initialize(params).await.unwrap();
    assert!(init.capabilities.hover_provider.is_some());
    backend.initialized(InitializedParams {}).await;
    let path = root.join("shop.netpol");
    open(&backend, &path, SHOP, 1).await;
    (dir, path, backend, rec)
}

async fn open(backend: &Backend<Recorder>, path: &Path, text: &str, version: i32) {
    backend
        .did_open(DidOpenTextDocumentParams {
            text_document: TextDocumentItem::new(
                Uri::from_file_path(path).unwrap(),
                "netpol".into(),
                version,
                text.into(),
            ),
        })
        .await;
}

async fn change(backend: &Backend<Recorder>, path: &Path, text: &str, version: i32) {
    backend
        .did_change(DidChangeTextDocumentParams {
            text_document: VersionedTextDocumentIdentifier::new(
                Uri::from_file_path(path).unwrap(),
                version,
            ),
            content_changes: vec![TextDocumentContentChangeEvent {
                range: None,
                range_length: None,
                text: text.into(),
            }],
        })
        .await;
}

fn at(path: &Path, text: &str, needle: &str, delta: u32) -> TextDocumentPositionParams {
    let offset = text.find(needle).unwrap();
    let line = text[..offset].matches('\n').count() as u32;
    let col = text[..offset]
        .rsplit('\n')
        .next()
        .unwrap()
        .encode_utf16()
        .count() as u32
        + delta;
    TextDocumentPositionParams::new(
        TextDocumentIdentifier::new(Uri::from_file_path(path).unwrap()),
        Position::new(line, col),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_follow_edits_with_their_version() {
    let (_dir, path, backend, rec) = shop().await;
    assert_eq!(rec.last(&path), Some((Vec::new(), Some(1))));
    change(
        &backend,
        &path,
        &SHOP.replace("-> checkout:grpc", "-> checkuot:grpc"),
        2,
    )
    .await;
    let (diags, version) = rec.last(&path).unwrap();
    assert_eq!(version, Some(2));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code, Some(NumberOrString::String("E002".into())));
    assert!(diags[0].message.starts_with("unknown name `checkuot`"));
    // An older version arriving late changes nothing.
    change(&backend, &path, "garbage", 1).await;
    assert_eq!(rec.last(&path).unwrap().1, Some(2));
    change(&backend, &path, SHOP, 3).await;
    assert_eq!(rec.last(&path), Some((Vec::new(), Some(3))));
}

/// How often `word` stands alone outside strings and comments.
fn words_in_code(text: &str, word: &str) -> usize {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.lines()
        .map(|l| {
            let code = l.split("//").next().unwrap();
            let code: String = code.split('"').step_by(2).collect::<Vec<_>>().join(" ");
            code.split(|c: char| !is_word(c))
                .filter(|w| *w == word)
                .count()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_answers_on_the_shop() {
    let (_dir, path, backend, _rec) = shop().await;
    let doc = TextDocumentIdentifier::new(Uri::from_file_path(&path).unwrap());
    let hover = backend
        .hover(HoverParams {
            text_document_position_params: at(&path, SHOP, "checkout in shop", 1),
            work_done_progress_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let HoverContents::Markup(m) = hover.contents else {
        panic!("markup")
    };
    assert!(m.value.contains("service checkout in shop"), "{}", m.value);

    let def = backend
        .goto_definition(GotoDefinitionParams {
            text_document_position_params: at(&path, SHOP, "checkout:grpc", 0),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let GotoDefinitionResponse::Scalar(loc) = def else {
        panic!("scalar")
    };
    assert_eq!(
        loc.range.start,
        at(&path, SHOP, "checkout in shop", 0).position
    );

    let refs = backend
        .references(ReferenceParams {
            text_document_position: at(&path, SHOP, "checkout in shop", 0),
            context: ReferenceContext {
                include_declaration: false,
            },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let uses = words_in_code(SHOP, "checkout") - 1; // all but the declaration
    assert_eq!(refs.len(), uses, "{refs:?}");

    let completion = backend
        .completion(CompletionParams {
            text_document_position: at(&path, SHOP, "checkout:grpc", "checkout:".len() as u32),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
            context: None,
        })
        .await
        .unwrap()
        .unwrap();
    let CompletionResponse::Array(items) = completion else {
        panic!("array")
    };
    assert!(items.iter().any(|i| i.label == "grpc"));

    let symbols = backend
        .document_symbol(DocumentSymbolParams {
            text_document: doc.clone(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let DocumentSymbolResponse::Nested(symbols) = symbols else {
        panic!("nested")
    };
    assert!(
        symbols
            .iter()
            .any(|s| s.name == "orders-db" && s.children.as_ref().unwrap()[0].name == "postgres")
    );

    let tokens = backend
        .semantic_tokens_full(SemanticTokensParams {
            text_document: doc.clone(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let SemanticTokensResult::Tokens(tokens) = tokens else {
        panic!("tokens")
    };
    assert!(tokens.data.len() > 50);

    let hints = backend
        .inlay_hint(InlayHintParams {
            text_document: doc.clone(),
            range: Range::new(Position::new(0, 0), Position::new(9999, 0)),
            work_done_progress_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    assert!(
        hints
            .iter()
            .any(|h| matches!(&h.label, InlayHintLabel::String(s) if s == " = 5050/TCP"))
    );

    let yaml = backend
        .compiled_yaml(crate::requests::compiled_yaml::Params {
            uri: doc.uri.clone(),
        })
        .await
        .unwrap();
    assert!(yaml.yaml.unwrap().contains("name: orders-db"));

    let ws = backend
        .symbol(WorkspaceSymbolParams {
            query: "orders-d".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .unwrap();
    let WorkspaceSymbolResponse::Flat(ws) = ws else {
        panic!("flat")
    };
    assert_eq!(
        ws.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["orders-db"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_formatting_and_code_actions() {
    let (_dir, path, backend, rec) = shop().await;
    let doc = TextDocumentIdentifier::new(Uri::from_file_path(&path).unwrap());
    let prep = backend
        .prepare_rename(at(&path, SHOP, "kube-dns:dns", 0))
        .await;
    assert!(prep.unwrap_err().message.contains("standard library"));
    let edit = backend
        .rename(RenameParams {
            text_document_position: at(&path, SHOP, "frontend in shop", 0),
            new_name: "web".into(),
            work_done_progress_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let edits = &edit.changes.unwrap()[&doc.uri];
    assert_eq!(edits.len(), words_in_code(SHOP, "frontend"), "{edits:?}");
    assert!(
        backend
            .rename(RenameParams {
                text_document_position: at(&path, SHOP, "frontend in shop", 0),
                new_name: "not a name".into(),
                work_done_progress_params: Default::default()
            })
            .await
            .is_err()
    );

    let messy = SHOP.replace("frontend      -> checkout:grpc", "frontend->checkout:grpc");
    change(&backend, &path, &messy, 2).await;
    let formatted = backend
        .formatting(DocumentFormattingParams {
            text_document: doc.clone(),
            options: Default::default(),
            work_done_progress_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(formatted.len(), 1);
    assert_eq!(
        formatted[0].new_text,
        netpol_compiler::fmt::format(&messy).unwrap()
    );

    let broken = SHOP.replace("-> checkout:grpc", "-> checkuot:grpc");
    change(&backend, &path, &broken, 3).await;
    let (diags, _) = rec.last(&path).unwrap();
    let actions = backend
        .code_action(CodeActionParams {
            text_document: doc.clone(),
            range: diags[0].range,
            context: CodeActionContext {
                diagnostics: diags.clone(),
                ..Default::default()
            },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap();
    let CodeActionOrCommand::CodeAction(a) = &actions[0] else {
        panic!("action")
    };
    assert_eq!(a.title, "replace with `checkout`");
    let e = &a.edit.as_ref().unwrap().changes.as_ref().unwrap()[&doc.uri][0];
    assert_eq!((e.range, e.new_text.as_str()), (diags[0].range, "checkout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_query_answers_an_error_and_the_server_goes_on() {
    let (_dir, path, backend, _rec) = shop().await;
    let r: tower_lsp_server::jsonrpc::Result<Option<()>> =
        backend.query(path.clone(), |_| panic!("boom")).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::InternalError);
    let ok = backend
        .query(path.clone(), |snap| snap.diagnostics().len())
        .await
        .unwrap();
    assert_eq!(ok, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_cancels_a_running_query_with_content_modified() {
    let (_dir, path, backend, _rec) = shop().await;
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let b2 = Backend {
        client: backend.client.clone(),
        state: backend.state.clone(),
    };
    let p2 = path.clone();
    let running = tokio::spawn(async move {
        b2.query(p2, move |snap| {
            let _ = started_tx.send(());
            // Queries check for cancellation each time they are called.
            loop {
                let _ = snap.diagnostics();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
        .await
    });
    started_rx.recv().unwrap();
    change(&backend, &path, &SHOP.replace("8080", "8081"), 2).await;
    let r: tower_lsp_server::jsonrpc::Result<Option<()>> = running.await.unwrap();
    assert_eq!(r.unwrap_err().code, ErrorCode::ContentModified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tests_run_on_save_and_failures_become_diagnostics() {
    let (_dir, path, backend, rec) = shop().await;
    let wrong = SHOP.replace(
        "denied frontend -> orders-db:postgres",
        "allowed frontend -> orders-db:postgres",
    );
    change(&backend, &path, &wrong, 2).await;
    backend
        .did_save(DidSaveTextDocumentParams {
            text_document: TextDocumentIdentifier::new(Uri::from_file_path(&path).unwrap()),
            text: None,
        })
        .await;
    let (diags, _) = rec.last(&path).unwrap();
    let tests: Vec<_> = diags
        .iter()
        .filter(|d| d.source.as_deref() == Some("netpol test"))
        .collect();
    assert_eq!(tests.len(), 1, "{diags:?}");
    assert!(
        rec.logs
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("1 failed"))
    );
    // The next edit clears them until the next save.
    change(&backend, &path, SHOP, 3).await;
    assert_eq!(rec.last(&path), Some((Vec::new(), Some(3))));
}

async fn save(backend: &Backend<Recorder>, path: &Path) {
    backend
        .did_save(DidSaveTextDocumentParams {
            text_document: TextDocumentIdentifier::new(Uri::from_file_path(path).unwrap()),
            text: None,
        })
        .await;
}

async fn lenses(backend: &Backend<Recorder>, path: &Path) -> Vec<CodeLens> {
    backend
        .code_lens(CodeLensParams {
            text_document: TextDocumentIdentifier::new(Uri::from_file_path(path).unwrap()),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .await
        .unwrap()
        .unwrap()
}

fn lens_titles(lenses: &[CodeLens]) -> Vec<String> {
    lenses
        .iter()
        .map(|l| l.command.as_ref().unwrap().title.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_lenses_show_the_last_test_run_and_go_stale_on_edit() {
    for caps in [ClientCapabilities::default(), capable_client()] {
        let refresh = caps.workspace.is_some();
        let (_dir, path, backend, rec) = shop_with(caps).await;
        let blocks: Vec<u32> = SHOP
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("test \""))
            .map(|(i, _)| i as u32)
            .collect();
        assert!(!blocks.is_empty());
        // Not run yet: a lens on the first line of each test block.
        let before = lenses(&backend, &path).await;
        let lines: Vec<u32> = before.iter().map(|l| l.range.start.line).collect();
        assert_eq!(lines, blocks);
        assert!(
            lens_titles(&before)
                .iter()
                .all(|t| t.contains("save to run")),
            "{before:?}"
        );
        // Saved: every test of the shop passes.
        save(&backend, &path).await;
        let passed = lenses(&backend, &path).await;
        assert!(
            lens_titles(&passed)
                .iter()
                .all(|t| t.starts_with("✓ passed")),
            "{passed:?}"
        );
        // A wrong assertion, saved: its test fails, with the count of the CLI's run.
        let wrong = SHOP.replace(
            "denied frontend -> orders-db:postgres",
            "allowed frontend -> orders-db:postgres",
        );
        change(&backend, &path, &wrong, 2).await;
        save(&backend, &path).await;
        let failed = lenses(&backend, &path).await;
        assert_eq!(
            lens_titles(&failed)
                .iter()
                .filter(|t| t.starts_with("✗ failed: 1 of "))
                .count(),
            1,
            "{failed:?}"
        );
        assert_eq!(
            *rec.lens_refreshes.lock().unwrap(),
            if refresh { 2 } else { 0 }
        );
        // An edit: the results are stale until the next save.
        change(&backend, &path, SHOP, 3).await;
        let stale = lenses(&backend, &path).await;
        assert!(
            lens_titles(&stale)
                .iter()
                .all(|t| t.contains("save to run")),
            "{stale:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_information_only_for_a_client_that_declares_it() {
    let dup = format!("{SHOP}\nservice frontend in shop {{\n  select app = \"frontend\"\n}}\n");
    let mut seen = Vec::new();
    for caps in [capable_client(), ClientCapabilities::default()] {
        let (_dir, path, backend, rec) = shop_with(caps).await;
        change(&backend, &path, &dup, 2).await;
        let (diags, _) = rec.last(&path).unwrap();
        let e006 = diags
            .into_iter()
            .find(|d| d.code == Some(NumberOrString::String("E006".into())))
            .unwrap();
        seen.push(e006);
    }
    let (with, without) = (&seen[0], &seen[1]);
    let related = with.related_information.as_ref().unwrap();
    assert!(!related.is_empty());
    assert!(without.related_information.is_none(), "{without:?}");
    // Folded: the message, then each related location and message on a line of its own.
    let mut expected = with.message.clone();
    for r in related {
        assert!(r.location.uri.path().as_str().ends_with("/shop.netpol"));
        expected.push_str(&format!(
            "\nshop.netpol:{}:{}: {}",
            r.location.range.start.line + 1,
            r.location.range.start.character + 1,
            r.message
        ));
    }
    assert_eq!(without.message, expected);
    // The related location is the first declaration's name.
    let offset = dup.find("service frontend in shop").unwrap() + "service ".len();
    let line = dup[..offset].matches('\n').count() as u32;
    let col = dup[..offset]
        .rsplit('\n')
        .next()
        .unwrap()
        .encode_utf16()
        .count() as u32;
    assert_eq!(related[0].location.range.start, Position::new(line, col));
}
