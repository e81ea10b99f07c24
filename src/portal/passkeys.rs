//! Passkeys (WebAuthn) on portal logins: registering them with names, a passkey as the
//! second step of a login, and a passwordless login with a discoverable passkey. webauthn-rs
//! checks each ceremony; here the relying party's state waits sealed between its two
//! requests (single use, five minutes) and the registered keys are kept. Only public keys
//! ever reach the server.

use aggregates::portal_user::factors::MAX_PASSKEYS;
use aggregates::portal_user::{Account, LoginStatus, PortalUser, PortalUserCommand};
use aggregates::DomainError;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn,
    WebauthnBuilder,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::factors::{commit_new_factor, drop_codes_with_last_factor, OwnLogin};
use super::history::{self, Attempt, Outcome};
use super::second_step::{self, Answer, VerifiedPasskey};
use super::sessions::{self, Method, NewSession, Opening};
use super::{address_key, count_failure, find_login};
use crate::app::App;
use crate::auth::TenantScope;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::sealing::SealingKey;
use crate::security::{new_passkey_token, passkey_token_id, sha256, token_matches};
use crate::services::rows;
use crate::store::{CommandMeta, Committed};

/// How long a ceremony may take, from its options to the authenticator's answer.
const CEREMONY_TTL_MINUTES: i64 = 5;

/// What sealed ceremony states are bound to (`SealingKey::of`).
const SEAL_PURPOSE: &str = "portal-passkey-ceremony";

/// The longest name a passkey may be given.
const MAX_NAME_CHARS: usize = 64;

/// The relying party this server is to authenticators: the host of its public URL is the
/// RP id, that URL's origin the origin answers must come from.
pub struct RelyingParty(Webauthn);

impl RelyingParty {
    /// The relying party of a server reached at `public_url`. WebAuthn binds credentials to
    /// a domain name, so a server known only by an IP address (or by no address) offers
    /// no passkeys: 409 `passkeys_unavailable`.
    pub fn for_public_url(public_url: Option<&str>) -> ServiceResult<Self> {
        let unavailable = || ServiceError::Conflict {
            code: "passkeys_unavailable",
            detail: "passkeys need this server to be reached by a domain name (PORTAL_PUBLIC_URL)"
                .into(),
        };
        let origin = public_url
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(unavailable)?;
        let rp_id = origin.domain().ok_or_else(unavailable)?.to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name(&rp_id).build())
            .map_err(|_| unavailable())?;
        Ok(Self(webauthn))
    }
}

/// What a browser needs to run a ceremony: the WebAuthn options as JSON (`{"publicKey": …}`,
/// binary fields base64url) and the token that brings its answer back.
pub struct CeremonyStarted {
    pub options: serde_json::Value,
    pub passkey_token: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Register,
    SecondStep,
    Passwordless,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SecondStep => "second_step",
            Self::Passwordless => "passwordless",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Register, Self::SecondStep, Self::Passwordless]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A ceremony claimed by its answer: what it was for and the relying party's state.
struct Claimed {
    purpose: Purpose,
    portal_user_id: Option<Uuid>,
    mfa_challenge_id: Option<Uuid>,
    state: Vec<u8>,
}

fn sealing(app: &App) -> SealingKey {
    SealingKey::of(&app.secret, SEAL_PURPOSE)
}

fn binding(tenant_id: Uuid, ceremony_id: Uuid) -> Vec<u8> {
    [tenant_id.as_bytes().as_slice(), ceremony_id.as_bytes()].concat()
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::internal(anyhow::anyhow!("passkey ceremony: {e}"))
}

