//! Portal sessions: tokens kept hashed, expiring, ended by logout or by account changes
//! (the store ends them in the same commit as a disable, removal or new password).

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::history::{Attempt, Outcome};
use crate::auth::TenantScope;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::security::{new_session_token, session_token_id, sha256, token_matches};

/// A session handed to a portal user after a good login.
#[derive(Clone)]
pub struct NewSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The firm requires a second factor and this login has none: the session may only
    /// set one up.
    pub enrolment_required: bool,
}

/// The portal user behind a valid session token.
#[derive(Debug, Clone, Copy)]
pub struct SessionUser {
    pub session_id: Uuid,
    pub portal_user_id: Uuid,
    /// May only set up a second factor (the firm requires one; see `NewSession`).
    pub enrolment_only: bool,
}

/// How a login was completed, as its history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Password,
    Totp,
    RecoveryCode,
    Passkey,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
        }
    }
}

/// What the session opened after a good login is: how it was earned and whether it may
/// only set up a factor.
pub(super) struct Opening {
    pub method: Method,
    pub enrolment_only: bool,
}

/// Opens a session after a good login.
pub(super) async fn start(
    scope: &TenantScope,
    ttl: chrono::Duration,
    attempt: &Attempt<'_>,
    portal_user_id: Uuid,
    opening: Opening,
) -> ServiceResult<NewSession> {
    let (session_id, token) = new_session_token();
    let expires_at = attempt.now + ttl;
    let meta = attempt.meta;
    // One statement, so one round trip and atomic: the session, the end of any failure
    // count and the history row (which staff's "last login" is read from).
    sqlx::query(
        "WITH session AS (
              INSERT INTO portal_sessions (id, tenant_id, portal_user_id, token_hash, expires_at, enrolment_only)
              VALUES ($1, $2, $3, $4, $5, $12)),
          unthrottled AS (
              DELETE FROM portal_login_throttle WHERE tenant_id = $2 AND key = $6)
         INSERT INTO portal_logins (tenant_id, portal_user_id, username_key, outcome, session_id, client_ip, user_agent, request_id, method)
         VALUES ($2, $3, $6, $10, $1, $7, $8, $9, $11)",
    )
    .bind(session_id)
    .bind(scope.id())
    .bind(portal_user_id)
    .bind(sha256(token.as_bytes()))
    .bind(expires_at)
    .bind(attempt.username_key)
    .bind(&meta.client_ip)
    .bind(&meta.user_agent)
    .bind(&meta.request_id)
    .bind(Outcome::Succeeded.as_str())
    .bind(opening.method.as_str())
    .bind(opening.enrolment_only)
    .execute(scope.pool())
    .await?;
    metrics::counter!("portal_logins_total", "outcome" => "succeeded", "method" => opening.method.as_str())
        .increment(1);
    Ok(NewSession {
        token,
        expires_at,
        enrolment_required: opening.enrolment_only,
    })
}

/// The portal user a bearer session token belongs to, if the session is open and unexpired.
pub async fn authenticate(
    scope: &TenantScope,
    token: &str,
    now: DateTime<Utc>,
) -> ServiceResult<SessionUser> {
    let session_id = session_token_id(token).ok_or(ServiceError::Unauthorized)?;
    let row = sqlx::query(
        "SELECT portal_user_id, token_hash, enrolment_only FROM portal_sessions
          WHERE id = $1 AND tenant_id = $2 AND ended_at IS NULL AND expires_at > $3",
    )
    .bind(session_id)
    .bind(scope.id())
    .bind(now)
    .fetch_optional(scope.pool())
    .await?
    .ok_or(ServiceError::Unauthorized)?;
    let stored: Vec<u8> = row.try_get("token_hash")?;
    if !token_matches(token, &stored) {
        return Err(ServiceError::Unauthorized);
    }
    Ok(SessionUser {
        session_id,
        portal_user_id: row.try_get("portal_user_id")?,
        enrolment_only: row.try_get("enrolment_only")?,
    })
}

pub async fn logout(scope: &TenantScope, session: SessionUser) -> ServiceResult<()> {
    sqlx::query(
        "UPDATE portal_sessions SET ended_at = now(), end_reason = 'logout'
          WHERE id = $1 AND tenant_id = $2 AND ended_at IS NULL",
    )
    .bind(session.session_id)
    .bind(scope.id())
    .execute(scope.pool())
    .await?;
    Ok(())
}

/// "Log out everywhere": ends every open session of the login, this one included.
pub async fn logout_everywhere(scope: &TenantScope, portal_user_id: Uuid) -> ServiceResult<u64> {
    let ended = sqlx::query(
        "UPDATE portal_sessions SET ended_at = now(), end_reason = 'logout_everywhere'
          WHERE tenant_id = $1 AND portal_user_id = $2 AND ended_at IS NULL",
    )
    .bind(scope.id())
    .bind(portal_user_id)
    .execute(scope.pool())
    .await?;
    Ok(ended.rows_affected())
}
