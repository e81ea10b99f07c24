//! What commands and the portal share: the store, the password hasher, the link secret, the
//! product's time limits and the login queues. What only the HTTP edge needs (CORS, the
//! public URL, authentication caches, the audit key, the replica) is `http::Edge`.

use aggregates::portal_user::{LinkLifetimes, PortalUserCommand};
use chrono::Duration;
use sqlx::PgPool;

use crate::infra::clock::Clock;
use crate::security::{PasswordHasher, ServerSecret};
use crate::store::stripes::Stripes;
use crate::store::EventStore;

/// Shared by every request: cloning it (each extractor and middleware takes a copy) is one
/// reference count, not a copy of every field (measured: cloning and dropping the fields
/// one by one was ≈ 7 % of the server's CPU per command). Settings are changed only while
/// the server is being set up, through `DerefMut` (which copies the fields if the app is
/// already shared).
#[derive(Clone)]
pub struct App(std::sync::Arc<AppState>);

impl std::ops::Deref for App {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.0
    }
}

impl std::ops::DerefMut for App {
    fn deref_mut(&mut self) -> &mut AppState {
        std::sync::Arc::make_mut(&mut self.0)
    }
}

/// What `App` holds.
#[derive(Clone)]
pub struct AppState {
    pub store: EventStore,
    pub hasher: PasswordHasher,
    pub secret: ServerSecret,
    pub limits: Limits,
    /// Login attempts on one typed name queue here, so a burst of parallel guesses is
    /// counted one by one instead of all passing the lockout check together.
    pub login_queues: Stripes,
    /// The time every rule about time reads (tests move it forward).
    pub clock: Clock,
}

/// How long emailed links and sessions stay usable, and when failed logins lock a login.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub invitation_ttl: Duration,
    pub activation_ttl: Duration,
    pub reset_ttl: Duration,
    pub session_ttl: Duration,
    /// This many failures within `lockout_window` lock the login for `lockout_duration`.
    pub lockout_failures: i32,
    pub lockout_window: Duration,
    pub lockout_duration: Duration,
    /// This many failures from one client address within `lockout_window`, whatever the
    /// names tried, refuse that address for `lockout_duration` (password spraying).
    pub address_failures: i32,
    /// At most this many "forgot password" links per login per `lockout_window`, so the
    /// form cannot be used to flood someone's inbox.
    pub forgot_links_per_window: i64,
    /// At most this many "forgot password" requests per client address per
    /// `lockout_window`; beyond, they are answered alike and ignored.
    pub forgot_requests_per_address: i32,
}

impl Limits {
    /// These limits with a firm's own policies, where it has set them.
    pub fn for_firm(mut self, policies: Option<&aggregates::policies::PortalPolicies>) -> Self {
        if let Some(p) = policies {
            self.invitation_ttl = Duration::days(p.invitation_ttl_days);
            self.session_ttl = Duration::hours(p.session_hours);
            self.lockout_failures = p.lockout_failures as i32;
            self.lockout_duration = Duration::minutes(p.lockout_minutes);
        }
        self
    }

    /// The policies these limits amount to (whole days, hours, minutes).
    pub fn policies(&self) -> aggregates::policies::PortalPolicies {
        aggregates::policies::PortalPolicies {
            invitation_ttl_days: self.invitation_ttl.num_days(),
            session_hours: self.session_ttl.num_hours(),
            lockout_failures: i64::from(self.lockout_failures),
            lockout_minutes: self.lockout_duration.num_minutes(),
            mfa: aggregates::policies::MfaPolicy::Optional,
            erase_archived_after_days: None,
        }
    }

    /// A "send a reset link" command under these limits (the domain picks which link).
    pub fn reset_link_command(&self, now: chrono::DateTime<chrono::Utc>) -> PortalUserCommand {
        PortalUserCommand::SendResetLink {
            link_id: uuid::Uuid::now_v7(),
            now,
            lifetimes: LinkLifetimes {
                reset: self.reset_ttl,
                activation: self.activation_ttl,
            },
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            invitation_ttl: Duration::days(14),
            activation_ttl: Duration::days(7),
            reset_ttl: Duration::hours(2),
            session_ttl: Duration::hours(8),
            lockout_failures: 5,
            lockout_window: Duration::minutes(15),
            lockout_duration: Duration::minutes(15),
            address_failures: 50,
            forgot_links_per_window: 3,
            forgot_requests_per_address: 20,
        }
    }
}

impl App {
    pub fn new(pool: PgPool, secret: ServerSecret, masters: Vec<eventlog::MasterKey>) -> Self {
        let keys = eventlog::DataKeys::new(
            pool.clone(),
            masters,
            secret.derived_key("username-reservation"),
        );
        Self(std::sync::Arc::new(AppState {
            store: EventStore::new(pool, keys),
            hasher: PasswordHasher::default(),
            secret,
            limits: Limits::default(),
            login_queues: Stripes::default(),
            clock: Clock::default(),
        }))
    }

    pub fn pool(&self) -> &PgPool {
        self.store.pool()
    }

    /// The keys that seal and open personal fields in events.
    pub fn keys(&self) -> &eventlog::DataKeys {
        self.store.keys()
    }
}
