//! Benchmark: commands per second over HTTP against the raw SQL floor, in one run on one
//! PostgreSQL. First the raw handler of `support/raw-handler-tps.sh` (pgbench: read an
//! aggregate's ~5 events and append one, per transaction), then the service — the real
//! listener, with projections and the audit sealer running — registering and renaming
//! clients at 16 connections, for one firm and for 16 firms; then latency at half the peak
//! rate, and the seal lag sampled throughout; last the raw handler at half of its own peak
//! rate, for the latency tail the disk allows any durable commit.
//!
//!     cargo bench --bench command_throughput            # 15 s per phase
//!     cargo bench --bench command_throughput -- 5       # seconds per phase
//!     cargo bench --bench command_throughput -- 5 rename  # only phases naming "rename"
//!
//! Uses DATABASE_URL, or the private cluster under target/bench-data/command_throughput. With
//! BENCH_WITHOUT_RUNNERS=1 the projections and the sealer do not run (to measure what they
//! cost; no server runs that way); with BENCH_NOTHING_KEPT=1 the server keeps no recently
//! written streams (`store::recent`), as for streams it has not written lately; with
//! BENCH_WAITS=1 the half-peak phase prints what PostgreSQL waited on every 5 ms, when
//! the server's runtime fell behind and when the kernel was writing to the database's disk
//! (`support::host_disk`); with BENCH_COLD_WAL=1 the WAL is not warmed first
//! (see `warm_wal`), as on a cluster just made. Results:
//! docs/performance.md.

#[path = "support/mod.rs"]
mod support;

use support::host_disk::DiskWatch;
use support::percentile;
use support::raw_handler::{libpq_url, raw_handler_tail, raw_handler_tps};

/// The allocator the binary uses (`src/main.rs`): the server runs in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portal_accounts::services::tenants::{create_tenant, issue_staff_token};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const CONNECTIONS: usize = 16;

struct Firm {
    token: String,
    /// Clients to rename, made before the renaming phase.
    clients: Vec<String>,
}

#[derive(Clone, Copy)]
enum Command {
    Register,
    Rename,
}

struct Outcome {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Fraction of the answered requests that took over 10 ms.
    over_10ms: f64,
    errors: u64,
}

