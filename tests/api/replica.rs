//! Staff reads and `min_position` waits on a real streaming replica (`DATABASE_READ_URL`),
//! and the fall back to the primary when the replica goes away.

use crate::common;

use common::replica::Replica;
use common::*;
use portal_accounts::infra::read_pool::ReadPool;
use reqwest::Method;
use serde_json::json;

async fn metric(s: &Server, name: &str) -> f64 {
    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    let text = text.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_use_the_replica_and_fall_back_to_the_primary_when_it_goes() {
    let primary = pool().await;
    let Some(socket) = primary.connect_options().get_socket().cloned() else {
        eprintln!("DATABASE_URL names a server this test cannot copy; skipped");
        return;
    };
    let replica = Replica::start(&socket);
    let replica_pool = portal_accounts::runtime::db::read_replica_pool(&replica.url).unwrap();
    let mut app = common::app(primary.clone());
    app.reads = ReadPool::with_replica(primary.clone(), replica_pool.clone());
    let s = Server::start_reading_with(app).await;
    let t = s.tenant().await;

    // Read-your-writes through the replica: the read waits until the replica has replayed
    // the write and the projections' progress with it.
    let (first, position) = s.register_client(&t, "Replicated").await;
    let path = format!("/api/v1/clients/{first}?min_position={position}");
    let (status, client) = s.call(Method::GET, &path, &t.staff, None).await;
    assert_eq!(
        (status, &client["display_name"]),
        (200, &json!("Replicated"))
    );

    // Proof that reads come from the replica: with its replay paused, a newer write is not
    // there to read (504 after the bounded wait); resumed, it is.
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&replica_pool)
        .await
        .unwrap();
    let (second, position) = s.register_client(&t, "Behind").await;
    let path = format!("/api/v1/clients/{second}?min_position={position}");
    s.staff(&t.staff)
        .assert_refused(Method::GET, &path, None, (504, "projection_lag"))
        .await;
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&replica_pool)
        .await
        .unwrap();
    let _ = s.staff(&t.staff).ok(Method::GET, &path, None).await;

    // The replica goes away: reads fall back to the primary and say so in /metrics.
    replica.stop();
    let fell_back = || async {
        let (status, _) = s.call(Method::GET, "/api/v1/clients", &t.staff, None).await;
        (status == 200 && metric(&s, "read_replica_available").await == 0.0).then_some(())
    };
    eventually(
        "reads falling back to the primary",
        std::time::Duration::from_secs(30),
        fell_back,
    )
    .await;
    let (third, position) = s.register_client(&t, "After the replica").await;
    let path = format!("/api/v1/clients/{third}?min_position={position}");
    let _ = s.staff(&t.staff).ok(Method::GET, &path, None).await;
    assert!(metric(&s, "read_replica_fallbacks_total").await >= 1.0);
}
