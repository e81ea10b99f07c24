//! What the HTTP edge holds beside the services' `App`: authentication caches, the replica
//! read pool, database health, the audit key, CORS origins, the public URL and where
//! checkpoints are also written.

use sqlx::PgPool;

use crate::app::App;
use crate::audit::key::AuditKey;
use crate::auth::Authenticator;
use crate::infra::db_health::DbHealth;
use crate::infra::read_pool::ReadPool;
use crate::security::ServerSecret;

/// The router's state. It dereferences (through `EdgeState`) to the `App` the services take,
/// so a handler passes `&edge` where a service asks for `&App`. Cloning it is one reference
/// count.
#[derive(Clone)]
pub struct Edge(std::sync::Arc<EdgeState>);

/// What `Edge` holds.
#[derive(Clone)]
pub struct EdgeState {
    pub app: App,
    pub auth: Authenticator,
    /// Take the client's address from the last `X-Forwarded-For` hop (behind a proxy that
    /// sets it) instead of the TCP peer.
    pub trust_forwarded_for: bool,
    /// Where staff reads of read models and the audit log go (a replica, when configured).
    pub reads: ReadPool,
    /// Whether the database is known to be down (requests then answer 503 at once).
    pub db_health: DbHealth,
    /// Signs checkpoints of the firms' audit chains.
    pub audit_key: AuditKey,
    /// Origins allowed to call the API from a browser (CORS); empty: none.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// Where clients reach this server (`PORTAL_PUBLIC_URL`, or the listening address):
    /// the base of the firms' portal login addresses. `https://` makes cookies `Secure`.
    pub public_url: Option<String>,
    /// Where new signed checkpoints are also written (`PORTAL_CHECKPOINT_DIR`), if anywhere.
    pub checkpoint_dir: Option<std::path::PathBuf>,
    /// Which webhook URLs may be sent to (`PORTAL_WEBHOOK_ALLOW_PRIVATE`).
    pub outbound: crate::infra::outbound::OutboundPolicy,
    /// The longest a feed request long-polls (`PORTAL_FEED_MAX_WAIT_S`).
    pub feed_max_wait: std::time::Duration,
}

impl Edge {
    /// The edge of `app` with nothing configured: reads on the primary, a key of its own
    /// until the server sets the persistent one (`runtime::server`), no CORS, no public URL.
    pub fn new(app: App) -> Self {
        let pool = app.pool().clone();
        Self(std::sync::Arc::new(EdgeState {
            auth: Authenticator::new(
                pool.clone(),
                app.keys().clone(),
                app.store.lookup_pool().clone(),
            ),
            reads: ReadPool::primary_only(pool),
            app,
            trust_forwarded_for: false,
            db_health: DbHealth::default(),
            audit_key: AuditKey::ephemeral(),
            cors_origins: Vec::new(),
            public_url: None,
            checkpoint_dir: None,
            outbound: Default::default(),
            feed_max_wait: std::time::Duration::from_secs(30),
        }))
    }

    /// An edge over a new `App` on `pool`.
    pub fn on(pool: PgPool, secret: ServerSecret, masters: Vec<eventlog::MasterKey>) -> Self {
        Self::new(App::new(pool, secret, masters))
    }

    /// A firm's hosted login page, when this server knows its public address.
    pub fn portal_login_url(&self, tenant_slug: &str) -> Option<String> {
        self.public_url
            .as_deref()
            .map(|base| format!("{}/portal/{tenant_slug}/login", base.trim_end_matches('/')))
    }

    /// The passkeys' relying party: this server as its public URL names it (409
    /// `passkeys_unavailable` when that is no domain name).
    pub fn relying_party(
        &self,
    ) -> crate::errors::service::ServiceResult<crate::portal::passkeys::RelyingParty> {
        crate::portal::passkeys::RelyingParty::for_public_url(self.public_url.as_deref())
    }

    /// Whether clients reach this server over https (cookies are then `Secure`).
    pub fn serves_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

impl std::ops::Deref for Edge {
    type Target = EdgeState;

    fn deref(&self) -> &EdgeState {
        &self.0
    }
}

/// Settings are changed only while the server is being set up (this copies the state if
/// the edge is already shared).
impl std::ops::DerefMut for Edge {
    fn deref_mut(&mut self) -> &mut EdgeState {
        std::sync::Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for EdgeState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl std::ops::DerefMut for EdgeState {
    fn deref_mut(&mut self) -> &mut App {
        &mut self.app
    }
}
