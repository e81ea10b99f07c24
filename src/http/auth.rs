//! Staff authentication: bearer tokens looked up by id and compared by hash in constant
//! time; the token's tenant scopes everything the request can see, its role what it can do.

use aggregates::tenant::StaffRole;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sqlx::Row;
use uuid::Uuid;

use super::extract::Origin;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::security::{staff_token_id, token_matches};
use crate::store::CommandMeta;

#[derive(Debug, Clone)]
pub struct Staff {
    pub token_id: Uuid,
    pub tenant_id: Uuid,
    pub role: StaffRole,
}

impl Staff {
    fn allow(&self, roles: &[StaffRole]) -> AppResult<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                code: "forbidden_role",
                detail: format!("a token with role {} may not do this", self.role.as_str()),
            })
        }
    }

    pub fn meta(&self, origin: Origin) -> CommandMeta {
        CommandMeta {
            tenant_id: self.tenant_id,
            actor: format!("staff_token:{}", self.token_id),
            request_id: origin.request_id,
            client_ip: origin.client_ip,
            user_agent: origin.user_agent,
            command: "",
        }
    }
}

/// The bearer token of a request, if it carries one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub async fn authenticate(app: &App, parts: &Parts) -> AppResult<Staff> {
    let token = bearer(parts).ok_or(AppError::Unauthorized)?;
    let token_id = staff_token_id(token).ok_or(AppError::Unauthorized)?;
    let row = sqlx::query(
        "SELECT tenant_id, role, token_hash FROM staff_tokens WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(token_id)
    .fetch_optional(app.pool())
    .await?
    .ok_or(AppError::Unauthorized)?;
    let stored_hash: Vec<u8> = row.try_get("token_hash")?;
    if !token_matches(token, &stored_hash) {
        return Err(AppError::Unauthorized);
    }
    let role: String = row.try_get("role")?;
    let staff = Staff {
        token_id,
        tenant_id: row.try_get("tenant_id")?,
        role: StaffRole::parse(&role).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?,
    };
    tracing::Span::current().record("tenant", tracing::field::display(staff.tenant_id));
    Ok(staff)
}

/// A caller allowed to run staff commands (admin or staff), with the command's metadata.
pub struct Writer(pub CommandMeta);

impl FromRequestParts<App> for Writer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> AppResult<Self> {
        let staff = authenticate(app, parts).await?;
        staff.allow(&[StaffRole::Admin, StaffRole::Staff])?;
        Ok(Self(staff.meta(Origin::from_parts(parts))))
    }
}

/// A caller allowed to change tenant settings (admin only).
pub struct Admin(pub CommandMeta);

impl FromRequestParts<App> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> AppResult<Self> {
        let staff = authenticate(app, parts).await?;
        staff.allow(&[StaffRole::Admin])?;
        Ok(Self(staff.meta(Origin::from_parts(parts))))
    }
}

/// Any authenticated staff token (every role may read read models).
pub struct Reader(pub Staff);

impl FromRequestParts<App> for Reader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> AppResult<Self> {
        Ok(Self(authenticate(app, parts).await?))
    }
}

/// A caller allowed to read the audit routes (auditor or admin).
pub struct Auditor(pub Staff);

impl FromRequestParts<App> for Auditor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> AppResult<Self> {
        let staff = authenticate(app, parts).await?;
        staff.allow(&[StaffRole::Admin, StaffRole::Auditor])?;
        Ok(Self(staff))
    }
}