/// Keeps a ceremony's state, sealed, and hands back its options with the token naming it.
async fn open_ceremony<S: Serialize>(
    app: &App,
    scope: &TenantScope,
    purpose: Purpose,
    for_login: (Option<Uuid>, Option<Uuid>),
    options: impl Serialize,
    state: &S,
) -> ServiceResult<CeremonyStarted> {
    let (portal_user_id, mfa_challenge_id) = for_login;
    let (id, token) = new_passkey_token();
    let state = serde_json::to_vec(state).map_err(internal)?;
    let sealed = sealing(app).seal(&state, &binding(scope.id(), id));
    sqlx::query(
        "INSERT INTO portal_passkey_ceremonies
                (id, tenant_id, purpose, portal_user_id, mfa_challenge_id, token_hash, state_sealed, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(scope.id())
    .bind(purpose.as_str())
    .bind(portal_user_id)
    .bind(mfa_challenge_id)
    .bind(sha256(token.as_bytes()))
    .bind(&sealed)
    .bind(app.clock.now() + chrono::Duration::minutes(CEREMONY_TTL_MINUTES))
    .execute(scope.pool())
    .await?;
    Ok(CeremonyStarted {
        options: serde_json::to_value(options).map_err(internal)?,
        passkey_token: token,
    })
}

/// Claims the ceremony a token names (once; unexpired; this firm's), with its state.
async fn claim_ceremony(app: &App, scope: &TenantScope, token: &str) -> ServiceResult<Claimed> {
    let token = token.trim();
    let id = passkey_token_id(token).ok_or(ServiceError::PasskeyTokenInvalid)?;
    type Row = (Vec<u8>, String, Option<Uuid>, Option<Uuid>, Vec<u8>);
    const OPEN: &str = "SELECT token_hash, purpose, portal_user_id, mfa_challenge_id, state_sealed
           FROM portal_passkey_ceremonies
          WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL AND expires_at > $3";
    let row: Option<Row> = super::open_token_row(app, scope, OPEN, id).await?;
    let Some((hash, purpose, portal_user_id, mfa_challenge_id, sealed)) = row else {
        return Err(ServiceError::PasskeyTokenInvalid);
    };
    if !token_matches(token, &hash) {
        return Err(ServiceError::PasskeyTokenInvalid);
    }
    // Only one answer per ceremony: a second request with the same token finds it used.
    let claimed = sqlx::query(
        "UPDATE portal_passkey_ceremonies SET used_at = now()
          WHERE id = $1 AND tenant_id = $2 AND used_at IS NULL",
    )
    .bind(id)
    .bind(scope.id())
    .execute(scope.pool())
    .await?;
    if claimed.rows_affected() != 1 {
        return Err(ServiceError::PasskeyTokenInvalid);
    }
    let state = sealing(app)
        .open(&sealed, &binding(scope.id(), id))
        .ok_or(ServiceError::PasskeyTokenInvalid)?;
    Ok(Claimed {
        purpose: Purpose::parse(&purpose).ok_or_else(|| internal("unknown purpose"))?,
        portal_user_id,
        mfa_challenge_id,
        state,
    })
}

fn state_of<S: DeserializeOwned>(claimed: &Claimed) -> ServiceResult<S> {
    serde_json::from_slice(&claimed.state).map_err(internal)
}

/// A login's passkey as kept.
struct Kept {
    id: Uuid,
    passkey: Passkey,
}

async fn kept_passkeys(scope: &TenantScope, portal_user_id: Uuid) -> ServiceResult<Vec<Kept>> {
    let rows: Vec<(Uuid, serde_json::Value)> = sqlx::query_as(
        "SELECT id, passkey FROM portal_passkeys
          WHERE tenant_id = $1 AND portal_user_id = $2 ORDER BY created_at, id",
    )
    .bind(scope.id())
    .bind(portal_user_id)
    .fetch_all(scope.pool())
    .await?;
    rows.into_iter()
        .map(|(id, json)| {
            let passkey = serde_json::from_value(json).map_err(internal)?;
            Ok(Kept { id, passkey })
        })
        .collect()
}

/// A passkey as its owner sees it listed.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PasskeyListed {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The login's passkeys, oldest first (never their keys).
pub async fn list(
    scope: &TenantScope,
    portal_user_id: Uuid,
) -> Result<Vec<PasskeyListed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM portal_passkeys
          WHERE tenant_id = $1 AND portal_user_id = $2 ORDER BY created_at, id",
    )
    .bind(scope.id())
    .bind(portal_user_id)
    .fetch_all(scope.pool())
    .await
}

