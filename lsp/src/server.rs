//! The `LanguageServer` implementation: each method hands over to its own file.

use crate::client_caps::ClientCaps;
use crate::session::{Session, Snapshot};
use crate::{notifications, requests};
use futures::FutureExt;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService};

/// What the server sends to the client on its own: diagnostics and log messages. The real
/// client is tower-lsp-server's; in-process tests use a recording one.
pub trait Notifier: Clone + Send + Sync + 'static {
    fn publish_diagnostics(
        &self,
        uri: Uri,
        diagnostics: Vec<Diagnostic>,
        version: Option<i32>,
    ) -> impl std::future::Future<Output = ()> + Send;
    fn log(&self, message: String) -> impl std::future::Future<Output = ()> + Send;
    /// Asks the client to watch files (when it can register capabilities dynamically).
    fn watch_files(&self) -> impl std::future::Future<Output = ()> + Send;
    /// Asks the client to request code lenses again (when it declared `refreshSupport`).
    fn refresh_code_lenses(&self) -> impl std::future::Future<Output = ()> + Send;
}

impl Notifier for Client {
    async fn publish_diagnostics(
        &self,
        uri: Uri,
        diagnostics: Vec<Diagnostic>,
        version: Option<i32>,
    ) {
        Client::publish_diagnostics(self, uri, diagnostics, version).await;
    }
    async fn log(&self, message: String) {
        self.log_message(MessageType::LOG, message).await;
    }
    async fn watch_files(&self) {
        let options = DidChangeWatchedFilesRegistrationOptions {
            watchers: vec![FileSystemWatcher {
                glob_pattern: GlobPattern::String("**/*.{netpol,yaml,yml,json}".to_string()),
                kind: None,
            }],
        };
        let registration = Registration {
            id: "netpol-watch".to_string(),
            method: "workspace/didChangeWatchedFiles".to_string(),
            register_options: serde_json::to_value(options).ok(),
        };
        if let Err(e) = self.register_capability(vec![registration]).await {
            Notifier::log(self, format!("file watching is not available: {e}")).await;
        }
    }
    async fn refresh_code_lenses(&self) {
        if let Err(e) = self.code_lens_refresh().await {
            Notifier::log(self, format!("the client did not refresh code lenses: {e}")).await;
        }
    }
}

/// One program's last `test` run (on save): its root, the revision it ran at, the failed
/// assertions as diagnostics per file, and every test's result (for the code lenses).
#[derive(Clone)]
pub(crate) struct TestRun {
    pub root: PathBuf,
    pub revision: u64,
    pub failures: Vec<(PathBuf, Diagnostic)>,
    pub results: Vec<netpol_compiler::testing::TestResult>,
}

/// The server's state, shared by every request.
pub struct State {
    session: Mutex<Session>,
    /// Serializes publishing, so an older result never overwrites a newer one: per program
    /// root, the revision last published and the files it published to.
    pub(crate) publishing: tokio::sync::Mutex<BTreeMap<PathBuf, crate::diagnostics::Published>>,
    /// The last `test` run of each program (from the last save).
    pub(crate) tests: Mutex<Vec<TestRun>>,
    /// Held by a save while its `test` run is under way, so that the code lenses asked for
    /// after the save show its results.
    pub(crate) testing: tokio::sync::Mutex<()>,
    shut_down: Arc<AtomicBool>,
    /// Orders changes and the requests after them: tower-lsp-server runs handlers
    /// concurrently, but first polls them in the order the messages came, and this lock
    /// grants in the order it was asked for. A notification holds it while it changes the
    /// session; a request waits for it before taking its snapshot.
    pub(crate) turn: tokio::sync::Mutex<()>,
    /// What the client declared it supports (set by `initialize`).
    pub(crate) caps: Mutex<ClientCaps>,
}

pub struct Backend<N: Notifier> {
    pub(crate) client: N,
    pub(crate) state: Arc<State>,
}

/// The stdio service: the backend with tower-lsp-server's client, and the custom requests.
pub fn service() -> (LspService<Backend<Client>>, tower_lsp_server::ClientSocket) {
    LspService::build(Backend::new)
        .custom_method(requests::compiled_yaml::METHOD, Backend::compiled_yaml)
        .custom_method(requests::std_source::METHOD, Backend::std_source)
        .finish()
}

impl<N: Notifier> Backend<N> {
    pub fn new(client: N) -> Backend<N> {
        Backend {
            client,
            state: Arc::new(State {
                session: Mutex::new(Session::default()),
                publishing: tokio::sync::Mutex::new(BTreeMap::new()),
                tests: Mutex::new(Vec::new()),
                testing: tokio::sync::Mutex::new(()),
                shut_down: Arc::new(AtomicBool::new(false)),
                turn: tokio::sync::Mutex::new(()),
                caps: Mutex::new(ClientCaps::default()),
            }),
        }
    }

