//! Portal logins: the password check with its lockout and address limits, sessions, and
//! the login history auditors read. Logins are not events: they would grow every account
//! stream by one event per login (docs/decisions.md).

pub mod factors;
mod history;
pub mod passkeys;
pub mod recovery_codes;
pub mod second_step;
pub mod self_service;
pub mod sessions;
pub mod throttle;
pub mod totp;

use aggregates::portal_user::{LoginStatus, PortalUser};
use aggregates::tenant::Tenant;
use cqrs_es::Aggregate;
use eventlog::{queries, replay_json};
use uuid::Uuid;

use crate::app::App;
use crate::auth::TenantScope;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::store::CommandMeta;
use aggregates::policies::MfaPolicy;
use history::{insert_history, record, Attempt, Outcome};
use sessions::Opening;
pub use sessions::{Method, NewSession, SessionUser};
use throttle::{seconds, Count};

/// The row of a one-time token's table (a second step, a passkey ceremony) that `select`
/// reads by `id = $1 AND tenant_id = $2 AND used_at IS NULL AND expires_at > $3`: the
/// token's own row while it is this firm's, unused and unexpired.
async fn open_token_row<R>(
    app: &App,
    scope: &TenantScope,
    select: &'static str,
    id: Uuid,
) -> ServiceResult<Option<R>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    Ok(sqlx::query_as(select)
        .bind(id)
        .bind(scope.id())
        .bind(app.clock.now())
        .fetch_optional(scope.pool())
        .await?)
}

/// Checks a username and password. Unknown usernames, logins without a password yet,
/// removed logins and wrong passwords all answer `invalid_credentials` after the same
/// Argon2id work; a disabled login is only named once the password was right.
pub async fn login(
    app: &App,
    scope: &TenantScope,
    meta: &CommandMeta,
    username: &str,
    password: String,
) -> ServiceResult<NewSession> {
    let typed = username.trim();
    // An e-mail address of exactly one active login stands for its username: lockouts and
    // history then count on that login's name, whichever way it was typed.
    let by_email = username_for_email(scope, typed).await?;
    let username = by_email.as_deref().unwrap_or(typed);
    let username_key = app.secret.username_key(meta.tenant_id, username);
    let address_key = address_key(app, meta);
    // Attempts on one name queue here, so each sees the failures counted before it.
    let _queued = app.login_queues.queue(&username_key).await;
    let now = app.clock.now();
    let mut found = find_login(scope, username, &username_key, address_key.as_deref(), now).await?;
    let email_still_matches = found
        .account
        .as_ref()
        .and_then(|u| u.account.as_ref())
        .is_some_and(|a| a.email.as_str().eq_ignore_ascii_case(typed));
    if by_email.is_some() && !email_still_matches {
        // The read model proposed a login whose address has since changed: the log decides.
        found = FoundLogin {
            portal_user_id: None,
            account: None,
            password_hash: None,
            ..found
        };
    }
    let limits = app.limits.for_firm(found.policies.as_ref());
    let attempt = Attempt {
        meta,
        username_key: &username_key,
        address_key: address_key.as_deref(),
        portal_user_id: found.portal_user_id,
        now,
    };
    found.gate().pass(scope, &attempt).await?;
    let user_id = found.portal_user_id;
    let status = found.account.as_ref().and_then(PortalUser::status);
    let stored_hash = found.password_hash;
    let usable = matches!(status, Some(LoginStatus::Active | LoginStatus::Disabled));
    let stored_hash = stored_hash.filter(|_| usable);
    let password_ok = app
        .hasher
        .verify(password, stored_hash)
        .await
        .map_err(ServiceError::internal)?;

    if !password_ok {
        count_failure(&limits, scope, &attempt, Outcome::InvalidCredentials).await?;
        return Err(ServiceError::InvalidCredentials);
    }
    if status == Some(LoginStatus::Disabled) {
        record(scope, &attempt, Outcome::LoginDisabled, None).await?;
        return Err(ServiceError::Forbidden {
            code: "login_disabled",
            detail: "this portal login has been disabled; contact the firm".into(),
        });
    }
    let portal_user_id = user_id.expect("a matching password belongs to a login");
    let factors = found
        .account
        .as_ref()
        .and_then(|u| u.account.as_ref())
        .map(|a| a.factors.clone())
        .unwrap_or_default();
    if factors.any() {
        let challenge = second_step::challenge(scope, &attempt, portal_user_id, &factors).await?;
        return Err(ServiceError::MfaRequired(challenge));
    }
    let opening = Opening {
        method: Method::Password,
        enrolment_only: found.policies.is_some_and(|p| p.mfa == MfaPolicy::Required),
    };
    sessions::start(scope, limits.session_ttl, &attempt, portal_user_id, opening).await
}

