//! Connections cannot starve the server: a client that never sends a byte, never finishes
//! its headers, or leaves a keep-alive connection idle is closed after the header deadline, and connections
//! beyond the bound are closed at once instead of exhausting file descriptors.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use portal_accounts::http::listener::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Waits until the server closes `stream` (a read returns end of file); how long it took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for over {limit:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_closed_and_the_bound_holds() {
    let limits = Limits {
        max_connections: 4,
        header_read_timeout: Duration::from_millis(400),
    };
    let s = Server::start_with_limits(app(pool().await), limits).await;
    let addr = s.base.trim_start_matches("http://").to_string();

    // A client that connects and never sends a byte.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let closed = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(
        closed >= Duration::from_millis(300),
        "{closed:?}: not before the deadline"
    );

    // A client that starts a request and never finishes its headers.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    closed_within(&mut slow, Duration::from_secs(5)).await;

    // Four idle connections take every place; a fifth is closed at once.
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        idle.push(stream);
    }
    // The places are taken once the server has accepted the four; a request gets through
    // only when one is free again.
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let refused = closed_within(&mut extra, Duration::from_secs(5)).await;
    assert!(
        refused < Duration::from_millis(350),
        "closed at accept, not after the 400 ms header deadline: {refused:?}"
    );
    // The idle ones time out, and the server answers again.
    for stream in &mut idle {
        closed_within(stream, Duration::from_secs(5)).await;
    }
    assert_eq!(s.get_status("/readyz").await, 200);
}
