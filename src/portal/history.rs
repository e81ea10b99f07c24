//! The login history auditors read (`portal_logins`, append-only): one row per attempt with
//! its outcome, address and user agent.

use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::service::ServiceResult;
use crate::store::CommandMeta;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Succeeded,
    InvalidCredentials,
    LoginDisabled,
    LockedOut,
    RateLimited,
    PortalInactive,
    /// A right password; the second step is owed.
    MfaRequired,
    /// A wrong second-step code.
    InvalidCode,
    /// A passkey answer that did not verify.
    InvalidPasskey,
}

impl Outcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::InvalidCredentials => "invalid_credentials",
            Self::LoginDisabled => "login_disabled",
            Self::LockedOut => "locked_out",
            Self::RateLimited => "rate_limited",
            Self::PortalInactive => "portal_inactive",
            Self::MfaRequired => "mfa_required",
            Self::InvalidCode => "invalid_code",
            Self::InvalidPasskey => "invalid_passkey",
        }
    }
}

/// One login attempt: who asked (metadata), on which name and address keys, for which login.
pub(super) struct Attempt<'a> {
    pub(super) meta: &'a CommandMeta,
    pub(super) username_key: &'a [u8],
    /// The client's address as a throttle key, when the address is known.
    pub(super) address_key: Option<&'a [u8]>,
    pub(super) portal_user_id: Option<Uuid>,
    /// When it is made (`App::clock`): lockouts and the session's lifetime count from it.
    pub(super) now: chrono::DateTime<chrono::Utc>,
}

pub(super) async fn record(
    scope: &TenantScope,
    attempt: &Attempt<'_>,
    outcome: Outcome,
    session_id: Option<Uuid>,
) -> ServiceResult<()> {
    let mut conn = scope.pool().acquire().await?;
    insert_history(&mut conn, attempt, outcome, session_id).await?;
    metrics::counter!("portal_logins_total", "outcome" => outcome.as_str()).increment(1);
    Ok(())
}

pub(super) async fn insert_history(
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