/// Options to register a new passkey for the signed-in login; the login's passkeys are
/// excluded, so one authenticator is not registered twice.
pub async fn start_registration(
    app: &App,
    rp: &RelyingParty,
    login: &OwnLogin<'_>,
    account: &Account,
) -> ServiceResult<CeremonyStarted> {
    if account.factors.passkeys.len() >= MAX_PASSKEYS {
        return Err(DomainError::TooManyPasskeys.into());
    }
    let kept = kept_passkeys(login.scope, login.portal_user_id).await?;
    let exclude: Vec<CredentialID> = kept.iter().map(|k| k.passkey.cred_id().clone()).collect();
    let username = account.username.as_str();
    let (mut options, state) =
        rp.0.start_passkey_registration(login.portal_user_id, username, username, Some(exclude))
            .map_err(internal)?;
    // Discoverable where the authenticator can, so that the passkey can also log in
    // without a username; an older security key that cannot still serves as a second step.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
    }
    let for_login = (Some(login.portal_user_id), None);
    open_ceremony::<PasskeyRegistration>(
        app,
        login.scope,
        Purpose::Register,
        for_login,
        options,
        &state,
    )
    .await
}

/// A passkey's name as typed: trimmed, 1 to 64 characters, no control characters.
pub fn passkey_name(typed: &str) -> ServiceResult<String> {
    let name = typed.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "name",
            format!("a name of 1 to {MAX_NAME_CHARS} characters, e.g. \"Work laptop\""),
        ));
    }
    Ok(name.to_owned())
}

/// A registered passkey: its id and, as the login's first factor, recovery codes.
pub struct Registered {
    pub id: Uuid,
    pub recovery_codes: Vec<String>,
}

/// Registers the passkey the authenticator made for the ceremony `passkey_token` names.
pub async fn finish_registration(
    app: &App,
    rp: &RelyingParty,
    login: &OwnLogin<'_>,
    passkey_token: &str,
    name: String,
    credential: &RegisterPublicKeyCredential,
) -> ServiceResult<Committed<Registered>> {
    let (scope, portal_user_id) = (login.scope, login.portal_user_id);
    let claimed = claim_ceremony(app, scope, passkey_token).await?;
    if claimed.purpose != Purpose::Register || claimed.portal_user_id != Some(portal_user_id) {
        return Err(ServiceError::PasskeyTokenInvalid);
    }
    let state: PasskeyRegistration = state_of(&claimed)?;
    let passkey =
        rp.0.finish_passkey_registration(credential, &state)
            .map_err(|e| {
                tracing::info!(error = %e, "a passkey registration did not verify");
                ServiceError::InvalidPasskey
            })?;
    let credential_id = passkey.cred_id().as_ref().to_vec();
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM portal_passkeys WHERE tenant_id = $1 AND credential_id = $2)",
    )
    .bind(scope.id())
    .bind(&credential_id)
    .fetch_one(scope.pool())
    .await?;
    if taken {
        return Err(ServiceError::Conflict {
            code: "passkey_exists",
            detail: "this passkey is already registered".into(),
        });
    }
    let id = Uuid::now_v7();
    let row = rows::InsertPasskey {
        id,
        portal_user_id,
        credential_id,
        name,
        passkey: serde_json::to_value(&passkey).map_err(internal)?,
    };
    let meta = login.meta.with_command("AddPasskey");
    let add = PortalUserCommand::AddPasskey { passkey_id: id };
    let done = commit_new_factor(app, login, &meta, add, row).await?;
    Ok(Committed {
        value: Registered {
            id,
            recovery_codes: done.value,
        },
        position: done.position,
    })
}

