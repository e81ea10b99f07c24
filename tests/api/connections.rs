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

/// Reads one HTTP response off `stream` (headers and a Content-Length body).
async fn response_of(stream: &mut TcpStream) -> (u16, String, String) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let (head, body_start) = loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .expect("no reset before the answer");
        assert!(n > 0, "closed before the answer");
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&raw[..end]).to_string(), end + 4);
        }
    };
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while raw.len() < body_start + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed inside the answer");
        raw.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&raw[body_start..body_start + length]).to_string();
    (status, head, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_announced_too_large_gets_its_413_whether_or_not_it_is_sent() {
    let s = Server::start().await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let request = |length: usize| {
        format!(
            "POST /api/v1/clients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
    };

    // Announced as 3 MiB, one byte sent: answered at once, not after a read timeout.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(format!("{}{{", request(3 * 1024 * 1024)).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let (status, head, body) = response_of(&mut stalled).await;
    assert_eq!(status, 413, "{head}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("application/problem+json"),
        "{head}"
    );
    assert!(body.contains("payload_too_large"), "{body}");

    // A client that sends all of a 1 MiB body reads its 413, every time.
    for attempt in 0..5 {
        let mut sender = TcpStream::connect(&addr).await.unwrap();
        let mut whole = request(1024 * 1024).into_bytes();
        whole.extend(std::iter::repeat_n(b' ', 1024 * 1024));
        sender.write_all(&whole).await.expect("the body is taken");
        let (status, head, body) = response_of(&mut sender).await;
        assert_eq!(status, 413, "attempt {attempt}: {head}");
        assert!(body.contains("payload_too_large"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_the_http_layer_cannot_parse_are_refused_in_problem_json() {
    let s = Server::start().await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let long = "a".repeat(300 * 1024);
    for (request, status, code) in [
        (
            "GET /healthz HTTP/1.1\r\nhost: x\r\nthis is not a header\r\n\r\n".to_string(),
            400,
            "malformed_request",
        ),
        (
            "GET /healthz HTTP/1.1\r\nhost: x\r\nx-bad: caf\u{1}e\r\n\r\n".to_string(),
            400,
            "malformed_request",
        ),
        (
            format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {long}\r\n\r\n"),
            431,
            "headers_too_large",
        ),
        (
            format!("GET /healthz?q={long} HTTP/1.1\r\nhost: x\r\n\r\n"),
            431,
            "headers_too_large",
        ),
        (
            format!(
                "GET /healthz?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
                &long[..100 * 1024]
            ),
            414,
            "uri_too_long",
        ),
    ] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        // The server may answer (and close) before it has read a long request whole.
        let _ = stream.write_all(request.as_bytes()).await;
        let (got, head, body) = response_of(&mut stream).await;
        assert_eq!(got, status, "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{head}"
        );
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["code"], code, "{body}");
        assert_eq!(problem["status"], status);
    }
    // Ordinary requests on a kept-alive connection are untouched.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(response_of(&mut stream).await.0, 200);
    }
}
