//! Benchmark: what the work costs as the log grows. One run on one PostgreSQL: a small firm
//! (1,000 clients) and a big one (`--clients`, default 10,000) set up through the service's
//! own commands — half of the clients with an e-mail address, of those one in five with a
//! portal login and the others invited; one in five with an item of the firm's catalogue
//! of 20, one in ten with a contract to sign — the log grown by other firms' events to `--events`
//! (default 200,000; written straight into `events`, through the hash-chain trigger, and
//! sealed by the running sealer), then:
//! - registrations at 16 connections on the log before it grows and on the grown log, each
//!   beside the raw SQL handler run just before it;
//! - staff reads, median and p99 per request, on the big firm beside the same on the
//!   small one: a client-list page, searches by a fragment of a name, an e-mail address and
//!   a username, the invitation dashboard, the catalogue, one client's items, contracts
//!   and history;
//! - bytes on disk per event (events, their indexes and seals) and the process's RSS.
//!
//! Run it:
//!
//!     cargo bench --bench growth                                  # a few minutes
//!     cargo bench --bench growth -- --clients 100000 --events 10000000
//!
//! Uses DATABASE_URL, or the private cluster under target/bench-data/growth (delete it
//! for a fresh log). Results: docs/performance.md ("Growth").

#[path = "support/mod.rs"]
mod support;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use portal_accounts::services::tenants::{create_tenant, issue_staff_token};
use serde_json::{json, Value};
use support::percentile;
use support::raw_handler::{libpq_url, raw_handler_tps};
use uuid::Uuid;

use support::load::CONNECTIONS;
/// Requests per staff read measured.
const READS: usize = 200;

fn arg(name: &str, default: i64) -> i64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Firm {
    token: String,
    clients: Vec<String>,
}

/// Items in each firm's catalogue.
const CATALOGUE: usize = 20;

/// A firm of `clients` clients set up over HTTP at 16 connections: every other one with an
/// e-mail address, of those one in five given a portal login (`user{n:06}`, waiting for
/// activation) and the rest invited; one in five with an item, one in ten with a contract.
async fn firm(app: &portal_accounts::app::App, base: &str, clients: usize) -> anyhow::Result<Firm> {
    let slug = format!("growth-{}", Uuid::now_v7().simple());
    create_tenant(app, &slug, "Growth Bench").await?;
    let token = issue_staff_token(app, &slug, aggregates::tenant::StaffRole::Admin, None).await?;
    let http = reqwest::Client::new();
    let mut items = Vec::new();
    for i in 0..CATALOGUE {
        let body = json!({"sku": format!("SKU-{i:03}"), "name": format!("Service {i}"),
                          "unit_price": {"amount_minor": 1000 + i, "currency": "GBP"}});
        let created = post(&http, &format!("{base}/api/v1/items"), &token, body).await?;
        items.push(created["id"].as_str().unwrap_or_default().to_string());
    }
    let mut makers = Vec::new();
    for worker in 0..CONNECTIONS {
        let (base, token, items) = (base.to_string(), token.clone(), items.clone());
        makers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ids = Vec::new();
            for n in (worker..clients).step_by(CONNECTIONS) {
                let email = (n % 2 == 0).then(|| format!("client{n}@example.test"));
                let body = json!({"display_name": format!("Client {n:06} {:x}", n * 7919),
                                  "kind": "individual", "email": email});
                let created = post(&http, &format!("{base}/api/v1/clients"), &token, body).await?;
                let id = created["id"].as_str().unwrap_or_default().to_string();
                let client = format!("{base}/api/v1/clients/{id}");
                if n % 10 == 0 {
                    let login = json!({"email": email, "username": format!("user{n:06}")});
                    post(&http, &format!("{client}/portal-users"), &token, login).await?;
                } else if email.is_some() {
                    post(&http, &format!("{client}/invitations"), &token, Value::Null).await?;
                }
                if n % 5 == 1 {
                    let item = json!({"item_id": items[n % CATALOGUE]});
                    post(&http, &format!("{client}/items"), &token, item).await?;
                }
                if n % 10 == 3 {
                    let contract = json!({"title": format!("Engagement letter {n}"),
                                          "body": "We act for you in the year's accounts."});
                    post(&http, &format!("{client}/contracts"), &token, contract).await?;
                }
                ids.push(id);
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::new();
    for maker in makers {
        ids.extend(maker.await??);
    }
    Ok(Firm {
        token,
        clients: ids,
    })
}

/// POSTs `body` (none for `Null`) as the firm's admin; the answer's JSON, or why it failed.
async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let request = http.post(url).bearer_auth(token);
    let request = if body.is_null() {
        request
    } else {
        request.json(&body)
    };
    let answer = request.send().await?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "POST {url}: {status} {body}");
    Ok(body)
}

