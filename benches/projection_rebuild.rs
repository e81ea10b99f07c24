//! Benchmark: rebuilding the read models from 1,000,000 events — events per second and peak
//! memory — beside the raw rate at which the same PostgreSQL returns those rows to a client
//! (one keyset-ordered stream), measured in the same run.
//!
//!     cargo bench --bench projection_rebuild            # 1,000,000 events
//!     cargo bench --bench projection_rebuild -- 200000
//!
//! Uses DATABASE_URL, or the private cluster under target/bench-data/projection_rebuild. Results: docs/performance.md.

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use futures::TryStreamExt;
use portal_accounts::services::tenants::{create_tenant, tenant_id_by_slug};
use support::synthetic::append_events;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_default();
    kb / 1024.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let (db, app) =
        support::synthetic::bench_app(env!("CARGO_MANIFEST_DIR"), "projection_rebuild").await?;
    let pool = db.pool.clone();
    let slug = format!("rebuild-{events}");
    if tenant_id_by_slug(&app, &slug).await?.is_none() {
        let id = create_tenant(&app, &slug, "Bench").await?;
        append_events(&pool, id, events, 200).await?;
        sqlx::query("ANALYZE events").execute(&pool).await?;
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;

    // The floor: every event with the columns the engine reads, in its order, streamed and
    // discarded.
    let started = Instant::now();
    let floor = format!(
        "SELECT {} FROM events ORDER BY events.tx_id, events.global_position",
        eventlog::ENVELOPE_COLUMNS
    );
    let mut rows = sqlx::query(&floor).fetch(&pool);
    let mut raw = 0i64;
    while rows.try_next().await?.is_some() {
        raw += 1;
    }
    drop(rows);
    let raw_seconds = started.elapsed().as_secs_f64();
    let memory_before = peak_rss_mib();
    eprintln!("raw read done: {raw} rows in {raw_seconds:.1} s");
    anyhow::ensure!(
        raw > 0 && raw == total,
        "the floor read {raw} of {total} events: not the log the rebuild reads"
    );

    let engine = projections::Engine::new(pool.clone(), app.keys().clone(), projections::all());
    let cpu_before = support::cpu_seconds("-");
    let started = Instant::now();
    let all = projections::all();
    let chosen: Vec<&dyn projections::Projection> = all.iter().map(|p| p.as_ref()).collect();
    engine.rebuild(&chosen).await?;
    let rebuild_seconds = started.elapsed().as_secs_f64();
    let cpu_after = support::cpu_seconds("-");

    println!("events in the log               {total}");
    println!(
        "raw read, engine order          {raw_seconds:.2} s  ({:.0} rows/s)",
        raw as f64 / raw_seconds
    );
    println!(
        "rebuild of all read models      {rebuild_seconds:.2} s  ({:.0} events/s)",
        total as f64 / rebuild_seconds
    );
    println!(
        "rebuild / raw read              {:.0}%",
        100.0 * raw_seconds / rebuild_seconds
    );
    println!(
        "CPU during the rebuild          {:.1} s this process, {:.1} s PostgreSQL",
        cpu_after.1 - cpu_before.1,
        cpu_after.2 - cpu_before.2
    );
    println!(
        "peak memory                     {memory_before:.0} MiB before rebuild, {:.0} MiB after",
        peak_rss_mib()
    );

    // Projection lag under steady command load: 50 commands a second for 10 seconds, each
    // timed from its commit to the moment every read model includes it.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(
        projections::Engine::new(pool.clone(), app.keys().clone(), projections::all())
            .run(stopping),
    );
    let tenant = create_tenant(
        &app,
        &format!("lag-{}", uuid::Uuid::now_v7().simple()),
        "Lag",
    )
    .await?;
    let meta = portal_accounts::store::CommandMeta {
        tenant_id: tenant,
        actor: eventlog::Actor::system(),
        via_token: None,
        request_id: "bench".into(),
        client_ip: None,
        user_agent: None,
        command: "",
    };
    let names = portal_accounts::reads::READ_MODELS;
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(20));
    let mut waits = Vec::new();
    for i in 0..500 {
        ticker.tick().await;
        let new = portal_accounts::services::clients::NewClient {
            display_name: aggregates::values::DisplayName::parse(&format!("Lag {i}")).unwrap(),
            kind: aggregates::values::ClientKind::Organisation,
            email: None,
            external_ref: None,
        };
        let done = portal_accounts::services::clients::register(&app, &meta, new).await?;
        let committed = Instant::now();
        let pool = pool.clone();
        waits.push(tokio::spawn(async move {
            while !projections::engine::includes(&pool, names, done.position).await? {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            anyhow::Ok(committed.elapsed())
        }));
    }
    let mut lags = Vec::new();
    for wait in waits {
        lags.push(wait.await??);
    }
    lags.sort();
    let pct = |p: f64| {
        lags[((lags.len() as f64 * p) as usize).min(lags.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "lag at 50 commands/s           p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    let _ = stop.send(true);
    let _ = running.await;
    db.shutdown().await;
    Ok(())
}
