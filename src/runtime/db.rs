//! Connecting to PostgreSQL — the configured one, or the private cluster — and migrating it.

use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::runtime::config::DatabaseConfig;
use crate::runtime::embedded_pg::EmbeddedPostgres;
use crate::runtime::writeback::WritebackPacer;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A pool, and the private cluster behind it when there is one.
pub struct Database {
    pub pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
    /// Spreads the private cluster's writeback over time (`runtime::writeback`); stops with
    /// the `Database`.
    _writeback: Option<WritebackPacer>,
}

impl Database {
    pub async fn connect(config: &DatabaseConfig) -> Result<Self> {
        let (options, embedded) = match &config.database_url {
            Some(url) => (
                url.parse::<PgConnectOptions>()
                    .context("parsing DATABASE_URL")?,
                None,
            ),
            None => {
                let data_dir = config.data_dir.clone();
                let (options, embedded) = tokio::task::spawn_blocking(move || {
                    let mut pg = EmbeddedPostgres::for_data_dir(&data_dir)?;
                    let options = pg.ensure_running()?;
                    anyhow::Ok((options, pg))
                })
                .await??;
                (options, Some(embedded))
            }
        };
        let pool = pool_options()
            .connect_with(quiet(options))
            .await
            .context("connecting to PostgreSQL")?;
        let writeback = match &embedded {
            Some(pg) => WritebackPacer::start(pg.cluster_dir())
                .inspect_err(|e| tracing::warn!(error = %e, "writeback pacing not started"))
                .ok(),
            None => None,
        };
        Ok(Self {
            pool,
            embedded,
            _writeback: writeback,
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying migrations")
    }

    /// Closes the pool and stops the private cluster if this process started it.
    pub async fn shutdown(mut self) {
        self.pool.close().await;
        if let Some(mut pg) = self.embedded.take().filter(EmbeddedPostgres::started_here) {
            let stopped = tokio::task::spawn_blocking(move || pg.stop()).await;
            match stopped {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "stopping the private PostgreSQL cluster failed")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stopping the private PostgreSQL cluster failed")
                }
            }
        }
    }
}

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

/// A pool on a streaming replica, connected lazily (a replica that is down at start must not
/// keep the service from starting) and quick to give up, so reads fall back promptly.
pub fn read_replica_pool(url: &str) -> Result<PgPool> {
    let options = url
        .parse::<PgConnectOptions>()
        .context("parsing DATABASE_READ_URL")?;
    Ok(pool_options()
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(quiet(options)))
}

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
