//! Benchmark: webhook delivery against the command rate, in one run on one PostgreSQL.
//! First the raw SQL handler (pgbench, the floor of every command figure), then the
//! service — the real listener with the projections, the sealer, the webhook outbox and
//! the dispatcher running — registering clients at 16 connections for one firm, without
//! an endpoint and then with one endpoint subscribed to `*` on a local receiver. For the
//! second phase: deliveries per second (first to last arrival) beside commands per second,
//! and how long after its command each message arrived (the last one's lag is the aim's
//! figure).
//!
//!     cargo bench --bench webhook_delivery          # 15 s per phase
//!     cargo bench --bench webhook_delivery -- 5     # seconds per phase
//!
//! Uses DATABASE_URL, or the private cluster under target/bench-data/webhook_delivery.
//! Results: docs/performance.md.

#[path = "support/mod.rs"]
mod support;

/// The allocator the binary uses (`src/main.rs`): the server runs in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use portal_accounts::services::tenants::{create_tenant, issue_staff_token};
use serde_json::json;
use support::percentile;
use support::raw_handler::{libpq_url, raw_handler_tps};
use uuid::Uuid;

/// When each message first arrived, by position.
type Arrivals = Arc<Mutex<HashMap<i64, Instant>>>;

/// A receiver on loopback that answers 204 and notes when each message came.
async fn receiver() -> anyhow::Result<(String, Arrivals)> {
    let arrivals: Arrivals = Arc::default();
    let noted = arrivals.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap| {
            let noted = noted.clone();
            async move {
                let position = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|id| id.strip_prefix("msg_"))
                    .and_then(|p| p.parse::<i64>().ok());
                if let Some(p) = position {
                    noted.lock().unwrap().entry(p).or_insert_with(Instant::now);
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, arrivals))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(15.0);
    let (db, mut app) =
        support::synthetic::bench_app(env!("CARGO_MANIFEST_DIR"), "webhook_delivery").await?;
    app.outbound.allow_private = true;
    let pool = db.pool.clone();
    let raw = raw_handler_tps(&libpq_url(&pool).await?, seconds)?;
    println!("raw SQL handler (pgbench, 16 conn)      {raw:>8.0}/s  ratio  1.00");

    let base = support::serve(&app).await?;
    let (_stop, stopping) = support::start_runners(&pool, app.keys());
    let _webhooks = portal_accounts::webhooks::spawn(&app.app, app.outbound, stopping);

    let slug = format!("hooks-{}", Uuid::now_v7().simple());
    create_tenant(&app, &slug, "Webhook Bench").await?;
    let staff = issue_staff_token(&app, &slug, aggregates::tenant::StaffRole::Staff, None).await?;
    let admin = issue_staff_token(&app, &slug, aggregates::tenant::StaffRole::Admin, None).await?;

    let (without, _) = support::load::registrations(&base, &staff, seconds).await;
    println!(
        "register, no endpoint                   {without:>8.0}/s  ratio {:>5.2}",
        without / raw
    );

    let (url, arrivals) = receiver().await?;
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&admin)
        .json(&json!({"url": url, "event_types": ["*"]}))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(created["id"].is_string(), "webhook not created: {created}");
    let started = Instant::now();
    let (with, commands) = support::load::registrations(&base, &staff, seconds).await;
    println!(
        "register, one endpoint on *             {with:>8.0}/s  ratio {:>5.2}",
        with / raw
    );
    // Wait (bounded) for every message of the phase.
    let deadline = Instant::now() + Duration::from_secs(120);
    let arrived = loop {
        let got = {
            let a = arrivals.lock().unwrap();
            commands.iter().filter(|(p, _)| a.contains_key(p)).count()
        };
        if got == commands.len() || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let a = arrivals.lock().unwrap().clone();
    let arrivals_of_phase: Vec<Instant> = commands
        .iter()
        .filter_map(|(p, _)| a.get(p))
        .copied()
        .collect();
    let first_arrival = arrivals_of_phase.iter().min().copied();
    let last_arrival = arrivals_of_phase.iter().max().copied();
    // The rate messages arrive at, first arrival to last: equal to the command rate when the
    // dispatcher keeps up (each message as far behind its command as the first), lower when
    // it falls behind. From the phase's start instead, the last message's own lag counts as
    // a shortfall even when nothing queued up (printed beside it).
    let delivered_per_s = match (first_arrival, last_arrival) {
        (Some(first), Some(last)) if last > first => arrived as f64 / (last - first).as_secs_f64(),
        _ => 0.0,
    };
    let from_start_per_s =
        last_arrival.map_or(0.0, |t| arrived as f64 / (t - started).as_secs_f64());
    let mut lags: Vec<f64> = commands
        .iter()
        .filter_map(|(p, done)| {
            a.get(p)
                .map(|t| t.saturating_duration_since(*done).as_secs_f64())
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    let last_command = commands.iter().max_by_key(|(_, t)| *t);
    let last_lag = last_command.and_then(|(p, done)| {
        a.get(p)
            .map(|t| t.saturating_duration_since(*done).as_secs_f64())
    });
    println!(
        "deliveries, first to last arrival       {delivered_per_s:>8.0}/s  ratio to commands {:.2}  ({arrived} of {} arrived)",
        delivered_per_s / with,
        commands.len()
    );
    println!(
        "deliveries, phase start to last arrival {from_start_per_s:>8.0}/s  ratio to commands {:.2}",
        from_start_per_s / with
    );
    println!(
        "message lag after its command           p50 {:.3} s  p99 {:.3} s  max {:.3} s  last command's {:.3} s",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN),
        last_lag.unwrap_or(f64::NAN)
    );
    anyhow::ensure!(arrived == commands.len(), "messages missing after 120 s");
    Ok(())
}
