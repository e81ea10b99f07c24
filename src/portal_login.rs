//! Portal logins and sessions: the password check with its lockout, session tokens (kept
//! hashed, expiring, ended by logout or by account changes), and the login history auditors
//! read. Logins are not events: they would grow every account stream by one event per login
//! (docs/decisions.md).

use aggregates::portal_user::{LoginStatus, PortalUser};
use aggregates::tenant::Tenant;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::security::{new_session_token, session_token_id, sha256, token_matches};
use crate::store::{replay_json, CommandMeta};

/// A session handed to a portal user after a good login.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// The portal user behind a valid session token.
#[derive(Debug, Clone, Copy)]
pub struct SessionUser {
    pub session_id: Uuid,
    pub portal_user_id: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    InvalidCredentials,
    LoginDisabled,
    LockedOut,
    RateLimited,
    PortalInactive,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::InvalidCredentials => "invalid_credentials",
            Self::LoginDisabled => "login_disabled",
            Self::LockedOut => "locked_out",
            Self::RateLimited => "rate_limited",
            Self::PortalInactive => "portal_inactive",
        }
    }
}

struct Attempt<'a> {
    meta: &'a CommandMeta,
    username_key: &'a [u8],
    /// The client's address as a throttle key, when the address is known.
    address_key: Option<&'a [u8]>,
    portal_user_id: Option<Uuid>,
}

/// Checks a username and password. Unknown usernames, logins without a password yet,
/// removed logins and wrong passwords all answer `invalid_credentials` after the same
/// Argon2id work; a disabled login is only named once the password was right.
pub async fn login(
    app: &App,
    meta: &CommandMeta,
    username: &str,
    password: String,
) -> AppResult<NewSession> {
    let username_key = app.secret.username_key(meta.tenant_id, username);
    let address_key = meta
        .client_ip
        .as_deref()
        .map(|ip| app.secret.address_key("login", meta.tenant_id, ip));
    // Attempts on one name queue here, so each sees the failures counted before it.
    let _queued = app.login_queues.queue(&username_key).await;
    let found = find_login(
        app,
        meta.tenant_id,
        username,
        &username_key,
        address_key.as_deref(),
    )
    .await?;
    let attempt = Attempt {
        meta,
        username_key: &username_key,
        address_key: address_key.as_deref(),
        portal_user_id: found.portal_user_id,
    };
    if !found.portal_active {
        record(app, &attempt, Outcome::PortalInactive, None).await?;
        return Err(portal_inactive());
    }
    if let Some(retry_after_secs) = found.locked_for {
        record(app, &attempt, Outcome::LockedOut, None).await?;
        return Err(AppError::LockedOut { retry_after_secs });
    }
    if let Some(retry_after_secs) = found.address_locked_for {
        record(app, &attempt, Outcome::RateLimited, None).await?;
        return Err(AppError::RateLimited { retry_after_secs });
    }
    let user_id = found.portal_user_id;
    let status = found.account.as_ref().and_then(PortalUser::status);
    let stored_hash = found.password_hash;
    let usable = matches!(status, Some(LoginStatus::Active | LoginStatus::Disabled));
    let stored_hash = stored_hash.filter(|_| usable);
    let password_ok = app
        .hasher
        .verify(password, stored_hash)
        .await
        .map_err(AppError::internal)?;

    if !password_ok {
        count_failure(app, &attempt).await?;
        return Err(AppError::InvalidCredentials);
    }
    if status == Some(LoginStatus::Disabled) {
        record(app, &attempt, Outcome::LoginDisabled, None).await?;
        return Err(AppError::Forbidden {
            code: "login_disabled",
            detail: "this portal login has been disabled; contact the firm".into(),
        });
    }
    let portal_user_id = user_id.expect("a matching password belongs to a login");
    start_session(app, &attempt, portal_user_id).await
}

pub fn portal_inactive() -> AppError {
    AppError::Forbidden {
        code: "portal_inactive",
        detail: "this firm's client portal is switched off".into(),
    }
}

/// Whether the firm's portal is on, as its tenant stream says.
pub async fn portal_active(app: &App, meta: &CommandMeta) -> AppResult<bool> {
    let tenant = app
        .store
        .reader(meta)
        .load::<Tenant>(meta.tenant_id)
        .await?;
    Ok(!tenant.state.portal_inactive)
}

/// SQL for one stream's events as a JSON array for `replay_json`, so a read can take a
/// stream along in a larger query; `aggregate_id` is an SQL expression, `$1` the tenant.
fn stream_json(aggregate_type: &str, aggregate_id: &str) -> String {
    format!(
        "(SELECT json_agg(json_build_array(e.sequence, e.event_type, e.event_version, e.payload)
                          ORDER BY e.sequence)
            FROM events e
           WHERE e.aggregate_type = '{aggregate_type}' AND e.aggregate_id = {aggregate_id}
             AND e.tenant_id = $1)"
    )
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
}

