//! The Portal API (`/portal/v1/{tenant_slug}/…`): what a firm's clients use — accept an
//! invitation, activate, log in and out, reset a forgotten password, see their items and
//! contracts and sign them.

use crate::http::routes::PositionOnly;
use aggregates::portal_user::PersonNames;
use aggregates::values::{PersonName, Username};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::errors::service::ServiceError;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{checked, Checks, JsonBody};
use crate::http::portal_auth::{anonymous, EnrollingSession, PortalSession, PortalTenant};
use crate::http::portal_view::PortalClient;
use crate::http::Edge;
use crate::portal;
use crate::portal::self_service::{self as service, PasswordLink};

/// Actor recorded for commands started by following an e-mailed link.

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationBody {
    /// The `token` query parameter of the invitation e-mail's link.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub token: String,
    /// 3–64 characters, unique in the firm ignoring case, never changed afterwards.
    #[schema(schema_with = crate::http::schema::username)]
    pub username: String,
    /// 12–256 characters, not containing the username.
    #[schema(schema_with = crate::http::schema::password)]
    pub password: String,
    /// The person's first name, for greetings and as the default signer name. Leave both
    /// names out and an individual client's own name is used.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub first_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub last_name: Option<String>,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct PortalUserRef {
    pub portal_user_id: Uuid,
}

/// Accept an invitation: choose a username and password
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/invitations/accept", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = AcceptInvitationBody,
    responses((status = 201, body = PortalUserRef),
        (status = 410, description = "invitation_invalid: expired, revoked, replaced or used", body = Problem),
        (status = 409, description = "username_taken", body = Problem),
        (status = 422, body = Problem), (status = 403, description = "portal_inactive", body = Problem)))]
pub async fn accept_invitation(
    State(app): State<Edge>,
    tenant: PortalTenant,
    JsonBody(body): JsonBody<AcceptInvitationBody>,
) -> AppResult<(StatusCode, Json<PortalUserRef>)> {
    tenant.require_active(&app).await?;
    let mut v = Checks::default();
    let username = v.field("username", Username::parse(&body.username));
    let first_name = v.optional("first_name", body.first_name.as_deref(), PersonName::parse);
    let last_name = v.optional("last_name", body.last_name.as_deref(), PersonName::parse);
    v.finish()?;
    let meta = tenant.meta(anonymous());
    let acceptance = service::Acceptance {
        username: checked(username),
        names: PersonNames {
            first_name: checked(first_name),
            last_name: checked(last_name),
        },
        password: body.password,
    };
    let done = service::accept_invitation(&app, &meta, &body.token, acceptance).await?;
    let created = PortalUserRef {
        portal_user_id: done.value,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    /// The `token` query parameter of the activation e-mail's link.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub token: String,
    #[schema(schema_with = crate::http::schema::password)]
    pub password: String,
}

/// Activate a staff-made login with a password
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/activate", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = ActivateBody,
    responses((status = 200, body = PortalUserRef),
        (status = 410, description = "activation_invalid", body = Problem),
        (status = 422, body = Problem), (status = 403, description = "portal_inactive", body = Problem)))]
