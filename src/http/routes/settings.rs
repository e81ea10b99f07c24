//! A firm's settings: read by its staff; the portal switch, the portal policies (how long
//! invitations and sessions last, when failed logins lock) and the address its signed
//! audit checkpoints are e-mailed to changed by admins.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use aggregates::policies::{MfaPolicy, PolicyChange};
use aggregates::values::Email;
use serde::Serialize;

use super::PositionOnly;
use crate::errors::service::{FieldError, ServiceError};
use crate::http::auth::{Admin, Reader};
use crate::http::error::{AppResult, Problem};
use crate::http::extract::JsonBody;
use crate::http::Edge;
use crate::services::tenants;

/// The firm's settings.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Settings {
    pub portal_active: bool,
    /// The firm's hosted login page (`PORTAL_PUBLIC_URL/portal/{slug}/login`), where its
    /// clients log in; the invitation and activation e-mails name it.
    pub portal_login_url: Option<String>,
    pub invitation_ttl_days: i64,
    pub session_hours: i64,
    pub lockout_failures: i64,
    pub lockout_minutes: i64,
    /// Where each new signed audit checkpoint is e-mailed (the firm's auditor), if anywhere.
    pub checkpoint_email: Option<String>,
    /// `required`: a login without a second factor gets a session that can only set one up.
    pub mfa: String,
    /// Archived clients are erased by the system this many days after archiving, unless
    /// on legal hold; `null`: never.
    pub erase_archived_after_days: Option<i64>,
}

async fn current(app: &Edge, meta: &crate::store::CommandMeta) -> AppResult<Settings> {
    let tenant = tenants::settings(app, meta).await?;
    let policies = tenant.policies.unwrap_or_else(|| app.limits.policies());
    Ok(Settings {
        portal_active: !tenant.portal_inactive,
        portal_login_url: tenant
            .slug
            .as_deref()
            .and_then(|slug| app.portal_login_url(slug)),
        invitation_ttl_days: policies.invitation_ttl_days,
        session_hours: policies.session_hours,
        lockout_failures: policies.lockout_failures,
        lockout_minutes: policies.lockout_minutes,
        checkpoint_email: tenant.checkpoint_recipient.map(|e| e.to_string()),
        mfa: policies.mfa.as_str().to_string(),
        erase_archived_after_days: policies.erase_archived_after_days,
    })
}

/// The firm's portal settings
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings",
    responses((status = 200, body = Settings)),
    security(("staff_token" = [])))]
pub async fn get_settings(
    State(app): State<Edge>,
    Reader(staff): Reader,
) -> AppResult<Json<Settings>> {
    // Only read with: no command, so no request details to record.
    let origin = crate::http::extract::Origin {
        request_id: String::new(),
        client_ip: None,
        user_agent: None,
    };
    let meta = crate::http::auth::staff_meta(&staff, origin);
    Ok(Json(current(&app, &meta).await?))
}

/// Any of the four policies; bounds: invitations 1–90 days, sessions 1–168 hours, 3–20
/// failed logins lock a login for 1–1440 minutes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    #[serde(
        default,
        deserialize_with = "crate::http::extract::whole_number_or_null"
    )]
    #[schema(schema_with = crate::http::schema::invitation_ttl_days_or_null)]
    pub invitation_ttl_days: Option<i64>,
    #[serde(
        default,
        deserialize_with = "crate::http::extract::whole_number_or_null"
    )]
    #[schema(schema_with = crate::http::schema::session_hours_or_null)]
    pub session_hours: Option<i64>,
    #[serde(
        default,
        deserialize_with = "crate::http::extract::whole_number_or_null"
    )]
    #[schema(schema_with = crate::http::schema::lockout_failures_or_null)]
    pub lockout_failures: Option<i64>,
    #[serde(
        default,
        deserialize_with = "crate::http::extract::whole_number_or_null"
    )]
    #[schema(schema_with = crate::http::schema::lockout_minutes_or_null)]
    pub lockout_minutes: Option<i64>,
    /// `optional` or `required`.
    #[serde(default)]
    #[schema(schema_with = crate::http::named_enums::mfa_policy_or_null)]
    pub mfa: Option<String>,
    /// 1–3650 days after archiving, archived clients are erased; `null` turns it off,
    /// absent leaves it.
    #[serde(
        default,
        deserialize_with = "crate::http::extract::present_whole_number_or_null"
    )]
    #[schema(schema_with = crate::http::schema::retention_days_or_null)]
    pub erase_archived_after_days: Option<Option<i64>>,
}

/// Change the firm's portal policies
#[utoipa::path(patch, path = "/api/v1/settings", tag = "settings",
    request_body = SettingsBody,
    responses((status = 200, body = Settings), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn change_settings(
    State(app): State<Edge>,
    Admin(meta): Admin,
    JsonBody(body): JsonBody<SettingsBody>,
) -> AppResult<Json<Settings>> {
    let mfa = body.mfa.as_deref().map(MfaPolicy::parse).transpose();
    let change = PolicyChange {
        invitation_ttl_days: body.invitation_ttl_days,
        session_hours: body.session_hours,
        lockout_failures: body.lockout_failures,
        lockout_minutes: body.lockout_minutes,
        mfa: mfa.clone().unwrap_or_default(),
        erase_archived_after_days: body.erase_archived_after_days,
    };
    let mut refused = change.out_of_bounds();
    if let Err(message) = mfa {
        refused.push(("mfa", message));
    }
    if !refused.is_empty() {
        return Err(ServiceError::Validation(
            refused
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message))
                .collect(),
        )
        .into());
    }
    tenants::set_policies(&app, &meta, change).await?;
    Ok(Json(current(&app, &meta).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalSettingsBody {
    /// When false, portal logins answer 403 `portal_inactive`.
    pub active: bool,
}

/// Switch the firm's portal on or off
#[utoipa::path(put, path = "/api/v1/settings/portal", tag = "settings",
    request_body = PortalSettingsBody,
    responses((status = 200, body = PositionOnly), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn set_portal(
    State(app): State<Edge>,
    Admin(meta): Admin,
    JsonBody(body): JsonBody<PortalSettingsBody>,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(
        tenants::set_portal_active(&app, &meta, body.active)
            .await?
            .into(),
    ))
}

/// The address new signed audit checkpoints are e-mailed to, or `null` to stop.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointEmailBody {
    /// Required; `null` stops the e-mails.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(schema_with = crate::http::schema::email_or_null, required = true)]
    pub checkpoint_email: Option<String>,
}

/// Set where signed checkpoints are e-mailed
#[utoipa::path(put, path = "/api/v1/settings/audit", tag = "settings",
    request_body = CheckpointEmailBody,
    responses((status = 200, body = Settings), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn set_checkpoint_email(
    State(app): State<Edge>,
    Admin(meta): Admin,
    JsonBody(body): JsonBody<CheckpointEmailBody>,
) -> AppResult<Json<Settings>> {
    let email = body
        .checkpoint_email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|message| {
            ServiceError::Validation(vec![FieldError::new("checkpoint_email", message)])
        })?;
    tenants::set_checkpoint_recipient(&app, &meta, email).await?;
    Ok(Json(current(&app, &meta).await?))
}
