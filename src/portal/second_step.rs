//! The second step of a portal login. A right password for a login with a factor earns a
//! single-use `mfa_token` (five minutes, kept hashed); a code from the authenticator app, a
//! recovery code or a passkey (`passkeys`) then completes the login. Wrong answers count
//! against the same lockout as wrong passwords; an app code is accepted once; a recovery
//! code is used up.

use aggregates::portal_user::{Factors, PortalUser, PortalUserCommand};
use aggregates::tenant::Tenant;
use cqrs_es::Aggregate;
use eventlog::{queries, replay_json, Actor, ActorKind};
use uuid::Uuid;

use super::history::{Attempt, Outcome};
use super::sessions::{self, Method, NewSession, Opening};
use super::{address_key, count_failure, factors, recovery_codes, throttle, totp, Gate};
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
    if !factors.passkeys.is_empty() {
        methods.push("passkey");
    }
    if factors.recovery_codes_left > 0 {
        methods.push("recovery_code");
    }
    Ok(MfaChallenge {
        mfa_token: token,
        methods,
    })
}

/// Everything the second step decides on, read in one statement: the open challenge the
/// token names, the firm's and the login's streams, locks on the name and the address, and
/// the login's confirmed TOTP key.
struct Found {
    id: Uuid,
    portal_user_id: Uuid,
    username_key: Vec<u8>,
    tenant: Tenant,
    user: PortalUser,
    /// The firm's switch and the locks on the name and the address.
    gate: Gate,
    /// The sealed key and the step of the last code it accepted.
    totp: Option<(Vec<u8>, i64)>,
}

async fn find(
    scope: &TenantScope,
    id: Uuid,
    token: Option<&str>,
    address_key: Option<&[u8]>,
    now: chrono::DateTime<chrono::Utc>,
) -> ServiceResult<Found> {
    type Row = (
        Option<Uuid>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
        Option<f64>,
        Option<f64>,
        Option<Vec<u8>>,
        Option<i64>,
    );
    let row: Row = sqlx::query_as(&format!(
        "WITH c AS (
             SELECT portal_user_id, token_hash, username_key FROM portal_mfa_challenges
              WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL AND expires_at > $3),
         k AS (
             SELECT secret_sealed, last_step FROM portal_totp
              WHERE tenant_id = $2 AND portal_user_id = (SELECT portal_user_id FROM c) AND confirmed)
         SELECT (SELECT portal_user_id FROM c), (SELECT token_hash FROM c),
                (SELECT username_key FROM c), {}, {}, {}, {},
                (SELECT secret_sealed FROM k), (SELECT last_step FROM k)",
        queries::stream_json_sql(Tenant::TYPE, "($2::uuid)::text", "$2"),
        queries::stream_json_sql(PortalUser::TYPE, "(SELECT portal_user_id::text FROM c)", "$2"),
        throttle::seconds_locked_sql("$2", "(SELECT username_key FROM c)", "$3"),
        throttle::seconds_locked_sql("$2", "$4", "$3"),
    ))
    .bind(id)
    .bind(scope.id())
    .bind(now)
    .bind(address_key)
    .fetch_one(scope.pool())
    .await?;
    let (user_id, hash, username_key, tenant, user, locked_for, address_locked_for, sealed, step) =
        row;
    let (Some(portal_user_id), Some(hash), Some(username_key)) = (user_id, hash, username_key)
    else {
        return Err(ServiceError::MfaTokenInvalid);
    };
    if token.is_some_and(|token| !token_matches(token.trim(), &hash)) {
        return Err(ServiceError::MfaTokenInvalid);
    }
    let tenant = match tenant {
        Some(events) => replay_json(scope.keys(), &scope.id().to_string(), events).await?,
        None => Tenant::default(),
    };
    let user = match user {
        Some(events) => replay_json(scope.keys(), &portal_user_id.to_string(), events).await?,
        None => PortalUser::default(),
    };
    Ok(Found {
        id,
        portal_user_id,
        username_key,
        user,
        gate: Gate {
            portal_active: !tenant.portal_inactive,
            locked_for: locked_for.map(throttle::seconds),
            address_locked_for: address_locked_for.map(throttle::seconds),
        },
        tenant,
        totp: sealed.zip(step),
    })
}