/// Removes one of the signed-in login's passkeys; with it the last factor, the recovery
/// codes go too.
pub async fn remove(
    app: &App,
    login: &OwnLogin<'_>,
    passkey_id: Uuid,
) -> ServiceResult<Committed<()>> {
    let portal_user_id = login.portal_user_id;
    let meta = login.meta.with_command("RemovePasskey");
    app.store
        .transact(&meta, portal_user_id, |uow| {
            Box::pin(async move {
                let mut user = uow.load::<PortalUser>(portal_user_id).await?;
                let remove = PortalUserCommand::RemovePasskey { passkey_id };
                uow.execute(&mut user, remove).await?;
                uow.side_write(rows::DeletePasskey {
                    portal_user_id,
                    id: passkey_id,
                });
                drop_codes_with_last_factor(uow, &user, portal_user_id);
                Ok(())
            })
        })
        .await
}

/// Options to log in with a passkey: as the second step of `mfa_token`'s login (its
/// passkeys allowed), or, without one, passwordless with any discoverable passkey.
pub async fn start_login(
    app: &App,
    rp: &RelyingParty,
    scope: &TenantScope,
    mfa_token: Option<&str>,
) -> ServiceResult<CeremonyStarted> {
    let Some(mfa_token) = mfa_token else {
        let (options, state) = rp.0.start_discoverable_authentication().map_err(internal)?;
        return open_ceremony::<DiscoverableAuthentication>(
            app,
            scope,
            Purpose::Passwordless,
            (None, None),
            options,
            &state,
        )
        .await;
    };
    let (challenge_id, portal_user_id) = second_step::open_challenge(app, scope, mfa_token).await?;
    let kept = kept_passkeys(scope, portal_user_id).await?;
    if kept.is_empty() {
        return Err(ServiceError::Conflict {
            code: "no_passkey",
            detail: "this login has no passkey: use the authenticator app or a recovery code"
                .into(),
        });
    }
    let passkeys: Vec<Passkey> = kept.into_iter().map(|k| k.passkey).collect();
    let (options, state) =
        rp.0.start_passkey_authentication(&passkeys)
            .map_err(internal)?;
    let for_login = (Some(portal_user_id), Some(challenge_id));
    open_ceremony::<PasskeyAuthentication>(
        app,
        scope,
        Purpose::SecondStep,
        for_login,
        options,
        &state,
    )
    .await
}

/// Completes a passkey login with the authenticator's answer to the ceremony
/// `passkey_token` names: a session, or 401 `invalid_passkey` (counted toward the lockout
/// once the login is known), 401 `passkey_token_invalid`, 429 while locked.
pub async fn login(
    app: &App,
    rp: &RelyingParty,
    scope: &TenantScope,
    meta: &CommandMeta,
    passkey_token: &str,
    credential: &PublicKeyCredential,
) -> ServiceResult<NewSession> {
    let claimed = claim_ceremony(app, scope, passkey_token).await?;
    match (
        claimed.purpose,
        claimed.portal_user_id,
        claimed.mfa_challenge_id,
    ) {
        (Purpose::SecondStep, Some(portal_user_id), Some(challenge_id)) => {
            let state: PasskeyAuthentication = state_of(&claimed)?;
            let kept = kept_passkeys(scope, portal_user_id).await?;
            let verified = verify(credential, &kept, |c| {
                rp.0.finish_passkey_authentication(c, &state)
            });
            let answer = Answer::Passkey(verified);
            second_step::finish(app, scope, meta, challenge_id, None, answer).await
        }
        (Purpose::Passwordless, None, None) => {
            let state: DiscoverableAuthentication = state_of(&claimed)?;
            passwordless(app, rp, scope, meta, state, credential).await
        }
        _ => Err(ServiceError::PasskeyTokenInvalid),
    }
}

/// The kept passkey an answer verified against, with its record moved on (the counter).
fn verify(
    credential: &PublicKeyCredential,
    kept: &[Kept],
    check: impl FnOnce(
        &PublicKeyCredential,
    ) -> Result<
        webauthn_rs::prelude::AuthenticationResult,
        webauthn_rs::prelude::WebauthnError,
    >,
) -> Option<VerifiedPasskey> {
    let result = check(credential)
        .map_err(|e| tracing::info!(error = %e, "a passkey answer did not verify"))
        .ok()?;
    let kept = kept
        .iter()
        .find(|k| k.passkey.cred_id() == result.cred_id())?;
    let mut passkey = kept.passkey.clone();
    passkey.update_credential(&result);
    Some(VerifiedPasskey {
        id: kept.id,
        record: serde_json::to_value(&passkey).ok()?,
    })
}

