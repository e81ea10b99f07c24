//! Staff routes for portal users: CreatePortalUser, group-login access, ResetPassword,
//! DisableLogin / EnableLogin, and removing portal access.

use aggregates::portal_user::LoginStatus;
use aggregates::portal_user::PersonNames;
use aggregates::values::{Email, PersonName, Reason, Username};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::PositionOnly;
use aggregates::ids::PortalUserId;

use crate::http::auth::{Reader, Writer};
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{
    canonical_uuid, checked, Checks, JsonBody, JsonOrEmpty, PathId, PathIds,
};
use crate::http::routes::MinPosition;
use crate::http::Edge;
use crate::reads::{self, portal_users::PortalUserDetail};
use crate::services::portal_users::{self as service, DetailsChange, NewPortalUser, ResetMode};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePortalUserBody {
    #[schema(schema_with = crate::http::schema::email)]
    pub email: String,
    /// Leave out to have one generated. 3–64 characters, unique in the firm ignoring case,
    /// never changed afterwards.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::username_or_null)]
    pub username: Option<String>,
    /// With a password the login is active at once; without, an activation e-mail is sent.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::password_or_null)]
    pub password: Option<String>,
    /// The person's first name, for greetings and as the default signer name.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub first_name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub last_name: Option<String>,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct PortalUserCreated {
    pub id: Uuid,
    pub username: String,
    /// `active` or `pending_activation`.
    #[schema(value_type = String)]
    pub status: LoginStatus,
    pub position: i64,
}