/// Everything a login decides on, in one round trip: the portal switch, the login a typed
/// username names (through the index that keeps usernames unique) with its stream, its
/// password hash, and any lock on the name or on the client's address.
async fn find_login(
    app: &App,
    tenant_id: Uuid,
    username: &str,
    username_key: &[u8],
    address_key: Option<&[u8]>,
) -> AppResult<FoundLogin> {
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
            "WITH u AS (SELECT aggregate_id FROM events
                         WHERE tenant_id = $1 AND event_type = 'PortalUserCreated'
                           AND lower(payload #>> '{{PortalUserCreated,username}}') = lower($2))
             SELECT {},
                    (SELECT aggregate_id FROM u),
                    {},
                    (SELECT c.password_hash FROM portal_credentials c, u
                      WHERE c.tenant_id = $1 AND c.portal_user_id = u.aggregate_id::uuid),
                    (SELECT EXTRACT(EPOCH FROM (locked_until - now()))::float8 FROM portal_login_throttle
                      WHERE tenant_id = $1 AND key = $3 AND locked_until > now()),
                    (SELECT EXTRACT(EPOCH FROM (locked_until - now()))::float8 FROM portal_login_throttle
                      WHERE tenant_id = $1 AND key = $4 AND locked_until > now())",
            stream_json("tenant", "($1::uuid)::text"),
            stream_json("portal_user", "(SELECT aggregate_id FROM u)"),
        ))
    .bind(tenant_id)
    .bind(username.trim())
    .bind(username_key)
    .bind(address_key)
    .fetch_one(app.pool())
    .await?;
    let account = match (&user_id, user_stream) {
        (Some(id), Some(events)) => Some(replay_json::<PortalUser>(id, events)?),
        _ => None,
    };
    let tenant: Tenant = match tenant_stream {
        Some(events) => replay_json(&tenant_id.to_string(), events)?,
        None => Tenant::default(),
    };
    Ok(FoundLogin {
        portal_active: !tenant.portal_inactive,
        portal_user_id: user_id
            .map(|s| Uuid::parse_str(&s).map_err(AppError::internal))
            .transpose()?,
        account,
        password_hash,
        locked_for: locked_for.map(seconds),
        address_locked_for: address_locked_for.map(seconds),
    })
}

fn seconds(remaining: f64) -> u64 {
    remaining.ceil().max(1.0) as u64
}

/// Counts a failure against the typed name and the client's address; the failure that
/// reaches a limit locks that key (this attempt still answers 401; the next ones 429).
async fn count_failure(app: &App, attempt: &Attempt<'_>) -> AppResult<()> {
    let limits = app.limits;
    let mut tx = app.pool().begin().await?;
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
            tenant_id: attempt.meta.tenant_id,
            key,
            portal_user_id,
            limit,
        };
        locked |= counted.add(&mut tx, &limits).await?.just_locked;
    }
    insert_history(&mut tx, attempt, Outcome::InvalidCredentials, None).await?;
    tx.commit().await?;
    if locked {
        metrics::counter!("portal_lockouts_total").increment(1);
        tracing::warn!(portal_user_id = ?attempt.portal_user_id, "portal login or client address locked after repeated failures");
    }
    metrics::counter!("portal_logins_total", "outcome" => "invalid_credentials").increment(1);
    Ok(())
}

/// One more failure (or request) on a throttle key.
pub struct Count<'a> {
    pub tenant_id: Uuid,
    pub key: &'a [u8],
    pub portal_user_id: Option<Uuid>,
    /// This many within `lockout_window` lock the key for `lockout_duration`.
    pub limit: i32,
}

pub struct Counted {
    /// This one reached the limit.
    pub just_locked: bool,
    /// The key is locked now (by this one or earlier).
    pub locked: bool,
}

impl Count<'_> {
    pub async fn add(
        &self,
        conn: &mut sqlx::PgConnection,
        limits: &crate::app::Limits,
    ) -> Result<Counted, sqlx::Error> {
        sqlx::query(
            "INSERT INTO portal_login_throttle (tenant_id, key, portal_user_id, failures, window_started_at)
             VALUES ($1, $2, $3, 1, now())
             ON CONFLICT (tenant_id, key) DO UPDATE SET
                 portal_user_id = COALESCE(EXCLUDED.portal_user_id, portal_login_throttle.portal_user_id),
                 failures = CASE WHEN portal_login_throttle.window_started_at < now() - make_interval(secs => $4)
                                 THEN 1 ELSE portal_login_throttle.failures + 1 END,
                 window_started_at = CASE WHEN portal_login_throttle.window_started_at < now() - make_interval(secs => $4)
                                 THEN now() ELSE portal_login_throttle.window_started_at END",
        )
        .bind(self.tenant_id)
        .bind(self.key)
        .bind(self.portal_user_id)
        .bind(limits.lockout_window.num_seconds() as f64)
        .execute(&mut *conn)
        .await?;
        let (just_locked, locked): (bool, bool) = sqlx::query_as(
            "WITH locking AS (
                 UPDATE portal_login_throttle
                    SET locked_until = now() + make_interval(secs => $4), failures = 0, window_started_at = now()
                  WHERE tenant_id = $1 AND key = $2 AND failures >= $3
                 RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM locking),
                    EXISTS (SELECT 1 FROM locking)
                    OR EXISTS (SELECT 1 FROM portal_login_throttle
                                WHERE tenant_id = $1 AND key = $2 AND locked_until > now())",
        )
        .bind(self.tenant_id)
        .bind(self.key)
        .bind(self.limit)
        .bind(limits.lockout_duration.num_seconds() as f64)
        .fetch_one(&mut *conn)
        .await?;
        Ok(Counted {
            just_locked,
            locked,
        })
    }
}