/// A discoverable passkey names its login (the user handle is the login's id); the login's
/// own gate (the portal switch, locks on its name and on the address) applies as to a
/// password.
async fn passwordless(
    app: &App,
    rp: &RelyingParty,
    scope: &TenantScope,
    meta: &CommandMeta,
    state: DiscoverableAuthentication,
    credential: &PublicKeyCredential,
) -> ServiceResult<NewSession> {
    let (user_handle, credential_id) =
        rp.0.identify_discoverable_authentication(credential)
            .map_err(|_| ServiceError::InvalidPasskey)?;
    let row: Option<(Uuid, Uuid, serde_json::Value)> = sqlx::query_as(
        "SELECT id, portal_user_id, passkey FROM portal_passkeys
          WHERE tenant_id = $1 AND credential_id = $2",
    )
    .bind(scope.id())
    .bind(credential_id)
    .fetch_optional(scope.pool())
    .await?;
    // A credential this firm does not know (another firm's, or one removed) proves nothing
    // about any of its logins, so there is no name to count a failure against.
    let Some((id, portal_user_id, record)) = row.filter(|r| r.1 == user_handle) else {
        return Err(ServiceError::InvalidPasskey);
    };
    let kept = Kept {
        id,
        passkey: serde_json::from_value(record).map_err(internal)?,
    };
    let user = app
        .store
        .reader(meta)
        .load::<PortalUser>(portal_user_id)
        .await?;
    let Some(account) = user.state.account.as_ref() else {
        return Err(ServiceError::InvalidPasskey);
    };
    let username = account.username.as_str();
    let username_key = app.secret.username_key(meta.tenant_id, username);
    let address_key = address_key(app, meta);
    let _queued = app.login_queues.queue(&username_key).await;
    let now = app.clock.now();
    let found = find_login(scope, username, &username_key, address_key.as_deref(), now).await?;
    let attempt = Attempt {
        meta,
        username_key: &username_key,
        address_key: address_key.as_deref(),
        portal_user_id: Some(portal_user_id),
        now,
    };
    found.gate().pass(scope, &attempt).await?;
    let limits = app.limits.for_firm(found.policies.as_ref());
    let keys = [DiscoverableKey::from(&kept.passkey)];
    let verified = verify(credential, std::slice::from_ref(&kept), |c| {
        rp.0.finish_discoverable_authentication(c, state, &keys)
    });
    let Some(verified) = verified else {
        count_failure(&limits, scope, &attempt, Outcome::InvalidPasskey).await?;
        return Err(ServiceError::InvalidPasskey);
    };
    let status = found.account.as_ref().and_then(PortalUser::status);
    match status {
        Some(LoginStatus::Active) => {}
        Some(LoginStatus::Disabled) => {
            history::record(scope, &attempt, Outcome::LoginDisabled, None).await?;
            return Err(ServiceError::Forbidden {
                code: "login_disabled",
                detail: "this portal login has been disabled; contact the firm".into(),
            });
        }
        // Removed, or not activated: the passkey no longer opens it.
        _ => return Err(ServiceError::InvalidPasskey),
    }
    let updated = sqlx::query(
        "UPDATE portal_passkeys SET passkey = $3, last_used_at = now()
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(scope.id())
    .bind(verified.id)
    .bind(&verified.record)
    .execute(scope.pool())
    .await?;
    if updated.rows_affected() != 1 {
        // Removed a moment ago.
        return Err(ServiceError::InvalidPasskey);
    }
    // A passkey is a factor of its own (possession and the authenticator's check of its
    // user), so the session is whole even where the firm requires a second factor.
    let opening = Opening {
        method: Method::Passkey,
        enrolment_only: false,
    };
    sessions::start(scope, limits.session_ttl, &attempt, portal_user_id, opening).await
}