pub async fn activate(
    State(app): State<Edge>,
    tenant: PortalTenant,
    JsonBody(body): JsonBody<ActivateBody>,
) -> AppResult<Json<PortalUserRef>> {
    tenant.require_active(&app).await?;
    let meta = tenant.meta(anonymous());
    let kind = PasswordLink::Activation;
    let done = service::set_password_by_email(&app, &meta, kind, &body.token, body.password);
    let done = done.await?;
    Ok(Json(PortalUserRef {
        portal_user_id: done.value,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(schema_with = crate::http::schema::any_text)]
    pub username: String,
    #[schema(schema_with = crate::http::schema::any_text)]
    pub password: String,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct SessionIssued {
    /// Send as `Authorization: Bearer <session_token>`. Shown once; only its hash is kept.
    pub session_token: String,
    pub expires_at: DateTime<Utc>,
    /// The firm requires a second factor and this login has none: until one is confirmed
    /// the session may only use `…/mfa…`, `…/me` and `…/logout`.
    #[serde(default)]
    pub enrolment_required: bool,
}

impl From<portal::NewSession> for SessionIssued {
    fn from(session: portal::NewSession) -> Self {
        Self {
            session_token: session.token,
            expires_at: session.expires_at,
            enrolment_required: session.enrolment_required,
        }
    }
}

/// Log in with a username or e-mail address
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/login", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = LoginBody,
    responses((status = 200, body = SessionIssued),
        (status = 401, description = "invalid_credentials (unknown username and wrong password alike)", body = Problem),
        (status = 403, description = "mfa_required (with `mfa_token` and `methods`: complete with …/login/mfa), login_disabled, portal_inactive", body = Problem),
        (status = 429, description = "locked_out, with Retry-After", body = Problem)))]
pub async fn login(
    State(app): State<Edge>,
    tenant: PortalTenant,
    JsonBody(body): JsonBody<LoginBody>,
) -> AppResult<Json<SessionIssued>> {
    if body.username.len() > 256 || body.password.len() > 1024 {
        return Err(ServiceError::InvalidCredentials.into());
    }
    let meta = tenant.meta(anonymous());
    let session = portal::login(&app, &tenant.scope, &meta, &body.username, body.password).await?;
    Ok(Json(session.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotBody {
    /// A username, or an e-mail address: each login of that address gets a link.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub username: String,
}

/// Ask for a password reset link
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/password/forgot", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = ForgotBody,
    responses((status = 202, description = "Always, whether or not the username or address exists"),
        (status = 403, description = "portal_inactive", body = Problem)))]
pub async fn forgot_password(
    State(app): State<Edge>,
    tenant: PortalTenant,
    JsonBody(body): JsonBody<ForgotBody>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let meta = tenant.meta(anonymous());
    service::forgotten(
        &app,
        meta,
        service::Forgotten::Password {
            username: body.username,
        },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotUsernameBody {
    /// The e-mail address the login's e-mails go to.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub email: String,
}

/// Ask for the usernames of an e-mail address
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/username/forgot", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = ForgotUsernameBody,
    responses((status = 202, description = "Always, whether or not the address has a login"),
        (status = 403, description = "portal_inactive", body = Problem)))]
pub async fn forgot_username(
    State(app): State<Edge>,
    tenant: PortalTenant,
    JsonBody(body): JsonBody<ForgotUsernameBody>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let meta = tenant.meta(anonymous());
    service::forgotten(
        &app,
        meta,
        service::Forgotten::Username { email: body.email },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// The `token` query parameter of the reset e-mail's link.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub token: String,
    #[schema(schema_with = crate::http::schema::password)]
    pub new_password: String,
}

/// Set a new password from a reset link
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/password/reset", tag = "portal", operation_id = "portal_complete_password_reset",
    params(("tenant_slug" = String, Path)), request_body = ResetBody,
    responses((status = 200, body = PortalUserRef),
        (status = 410, description = "reset_link_invalid: expired, used or replaced", body = Problem),
        (status = 422, body = Problem), (status = 403, description = "portal_inactive", body = Problem)))]
pub async fn reset_password(
    State(app): State<Edge>,
    tenant: PortalTenant,
    JsonBody(body): JsonBody<ResetBody>,
) -> AppResult<Json<PortalUserRef>> {
    tenant.require_active(&app).await?;
    let meta = tenant.meta(anonymous());
    let (kind, password) = (PasswordLink::Reset, body.new_password);
    let done = service::set_password_by_email(&app, &meta, kind, &body.token, password);
    let done = done.await?;
    Ok(Json(PortalUserRef {
        portal_user_id: done.value,
    }))
}

/// End this session
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/logout", tag = "portal",
    params(("tenant_slug" = String, Path)),
    responses((status = 204, description = "The session is over"), (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn logout(EnrollingSession(session): EnrollingSession) -> AppResult<StatusCode> {
    portal::sessions::logout(&session.tenant.scope, session.session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    #[schema(schema_with = crate::http::schema::any_text)]
    pub current_password: String,
    /// 12–256 characters, not containing the username.
    #[schema(schema_with = crate::http::schema::password)]
    pub new_password: String,
}

/// Change the password, giving the current one
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/password/change", tag = "portal",
    params(("tenant_slug" = String, Path)), request_body = ChangePasswordBody,
    responses((status = 200, body = PositionOnly, description = "changed; the user's other sessions are over"),
        (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("portal_session" = [])))]
pub async fn change_password(
    State(app): State<Edge>,
    session: PortalSession,
    JsonBody(body): JsonBody<ChangePasswordBody>,
) -> AppResult<Json<PositionOnly>> {
    let done = crate::portal::self_service::change_password(
        &app,
        &session.meta(),
        &session.tenant.scope,
        &session.session,
        &session.account.username,
        body.current_password,
        body.new_password,
    )
    .await?;
    Ok(Json(done.into()))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Me {
    pub portal_user_id: Uuid,
    pub username: String,
    /// The person's name as the firm has it (null when not given).
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub clients: Vec<PortalClient>,
}

/// The signed-in login and its client areas
#[utoipa::path(get, path = "/portal/v1/{tenant_slug}/me", tag = "portal",
    params(("tenant_slug" = String, Path)),
    responses((status = 200, body = Me), (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn me(
    State(app): State<Edge>,
    EnrollingSession(session): EnrollingSession,
) -> AppResult<Json<Me>> {
    Ok(Json(Me {
        portal_user_id: session.session.portal_user_id,
        username: session.account.username.to_string(),
        first_name: session
            .account
            .names
            .first_name
            .as_ref()
            .map(|n| n.to_string()),
        last_name: session
            .account
            .names
            .last_name
            .as_ref()
            .map(|n| n.to_string()),
        clients: session.clients(&app).await?,
    }))
}
