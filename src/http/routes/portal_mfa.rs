//! Second factors on the Portal API: the login's second step (`…/login/mfa`,
//! `…/login/passkey`), and a signed-in user's own factors — set up and remove an
//! authenticator app and passkeys, new recovery codes, what is set up (`…/mfa…`). These
//! routes take a session that may only set up a factor (the firm requires one) as well as
//! any other.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::portal::SessionIssued;
use crate::errors::service::ServiceError;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::JsonBody;
use crate::http::portal_auth::{anonymous, EnrollingSession, PortalTenant};
use crate::http::Edge;
use crate::portal::passkeys::{self, CeremonyStarted};
use crate::portal::{factors, second_step};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginMfaBody {
    /// The `mfa_token` of the login's 403 `mfa_required`.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub mfa_token: String,
    /// The authenticator app's six digits, or a recovery code.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub code: String,
}

/// Complete a login with the second step
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/login/mfa", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = LoginMfaBody,
    responses((status = 200, body = SessionIssued),
        (status = 401, description = "invalid_code (counted toward the lockout; an app code works once), mfa_token_invalid (unknown, expired or used: log in again)", body = Problem),
        (status = 403, description = "portal_inactive", body = Problem),
        (status = 429, description = "locked_out, with Retry-After", body = Problem)))]
pub async fn login_mfa(
    State(app): State<Edge>,
    tenant: PortalTenant,
    JsonBody(body): JsonBody<LoginMfaBody>,
) -> AppResult<Json<SessionIssued>> {
    if body.mfa_token.len() > 256 || body.code.len() > 64 {
        return Err(ServiceError::InvalidCode.into());
    }
    let meta = tenant.meta(anonymous());
    let session =
        second_step::complete(&app, &tenant.scope, &meta, &body.mfa_token, &body.code).await?;
    Ok(Json(session.into()))
}

