//! A portal user's own second factors: setting up an authenticator app (a key, then a code
//! that proves the app has it), removing it, and new recovery codes. The domain decides
//! what may change (`aggregates::portal_user::factors`); here the secrets are made, sealed
//! and checked.

use aggregates::portal_user::{Account, FactorMethod, PortalUser, PortalUserCommand};
use aggregates::DomainError;
use uuid::Uuid;

use super::recovery_codes;
use super::totp::TotpKey;
use crate::app::App;
use crate::auth::TenantScope;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::sealing::SealingKey;
use crate::services::rows;
use crate::store::{CommandMeta, Committed, SideWrite};

/// The signed-in login whose own factors change: its scope and id, and the metadata its
/// commands are recorded with.
pub struct OwnLogin<'a> {
    pub meta: CommandMeta,
    pub scope: &'a TenantScope,
    pub portal_user_id: Uuid,
}

/// What sealed TOTP keys are bound to (`SealingKey::of`).
const SEAL_PURPOSE: &str = "portal-totp";

fn sealing(app: &App) -> SealingKey {
    SealingKey::of(&app.secret, SEAL_PURPOSE)
}

/// A sealed key opens only on its own login's row.
fn row_binding(tenant_id: Uuid, portal_user_id: Uuid) -> Vec<u8> {
    [tenant_id.as_bytes().as_slice(), portal_user_id.as_bytes()].concat()
}

/// A login's authenticator key as kept, opened.
pub(super) struct KeptKey {
    pub key: TotpKey,
    /// The step of the last code accepted: only later ones are.
    pub last_step: i64,
}

/// The login's key, confirmed or still waiting for its first code.
pub(super) async fn kept_key(
    app: &App,
    scope: &TenantScope,
    portal_user_id: Uuid,
    confirmed: bool,
) -> ServiceResult<Option<KeptKey>> {
    let row: Option<(Vec<u8>, i64)> = sqlx::query_as(
        "SELECT secret_sealed, last_step FROM portal_totp
          WHERE tenant_id = $1 AND portal_user_id = $2 AND confirmed = $3",
    )
    .bind(scope.id())
    .bind(portal_user_id)
    .bind(confirmed)
    .fetch_optional(scope.pool())
    .await?;
    let Some((sealed, last_step)) = row else {
        return Ok(None);
    };
    Ok(open_key(app, scope, portal_user_id, &sealed).map(|key| KeptKey { key, last_step }))
}

/// A sealed key opened, if it opens on this login's row with this server secret.
pub(super) fn open_key(
    app: &App,
    scope: &TenantScope,
    portal_user_id: Uuid,
    sealed: &[u8],
) -> Option<TotpKey> {
    let opened = sealing(app).open(sealed, &row_binding(scope.id(), portal_user_id));
    if opened.is_none() {
        // Sealed under another server secret (it was replaced): no code can match, so the
        // second step refuses until staff reset the factors (docs/decisions.md, 33).
        tracing::error!(%portal_user_id, "a TOTP key does not open with this server secret");
    }
    opened.map(TotpKey::from_bytes)
}

/// A key shown once to be put into the app.
pub struct TotpEnrolment {
    /// Base32, for typing into the app.
    pub secret: String,
    pub otpauth_uri: String,
}

/// A new authenticator key for the login, not in force until confirmed with a code; it
/// replaces one started earlier and not confirmed. A login with TOTP set up is refused
/// (remove it first).
pub async fn start_totp(
    app: &App,
    scope: &TenantScope,
    account: &Account,
    portal_user_id: Uuid,
) -> ServiceResult<TotpEnrolment> {
    if account.factors.totp {
        return Err(DomainError::SecondFactorExists.into());
    }
    let key = TotpKey::generate();
    let sealed = sealing(app).seal(key.as_bytes(), &row_binding(scope.id(), portal_user_id));
    let firm: String = sqlx::query_scalar(
        "WITH kept AS (
             INSERT INTO portal_totp (tenant_id, portal_user_id, secret_sealed)
             VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, portal_user_id) DO UPDATE
                SET secret_sealed = EXCLUDED.secret_sealed, created_at = now(), last_step = 0
              WHERE NOT portal_totp.confirmed)
         SELECT name FROM tenants WHERE id = $1",
    )
    .bind(scope.id())
    .bind(portal_user_id)
    .bind(&sealed)
    .fetch_one(scope.pool())
    .await?;
    Ok(TotpEnrolment {
        secret: key.base32(),
        otpauth_uri: key.otpauth_uri(&firm, account.username.as_str()),
    })
}

fn invalid_code() -> ServiceError {
    ServiceError::Unprocessable {
        code: "invalid_code",
        detail: "the code is not the authenticator app's current code".into(),
    }
}

/// Confirms the key started with `start_totp` by a code from the app: TOTP is in force
/// from now on, and, as the login's first factor, brings ten recovery codes (returned, to
/// be shown once). Sessions that could only set up a factor may do anything now.
pub async fn confirm_totp(
    app: &App,
    login: &OwnLogin<'_>,
    code: &str,
) -> ServiceResult<Committed<Vec<String>>> {
    let (scope, portal_user_id) = (login.scope, login.portal_user_id);
    let meta = login.meta.with_command("AddSecondFactor");
    let Some(kept) = kept_key(app, scope, portal_user_id, false).await? else {
        return Err(ServiceError::Conflict {
            code: "no_totp_enrolment",
            detail: "start setting up an authenticator app first (POST …/mfa/totp)".into(),
        });
    };
    let step = kept
        .key
        .matching_step(&super::totp::normalised(code), app.clock.now())
        .ok_or_else(invalid_code)?;
    let add = PortalUserCommand::AddSecondFactor {
        method: FactorMethod::Totp,
    };
    let row = rows::ConfirmTotp {
        portal_user_id,
        step,
    };
    commit_new_factor(app, login, &meta, add, row).await
}

