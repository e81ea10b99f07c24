//! The second step of a portal login. A right password for a login with a factor earns a
//! single-use `mfa_token` (five minutes, kept hashed); a code from the authenticator app or
//! a recovery code then completes the login. Wrong codes count against the same lockout as
//! wrong passwords; an app code is accepted once; a recovery code is used up.

use aggregates::portal_user::{Factors, PortalUser, PortalUserCommand};
use aggregates::tenant::Tenant;
use eventlog::{Actor, ActorKind};
use uuid::Uuid;

use super::history::{record, Attempt, Outcome};
use super::sessions::{self, Method, NewSession, Opening};
use super::{count_failure, factors, portal_inactive, recovery_codes, totp};
use crate::app::App;
use crate::auth::TenantScope;
use crate::errors::service::{MfaChallenge, ServiceError, ServiceResult};
use crate::security::{mfa_token_id, new_mfa_token, sha256, token_matches};
use crate::store::CommandMeta;

/// How long the second step may take.
const CHALLENGE_TTL_MINUTES: i64 = 5;

/// Issues the second step for a right password, recording the attempt as `mfa_required`.
pub(super) async fn challenge(
    scope: &TenantScope,
    attempt: &Attempt<'_>,
    portal_user_id: Uuid,
    factors: &Factors,
) -> ServiceResult<MfaChallenge> {
    let (id, token) = new_mfa_token();
    let meta = attempt.meta;
    sqlx::query(
        "WITH challenge AS (
              INSERT INTO portal_mfa_challenges (id, tenant_id, portal_user_id, token_hash, username_key, expires_at)
              VALUES ($1, $2, $3, $4, $5, $6))
         INSERT INTO portal_logins (tenant_id, portal_user_id, username_key, outcome, client_ip, user_agent, request_id)
         VALUES ($2, $3, $5, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(scope.id())
    .bind(portal_user_id)
    .bind(sha256(token.as_bytes()))
    .bind(attempt.username_key)
    .bind(attempt.now + chrono::Duration::minutes(CHALLENGE_TTL_MINUTES))
    .bind(Outcome::MfaRequired.as_str())
    .bind(&meta.client_ip)
    .bind(&meta.user_agent)
    .bind(&meta.request_id)
    .execute(scope.pool())
    .await?;
    metrics::counter!("portal_logins_total", "outcome" => "mfa_required").increment(1);
    let mut methods = Vec::new();
    if factors.totp {
        methods.push("totp");
    }
    if factors.recovery_codes_left > 0 {
        methods.push("recovery_code");
    }
    Ok(MfaChallenge {
        mfa_token: token,
        methods,
    })
}

/// An open second step, as its row says.
struct Open {
    id: Uuid,
    portal_user_id: Uuid,
    username_key: Vec<u8>,
}

async fn open_challenge(
    scope: &TenantScope,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> ServiceResult<Open> {
    let id = mfa_token_id(token.trim()).ok_or(ServiceError::MfaTokenInvalid)?;
    let row: Option<(Uuid, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT portal_user_id, token_hash, username_key FROM portal_mfa_challenges
          WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(id)
    .bind(scope.id())
    .bind(now)
    .fetch_optional(scope.pool())
    .await?;
    match row {
        Some((portal_user_id, hash, username_key)) if token_matches(token.trim(), &hash) => {
            Ok(Open {
                id,
                portal_user_id,
                username_key,
            })
        }
        _ => Err(ServiceError::MfaTokenInvalid),
    }
}

/// Seconds until a lock on the name or the address lifts, if either is locked.
async fn locks(
    scope: &TenantScope,
    attempt: &Attempt<'_>,
) -> ServiceResult<(Option<f64>, Option<f64>)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT EXTRACT(EPOCH FROM (locked_until - $4))::float8 FROM portal_login_throttle
                  WHERE tenant_id = $1 AND key = $2 AND locked_until > $4),
                (SELECT EXTRACT(EPOCH FROM (locked_until - $4))::float8 FROM portal_login_throttle
                  WHERE tenant_id = $1 AND key = $3 AND locked_until > $4)",
    )
    .bind(scope.id())
    .bind(attempt.username_key)
    .bind(attempt.address_key)
    .bind(attempt.now)
    .fetch_one(scope.pool())
    .await?)
}

/// What proves the second step, before anything is spent.
enum Proof {
    /// The app's code of this step (later than any accepted before).
    Totp { step: i64 },
    /// An unused recovery code with this hash.
    RecoveryCode { hash: Vec<u8> },
}

