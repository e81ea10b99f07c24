//! Fail fast while the database is down: once a request found PostgreSQL unreachable, the
//! next requests answer 503 at once instead of each waiting out the pool's timeout, and a
//! probe asks the database every quarter second until it answers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

const PROBE_EVERY: Duration = Duration::from_millis(250);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone, Default)]
pub struct DbHealth(Arc<State>);

#[derive(Default)]
struct State {
    down: AtomicBool,
    probing: AtomicBool,
}

impl DbHealth {
    pub fn is_down(&self) -> bool {
        self.0.down.load(Ordering::Relaxed)
    }

    /// Marks the database down and, unless one runs already, starts the probe that marks
    /// it up again.
    pub fn mark_down(&self, pool: &PgPool) {
        if !self.0.down.swap(true, Ordering::Relaxed) {
            tracing::warn!("database unreachable: answering 503 at once until it answers again");
            metrics::gauge!("database_available").set(0.0);
        }
        if self.0.probing.swap(true, Ordering::Relaxed) {
            return;
        }
        let (health, pool) = (self.clone(), pool.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let probe = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&pool);
                if let Ok(Ok(1)) = tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                    health.0.down.store(false, Ordering::Relaxed);
                    health.0.probing.store(false, Ordering::Relaxed);
                    metrics::gauge!("database_available").set(1.0);
                    tracing::info!("database answers again");
                    return;
                }
            }
        });
    }
}
