//! Staff members (admin; listing also auditor): add, list, read, change, disable, enable.

use aggregates::staff_member::StaffMemberCommand;
use aggregates::tenant::StaffRole;
use aggregates::values::{Email, PersonName};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Created, PositionOnly};
use crate::http::auth::{Admin, Auditor};
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{checked, Checks, JsonBody, PathId};
use crate::http::Edge;
use crate::reads::staff::{self as reads, StaffMemberView};
use crate::services::staff as service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffMemberBody {
    #[schema(schema_with = crate::http::schema::person_name)]
    pub name: String,
    #[schema(schema_with = crate::http::schema::email)]
    pub email: String,
    /// admin, staff, auditor or reporting.
    #[schema(schema_with = crate::http::schema::staff_role)]
    pub role: String,
}

/// Add a staff member
#[utoipa::path(post, path = "/api/v1/staff", tag = "staff",
    request_body = NewStaffMemberBody,
    responses((status = 201, body = Created), (status = 422, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn create_staff_member(
    State(app): State<Edge>,
    Admin(meta): Admin,
    JsonBody(body): JsonBody<NewStaffMemberBody>,
) -> AppResult<(StatusCode, Json<Created>)> {
    let mut v = Checks::default();
    let name = v.field("name", PersonName::parse(&body.name));
    let email = v.field("email", Email::parse(&body.email));
    let role = v.field("role", StaffRole::parse(&body.role));
    v.finish()?;
    let done =
        service::create_member(&app, &meta, checked(name), checked(email), checked(role)).await?;
    Ok((StatusCode::CREATED, Json(Created::from(done))))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct StaffMembers {
    pub items: Vec<StaffMemberView>,
}

/// List the firm's staff members
#[utoipa::path(get, path = "/api/v1/staff", tag = "staff",
    responses((status = 200, body = StaffMembers), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_staff(Auditor(staff): Auditor) -> AppResult<Json<StaffMembers>> {
    let items = reads::members(&staff.scope).await?;
    Ok(Json(StaffMembers { items }))
}

/// Get a staff member
#[utoipa::path(get, path = "/api/v1/staff/{id}", tag = "staff", params(("id" = Uuid, Path)),
    responses((status = 200, body = StaffMemberView), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn get_staff_member(
    Auditor(staff): Auditor,
    PathId(id): PathId,
) -> AppResult<Json<StaffMemberView>> {
    let member = reads::member(&staff.scope, id)
        .await?
        .ok_or(AppError::NotFound("staff member"))?;
    Ok(Json(member))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStaffMemberBody {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::email_or_null)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::staff_role_or_null)]
    pub role: Option<String>,
}

/// Change a staff member's name or role
#[utoipa::path(patch, path = "/api/v1/staff/{id}", tag = "staff", params(("id" = Uuid, Path)),
    request_body = ChangeStaffMemberBody,
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn change_staff_member(
    State(app): State<Edge>,
    Admin(meta): Admin,
    PathId(id): PathId,
    JsonBody(body): JsonBody<ChangeStaffMemberBody>,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let name = v.optional("name", body.name.as_deref(), PersonName::parse);
    let email = v.optional("email", body.email.as_deref(), Email::parse);
    let role = v.optional("role", body.role.as_deref(), StaffRole::parse);
    v.finish()?;
    let command = StaffMemberCommand::Change {
        name: checked(name),
        email: checked(email),
        role: checked(role),
    };
    Ok(Json(
        service::change_member(&app, &meta, id, command)
            .await?
            .into(),
    ))
}

/// Disable a staff member and revoke their tokens
#[utoipa::path(post, path = "/api/v1/staff/{id}/disable", tag = "staff", params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem), (status = 409, description = "already_disabled", body = Problem)),
    security(("staff_token" = [])))]
pub async fn disable_staff_member(
    State(app): State<Edge>,
    Admin(meta): Admin,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    let command = StaffMemberCommand::Disable;
    let done = service::change_member(&app, &meta, id, command).await?;
    Ok(Json(done.into()))
}

/// Enable a disabled staff member
#[utoipa::path(post, path = "/api/v1/staff/{id}/enable", tag = "staff", params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem), (status = 409, description = "not_disabled", body = Problem)),
    security(("staff_token" = [])))]
pub async fn enable_staff_member(
    State(app): State<Edge>,
    Admin(meta): Admin,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    let command = StaffMemberCommand::Enable;
    let done = service::change_member(&app, &meta, id, command).await?;
    Ok(Json(done.into()))
}