/// Create a portal login for a client (CreatePortalUser)
#[utoipa::path(post, path = "/api/v1/clients/{id}/portal-users", tag = "portal users",
    params(("id" = Uuid, Path)), request_body = CreatePortalUserBody,
    responses((status = 201, body = PortalUserCreated),
        (status = 409, description = "username_taken, individual_client_has_user", body = Problem),
        (status = 422, body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn create_portal_user(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(client_id): PathId,
    JsonBody(body): JsonBody<CreatePortalUserBody>,
) -> AppResult<(StatusCode, Json<PortalUserCreated>)> {
    let mut v = Checks::default();
    let email = v.field("email", Email::parse(&body.email));
    let username = v.optional("username", body.username.as_deref(), Username::parse);
    let first_name = v.optional("first_name", body.first_name.as_deref(), PersonName::parse);
    let last_name = v.optional("last_name", body.last_name.as_deref(), PersonName::parse);
    v.finish()?;
    let new = NewPortalUser {
        client_id,
        email: checked(email),
        username: checked(username),
        names: PersonNames {
            first_name: checked(first_name),
            last_name: checked(last_name),
        },
        password: body.password,
    };
    let done = service::create(&app, &meta, new).await?;
    let created = PortalUserCreated {
        id: done.value.id,
        username: done.value.username.to_string(),
        status: done.value.status,
        position: done.position,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientAccessBody {
    #[schema(schema_with = crate::http::schema::uuid_text)]
    pub client_id: String,
}

/// Give a login access to another client area
#[utoipa::path(post, path = "/api/v1/portal-users/{id}/client-access", tag = "portal users",
    params(("id" = Uuid, Path)), request_body = ClientAccessBody,
    responses((status = 200, body = PositionOnly),
        (status = 409, description = "client_access_exists, individual_client_has_user, portal_user_removed", body = Problem),
        (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn grant_client_access(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(user_id): PathId,
    JsonBody(body): JsonBody<ClientAccessBody>,
) -> AppResult<Json<PositionOnly>> {
    let client_id = canonical_uuid(&body.client_id).ok_or(AppError::NotFound("client"))?;
    Ok(Json(
        service::grant_client_access(&app, &meta, user_id, client_id)
            .await?
            .into(),
    ))
}

/// Take a client area from a login
#[utoipa::path(delete, path = "/api/v1/portal-users/{id}/client-access/{client_id}", tag = "portal users",
    params(("id" = Uuid, Path), ("client_id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly),
        (status = 409, description = "last_client_access", body = Problem),
        (status = 404, description = "unknown user or client, client_access_not_found", body = Problem)),
    security(("staff_token" = [])))]
pub async fn revoke_client_access(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathIds(user_id, client_id): PathIds,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(
        service::revoke_client_access(&app, &meta, user_id, client_id)
            .await?
            .into(),
    ))
}

/// `{"mode": "email_link"}` (the user gets a link; a pending user gets a new activation
/// link) or `{"mode": "set", "new_password": "…"}` (staff give the new password).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetBody {
    pub mode: String,
    #[serde(default)]
    pub new_password: Option<String>,
}

impl utoipa::PartialSchema for PasswordResetBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        crate::http::schema::password_reset_body()
    }
}

impl ToSchema for PasswordResetBody {}

/// Reset a login's password by e-mail link or set it (ResetPassword)
#[utoipa::path(post, path = "/api/v1/portal-users/{id}/password-reset", tag = "portal users",
    params(("id" = Uuid, Path)), request_body = PasswordResetBody,
    responses((status = 200, body = PositionOnly), (status = 422, body = Problem), (status = 409, description = "portal_user_removed", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn reset_password(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(user_id): PathId,
    JsonBody(body): JsonBody<PasswordResetBody>,
) -> AppResult<Json<PositionOnly>> {
    let mode = match (body.mode.as_str(), body.new_password) {
        ("email_link", None) => ResetMode::EmailLink,
        ("email_link", Some(_)) => {
            return Err(AppError::invalid(
                "new_password",
                "is only for mode \"set\"",
            ))
        }
        ("set", Some(new_password)) => ResetMode::Set { new_password },
        ("set", None) => {
            return Err(AppError::invalid(
                "new_password",
                "is required for mode \"set\"",
            ))
        }
        _ => {
            return Err(AppError::invalid(
                "mode",
                "must be \"email_link\" or \"set\"",
            ))
        }
    };
    Ok(Json(
        service::reset_password(&app, &meta, user_id, mode)
            .await?
            .into(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableBody {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::reason_or_null)]
    pub reason: Option<String>,
}

/// Disable a login and end its sessions (DisableLogin)
#[utoipa::path(post, path = "/api/v1/portal-users/{id}/disable", tag = "portal users",
    params(("id" = Uuid, Path)), request_body(content = Option<DisableBody>, description = "optional"),
    responses((status = 200, body = PositionOnly), (status = 409, description = "already_disabled, portal_user_removed", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn disable_login(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(user_id): PathId,
    JsonOrEmpty(body): JsonOrEmpty<DisableBody>,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let reason = v.optional("reason", body.reason.as_deref(), Reason::parse);
    v.finish()?;
    Ok(Json(
        service::disable(&app, &meta, user_id, checked(reason))
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaResetBody {
    /// Why (recorded in the audit trail): e.g. "lost phone; identity checked by a call".
    #[schema(schema_with = crate::http::schema::reason)]
    pub reason: String,
}

/// Remove every second factor of a login and end its sessions
#[utoipa::path(post, path = "/api/v1/portal-users/{id}/mfa/reset", tag = "portal users",
    params(("id" = Uuid, Path)), request_body = MfaResetBody,
    responses((status = 200, body = PositionOnly), (status = 409, description = "no_second_factor, portal_user_removed", body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn reset_mfa(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(user_id): PathId,
    JsonBody(body): JsonBody<MfaResetBody>,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let reason = v.field("reason", Reason::parse(&body.reason));
    v.finish()?;
    Ok(Json(
        service::reset_second_factors(&app, &meta, user_id, checked(reason))
            .await?
            .into(),
    ))
}

/// Enable a disabled login
#[utoipa::path(post, path = "/api/v1/portal-users/{id}/enable", tag = "portal users",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 409, description = "not_disabled, portal_user_removed", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn enable_login(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(user_id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(service::enable(&app, &meta, user_id).await?.into()))
}

/// Lift a login's lockout
#[utoipa::path(post, path = "/api/v1/portal-users/{id}/unlock", tag = "portal users",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 409, description = "not_locked, portal_user_removed", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn unlock_login(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(user_id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(service::unlock(&app, &meta, user_id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/portal-users/{id}/activation", tag = "portal users",
    operation_id = "resend_activation",
    summary = "E-mail a fresh activation link to a login waiting for activation",
    params(("id" = Uuid, Path)),
    responses((status = 202, description = "The e-mail is on its way; earlier activation links stop working", body = PositionOnly),
        (status = 409, description = "not_pending, portal_user_removed", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn resend_activation(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(user_id): PathId,
) -> AppResult<(StatusCode, Json<PositionOnly>)> {
    let done = service::resend_activation(&app, &meta, user_id).await?;
    Ok((StatusCode::ACCEPTED, Json(done.into())))
}

/// Remove a login's portal access
#[utoipa::path(delete, path = "/api/v1/portal-users/{id}", tag = "portal users",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 409, description = "portal_user_removed", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn remove_portal_user(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(user_id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(service::remove(&app, &meta, user_id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePortalUserBody {
    /// A new first name, or `null` to remove it; absent leaves it as it is.
    #[serde(default, deserialize_with = "crate::http::extract::double_option")]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub first_name: Option<Option<String>>,
    /// A new last name, or `null` to remove it; absent leaves it as it is.
    #[serde(default, deserialize_with = "crate::http::extract::double_option")]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub last_name: Option<Option<String>>,
    /// A new e-mail address for the login's e-mails (links already sent keep working).
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::email_or_null)]
    pub email: Option<String>,
}

/// Change a login's names or e-mail address
#[utoipa::path(patch, path = "/api/v1/portal-users/{id}", tag = "portal users",
    params(("id" = Uuid, Path)), request_body = ChangePortalUserBody,
    responses((status = 200, body = PositionOnly), (status = 409, description = "portal_user_removed", body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn change_portal_user(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(user_id): PathId,
    JsonBody(body): JsonBody<ChangePortalUserBody>,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let mut name_part = |field: &str, raw: &Option<Option<String>>| match raw {
        None => Some(None),
        Some(None) => Some(Some(None)),
        Some(Some(text)) => v
            .field(field, PersonName::parse(text))
            .map(|n| Some(Some(n))),
    };
    let first_name = name_part("first_name", &body.first_name);
    let last_name = name_part("last_name", &body.last_name);
    let email = v.optional("email", body.email.as_deref(), Email::parse);
    v.finish()?;
    let change = DetailsChange {
        first_name: checked(first_name),
        last_name: checked(last_name),
        email: checked(email),
    };
    Ok(Json(
        service::change_details(&app, &meta, user_id, change)
            .await?
            .into(),
    ))
}

/// Get a portal login
#[utoipa::path(get, path = "/api/v1/portal-users/{id}", tag = "portal users", params(("id" = Uuid, Path), MinPosition),
    responses((status = 200, body = PortalUserDetail), (status = 404, body = Problem), (status = 504, body = Problem)),
    security(("staff_token" = [])))]
pub async fn get_portal_user(
    State(app): State<Edge>,
    Reader(staff): Reader,
    PathId(id): PathId,
    axum::extract::Query(q): axum::extract::Query<MinPosition>,
) -> AppResult<Json<PortalUserDetail>> {
    q.wait(&app).await?;
    let user = reads::portal_users::portal_user(
        &staff.scope,
        PortalUserId::from_uuid(id),
        app.clock.now(),
    )
    .await?
    .ok_or(AppError::NotFound("portal user"))?;
    Ok(Json(user))
}
