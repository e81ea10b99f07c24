//! A worker's presence in the database (the mail sender, the webhook dispatcher): a session
//! advisory lock on a key of its own, held on a connection of its own for as long as the
//! worker runs. Its claims (on e-mails, on webhook deliveries) carry the key; when the
//! process dies its session ends, the lock is free, and another worker takes those claims
//! at once (`pg_try_advisory_xact_lock` succeeds only for a free key) instead of waiting
//! out the claim's lease. The lock is held across every commit of the worker on purpose:
//! it is the liveness mark, and it guards no rows (decision record 28).

use sqlx::{Connection, PgConnection, PgPool};

/// The claim condition other senders use: a claim whose owner is gone. `claimed_by` is the
/// column, `$n` nothing; it takes a transaction-level lock only when the owner's is free.
pub const OWNER_GONE: &str = "(claimed_by IS NOT NULL AND pg_try_advisory_xact_lock(claimed_by))";

pub struct Presence {
    key: i64,
    session: Option<PgConnection>,
    /// Counts the sessions taken: a lock held through an earlier session is gone.
    generation: u64,
}

impl Presence {
    /// A new key, marked present on a connection of its own; without the database (it
    /// comes back later) the sender has no presence and its claims wait out their lease.
    pub async fn announce(pool: &PgPool) -> Self {
        let key = new_key();
        let session = Self::hold(pool, key).await;
        Self {
            key,
            session,
            generation: 0,
        }
    }

    async fn hold(pool: &PgPool, key: i64) -> Option<PgConnection> {
        let mut session = PgConnection::connect_with(&pool.connect_options())
            .await
            .ok()?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut session)
            .await
            .ok()?;
        Some(session)
    }

    /// The key to put on claims: `None` while the presence is not held (claims then carry
    /// none and come back by their lease alone).
    pub fn key(&self) -> Option<i64> {
        self.session.as_ref().map(|_| self.key)
    }

    /// Whether the presence still holds; if its session was lost it is taken again under a
    /// new key (the old one's claims may already be someone else's). Asked before each
    /// delivery so a sender whose session dropped does not send what another has taken.
    pub async fn confirm(&mut self, pool: &PgPool) -> bool {
        if let Some(session) = self.session.as_mut() {
            if session.ping().await.is_ok() {
                return true;
            }
        }
        self.key = new_key();
        self.session = Self::hold(pool, self.key).await;
        self.generation += 1;
        false
    }

    /// The session's number: it changes when a lost session is taken again.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Takes `key` too on the presence's session, if no session anywhere holds it: work
    /// only one worker of all processes may do at a time, freed with the session when the
    /// process dies. Whether it was taken.
    pub async fn try_take(&mut self, key: i64) -> bool {
        let Some(session) = self.session.as_mut() else {
            return false;
        };
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(session)
            .await
            .unwrap_or(false)
    }

    /// Frees a key taken with `try_take` in this generation.
    pub async fn free(&mut self, key: i64, generation: u64) {
        if generation != self.generation {
            return;
        }
        if let Some(session) = self.session.as_mut() {
            if let Err(e) = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(session)
                .await
            {
                tracing::warn!(error = %e, "could not free an advisory lock; it goes with the session");
            }
        }
    }
}

/// A random key (another sender's, or another use of advisory locks, is as good as never
/// the same).
fn new_key() -> i64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    i64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"))
}
