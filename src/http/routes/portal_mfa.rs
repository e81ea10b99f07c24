//! Second factors on the Portal API: the login's second step (`…/login/mfa`), and a
//! signed-in user's own factors — set up and remove an authenticator app, new recovery
//! codes, what is set up (`…/mfa…`). These routes take a session that may only set up a
//! factor (the firm requires one) as well as any other.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::portal::SessionIssued;
use crate::errors::service::ServiceError;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::JsonBody;
use crate::http::portal_auth::{anonymous, EnrollingSession, PortalTenant};
use crate::http::Edge;
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
    /// Passkeys are not offered yet: always empty.
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
    Ok(Json(MfaStatus {
        totp: factors.totp,
        passkeys: Vec::new(),
        recovery_codes_left: factors.recovery_codes_left,
    }))
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
