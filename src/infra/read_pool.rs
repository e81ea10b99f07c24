//! Where reads go: a streaming replica (`DATABASE_READ_URL`) when one is configured and
//! answering, the primary otherwise. A watcher checks the replica every second; while it is
//! down, reads fall back to the primary, which the log says once per change and `/metrics`
//! shows (`read_replica_available`, `read_replica_fallbacks_total`).
//!
//! Only reads of read models and the audit log go here. Authentication (tokens, sessions)
//! always reads the primary: a replica a moment behind must not let a revoked token in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

/// How often the watcher asks the replica whether it is there.
const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct ReadPool {
    primary: PgPool,
    replica: Option<Replica>,
}

#[derive(Clone)]
struct Replica {
    pool: PgPool,
    up: Arc<AtomicBool>,
}

impl ReadPool {
    /// Reads go to the primary.
    pub fn primary_only(primary: PgPool) -> Self {
        Self {
            primary,
            replica: None,
        }
    }

    /// Reads go to `replica` while it answers; a watcher task (started here, ending when
    /// the replica's pool is closed) checks it every second.
    pub fn with_replica(primary: PgPool, replica: PgPool) -> Self {
        let replica = Replica {
            pool: replica,
            up: Arc::new(AtomicBool::new(true)),
        };
        tokio::spawn(watch(replica.clone()));
        Self {
            primary,
            replica: Some(replica),
        }
    }

    /// The primary, for what must not be a moment behind.
    pub fn primary(&self) -> &PgPool {
        &self.primary
    }

    /// The pool for the next read.
    pub fn pool(&self) -> &PgPool {
        match &self.replica {
            Some(replica) if replica.up.load(Ordering::Relaxed) => &replica.pool,
            Some(_) => {
                metrics::counter!("read_replica_fallbacks_total").increment(1);
                &self.primary
            }
            None => &self.primary,
        }
    }
}

/// Asks the replica whether it answers, every second, until its pool is closed.
async fn watch(replica: Replica) {
    while !replica.pool.is_closed() {
        let answered = tokio::time::timeout(
            CHECK_EVERY,
            sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&replica.pool),
        )
        .await;
        set_up(&replica, matches!(answered, Ok(Ok(1))));
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

fn set_up(replica: &Replica, up: bool) {
    let was = replica.up.swap(up, Ordering::Relaxed);
    if was != up {
        if up {
            tracing::info!("read replica answers again; reads go to it");
        } else {
            tracing::warn!("read replica unreachable; reads fall back to the primary");
        }
    }
    metrics::gauge!("read_replica_available").set(if up { 1.0 } else { 0.0 });
}
