//! What every request handler and operator command shares: the store, the password hasher,
//! the link secret and the product's time limits.

use chrono::Duration;
use sqlx::PgPool;

use crate::security::{PasswordHasher, ServerSecret};
use crate::store::EventStore;

#[derive(Clone)]
pub struct App {
    pub store: EventStore,
    pub hasher: PasswordHasher,
    pub secret: ServerSecret,
    pub limits: Limits,
}

/// How long emailed links stay usable.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub invitation_ttl: Duration,
    pub activation_ttl: Duration,
    pub reset_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            invitation_ttl: Duration::days(14),
            activation_ttl: Duration::days(7),
            reset_ttl: Duration::hours(2),
        }
    }
}

impl App {
    pub fn new(pool: PgPool, secret: ServerSecret) -> Self {
        Self {
            store: EventStore::new(pool),
            hasher: PasswordHasher::default(),
            secret,
            limits: Limits::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        self.store.pool()
    }
}
