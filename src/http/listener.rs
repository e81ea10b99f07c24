//! The HTTP listener: axum's router on hyper, with what `axum::serve` does not give — a
//! bound on connections, a deadline for a request's headers (which also closes idle
//! keep-alive connections), and a graceful shutdown that waits for requests in flight.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are closed at accept (a load balancer retries
    /// elsewhere) so that file descriptors never run out for the ones being served.
    pub max_connections: usize,
    /// A request's headers must arrive within this, from the connection's start or its
    /// previous response (so an idle keep-alive connection closes too).
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4_096,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish (at most `grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut make: IntoMakeServiceWithConnectInfo<Router, SocketAddr> =
        router.into_make_service_with_connect_info::<SocketAddr>();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Above the limits `request_shape` answers in problem+json, so that those answers
        // are what clients meet; beyond these hyper refuses on its own, and
        // `parse_refusals` gives that refusal its problem body.
        .max_headers(crate::http::request_shape::MAX_HEADERS * 4)
        .max_buf_size(256 * 1024);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or similar: pause instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("http_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let Ok(service) = make.call(peer).await.map_err(|e: Infallible| e);
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        let first_byte = limits.header_read_timeout;
        tokio::spawn(async move {
            // hyper's header deadline starts once the protocol is known, which the auto
            // builder learns from the first bytes: a connection that sends none would
            // otherwise hold its place (and a file descriptor) for ever.
            if !sends_within(&stream, first_byte).await {
                metrics::counter!("http_connections_idle_closed_total").increment(1);
                drop(slot);
                return;
            }
            let connection = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(crate::http::parse_refusals::ParseRefusals::new(stream)),
                    TowerToHyperService::new(service),
                )
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the shutdown grace period");
    }
}

/// Whether the client sends its first byte within `deadline` (peeked: hyper reads it).
async fn sends_within(stream: &tokio::net::TcpStream, deadline: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(deadline, stream.peek(&mut first)).await,
        Ok(Ok(n)) if n > 0
    )
}

/// Raises this process's open-file limit to its hard limit (where allowed), so the
/// connection bound, not the descriptor limit, is what caps connections.
pub fn raise_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            let previous = limit.rlim_cur;
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                tracing::info!(
                    from = previous,
                    to = limit.rlim_cur,
                    "raised the open-file limit"
                );
            }
        }
    }
}