    /// Set once `shutdown` was answered: `exit` then ends the process with code 0.
    pub fn shut_down_flag(&self) -> Arc<AtomicBool> {
        self.state.shut_down.clone()
    }

    /// Runs `f` on the session on a blocking thread (setters may wait for snapshots to drop).
    pub(crate) async fn with_session<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> T + Send + 'static,
    ) -> Result<T> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&state.session)))
            .await
            .map_err(|e| internal(&e))
    }

    /// Runs a query on a snapshot of the program `path` belongs to: on a blocking thread,
    /// inside `Cancelled::catch`; a cancelled query answers `ContentModified`, a panic an
    /// internal error. `None` when no program has the file.
    pub(crate) async fn query<T: Send + 'static>(
        &self,
        path: PathBuf,
        f: impl FnOnce(&Snapshot) -> T + Send + 'static,
    ) -> Result<Option<T>> {
        drop(self.state.turn.lock().await);
        let state = self.state.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let Some(snapshot) = lock(&state.session).snapshot_for(&path) else {
                return Ok(None);
            };
            salsa::Cancelled::catch(AssertUnwindSafe(|| Some(f(&snapshot))))
        })
        .await;
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_cancelled)) => Err(Error::content_modified()),
            Err(e) => Err(internal(&e)),
        }
    }

    /// Catches a panic in a request's own code (outside the blocking query), so one bad
    /// request does not end the server.
    async fn guard<T>(&self, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(r) => r,
            Err(_) => {
                self.client
                    .log("a request panicked; it was answered with an error".to_string())
                    .await;
                Err(Error::internal_error())
            }
        }
    }

    async fn guard_notification(&self, fut: impl std::future::Future<Output = ()>) {
        if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
            self.client
                .log("a notification handler panicked".to_string())
                .await;
        }
    }

    pub async fn compiled_yaml(
        &self,
        params: requests::compiled_yaml::Params,
    ) -> Result<requests::compiled_yaml::Answer> {
        self.guard(requests::compiled_yaml::handle(self, params))
            .await
    }

    pub async fn std_source(&self, params: requests::std_source::Params) -> Result<String> {
        self.guard(requests::std_source::handle(self, params)).await
    }
}

impl State {
    pub(crate) fn session_ref(&self) -> &Mutex<Session> {
        &self.session
    }
}

/// Locks the session, recovering from a panic that poisoned the lock (its state is whole:
/// every change is one setter).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn internal(e: &dyn std::fmt::Display) -> Error {
    let mut err = Error::internal_error();
    err.message = format!("internal error: {e}").into();
    err
}

impl<N: Notifier> LanguageServer for Backend<N> {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        self.guard(requests::initialize::handle(self, params)).await
    }

    async fn initialized(&self, _: InitializedParams) {
        if lock(&self.state.caps).dynamic_watch {
            self.client.watch_files().await;
        }
        self.guard_notification(crate::diagnostics::publish_all(self))
            .await;
    }

    async fn shutdown(&self) -> Result<()> {
        self.state.shut_down.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        self.guard_notification(notifications::did_open::handle(self, params))
            .await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        self.guard_notification(notifications::did_change::handle(self, params))
            .await;
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.guard_notification(notifications::did_save::handle(self, params))
            .await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.guard_notification(notifications::did_close::handle(self, params))
            .await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        self.guard_notification(notifications::did_change_watched_files::handle(
            self, params,
        ))
        .await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        self.guard(requests::hover::handle(self, params)).await
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        self.guard(requests::definition::handle(self, params)).await
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        self.guard(requests::references::handle(self, params)).await
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        self.guard(requests::completion::handle(self, params)).await
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        self.guard(requests::document_symbol::handle(self, params))
            .await
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> Result<Option<WorkspaceSymbolResponse>> {
        self.guard(requests::workspace_symbol::handle(self, params))
            .await
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        self.guard(requests::formatting::handle(self, params)).await
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        self.guard(requests::rename::prepare(self, params)).await
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        self.guard(requests::rename::handle(self, params)).await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        self.guard(requests::code_action::handle(self, params))
            .await
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        self.guard(requests::semantic_tokens::handle(self, params))
            .await
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> Result<Option<Vec<InlayHint>>> {
        self.guard(requests::inlay_hint::handle(self, params)).await
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        self.guard(requests::code_lens::handle(self, params)).await
    }
}