/// The second factors a login has (never their secrets).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MfaStatus {
    pub totp: bool,
    /// Oldest first.
    pub passkeys: Vec<PasskeyView>,
    pub recovery_codes_left: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasskeyView {
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The signed-in login's second factors
#[utoipa::path(get, path = "/portal/v1/{tenant_slug}/mfa", tag = "portal",
    params(("tenant_slug" = String, Path)),
    responses((status = 200, body = MfaStatus), (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn mfa_status(EnrollingSession(session): EnrollingSession) -> AppResult<Json<MfaStatus>> {
    let factors = &session.account.factors;
    let listed = passkeys::list(&session.tenant.scope, session.session.portal_user_id).await?;
    Ok(Json(MfaStatus {
        totp: factors.totp,
        passkeys: listed.into_iter().map(PasskeyView::from).collect(),
        recovery_codes_left: factors.recovery_codes_left,
    }))
}

impl From<passkeys::PasskeyListed> for PasskeyView {
    fn from(p: passkeys::PasskeyListed) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// A WebAuthn ceremony's options, for `navigator.credentials.create()` or `.get()` (binary
/// fields base64url, as `PublicKeyCredential.parseCreationOptionsFromJSON` and
/// `parseRequestOptionsFromJSON` read them), and the token its answer comes back with.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasskeyOptions {
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
    /// Single use, five minutes.
    pub passkey_token: String,
}

impl From<CeremonyStarted> for PasskeyOptions {
    fn from(started: CeremonyStarted) -> Self {
        let mut options = started.options;
        Self {
            public_key: options["publicKey"].take(),
            passkey_token: started.passkey_token,
        }
    }
}

/// Options to register a new passkey
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/mfa/passkeys/options", tag = "portal",
    params(("tenant_slug" = String, Path)),
    responses((status = 200, body = PasskeyOptions, description = "for navigator.credentials.create()"),
        (status = 409, description = "too_many_passkeys (ten), passkeys_unavailable (the server has no domain name)", body = Problem),
        (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn passkey_options(
    State(app): State<Edge>,
    EnrollingSession(session): EnrollingSession,
) -> AppResult<Json<PasskeyOptions>> {
    let rp = app.relying_party()?;
    let started =
        passkeys::start_registration(&app, &rp, &session.own_login(), &session.account).await?;
    Ok(Json(started.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPasskeyBody {
    /// The `passkey_token` of `…/mfa/passkeys/options`.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub passkey_token: String,
    /// What the person calls it ("Work laptop"): 1 to 64 characters.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub name: String,
    /// What `navigator.credentials.create()` gave, as `PublicKeyCredential.toJSON()`.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// A registered passkey; with the login's first factor, recovery codes shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasskeyAdded {
    pub id: uuid::Uuid,
    /// Ten codes when this passkey is the login's first factor; otherwise empty.
    pub recovery_codes: Vec<String>,
    pub position: i64,
}

/// A credential as the browser sent it, or 422 `invalid_credential`.
fn credential<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, crate::http::error::AppError> {
    serde_json::from_value(value).map_err(|_| {
        ServiceError::Unprocessable {
            code: "invalid_credential",
            detail: "credential is not a WebAuthn PublicKeyCredential in its JSON form".into(),
        }
        .into()
    })
}

/// Register a passkey
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/mfa/passkeys", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = AddPasskeyBody,
    responses((status = 201, body = PasskeyAdded),
        (status = 401, description = "passkey_token_invalid (unknown, expired, used or another login's), invalid_passkey (the answer does not verify)", body = Problem),
        (status = 409, description = "passkey_exists, too_many_passkeys, passkeys_unavailable", body = Problem),
        (status = 422, description = "validation_failed (name), invalid_credential", body = Problem)),
    security(("portal_session" = [])))]
pub async fn add_passkey(
    State(app): State<Edge>,
    EnrollingSession(session): EnrollingSession,
    JsonBody(body): JsonBody<AddPasskeyBody>,
) -> AppResult<(StatusCode, Json<PasskeyAdded>)> {
    let name = passkeys::passkey_name(&body.name)?;
    let credential = credential(body.credential)?;
    let rp = app.relying_party()?;
    let login = session.own_login();
    let done =
        passkeys::finish_registration(&app, &rp, &login, &body.passkey_token, name, &credential)
            .await?;
    Ok((
        StatusCode::CREATED,
        Json(PasskeyAdded {
            id: done.value.id,
            recovery_codes: done.value.recovery_codes,
            position: done.position,
        }),
    ))
}

/// Remove a passkey
#[utoipa::path(delete, path = "/portal/v1/{tenant_slug}/mfa/passkeys/{passkey_id}", tag = "portal",
    params(("tenant_slug" = String, Path), ("passkey_id" = uuid::Uuid, Path)),
    responses((status = 200, body = super::PositionOnly, description = "removed; with it the last factor, the recovery codes too"),
        (status = 404, description = "second_factor_not_found", body = Problem),
        (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn remove_passkey(
    State(app): State<Edge>,
    EnrollingSession(session): EnrollingSession,
    Path((_slug, passkey_id)): Path<(String, uuid::Uuid)>,
) -> AppResult<Json<super::PositionOnly>> {
    let done = passkeys::remove(&app, &session.own_login(), passkey_id).await?;
    Ok(Json(done.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginOptionsBody {
    /// The `mfa_token` of a login's 403 `mfa_required`, for a passkey as its second step;
    /// without it, a passwordless login with a discoverable passkey.
    #[schema(schema_with = crate::http::schema::any_text_or_null)]
    pub mfa_token: Option<String>,
}

/// Options to log in with a passkey
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/login/passkey/options", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = PasskeyLoginOptionsBody,
    responses((status = 200, body = PasskeyOptions, description = "for navigator.credentials.get()"),
        (status = 401, description = "mfa_token_invalid", body = Problem),
        (status = 409, description = "no_passkey (the login has none), passkeys_unavailable", body = Problem)))]
pub async fn login_passkey_options(
    State(app): State<Edge>,
    tenant: PortalTenant,
    JsonBody(body): JsonBody<PasskeyLoginOptionsBody>,
) -> AppResult<Json<PasskeyOptions>> {
    if body.mfa_token.as_ref().is_some_and(|t| t.len() > 256) {
        return Err(ServiceError::MfaTokenInvalid.into());
    }
    let rp = app.relying_party()?;
    let mfa_token = body.mfa_token.as_deref();
    let started = passkeys::start_login(&app, &rp, &tenant.scope, mfa_token).await?;
    Ok(Json(started.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginBody {
    /// The `passkey_token` of `…/login/passkey/options`.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub passkey_token: String,
    /// What `navigator.credentials.get()` gave, as `PublicKeyCredential.toJSON()`.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Log in with a passkey
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/login/passkey", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = PasskeyLoginBody,
    responses((status = 200, body = SessionIssued),
        (status = 401, description = "invalid_passkey (counted toward the lockout once the login is known), passkey_token_invalid, mfa_token_invalid", body = Problem),
        (status = 403, description = "portal_inactive, login_disabled", body = Problem),
        (status = 409, description = "passkeys_unavailable", body = Problem),
        (status = 422, description = "invalid_credential", body = Problem),
        (status = 429, description = "locked_out, rate_limited, with Retry-After", body = Problem)))]
pub async fn login_passkey(
    State(app): State<Edge>,
    tenant: PortalTenant,
    JsonBody(body): JsonBody<PasskeyLoginBody>,
) -> AppResult<Json<SessionIssued>> {
    let credential = credential(body.credential)?;
    let rp = app.relying_party()?;
    let meta = tenant.meta(anonymous());
    let session = passkeys::login(
        &app,
        &rp,
        &tenant.scope,
        &meta,
        &body.passkey_token,
        &credential,
    )
    .await?;
    Ok(Json(session.into()))
}

/// A new authenticator key, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpSetup {
    /// Base32, for typing into the app.
    pub secret: String,
    /// `otpauth://totp/…`, for the app to open or scan as a QR code.
    pub otpauth_uri: String,
}

/// Start setting up an authenticator app
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/mfa/totp", tag = "portal",
    params(("tenant_slug" = String, Path)),
    responses((status = 200, body = TotpSetup, description = "not in force until confirmed with a code"),
        (status = 409, description = "second_factor_exists: remove the app first", body = Problem),
        (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn start_totp(
    State(app): State<Edge>,
    EnrollingSession(session): EnrollingSession,
) -> AppResult<Json<TotpSetup>> {
    let (scope, user_id) = (&session.tenant.scope, session.session.portal_user_id);
    let setup = factors::start_totp(&app, scope, &session.account, user_id).await?;
    Ok(Json(TotpSetup {
        secret: setup.secret,
        otpauth_uri: setup.otpauth_uri,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The authenticator app's current six digits.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub code: String,
}

/// Recovery codes, shown once: each logs in once in place of the app's code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
    pub position: i64,
}

impl From<crate::store::Committed<Vec<String>>> for RecoveryCodes {
    fn from(done: crate::store::Committed<Vec<String>>) -> Self {
        Self {
            recovery_codes: done.value,
            position: done.position,
        }
    }
}

/// Confirm the authenticator app with its code
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/mfa/totp/confirm", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = CodeBody,
    responses((status = 200, body = RecoveryCodes, description = "TOTP in force; ten recovery codes with the first factor"),
        (status = 422, description = "invalid_code", body = Problem),
        (status = 409, description = "no_totp_enrolment, second_factor_exists", body = Problem),
        (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn confirm_totp(
    State(app): State<Edge>,
    EnrollingSession(session): EnrollingSession,
    JsonBody(body): JsonBody<CodeBody>,
) -> AppResult<Json<RecoveryCodes>> {
    let done = factors::confirm_totp(&app, &session.own_login(), &body.code).await?;
    Ok(Json(done.into()))
}

/// Remove the authenticator app, giving its current code
#[utoipa::path(delete, path = "/portal/v1/{tenant_slug}/mfa/totp", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = CodeBody,
    responses((status = 200, body = super::PositionOnly, description = "removed; with it the last factor, the recovery codes too"),
        (status = 422, description = "invalid_code", body = Problem),
        (status = 404, description = "second_factor_not_found", body = Problem),
        (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn remove_totp(
    State(app): State<Edge>,
    EnrollingSession(session): EnrollingSession,
    JsonBody(body): JsonBody<CodeBody>,
) -> AppResult<Json<super::PositionOnly>> {
    let done = factors::remove_totp(&app, &session.own_login(), &body.code).await?;
    Ok(Json(done.into()))
}

/// New recovery codes (the old ones stop working)
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/mfa/recovery-codes", tag = "portal",
    params(("tenant_slug" = String, Path)),
    responses((status = 200, body = RecoveryCodes),
        (status = 409, description = "no_second_factor", body = Problem),
        (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn new_recovery_codes(
    State(app): State<Edge>,
    EnrollingSession(session): EnrollingSession,
) -> AppResult<Json<RecoveryCodes>> {
    let done = factors::new_recovery_codes(&app, &session.own_login()).await?;
    Ok(Json(done.into()))
}