/// The throttle key of the client's address for login attempts, when the address is known.
fn address_key(app: &App, meta: &CommandMeta) -> Option<Vec<u8>> {
    meta.client_ip
        .as_deref()
        .map(|ip| app.secret.address_key("login", meta.tenant_id, ip))
}

/// What refuses an attempt (a password, or a second step's code) before any secret is
/// checked: the firm's portal switched off, a lock on the name, a lock on the address.
struct Gate {
    portal_active: bool,
    /// Seconds until a lock on the typed name lifts, if it is locked.
    locked_for: Option<u64>,
    /// Seconds until a lock on the client's address lifts, if it is locked.
    address_locked_for: Option<u64>,
}

impl Gate {
    /// Refuses (and records the attempt) when closed or locked.
    async fn pass(&self, scope: &TenantScope, attempt: &Attempt<'_>) -> ServiceResult<()> {
        if !self.portal_active {
            record(scope, attempt, Outcome::PortalInactive, None).await?;
            return Err(portal_inactive());
        }
        if let Some(retry_after_secs) = self.locked_for {
            record(scope, attempt, Outcome::LockedOut, None).await?;
            return Err(ServiceError::LockedOut { retry_after_secs });
        }
        if let Some(retry_after_secs) = self.address_locked_for {
            record(scope, attempt, Outcome::RateLimited, None).await?;
            return Err(ServiceError::RateLimited { retry_after_secs });
        }
        Ok(())
    }
}

/// The username of the one active login whose e-mail address is `typed`, when `typed`
/// looks like an address and is not itself a username. Proposed by the `rm_portal_users`
/// read model; the caller checks it against the login's stream.
async fn username_for_email(scope: &TenantScope, typed: &str) -> ServiceResult<Option<String>> {
    if !typed.contains('@') {
        return Ok(None);
    }
    Ok(sqlx::query_scalar(&format!(
        "SELECT min(u.username) FROM rm_portal_users u
          WHERE u.tenant_id = $1 AND lower(u.email) = lower($2)
            AND u.activated_at IS NOT NULL AND NOT u.disabled AND NOT u.removed
            AND NOT EXISTS ({})
         HAVING count(*) = 1",
        queries::login_by_username_sql("$1", "$2", "$3")
    ))
    .bind(scope.id())
    .bind(typed)
    .bind(scope.keys().username_key(scope.id(), typed))
    .fetch_optional(scope.pool())
    .await?)
}

pub fn portal_inactive() -> ServiceError {
    ServiceError::Forbidden {
        code: "portal_inactive",
        detail: "this firm's client portal is switched off".into(),
    }
}

/// Whether the firm's portal is on, as its tenant stream says.
pub async fn portal_active(app: &App, meta: &CommandMeta) -> ServiceResult<bool> {
    let tenant = app
        .store
        .reader(meta)
        .load::<Tenant>(meta.tenant_id)
        .await?;
    Ok(!tenant.state.portal_inactive)
}

/// What a login attempt needs to know before checking the password.
struct FoundLogin {
    /// The firm's portal switch.
    portal_active: bool,
    portal_user_id: Option<Uuid>,
    /// The login as its stream says, replayed by the domain.
    account: Option<PortalUser>,
    password_hash: Option<String>,
    /// Seconds until a lock on this username lifts, if it is locked.
    locked_for: Option<u64>,
    /// Seconds until a lock on the client's address lifts, if it is locked.
    address_locked_for: Option<u64>,
    /// The firm's own policies, if it has set them.
    policies: Option<aggregates::policies::PortalPolicies>,
}

