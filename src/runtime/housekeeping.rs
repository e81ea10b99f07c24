//! Periodic pruning of the portal's working tables, which nothing else shrinks: failed-login
//! counters for names nobody tried lately (attackers try many) and sessions long expired.
//! The login history (`portal_logins`) is kept: it is the auditors' record.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

/// How often to prune.
const EVERY: Duration = Duration::from_secs(3600);

/// Removes counters idle for a day (their window and any lock long over) and sessions that
/// expired or ended more than 30 days ago; returns how many rows went.
pub async fn prune(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let counters = sqlx::query(
        "DELETE FROM portal_login_throttle
          WHERE window_started_at < now() - interval '1 day'
            AND (locked_until IS NULL OR locked_until < now() - interval '1 day')",
    )
    .execute(pool)
    .await?
    .rows_affected();
    let sessions = sqlx::query(
        "DELETE FROM portal_sessions
          WHERE LEAST(expires_at, COALESCE(ended_at, expires_at)) < now() - interval '30 days'",
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(counters + sessions)
}

pub async fn run(pool: PgPool, mut shutdown: watch::Receiver<bool>) {
    loop {
        match prune(&pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned expired sessions and idle login counters"),
            Err(e) => tracing::warn!(error = %e, "housekeeping failed; will try again"),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
