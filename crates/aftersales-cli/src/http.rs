//! Serving the JSON API on a listener with the bounds a service facing the
//! internet needs below HTTP's own: a client gets a fixed time to send a
//! request's headers (and, on a kept-alive connection, the next request's),
//! the open connections are capped below the process's descriptor limit,
//! and a connection over the cap is answered `503` and closed at once
//! instead of starving the process ("Too many open files").
//!
//! Bodies and handlers are bounded inside the router (its body limit and
//! request timeout). Each request carries its client's address
//! (`ConnectInfo`), for limits that apply before a key is known.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Bounds on connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, from the moment it
    /// connects or its previous answer was sent.
    pub header_timeout: Duration,
}

/// More than any one process could hold: the cap's own ceiling.
const MAX_CONNECTIONS: usize = 1 << 20;

/// Descriptors kept free of connections, for the databases, files and the
/// accept loop itself.
const RESERVED_DESCRIPTORS: u64 = 256;

impl ConnectionLimits {
    /// Raises the process's soft descriptor limit to its hard limit where
    /// the system allows, and keeps the cap below what is left.
    pub fn fitted(self) -> Self {
        let soft = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => limit,
            Err(error) => {
                tracing::warn!(%error, "cannot raise the open-file limit");
                rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
            }
        };
        let room = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS).max(16))
            .unwrap_or(usize::MAX);
        if room < self.max_connections {
            tracing::warn!(
                open_file_limit = soft,
                max_connections = room,
                "connections capped below the open-file limit"
            );
        }
        Self {
            max_connections: self.max_connections.min(room).min(MAX_CONNECTIONS),
            ..self
        }
    }
}

/// What a connection over the cap reads before it is closed.
fn over_capacity() -> Vec<u8> {
    let body = r#"{"type":"urn:aftersales:problem:unavailable","title":"Service Unavailable","status":503,"detail":"too many connections; retry shortly","code":"unavailable"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish (for at most 10 s: a live stream never does).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closed) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or the client left before it was
                    // accepted: wait a moment rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(place) = places.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let refuse = async {
                    let _ = stream.write_all(&over_capacity()).await;
                    let _ = stream.shutdown().await;
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), refuse).await;
            });
            continue;
        };
        let app = app.clone();
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(client));
                app.clone().oneshot(request)
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = closed.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(place);
        });
    }
    let _ = closing.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(10), places.acquire_many(all)).await;
}