impl FoundLogin {
    fn gate(&self) -> Gate {
        Gate {
            portal_active: self.portal_active,
            locked_for: self.locked_for,
            address_locked_for: self.address_locked_for,
        }
    }
}

/// Everything a login decides on, in one round trip: the portal switch, the login a typed
/// username names (through the index that keeps usernames unique) with its stream, its
/// password hash, and any lock on the name or on the client's address.
async fn find_login(
    scope: &TenantScope,
    username: &str,
    username_key: &[u8],
    address_key: Option<&[u8]>,
    now: chrono::DateTime<chrono::Utc>,
) -> ServiceResult<FoundLogin> {
    type Row = (
        Option<serde_json::Value>,
        Option<String>,
        Option<serde_json::Value>,
        Option<String>,
        Option<f64>,
        Option<f64>,
    );
    let (tenant_stream, user_id, user_stream, password_hash, locked_for, address_locked_for): Row =
        sqlx::query_as(&format!(
            "WITH u AS ({})
             SELECT {},
                    (SELECT aggregate_id FROM u),
                    {},
                    (SELECT c.password_hash FROM portal_credentials c, u
                      WHERE c.tenant_id = $1 AND c.portal_user_id = u.aggregate_id::uuid),
                    {}, {}",
            queries::login_by_username_sql("$1", "$2", "$6"),
            queries::stream_json_sql(Tenant::TYPE, "($1::uuid)::text", "$1"),
            queries::stream_json_sql(PortalUser::TYPE, "(SELECT aggregate_id FROM u)", "$1"),
            throttle::seconds_locked_sql("$1", "$3", "$5"),
            throttle::seconds_locked_sql("$1", "$4", "$5"),
        ))
        .bind(scope.id())
        .bind(username.trim())
        .bind(username_key)
        .bind(address_key)
        .bind(now)
        .bind(scope.keys().username_key(scope.id(), username))
        .fetch_one(scope.pool())
        .await?;
    let account = match (&user_id, user_stream) {
        (Some(id), Some(events)) => {
            Some(replay_json::<PortalUser>(scope.keys(), id, events).await?)
        }
        _ => None,
    };
    let tenant: Tenant = match tenant_stream {
        Some(events) => replay_json(scope.keys(), &scope.id().to_string(), events).await?,
        None => Tenant::default(),
    };
    Ok(FoundLogin {
        portal_active: !tenant.portal_inactive,
        portal_user_id: user_id
            .map(|s| Uuid::parse_str(&s).map_err(ServiceError::internal))
            .transpose()?,
        account,
        password_hash,
        locked_for: locked_for.map(seconds),
        address_locked_for: address_locked_for.map(seconds),
        policies: tenant.policies,
    })
}

/// Counts a failure (a wrong password or second-step code) against the typed name and the
/// client's address; the failure that reaches a limit locks that key (this attempt still
/// answers 401; the next ones 429).
async fn count_failure(
    limits: &crate::app::Limits,
    scope: &TenantScope,
    attempt: &Attempt<'_>,
    outcome: Outcome,
) -> ServiceResult<()> {
    let mut tx = scope.pool().begin().await?;
    let mut keys = vec![(
        attempt.username_key,
        attempt.portal_user_id,
        limits.lockout_failures,
    )];
    if let Some(address_key) = attempt.address_key {
        keys.push((address_key, None, limits.address_failures));
    }
    let mut locked = false;
    for (key, portal_user_id, limit) in keys {
        let counted = Count {
            tenant_id: scope.id(),
            key,
            portal_user_id,
            limit,
            now: attempt.now,
        };
        locked |= counted.add(&mut tx, limits).await?.just_locked;
    }
    insert_history(&mut tx, attempt, outcome, None).await?;
    tx.commit().await?;
    if locked {
        metrics::counter!("portal_lockouts_total").increment(1);
        tracing::warn!(portal_user_id = ?attempt.portal_user_id, "portal login or client address locked after repeated failures");
    }
    metrics::counter!("portal_logins_total", "outcome" => outcome.as_str()).increment(1);
    Ok(())
}