/// Command number `n` of a connection; a rename goes to the firm's client `slot` (modulo
/// their number).
async fn send(
    http: &reqwest::Client,
    base: &str,
    firm: &Firm,
    command: Command,
    n: usize,
    slot: usize,
) -> bool {
    let request = match command {
        Command::Register => http
            .post(format!("{base}/api/v1/clients"))
            .json(&json!({"display_name": format!("Bench client {n}"), "kind": "organisation"})),
        Command::Rename => {
            let id = &firm.clients[slot % firm.clients.len()];
            http.patch(format!("{base}/api/v1/clients/{id}"))
                .json(&json!({"display_name": format!("Renamed {n}")}))
        }
    };
    request
        .bearer_auth(&firm.token)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// 16 connections as fast as they go; connection `i` uses firm `i % firms.len()`.
async fn closed_loop(
    base: &str,
    firms: &Arc<Vec<Firm>>,
    command: Command,
    seconds: f64,
) -> Outcome {
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..CONNECTIONS {
        let (base, firms) = (base.to_string(), firms.clone());
        workers.push(tokio::spawn(async move {
            // One client per worker: one keep-alive connection each, like wrk's.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let firm = &firms[i % firms.len()];
            let (mut latencies, mut errors, mut n) = (Vec::new(), 0u64, i * 1_000_000);
            // Connections sharing a firm rename different clients (the raw baseline's
            // transactions pick random aggregates; they rarely meet on one).
            let first_slot =
                i / firms.len() * firm.clients.len().max(1) * firms.len() / CONNECTIONS;
            let mut slot = first_slot;
            while started.elapsed().as_secs_f64() < seconds {
                let sent = Instant::now();
                if send(&http, &base, firm, command, n, slot).await {
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
                n += 1;
                slot += 1;
            }
            (latencies, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Outcome {
        per_second: all.len() as f64 / elapsed,
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        over_10ms: all.iter().filter(|&&ms| ms > 10.0).count() as f64 / all.len().max(1) as f64,
        errors,
    }
}

/// Requests started at a fixed rate (not waiting for answers), latency of each.
async fn open_loop(base: &str, firm: Arc<Vec<Firm>>, rate: f64, seconds: f64) -> Outcome {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS * 4)
        .build()
        .unwrap();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut inflight = Vec::new();
    let mut n = 0;
    while started.elapsed().as_secs_f64() < seconds {
        tick.tick().await;
        let (http, base, firm) = (http.clone(), base.to_string(), firm.clone());
        inflight.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = send(&http, &base, &firm[0], Command::Register, 9_000_000 + n, 0).await;
            (
                ok,
                (sent - started).as_secs_f64(),
                sent.elapsed().as_secs_f64() * 1000.0,
            )
        }));
        n += 1;
    }
    let (mut all, mut errors, mut slow) = (Vec::new(), 0, Vec::new());
    for f in inflight {
        match f.await.unwrap() {
            (true, at, ms) => {
                all.push(ms);
                if ms > 10.0 {
                    slow.push((at, ms));
                }
            }
            (false, _, _) => errors += 1,
        }
    }
    report_slow_windows(&slow);
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Outcome {
        per_second: all.len() as f64 / elapsed,
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        over_10ms: all.iter().filter(|&&ms| ms > 10.0).count() as f64 / all.len().max(1) as f64,
        errors,
    }
}

/// Where in the run the requests slower than 10 ms were sent, by quarter second: a few
/// windows holding most of them point at a stall (a checkpoint, a vacuum, a pause in the
/// server), an even spread at steady queueing.
fn report_slow_windows(slow: &[(f64, f64)]) {
    let mut windows: std::collections::BTreeMap<u64, (usize, f64)> = Default::default();
    for &(at, ms) in slow {
        let w = windows.entry((at * 4.0) as u64).or_default();
        w.0 += 1;
        w.1 = w.1.max(ms);
    }
    let mut worst: Vec<_> = windows.into_iter().collect();
    worst.sort_by_key(|w| std::cmp::Reverse(w.1 .0));
    let shown: Vec<String> = worst
        .iter()
        .take(6)
        .map(|(w, (count, max))| format!("{:.2} s: {count} (max {max:.0} ms)", *w as f64 / 4.0))
        .collect();
    println!(
        "    requests over 10 ms: {} in {} quarter-seconds; most in {}",
        slow.len(),
        worst.len(),
        shown.join(", ")
    );
}

/// With BENCH_WAITS set: what PostgreSQL's active backends wait on, every 5 ms, for
/// finding what a stall is.
fn sample_waits(
    pool: PgPool,
    store: portal_accounts::store::EventStore,
    mut disk: Option<DiskWatch>,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<Vec<(f64, String)>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    // A plain thread (not stalled with the runtime) every 2 ms: commands queued for the
    // group commit, tasks queued on the server's runtime, and how late the thread itself
    // woke (all of this process's threads starved of CPU); every 50 ms, what the kernel
    // wrote to the database's disk (its writeback queues ahead of every WAL flush).
    let (watching, runtime) = (stopping.clone(), tokio::runtime::Handle::current());
    let watcher = std::thread::spawn(move || {
        let (started, mut lines) = (Instant::now(), Vec::new());
        for tick in 0u64.. {
            if watching.load(Ordering::Relaxed) {
                break;
            }
            if tick % 25 == 0 {
                if let Some(line) = disk.as_mut().and_then(DiskWatch::sample) {
                    lines.push((started.elapsed().as_secs_f64(), line));
                }
            }
            let before = Instant::now();
            std::thread::sleep(Duration::from_millis(2));
            let late = before.elapsed().as_secs_f64() * 1000.0 - 2.0;
            let metrics = runtime.metrics();
            let (commits, queued) = (store.commits_waiting(), metrics.global_queue_depth());
            if commits > 0 || queued > 16 || late > 4.0 {
                lines.push((
                    started.elapsed().as_secs_f64(),
                    format!("process: commits waiting {commits}, runtime queue {queued}, thread woke {late:.0} ms late"),
                ));
            }
        }
        lines
    });
    let sampler = tokio::spawn(async move {
        let started = Instant::now();
        let mut samples = Vec::new();
        // A 1 ms ticker on the server's runtime: a tick late by more than 5 ms means every
        // worker thread was busy or blocked that long.
        let ticking = stopping.clone();
        let ticker = tokio::spawn(async move {
            let (started, mut late) = (Instant::now(), Vec::new());
            while !ticking.load(Ordering::Relaxed) {
                let before = Instant::now();
                tokio::time::sleep(Duration::from_millis(1)).await;
                let took = before.elapsed().as_secs_f64() * 1000.0;
                if took > 6.0 {
                    late.push(format!(
                        "runtime tick late: {took:.0} ms at {:.3}",
                        (before - started).as_secs_f64()
                    ));
                }
            }
            late
        });
        while !stopping.load(Ordering::Relaxed) {
            // Each query cut short, but an autovacuum's long enough to name its table.
            let line: Result<Option<String>, _> = sqlx::query_scalar(
                "SELECT string_agg(backend_type || ':' || coalesce(wait_event_type || '.' || wait_event, 'cpu') \
                 || ':' || left(regexp_replace(query, '\\s+', ' ', 'g'), \
                    CASE WHEN backend_type = 'autovacuum worker' THEN 80 ELSE 30 END), ' | ' ORDER BY backend_type) \
                 FROM pg_stat_activity WHERE state IS DISTINCT FROM 'idle' AND pid <> pg_backend_pid()",
            )
            .fetch_one(&pool)
            .await;
            if let Ok(Some(line)) = line {
                samples.push((started.elapsed().as_secs_f64(), line));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for line in ticker.await.unwrap_or_default() {
            samples.push((0.0, line));
        }
        samples.extend(watcher.join().unwrap_or_default());
        samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        samples
    });
    (stop, sampler)
}

/// Leaves the cluster with a store of recycled WAL segments, as any cluster that has been
/// running a while has: a new cluster creates and zero-fills each 16 MB segment the first
/// time it needs one (16 MB here), and every commit waits the 10–20 ms that takes — at this bench's
/// rates every two seconds, a start-up cost, not the steady state (docs/performance.md).
/// Fills `max_wal_size` with segment switches, then a checkpoint recycles them
/// as future segments. Before the raw handler runs, so both sides get the same cluster.
/// Returns how many future segments there are, or None where the role may not switch WAL
/// (a DATABASE_URL that is not a superuser's; the figures then include segment creation).
async fn warm_wal(pool: &PgPool) -> Option<i64> {
    let segments: i64 = sqlx::query_scalar(
        "SELECT pg_size_bytes(current_setting('max_wal_size')) \
              / pg_size_bytes(current_setting('wal_segment_size'))",
    )
    .fetch_one(pool)
    .await
    .ok()?;
    let run = |sql: &'static str| sqlx::query(sql).execute(pool);
    run("CREATE TABLE IF NOT EXISTS bench_wal_warmup (x int)")
        .await
        .ok()?;
    for _ in 0..segments {
        // A switch needs WAL written since the last one; the insert is that WAL.
        run("INSERT INTO bench_wal_warmup VALUES (1)").await.ok()?;
        run("SELECT pg_switch_wal()").await.ok()?;
    }
    run("DROP TABLE bench_wal_warmup").await.ok()?;
    run("CHECKPOINT").await.ok()?;
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_ls_waldir() \
         WHERE name ~ '^[0-9A-F]{24}$' AND name > pg_walfile_name(pg_current_wal_lsn())",
    )
    .fetch_one(pool)
    .await
    .ok()
}

/// WAL written by the cluster so far, in bytes, and the WAL flushes to disk that took it
/// there (every writer: commands, runners, vacuum). A flush is a wait for the disk that
/// every commit behind it shares.
async fn wal_totals(pool: &PgPool) -> (f64, f64) {
    sqlx::query_as("SELECT wal_bytes::float8, wal_sync::float8 FROM pg_stat_wal")
        .fetch_one(pool)
        .await
        .unwrap_or((f64::NAN, f64::NAN))
}

/// Where the WAL insert position is: printed around each phase so that the phase's WAL
/// can be broken down by record kind afterwards (`pg_waldump --stats=record -s A -e B`).
async fn wal_position(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
        .fetch_one(pool)
        .await
        .unwrap_or_else(|_| "?".into())
}

/// Samples the seal lag (age of the oldest unsealed event) every 100 ms until stopped.
fn sample_seal_lag(pool: PgPool, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<f64>> {
    tokio::spawn(async move {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok((_, lag)) = portal_accounts::audit::seal::backlog(&pool).await {
                samples.push(lag);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        samples
    })
}

/// A firm with a staff token and `clients` clients to rename, made 16 at a time. Enough of
/// them that each stays short (the raw baseline's aggregates have ~5 events; a rename
/// loads its client's whole history, so a few clients renamed thousands of times each
/// would measure history length, not the command).
async fn firm(app: &portal_accounts::app::App, base: &str, clients: usize) -> anyhow::Result<Firm> {
    let slug = format!("tps-{}", Uuid::now_v7().simple());
    create_tenant(app, &slug, "Throughput Bench").await?;
    let token = issue_staff_token(app, &slug, aggregates::tenant::StaffRole::Staff, None).await?;
    let mut makers = Vec::new();
    for worker in 0..CONNECTIONS {
        let (base, token) = (base.to_string(), token.clone());
        makers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ids = Vec::new();
            for n in (worker..clients).step_by(CONNECTIONS) {
                let created: serde_json::Value = http
                    .post(format!("{base}/api/v1/clients"))
                    .bearer_auth(&token)
                    .json(
                        &json!({"display_name": format!("Renamable {n}"), "kind": "organisation"}),
                    )
                    .send()
                    .await?
                    .json()
                    .await?;
                ids.push(created["id"].as_str().unwrap_or_default().to_string());
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

fn report(name: &str, o: &Outcome, raw: f64) {
    println!(
        "{name:<34} {:>8.0}/s  ratio {:>5.2}  p50 {:>6.1} ms  p99 {:>6.1} ms  over 10 ms {:.2} %  errors {}",
        o.per_second,
        o.per_second / raw,
        o.p50_ms,
        o.p99_ms,
        o.over_10ms * 100.0,
        o.errors
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(15.0);
    // Any other argument picks the phases whose name contains it (for profiling one phase).
    let only: Option<String> = std::env::args()
        .skip(1)
        .find(|a| a.parse::<f64>().is_err() && !a.starts_with('-'));
    let (db, mut app) =
        support::synthetic::bench_app(env!("CARGO_MANIFEST_DIR"), "command_throughput").await?;
    // BENCH_NOTHING_KEPT=1: every command reads its streams from the log, as one on a
    // stream this server has not written lately does (not a real server either).
    if std::env::var_os("BENCH_NOTHING_KEPT").is_some() {
        app.store = app.store.clone().keeping_nothing();
    }
    let pool = db.pool.clone();

    let url = libpq_url(&pool).await?;
    // The disk under the database (its data directory, when the role may read where that
    // is; else this checkout's), and the kernel settings that decide its latency tail.
    let data_dir: Option<String> = sqlx::query_scalar("SELECT current_setting('data_directory')")
        .fetch_one(&pool)
        .await
        .ok();
    let disk = DiskWatch::for_path(std::path::Path::new(
        data_dir.as_deref().unwrap_or(env!("CARGO_MANIFEST_DIR")),
    ));
    if let Some(disk) = &disk {
        println!("{}", disk.settings());
    }
    let warmed = match std::env::var_os("BENCH_COLD_WAL") {
        Some(_) => Some(-1),
        None => warm_wal(&pool).await,
    };
    match warmed {
        Some(-1) => println!("WAL not warmed (BENCH_COLD_WAL): segment creation included"),
        Some(n) => println!("WAL warmed: {n} recycled segments ahead"),
        None => println!("WAL not warmed (no right to switch WAL): segment creation included"),
    }
    let wal_before = wal_totals(&pool).await;
    let lsn_before = wal_position(&pool).await;
    let raw = raw_handler_tps(&url, seconds)?;
    let wal_after = wal_totals(&pool).await;
    let lsn_after = wal_position(&pool).await;
    println!("raw SQL handler (pgbench, 16 conn)  {raw:>8.0}/s  ratio  1.00");
    // The WAL range includes the script's setup (its table created and filled), so no
    // bytes-per-transaction figure: pg_waldump over the range shows the parts.
    println!(
        "    WAL flushes per 1000 transactions: {:.0} (WAL {lsn_before} to {lsn_after}, \
         with the table's setup)",
        (wal_after.1 - wal_before.1) / (raw * seconds / 1000.0)
    );
    // The raw handler's table is vacuumed now rather than by autovacuum in the middle of
    // the service's phases (seen in a trace: the floor's upkeep was landing in the
    // service's measurement). The service's own tables' upkeep stays where it falls.
    if let Err(e) = sqlx::query("VACUUM ANALYZE raw_events")
        .execute(&pool)
        .await
    {
        println!("    (raw_events not vacuumed: {e})");
    }

    let base = support::serve(&app).await?;
    // What a server runs beside its listener: the projections and the audit sealer.
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    // BENCH_WITHOUT_RUNNERS=1 leaves them out, to see what they cost (not a real server).
    if std::env::var_os("BENCH_WITHOUT_RUNNERS").is_none() {
        tokio::spawn(
            projections::Engine::new(pool.clone(), app.keys().clone(), projections::all())
                .run(stopping.clone()),
        );
        tokio::spawn(portal_accounts::audit::runner::run(
            pool.clone(),
            Some(portal_accounts::audit::checkpoint::Signer {
                key: app.audit_key.clone(),
                deliver_to: None,
            }),
            stopping,
        ));
    }

    let one = Arc::new(vec![firm(&app, &base, 8_000).await?]);
    let mut many = Vec::new();
    for _ in 0..CONNECTIONS {
        many.push(firm(&app, &base, 500).await?);
    }
    let many = Arc::new(many);

    let stop = Arc::new(AtomicBool::new(false));
    let lag = sample_seal_lag(pool.clone(), stop.clone());
    let results = Mutex::new(Vec::new());
    // The load generator runs on threads of its own, so its CPU is told apart from the
    // server's (same process).
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load-gen")
        .enable_all()
        .build()?;
    for (name, firms, command) in [
        ("register client, 1 firm", &one, Command::Register),
        ("rename client, 1 firm", &one, Command::Rename),
        ("register client, 16 firms", &many, Command::Register),
        ("rename client, 16 firms", &many, Command::Rename),
    ] {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let before = support::cpu_seconds("load-gen");
        let wal_before = wal_totals(&pool).await;
        let lsn_before = wal_position(&pool).await;
        let (b, f) = (base.clone(), firms.clone());
        let o = load
            .spawn(async move { closed_loop(&b, &f, command, seconds).await })
            .await?;
        let after = support::cpu_seconds("load-gen");
        let wal_after = wal_totals(&pool).await;
        let lsn_after = wal_position(&pool).await;
        report(name, &o, raw);
        let commands = o.per_second * seconds / 1000.0;
        println!(
            "    WAL per command (with the projections' and the sealer's writes): {:.1} kB, \
             flushes per 1000 commands: {:.0} (WAL {lsn_before} to {lsn_after})",
            (wal_after.0 - wal_before.0) / (commands * 1000.0) / 1000.0,
            (wal_after.1 - wal_before.1) / commands
        );
        println!(
            "    CPU per 1000 commands: server {:.2} s, PostgreSQL {:.2} s, load generator {:.2} s",
            (after.1 - before.1) / commands,
            (after.2 - before.2) / commands,
            (after.0 - before.0) / commands
        );
        results.lock().unwrap().push((name, o.per_second));
    }
    stop.store(true, Ordering::Relaxed);
    let mut lags = lag.await?;
    lags.sort_by(f64::total_cmp);
    println!(
        "seal lag during the runs above      p50 {:.3} s  p99 {:.3} s  max {:.3} s  ({} samples)",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN),
        lags.len()
    );

    let Some(&(_, peak)) = results.lock().unwrap().first() else {
        load.shutdown_background();
        return Ok(());
    };
    let waits = std::env::var_os("BENCH_WAITS")
        .map(|_| sample_waits(pool.clone(), app.store.clone(), disk));
    // On the load generator's thread too, so that requests keep being sent on time while
    // the server's threads are busy (as from clients elsewhere).
    let (b, firm) = (base.clone(), one.clone());
    let half = load
        .spawn(async move { open_loop(&b, firm, peak / 2.0, seconds).await })
        .await?;
    // Dropping a runtime inside another blocks; let its threads go instead.
    load.shutdown_background();
    if let Some((stop, samples)) = waits {
        stop.store(true, Ordering::Relaxed);
        for (at, line) in samples.await? {
            println!("    wait {at:.3} {line}");
        }
    }
    report(
        &format!("register, 1 firm, at {:.0}/s (half)", peak / 2.0),
        &half,
        raw,
    );
    // The same aim for the floor: the raw handler at half of its own peak, same length.
    if only.is_none() {
        let (p99, over) = raw_handler_tail(&url, seconds, raw / 2.0)?;
        println!(
            "raw SQL handler at {:.0}/s (half)   p99 {p99:>6.1} ms  over 10 ms {:.2} %",
            raw / 2.0,
            over * 100.0
        );
    }
    Ok(())
}