/// What proves the second step, before anything is spent.
enum Proof {
    /// The app's code of this step (later than any accepted before).
    Totp { step: i64 },
    /// An unused recovery code with this hash.
    RecoveryCode { hash: Vec<u8> },
    /// A passkey of the login that signed this step's challenge, with its record as the
    /// signature leaves it (the counter moved on).
    Passkey(VerifiedPasskey),
}

/// A passkey that verified, as `passkeys` hands it over.
pub(super) struct VerifiedPasskey {
    pub id: Uuid,
    pub record: serde_json::Value,
}

/// What answers the second step: a typed code, or a passkey's verified answer (`None`
/// when it did not verify).
pub(super) enum Answer<'a> {
    Code(&'a str),
    Passkey(Option<VerifiedPasskey>),
}

impl Answer<'_> {
    /// How a wrong answer is recorded and refused.
    fn refusal(&self) -> (Outcome, ServiceError) {
        match self {
            Answer::Code(_) => (Outcome::InvalidCode, ServiceError::InvalidCode),
            Answer::Passkey(_) => (Outcome::InvalidPasskey, ServiceError::InvalidPasskey),
        }
    }
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
    let challenge_id = mfa_token_id(mfa_token.trim()).ok_or(ServiceError::MfaTokenInvalid)?;
    let answer = Answer::Code(code);
    finish(app, scope, meta, challenge_id, Some(mfa_token), answer).await
}

/// The challenge an `mfa_token` names, open and unexpired, and the login it is for.
pub(super) async fn open_challenge(
    app: &App,
    scope: &TenantScope,
    mfa_token: &str,
) -> ServiceResult<(Uuid, Uuid)> {
    let id = mfa_token_id(mfa_token.trim()).ok_or(ServiceError::MfaTokenInvalid)?;
    const OPEN: &str = "SELECT portal_user_id, token_hash FROM portal_mfa_challenges
          WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL AND expires_at > $3";
    let row: Option<(Uuid, Vec<u8>)> = super::open_token_row(app, scope, OPEN, id).await?;
    match row {
        Some((portal_user_id, hash)) if token_matches(mfa_token.trim(), &hash) => {
            Ok((id, portal_user_id))
        }
        _ => Err(ServiceError::MfaTokenInvalid),
    }
}

/// Completes the second step `challenge_id` names with `answer`. `mfa_token` is checked
/// when given; a passkey's answer comes through a ceremony the token already opened.
pub(super) async fn finish(
    app: &App,
    scope: &TenantScope,
    meta: &CommandMeta,
    challenge_id: Uuid,
    mfa_token: Option<&str>,
    answer: Answer<'_>,
) -> ServiceResult<NewSession> {
    let address_key = address_key(app, meta);
    // Codes on one second step queue, so each sees the failures counted before it. (Several
    // second steps of one login, each earned with the password, may race by a request;
    // the count itself is atomic, so the lock still falls at the limit.)
    let _queued = app.login_queues.queue(challenge_id.as_bytes()).await;
    let now = app.clock.now();
    let found = find(scope, challenge_id, mfa_token, address_key.as_deref(), now).await?;
    let attempt = Attempt {
        meta,
        username_key: &found.username_key,
        address_key: address_key.as_deref(),
        portal_user_id: Some(found.portal_user_id),
        now,
    };
    found.gate.pass(scope, &attempt).await?;
    let Some(account) = found.user.account.as_ref().filter(|a| a.can_log_in()) else {
        // Disabled or removed since the password was checked.
        return Err(ServiceError::MfaTokenInvalid);
    };
    let limits = app.limits.for_firm(found.tenant.policies.as_ref());
    let (wrong, refused) = answer.refusal();
    let proof = match answer {
        Answer::Code(code) => proof(app, scope, &found, code).await?,
        Answer::Passkey(verified) => verified.map(Proof::Passkey),
    };
    let Some(proof) = proof else {
        count_failure(&limits, scope, &attempt, wrong).await?;
        return Err(refused);
    };
    let spent = spend(app, scope, meta, &found, account, &proof).await?;
    match spent {
        Spent::Yes => {}
        // Used a moment ago by a request with the same token (a double submit).
        Spent::TokenGone => return Err(ServiceError::MfaTokenInvalid),
        // The same code used a moment ago by another login of this person (or the passkey
        // removed meanwhile).
        Spent::CodeGone => {
            count_failure(&limits, scope, &attempt, wrong).await?;
            return Err(refused);
        }
    }
    let method = match proof {
        Proof::Totp { .. } => Method::Totp,
        Proof::RecoveryCode { .. } => Method::RecoveryCode,
        Proof::Passkey(_) => Method::Passkey,
    };
    let opening = Opening {
        method,
        enrolment_only: false,
    };
    let user_id = found.portal_user_id;
    sessions::start(scope, limits.session_ttl, &attempt, user_id, opening).await
}