async fn start_session(
    app: &App,
    attempt: &Attempt<'_>,
    portal_user_id: Uuid,
) -> AppResult<NewSession> {
    let (session_id, token) = new_session_token();
    let expires_at = Utc::now() + app.limits.session_ttl;
    let meta = attempt.meta;
    // One statement, so one round trip and atomic: the session, the end of any failure
    // count and the history row (which staff's "last login" is read from).
    sqlx::query(
        "WITH session AS (
              INSERT INTO portal_sessions (id, tenant_id, portal_user_id, token_hash, expires_at)
              VALUES ($1, $2, $3, $4, $5)),
          unthrottled AS (
              DELETE FROM portal_login_throttle WHERE tenant_id = $2 AND key = $6)
         INSERT INTO portal_logins (tenant_id, portal_user_id, username_key, outcome, session_id, client_ip, user_agent, request_id)
         VALUES ($2, $3, $6, $10, $1, $7, $8, $9)",
    )
    .bind(session_id)
    .bind(meta.tenant_id)
    .bind(portal_user_id)
    .bind(sha256(token.as_bytes()))
    .bind(expires_at)
    .bind(attempt.username_key)
    .bind(&meta.client_ip)
    .bind(&meta.user_agent)
    .bind(&meta.request_id)
    .bind(Outcome::Succeeded.as_str())
    .execute(app.pool())
    .await?;
    metrics::counter!("portal_logins_total", "outcome" => "succeeded").increment(1);
    Ok(NewSession { token, expires_at })
}

async fn record(
    app: &App,
    attempt: &Attempt<'_>,
    outcome: Outcome,
    session_id: Option<Uuid>,
) -> AppResult<()> {
    let mut conn = app.pool().acquire().await?;
    insert_history(&mut conn, attempt, outcome, session_id).await?;
    metrics::counter!("portal_logins_total", "outcome" => outcome.as_str()).increment(1);
    Ok(())
}

async fn insert_history(
    conn: &mut sqlx::PgConnection,
    attempt: &Attempt<'_>,
    outcome: Outcome,
    session_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    let meta = attempt.meta;
    sqlx::query(
        "INSERT INTO portal_logins (tenant_id, portal_user_id, username_key, outcome, session_id, client_ip, user_agent, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(meta.tenant_id)
    .bind(attempt.portal_user_id)
    .bind(attempt.username_key)
    .bind(outcome.as_str())
    .bind(session_id)
    .bind(&meta.client_ip)
    .bind(&meta.user_agent)
    .bind(&meta.request_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The portal user a bearer session token belongs to, if the session is open and unexpired.
pub async fn authenticate(app: &App, tenant_id: Uuid, token: &str) -> AppResult<SessionUser> {
    let session_id = session_token_id(token).ok_or(AppError::Unauthorized)?;
    let row = sqlx::query(
        "SELECT portal_user_id, token_hash FROM portal_sessions
          WHERE id = $1 AND tenant_id = $2 AND ended_at IS NULL AND expires_at > now()",
    )
    .bind(session_id)
    .bind(tenant_id)
    .fetch_optional(app.pool())
    .await?
    .ok_or(AppError::Unauthorized)?;
    let stored: Vec<u8> = row.try_get("token_hash")?;
    if !token_matches(token, &stored) {
        return Err(AppError::Unauthorized);
    }
    Ok(SessionUser {
        session_id,
        portal_user_id: row.try_get("portal_user_id")?,
    })
}

pub async fn logout(app: &App, tenant_id: Uuid, session: SessionUser) -> AppResult<()> {
    sqlx::query(
        "UPDATE portal_sessions SET ended_at = now(), end_reason = 'logout'
          WHERE id = $1 AND tenant_id = $2 AND ended_at IS NULL",
    )
    .bind(session.session_id)
    .bind(tenant_id)
    .execute(app.pool())
    .await?;
    Ok(())
}
