//! Staff tokens (admin; listing also auditor): issue a personal or service token, list
//! them without secrets, revoke one.

use aggregates::tenant::StaffRole;
use aggregates::values::Label;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::PositionOnly;
use crate::http::auth::{Admin, Auditor};
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{canonical_uuid, checked, Checks, JsonBody, PathId};
use crate::http::schema::MAX_TOKEN_DAYS;
use crate::http::Edge;
use crate::reads::staff::{self as reads, TokenView};
use crate::services::staff::{self as service, NewToken};

/// Days a token lives when the request does not say.
const DEFAULT_DAYS: i64 = 90;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// What the token is for ("Jo's laptop", "staff UI backend").
    #[schema(schema_with = crate::http::schema::label_or_null)]
    pub label: Option<String>,
    /// A personal token acting as this staff member; absent: a service token, whose
    /// commands name their person in `X-Acting-Staff`.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::uuid_text_or_null)]
    pub staff_id: Option<String>,
    /// Defaults to the member's role (personal) or admin (service). The token never does
    /// more than its person's role allows.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::staff_role_or_null)]
    pub role: Option<String>,
    /// 1–365, default 90.
    #[serde(
        default,
        deserialize_with = "crate::http::extract::whole_number_or_null"
    )]
    #[schema(schema_with = crate::http::schema::expiry_days_or_null)]
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct TokenIssued {
    pub id: Uuid,
    /// The secret, shown this once; only its hash is kept.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub position: i64,
}

/// Issue an API token (shown once)
#[utoipa::path(post, path = "/api/v1/tokens", tag = "staff",
    request_body = NewTokenBody,
    responses((status = 201, body = TokenIssued), (status = 404, description = "unknown or disabled staff member", body = Problem),
        (status = 422, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn issue_token(
    State(app): State<Edge>,
    Admin(meta): Admin,
    JsonBody(body): JsonBody<NewTokenBody>,
) -> AppResult<(StatusCode, Json<TokenIssued>)> {
    let mut v = Checks::default();
    let label = v.optional("label", body.label.as_deref(), |l| {
        Label::parse(l).map(|l| l.as_str().to_string())
    });
    let staff_id = v.optional("staff_id", body.staff_id.as_deref(), |id| {
        canonical_uuid(id).ok_or_else(|| "must be a staff member's id (UUID)".to_string())
    });
    let role = v.optional("role", body.role.as_deref(), StaffRole::parse);
    let days = v.field(
        "expires_in_days",
        match body.expires_in_days {
            None => Ok(DEFAULT_DAYS),
            Some(d) if (1..=MAX_TOKEN_DAYS).contains(&d) => Ok(d),
            Some(_) => Err(format!(
                "must be a whole number of days from 1 to {MAX_TOKEN_DAYS}"
            )),
        },
    );
    v.finish()?;
    let new = NewToken {
        label: checked(label),
        staff_id: checked(staff_id),
        role: checked(role),
        expires_in_days: checked(days),
    };
    let done = service::issue_token(&app, &meta, new).await?;
    let issued = TokenIssued {
        id: done.value.id,
        token: done.value.token,
        expires_at: done.value.expires_at,
        position: done.position,
    };
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Tokens {
    pub items: Vec<TokenView>,
}

/// List the firm's API tokens
#[utoipa::path(get, path = "/api/v1/tokens", tag = "staff",
    responses((status = 200, body = Tokens), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_tokens(Auditor(staff): Auditor) -> AppResult<Json<Tokens>> {
    Ok(Json(Tokens {
        items: reads::tokens(&staff.scope).await?,
    }))
}

/// Revoke an API token
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "staff", params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn revoke_token(
    State(app): State<Edge>,
    Admin(meta): Admin,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(service::revoke_token(&app, &meta, id).await?.into()))
}
