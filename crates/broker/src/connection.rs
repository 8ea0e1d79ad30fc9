//! Accepted gRPC connections (a front-end concern): counted (a gauge for `/metrics`) and limited.
//! A connection over the limit is closed at once, so one noisy client cannot
//! exhaust the broker's file descriptors and everyone else keeps being served.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

use crate::metrics::Metrics;

/// A TCP connection that decrements the connection gauge when dropped.
#[derive(Debug)]
pub struct CountedStream {
    inner: TcpStream,
    metrics: Arc<Metrics>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.metrics.connections.fetch_sub(1, Relaxed);
    }
}

impl Connected for CountedStream {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The accepted connections, counted, with those over `max` dropped.
pub fn limited(
    incoming: TcpIncoming,
    metrics: Arc<Metrics>,
    max: usize,
) -> impl Stream<Item = io::Result<CountedStream>> + Send {
    incoming.filter_map(move |conn| {
        let metrics = Arc::clone(&metrics);
        async move {
            match conn {
                Ok(stream) => {
                    let open = metrics.connections.fetch_add(1, Relaxed) + 1;
                    let counted = CountedStream { inner: stream, metrics: Arc::clone(&metrics) };
                    if open as usize > max {
                        metrics.connections_refused.fetch_add(1, Relaxed);
                        tracing::warn!(open, max, "connection limit reached; closing a new connection");
                        drop(counted);
                        return None;
                    }
                    Some(Ok(counted))
                }
                Err(e) => {
                    // Accept errors (e.g. EMFILE) are transient: log and keep accepting.
                    tracing::warn!(error = %e, "accept failed");
                    None
                }
            }
        }
    })
}