/// Median and p99 (ms) of `READS` GETs of `path` (`{client}` filled in turn).
async fn reads(base: &str, firm: &Firm, path: &str) -> (f64, f64) {
    let http = reqwest::Client::new();
    let mut ms = Vec::new();
    for i in 0..READS {
        let client = &firm.clients[i * 7 % firm.clients.len()];
        let url = format!("{base}{}", path.replace("{client}", client));
        let sent = Instant::now();
        let answer = http.get(url).bearer_auth(&firm.token).send().await;
        let ok = matches!(&answer, Ok(r) if r.status().is_success());
        if let Ok(r) = answer {
            let _ = r.bytes().await;
        }
        if ok {
            ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.99))
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Waits (at most 30 minutes) until the read models include the newest event and the
/// sealer has sealed it.
async fn caught_up(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let newest: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(pool)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let models =
            projections::engine::includes(pool, portal_accounts::reads::READ_MODELS, newest)
                .await?;
        let sealed: bool = sqlx::query_scalar(
            "SELECT COALESCE(bool_and(last_position >= $1), false) FROM projection_checkpoints
              WHERE name = 'audit_sealer'",
        )
        .bind(newest)
        .fetch_one(pool)
        .await?;
        if models && sealed {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "read models or seals did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let big_clients = arg("--clients", 10_000) as usize;
    let events = arg("--events", 200_000);
    let seconds = arg("--seconds", 10) as f64;
    let (db, app) = support::synthetic::bench_app(env!("CARGO_MANIFEST_DIR"), "growth").await?;
    let pool = db.pool.clone();
    let base = support::serve(&app).await?;
    let (_stop, _) = support::start_runners(&pool, app.keys());

    // The same load on the log as it is before the firms and the growth (an empty log on a
    // fresh bench cluster): what the grown log's figure is held against.
    let raw_empty = raw_handler_tps(&libpq_url(&pool).await?, seconds)?;
    let early = firm(&app, &base, 0).await?;
    let (empty, _) = support::load::registrations(&base, &early.token, seconds).await;
    let empty_log: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;
    let rss_early = rss_mib();

    let loading = Instant::now();
    let small = firm(&app, &base, 1_000).await?;
    let big = firm(&app, &base, big_clients).await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;
    if have < events {
        support::synthetic::append_events(&pool, Uuid::now_v7(), events - have, 300).await?;
    }
    caught_up(&pool).await?;
    let rss_grown = rss_mib();
    sqlx::query("ANALYZE").execute(&pool).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;
    println!(
        "log: {total} events; firms of {} and {} clients; loaded and caught up in {:.0} s",
        small.clients.len(),
        big.clients.len(),
        loading.elapsed().as_secs_f64()
    );

    let raw = raw_handler_tps(&libpq_url(&pool).await?, seconds)?;
    let (grown, _) = support::load::registrations(&base, &big.token, seconds).await;
    println!("raw SQL handler, before the growth   {raw_empty:>8.0}/s  ratio  1.00");
    println!(
        "register on the log of {empty_log:>9} events {empty:>8.0}/s  ratio {:>5.2}",
        empty / raw_empty
    );
    println!("raw SQL handler, on the grown log    {raw:>8.0}/s  ratio  1.00");
    println!(
        "register on the grown log, big firm  {grown:>8.0}/s  ratio {:>5.2}",
        grown / raw
    );
    println!(
        "grown / early, each to its raw       {:>14.2}",
        (grown / raw) / (empty / raw_empty)
    );

    // Reads are measured on a settled log: the read models and the sealer have taken in the
    // registrations just made (on both firms alike).
    caught_up(&pool).await?;
    println!(
        "staff reads (ms, {READS} each)           small firm p50 / p99     big firm p50 / p99"
    );
    for (name, path) in [
        ("client list, first page", "/api/v1/clients?limit=50"),
        (
            "search by a name fragment",
            "/api/v1/clients?q=00042&limit=50",
        ),
        (
            "search by an e-mail fragment",
            "/api/v1/clients?q=client424%40&limit=50",
        ),
        (
            "search by a username fragment",
            "/api/v1/clients?q=user0004&limit=50",
        ),
        ("invitation dashboard", "/api/v1/dashboard/invitations"),
        ("item catalogue, first page", "/api/v1/items?limit=50"),
        ("a client's items", "/api/v1/clients/{client}/items"),
        ("a client's contracts", "/api/v1/clients/{client}/contracts"),
        (
            "a client's history",
            "/api/v1/audit/clients/{client}/history",
        ),
    ] {
        let (s50, s99) = reads(&base, &small, path).await;
        let (b50, b99) = reads(&base, &big, path).await;
        println!("  {name:<34} {s50:>8.1} / {s99:>6.1}        {b50:>8.1} / {b99:>6.1}");
    }

    let (events_bytes, seals_bytes): (i64, i64) = sqlx::query_as(
        "SELECT pg_total_relation_size('events'), pg_total_relation_size('audit_seals')",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "on disk per event: events with indexes {:.0} B, seals {:.0} B; process RSS {:.0} MiB \
         (before the growth {rss_early:.0} MiB, once grown {rss_grown:.0} MiB)",
        events_bytes as f64 / total as f64,
        seals_bytes as f64 / total as f64,
        rss_mib()
    );
    Ok(())
}
