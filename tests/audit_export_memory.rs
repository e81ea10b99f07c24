//! Exporting a large log streams it in flat memory. Alone in its own test binary: it
//! measures this process's resident memory, which other tests running beside it in the
//! same process would move (sealing a large log concurrently did).

mod common;

use common::*;
use reqwest::Method;
use serde_json::Value;

async fn get(s: &Server, path: &str, token: &str) -> (u16, Value) {
    send(s.request(Method::GET, path, token)).await
}

async fn verify(s: &Server, t: &Tenant) -> Value {
    let (status, v) = get(s, "/api/v1/audit/verify", &t.auditor).await;
    assert_eq!(status, 200);
    v
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_a_large_log_streams_in_flat_memory() {
    const EVENTS: i64 = 100_000;
    let (s, t) = Server::with_firm().await;
    common::synthetic::append_events(s.pool(), t.id, EVENTS, 1000)
        .await
        .unwrap();
    // As the background sealer would have by now (sealing's memory is not the export's).
    portal_accounts::audit::seal::seal_tenant(s.pool(), t.id, std::time::Duration::from_secs(60))
        .await
        .unwrap();

    let mut response = s
        .request(Method::GET, "/api/v1/audit/export", &t.auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let before = resident_bytes();
    let (mut bytes, mut lines, mut peak) = (0u64, 0i64, before);
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as i64;
        peak = peak.max(resident_bytes());
    }
    assert_eq!(
        lines,
        EVENTS + t.setup_events,
        "every event, the tenant's own setup included"
    );
    assert!(bytes > 100_000_000, "the export is large ({bytes} bytes)");
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 48 * 1024 * 1024,
        "export grew memory by {growth} bytes for a {bytes}-byte log"
    );

    // Verification runs in ranges; this log spans more than one, and a break in the second
    // is still found at the right place.
    let v = verify(&s, &t).await;
    assert_eq!(
        (v["ok"].as_bool(), v["checked"].as_i64()),
        (Some(true), Some(EVENTS + t.setup_events)),
        "{v}"
    );
    tamper(
        &s,
        "UPDATE events SET payload = jsonb_set(payload, '{ItemPriceChanged,note}', '\"changed\"') WHERE tenant_id = $1 AND global_position = (SELECT global_position FROM audit_seals WHERE tenant_id = $1 AND chain_seq = 100002)",
        t.id,
    )
    .await;
    let position: i64 = sqlx::query_scalar(
        "SELECT global_position FROM audit_seals WHERE tenant_id = $1 AND chain_seq = 100002",
    )
    .bind(t.id)
    .fetch_one(s.pool())
    .await
    .unwrap();
    let v = verify(&s, &t).await;
    assert_eq!(v["first_broken_position"].as_i64(), Some(position), "{v}");
}