/// Commits a factor the person just proved: its command, its own row, the end of sessions
/// that could only set one up, and — as the login's first factor — ten recovery codes,
/// returned to be shown once (none otherwise).
pub(super) async fn commit_new_factor<W: SideWrite + Clone>(
    app: &App,
    login: &OwnLogin<'_>,
    meta: &CommandMeta,
    command: PortalUserCommand,
    row: W,
) -> ServiceResult<Committed<Vec<String>>> {
    let (scope, portal_user_id) = (login.scope, login.portal_user_id);
    let codes = recovery_codes::generate(aggregates::portal_user::factors::RECOVERY_CODES);
    let hashes = hashes(app, scope, portal_user_id, &codes);
    app.store
        .transact(meta, portal_user_id, |uow| {
            let (hashes, codes) = (hashes.clone(), codes.clone());
            let (command, row) = (command.clone(), row.clone());
            Box::pin(async move {
                let mut user = uow.load::<PortalUser>(portal_user_id).await?;
                let brings_codes = user
                    .state
                    .account
                    .as_ref()
                    .is_some_and(|a| a.factors.next_factor_brings_codes());
                uow.execute(&mut user, command).await?;
                uow.side_write(row);
                uow.side_write(rows::LiftEnrolmentOnly { portal_user_id });
                if !brings_codes {
                    return Ok(Vec::new());
                }
                uow.side_write(rows::ReplaceRecoveryCodes {
                    portal_user_id,
                    hashes,
                });
                Ok(codes)
            })
        })
        .await
}

/// Removes the authenticator app, proven by a current code from it (a code is accepted
/// once). With it the last factor, the recovery codes go too.
pub async fn remove_totp(
    app: &App,
    login: &OwnLogin<'_>,
    code: &str,
) -> ServiceResult<Committed<()>> {
    let (scope, portal_user_id) = (login.scope, login.portal_user_id);
    let meta = login.meta.with_command("RemoveSecondFactor");
    let Some(kept) = kept_key(app, scope, portal_user_id, true).await? else {
        return Err(DomainError::SecondFactorNotFound.into());
    };
    // The key goes with this command, so the code needs no marking as used.
    kept.key
        .matching_step(&super::totp::normalised(code), app.clock.now())
        .filter(|step| *step > kept.last_step)
        .ok_or_else(invalid_code)?;
    app.store
        .transact(&meta, portal_user_id, |uow| {
            Box::pin(async move {
                let mut user = uow.load::<PortalUser>(portal_user_id).await?;
                let remove = PortalUserCommand::RemoveSecondFactor {
                    method: FactorMethod::Totp,
                };
                uow.execute(&mut user, remove).await?;
                uow.side_write(rows::DeleteTotp { portal_user_id });
                drop_codes_with_last_factor(uow, &user, portal_user_id);
                Ok(())
            })
        })
        .await
}

/// With the login's last factor gone, its recovery codes go too (as its events say).
pub(super) fn drop_codes_with_last_factor(
    uow: &mut crate::store::UnitOfWork,
    user: &crate::store::Loaded<PortalUser>,
    portal_user_id: Uuid,
) {
    let none_left = user.state.account.as_ref().is_none_or(|a| !a.factors.any());
    if none_left {
        uow.side_write(rows::ReplaceRecoveryCodes {
            portal_user_id,
            hashes: Vec::new(),
        });
    }
}

/// Ten new recovery codes in place of the old ones (which stop working), for a login with
/// a factor; returned to be shown once.
pub async fn new_recovery_codes(
    app: &App,
    login: &OwnLogin<'_>,
) -> ServiceResult<Committed<Vec<String>>> {
    let (scope, portal_user_id) = (login.scope, login.portal_user_id);
    let meta = login.meta.with_command("IssueRecoveryCodes");
    let codes = recovery_codes::generate(aggregates::portal_user::factors::RECOVERY_CODES);
    let hashes = hashes(app, scope, portal_user_id, &codes);
    app.store
        .transact(&meta, portal_user_id, |uow| {
            let (hashes, codes) = (hashes.clone(), codes.clone());
            Box::pin(async move {
                let mut user = uow.load::<PortalUser>(portal_user_id).await?;
                uow.execute(&mut user, PortalUserCommand::IssueRecoveryCodes)
                    .await?;
                uow.side_write(rows::ReplaceRecoveryCodes {
                    portal_user_id,
                    hashes,
                });
                Ok(codes)
            })
        })
        .await
}

fn hashes(app: &App, scope: &TenantScope, portal_user_id: Uuid, codes: &[String]) -> Vec<Vec<u8>> {
    codes
        .iter()
        .map(|c| recovery_codes::hash(&app.secret, scope.id(), portal_user_id, c))
        .collect()
}
