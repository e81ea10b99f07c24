//! Connecting to PostgreSQL — the configured one, or the private cluster — and migrating it.

use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

use crate::infra::pool::{pool_options, quiet, MIGRATOR};
use crate::runtime::config::DatabaseConfig;
use crate::runtime::embedded_pg::EmbeddedPostgres;

/// A pool, and the private cluster behind it when there is one.
pub struct Database {
    pub pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
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
        Ok(Self { pool, embedded })
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
