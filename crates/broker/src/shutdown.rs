//! Graceful shutdown. One `CancellationToken` (created by `server.rs`, handed to
//! the services and held by the `Broker`) tells every long-lived task to stop: the gRPC and HTTP servers stop accepting and finish
//! in-flight requests, fetch and Join streams end, background tasks return.
//! Then every partition's writer drains its queue, writes, fsyncs and closes.

use tokio_util::sync::CancellationToken;

/// Resolves on SIGINT or SIGTERM (for `runnel serve`).
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// A future that resolves when `token` is cancelled, for `serve_with_shutdown`.
pub async fn cancelled(token: CancellationToken) {
    token.cancelled().await;
}
