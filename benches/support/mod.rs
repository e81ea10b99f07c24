//! What the benches share (and `tests/` borrows for large logs): synthetic event logs and
//! the bench database. Kept out of the server crate: nothing here ships.

// Each bench (and test) uses a part of it.
#![allow(dead_code)]

pub mod host_disk;
pub mod load;
pub mod raw_handler;
pub mod synthetic;

/// The service's router on a loopback port of its own, in this runtime: its base URL.
pub async fn serve(app: &portal_accounts::http::Edge) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = portal_accounts::http::router(app.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    Ok(base)
}

/// What a server runs beside its listener, the projections and the audit sealer, until
/// the returned sender is dropped; the receiver for other runners to stop with.
pub fn start_runners(
    pool: &sqlx::PgPool,
    keys: &eventlog::DataKeys,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::sync::watch::Receiver<bool>,
) {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(
        projections::Engine::new(pool.clone(), keys.clone(), projections::all())
            .run(stopping.clone()),
    );
    tokio::spawn(portal_accounts::audit::runner::run(
        pool.clone(),
        None,
        stopping.clone(),
    ));
    (stop, stopping)
}

/// The `p` quantile (0–1) of sorted samples, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU time (seconds) used so far by: this process's threads whose name starts with
/// `named` (password hashing, a load generator), the rest of this process, and every
/// PostgreSQL process (which includes pgbench's server side, not pgbench itself).
pub fn cpu_seconds(named: &str) -> (f64, f64, f64) {
    let ticks = |stat: &str| -> f64 {
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| {
            f.get(i - 3)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (n(14) + n(15)) / 100.0
    };
    let prefix = format!("({named}");
    let (mut matching, mut other) = (0.0, 0.0);
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        if stat.contains(&prefix) {
            matching += ticks(&stat);
        } else {
            other += ticks(&stat);
        }
    }
    let mut postgres = 0.0;
    for proc in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(proc.path().join("comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            postgres +=
                ticks(&std::fs::read_to_string(proc.path().join("stat")).unwrap_or_default());
        }
    }
    (matching, other, postgres)
}