/// Reads what `code` proves without spending it: six digits are taken for the app's code,
/// anything else for a recovery code.
async fn proof(
    app: &App,
    scope: &TenantScope,
    found: &Found,
    code: &str,
) -> ServiceResult<Option<Proof>> {
    let portal_user_id = found.portal_user_id;
    if totp::looks_like_code(code) {
        let Some((sealed, last_step)) = &found.totp else {
            return Ok(None);
        };
        let Some(key) = factors::open_key(app, scope, portal_user_id, sealed) else {
            return Ok(None);
        };
        let step = key
            .matching_step(&totp::normalised(code), app.clock.now())
            .filter(|step| step > last_step);
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

/// Whether the second step's token and its code were spent by this request.
enum Spent {
    Yes,
    TokenGone,
    CodeGone,
}

/// Claims the token and spends the proof in one statement, atomically against a
/// concurrent use of either: the app's step is marked accepted; a recovery code is marked
/// used and its use then recorded as an event (if that commit fails, the code stays spent
/// without its event: decision 33).
async fn spend(
    app: &App,
    scope: &TenantScope,
    meta: &CommandMeta,
    found: &Found,
    account: &aggregates::portal_user::Account,
    proof: &Proof,
) -> ServiceResult<Spent> {
    let spend_sql = match proof {
        Proof::Totp { .. } => {
            "UPDATE portal_totp SET last_step = $4
              WHERE tenant_id = $2 AND portal_user_id = $3 AND confirmed AND last_step < $4
                AND EXISTS (SELECT 1 FROM claimed)
             RETURNING 1"
        }
        Proof::RecoveryCode { .. } => {
            "UPDATE portal_recovery_codes SET used_at = now()
              WHERE tenant_id = $2 AND portal_user_id = $3 AND code_hash = $5 AND used_at IS NULL
                AND EXISTS (SELECT 1 FROM claimed)
             RETURNING 1"
        }
        Proof::Passkey(_) => {
            "UPDATE portal_passkeys SET passkey = $6, last_used_at = now()
              WHERE tenant_id = $2 AND portal_user_id = $3 AND id = $7
                AND EXISTS (SELECT 1 FROM claimed)
             RETURNING 1"
        }
    };
    let (step, hash, passkey) = match proof {
        Proof::Totp { step } => (Some(*step), None, None),
        Proof::RecoveryCode { hash } => (None, Some(hash.as_slice()), None),
        Proof::Passkey(verified) => (None, None, Some(verified)),
    };
    let (claimed, spent): (bool, bool) = sqlx::query_as(&format!(
        "WITH claimed AS (
             UPDATE portal_mfa_challenges SET used_at = now()
              WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL
             RETURNING 1),
         spent AS ({spend_sql})
         SELECT EXISTS (SELECT 1 FROM claimed), EXISTS (SELECT 1 FROM spent)"
    ))
    .bind(found.id)
    .bind(scope.id())
    .bind(found.portal_user_id)
    .bind(step)
    .bind(hash)
    .bind(passkey.map(|p| &p.record))
    .bind(passkey.map(|p| p.id))
    .fetch_one(scope.pool())
    .await?;
    if !claimed {
        return Ok(Spent::TokenGone);
    }
    if !spent {
        return Ok(Spent::CodeGone);
    }
    if let Proof::RecoveryCode { .. } = proof {
        record_recovery_code_use(app, meta, found.portal_user_id, account).await?;
    }
    Ok(Spent::Yes)
}

async fn record_recovery_code_use(
    app: &App,
    meta: &CommandMeta,
    portal_user_id: Uuid,
    account: &aggregates::portal_user::Account,
) -> ServiceResult<()> {
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
    Ok(())
}
