//! Tenant settings (admin only): switching the firm's portal on and off.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::PositionOnly;
use crate::app::App;
use crate::http::auth::Admin;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::JsonBody;
use crate::services::tenants;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalSettingsBody {
    /// When false, portal logins answer 403 `portal_inactive`.
    pub active: bool,
}

#[utoipa::path(put, path = "/api/v1/settings/portal", tag = "settings",
    request_body = PortalSettingsBody,
    responses((status = 200, body = PositionOnly), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn set_portal(
    State(app): State<App>,
    Admin(meta): Admin,
    JsonBody(body): JsonBody<PortalSettingsBody>,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(
        tenants::set_portal_active(&app, &meta, body.active)
            .await?
            .into(),
    ))
}
