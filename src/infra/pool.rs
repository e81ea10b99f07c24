//! Pool settings every connection of the service gets, and the migrations it applies.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub fn pool_options() -> PgPoolOptions {
    pool_options_pinging_after(PING_AFTER_IDLE)
}

/// `pool_options` with connections pinged once idle for longer than `idle`.
pub fn pool_options_pinging_after(idle: Duration) -> PgPoolOptions {
    // A short acquire timeout turns an unreachable database into a prompt 503, not a hang.
    PgPoolOptions::new()
        .max_connections(32)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection it hands out by default: a round trip, and a wake-up
        // of the PostgreSQL backend, before every statement run on the pool (measured:
        // without it renaming went from 0.29 to 0.31 of the raw baseline). A connection used in
        // the last second is handed out as it is; one idle for longer is still pinged, so
        // a database restart costs at most the requests of that second (they get a 503,
        // and their connections are dropped), not a stale pool.
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if meta.idle_for > idle {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// How long a pooled connection may sit idle before it is checked on its way out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Statements are logged by our own spans; sqlx's per-statement logging would repeat them.
/// Every connection also finds the secret-side tables, which live in schema `secrets`
/// (out of reach of reporting roles). JIT compilation is off: the service's statements are
/// short, but a row estimate over the log's size (a range of `events` the planner cannot
/// bound) made PostgreSQL spend 8 ms compiling a query that runs in 0.1 ms (measured on the
/// seal-lag query behind `/metrics`).
pub fn quiet(options: PgConnectOptions) -> PgConnectOptions {
    options
        .options([("search_path", "public,secrets"), ("jit", "off")])
        .log_statements(log::LevelFilter::Debug)
        .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(1))
}

/// Whether every migration this binary knows has been applied.
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await?;
    Ok(applied as usize >= MIGRATOR.iter().count())
}
