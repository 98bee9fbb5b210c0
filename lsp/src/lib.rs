//! The netpol language server: a thin layer over the compiler's queries, started by
//! `netpol lsp` on stdio.
//!
//! Layout (ruff/ty's): [`server`] holds the `LanguageServer` implementation, which hands each
//! request to its own small file under [`requests`] and each notification to one under
//! [`notifications`]; [`session`] is the one adapter over the compiler's database; [`convert`]
//! turns byte offsets into LSP positions and back. Only this crate knows LSP types: the
//! answers themselves come from `netpol_compiler::ide`.
//!
//! Concurrency: the session sits behind a mutex that is only taken on blocking threads. A
//! query takes a snapshot (a database clone) under the lock, releases it and runs inside
//! `salsa::Cancelled::catch` on a blocking thread; an edit's setter cancels running queries,
//! which answer `ContentModified`. No database handle is held across an `.await`.

pub mod client_caps;
pub mod convert;
pub mod diagnostics;
pub mod notifications;
pub mod requests;
pub mod server;
pub mod session;
pub mod workspace;

#[cfg(test)]
mod tests;

pub use server::{Backend, Notifier};

/// Serves the language server on stdin/stdout until `exit`; returns the process exit code
/// (0 after `shutdown` then `exit`, 1 for an `exit` without `shutdown`, as the protocol says).
pub fn run_stdio() -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the language server: {e}");
            return 2;
        }
    };
    let code = runtime.block_on(async {
        let (service, socket) = server::service();
        let shut_down = service.inner().shut_down_flag();
        tower_lsp_server::Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
            .serve(service)
            .await;
        if shut_down.load(std::sync::atomic::Ordering::SeqCst) {
            0
        } else {
            1
        }
    });
    // Reading stdin blocks a thread that would keep the runtime (and the process) alive
    // while the client keeps stdin open: do not wait for it.
    runtime.shutdown_background();
    code
}