/// Completes a login with the second step's token and a code (the app's or a recovery
/// code): a session, or 401 `invalid_code` (counted toward the lockout), 401
/// `mfa_token_invalid`, 429 while locked.
pub async fn complete(
    app: &App,
    scope: &TenantScope,
    meta: &CommandMeta,
    mfa_token: &str,
    code: &str,
) -> ServiceResult<NewSession> {
    let open = open_challenge(scope, mfa_token, app.clock.now()).await?;
    let address_key = meta
        .client_ip
        .as_deref()
        .map(|ip| app.secret.address_key("login", meta.tenant_id, ip));
    // Codes on one name queue like passwords, so each sees the failures counted before it.
    let _queued = app.login_queues.queue(&open.username_key).await;
    let attempt = Attempt {
        meta,
        username_key: &open.username_key,
        address_key: address_key.as_deref(),
        portal_user_id: Some(open.portal_user_id),
        now: app.clock.now(),
    };
    let mut reader = app.store.reader(meta);
    let tenant = reader.load::<Tenant>(meta.tenant_id).await?.state;
    if tenant.portal_inactive {
        record(scope, &attempt, Outcome::PortalInactive, None).await?;
        return Err(portal_inactive());
    }
    match locks(scope, &attempt).await? {
        (Some(left), _) => {
            record(scope, &attempt, Outcome::LockedOut, None).await?;
            let retry_after_secs = super::throttle::seconds(left);
            return Err(ServiceError::LockedOut { retry_after_secs });
        }
        (None, Some(left)) => {
            record(scope, &attempt, Outcome::RateLimited, None).await?;
            let retry_after_secs = super::throttle::seconds(left);
            return Err(ServiceError::RateLimited { retry_after_secs });
        }
        (None, None) => {}
    }
    let user = reader.load::<PortalUser>(open.portal_user_id).await?.state;
    let Some(account) = user.account.filter(|a| a.can_log_in()) else {
        // Disabled or removed since the password was checked.
        return Err(ServiceError::MfaTokenInvalid);
    };
    let limits = app.limits.for_firm(tenant.policies.as_ref());
    let Some(proof) = proof(app, scope, open.portal_user_id, code).await? else {
        count_failure(&limits, scope, &attempt, Outcome::InvalidCode).await?;
        return Err(ServiceError::InvalidCode);
    };
    // The token is used once; a second request with it (a double submit) is refused here.
    let claimed = sqlx::query(
        "UPDATE portal_mfa_challenges SET used_at = now()
          WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL",
    )
    .bind(open.id)
    .bind(scope.id())
    .execute(scope.pool())
    .await?;
    if claimed.rows_affected() != 1 {
        return Err(ServiceError::MfaTokenInvalid);
    }
    let spent = spend(app, scope, meta, open.portal_user_id, &account, &proof).await?;
    if !spent {
        count_failure(&limits, scope, &attempt, Outcome::InvalidCode).await?;
        return Err(ServiceError::InvalidCode);
    }
    let method = match proof {
        Proof::Totp { .. } => Method::Totp,
        Proof::RecoveryCode { .. } => Method::RecoveryCode,
    };
    let opening = Opening {
        method,
        enrolment_only: false,
    };
    sessions::start(
        scope,
        limits.session_ttl,
        &attempt,
        open.portal_user_id,
        opening,
    )
    .await
}

/// Reads what `code` proves without spending it: six digits are taken for the app's code,
/// anything else for a recovery code.
async fn proof(
    app: &App,
    scope: &TenantScope,
    portal_user_id: Uuid,
    code: &str,
) -> ServiceResult<Option<Proof>> {
    if totp::looks_like_code(code) {
        let Some(kept) = factors::kept_key(app, scope, portal_user_id, true).await? else {
            return Ok(None);
        };
        let step = kept
            .key
            .matching_step(&totp::normalised(code), app.clock.now())
            .filter(|step| *step > kept.last_step);
        return Ok(step.map(|step| Proof::Totp { step }));
    }
    let hash = recovery_codes::hash(&app.secret, scope.id(), portal_user_id, code);
    let unused: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM portal_recovery_codes
                         WHERE tenant_id = $1 AND portal_user_id = $2 AND code_hash = $3
                           AND used_at IS NULL)",
    )
    .bind(scope.id())
    .bind(portal_user_id)
    .bind(&hash)
    .fetch_one(scope.pool())
    .await?;
    Ok(unused.then_some(Proof::RecoveryCode { hash }))
}

/// Spends the proof, atomically against a concurrent use of the same code: the app's step
/// is marked accepted; a recovery code is marked used and its use recorded as an event.
async fn spend(
    app: &App,
    scope: &TenantScope,
    meta: &CommandMeta,
    portal_user_id: Uuid,
    account: &aggregates::portal_user::Account,
    proof: &Proof,
) -> ServiceResult<bool> {
    match proof {
        Proof::Totp { step } => {
            let marked = sqlx::query(
                "UPDATE portal_totp SET last_step = $3
                  WHERE tenant_id = $1 AND portal_user_id = $2 AND confirmed AND last_step < $3",
            )
            .bind(scope.id())
            .bind(portal_user_id)
            .bind(step)
            .execute(scope.pool())
            .await?;
            Ok(marked.rows_affected() == 1)
        }
        Proof::RecoveryCode { hash } => {
            let marked = sqlx::query(
                "UPDATE portal_recovery_codes SET used_at = now()
                  WHERE tenant_id = $1 AND portal_user_id = $2 AND code_hash = $3 AND used_at IS NULL",
            )
            .bind(scope.id())
            .bind(portal_user_id)
            .bind(hash)
            .execute(scope.pool())
            .await?;
            if marked.rows_affected() != 1 {
                return Ok(false);
            }
            let by_user = CommandMeta {
                actor: Actor::new(
                    ActorKind::PortalUser,
                    Some(portal_user_id),
                    Some(account.username.to_string()),
                ),
                ..meta.with_command("UseRecoveryCode")
            };
            app.store
                .transact(&by_user, portal_user_id, |uow| {
                    Box::pin(async move {
                        let mut user = uow.load::<PortalUser>(portal_user_id).await?;
                        uow.execute(&mut user, PortalUserCommand::UseRecoveryCode)
                            .await?;
                        Ok::<_, ServiceError>(())
                    })
                })
                .await?;
            Ok(true)
        }
    }
}
