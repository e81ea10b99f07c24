//! Staff authentication: bearer tokens looked up by id and compared by hash in constant
//! time; the token's tenant scopes everything the request can see, its role what it can do.

use aggregates::ids::TenantId;
use aggregates::tenant::StaffRole;
use sqlx::Row;
use uuid::Uuid;

use super::TenantScope;
use crate::app::App;
use crate::security::{staff_token_id, token_matches};
use crate::services::error::{ServiceError, ServiceResult};

/// An authenticated staff token.
#[derive(Debug, Clone)]
pub struct Staff {
    pub token_id: Uuid,
    pub role: StaffRole,
    pub scope: TenantScope,
}

impl Staff {
    pub fn tenant_id(&self) -> Uuid {
        self.scope.id()
    }

    /// Refuses unless the token has one of `roles`.
    pub fn allow(&self, roles: &[StaffRole]) -> ServiceResult<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden {
                code: "forbidden_role",
                detail: format!("a token with role {} may not do this", self.role.as_str()),
            })
        }
    }
}

/// The staff token `token` is, if it is one and has not been revoked.
pub async fn authenticate(app: &App, token: &str) -> ServiceResult<Staff> {
    let token_id = staff_token_id(token).ok_or(ServiceError::Unauthorized)?;
    let row = sqlx::query(
        "SELECT tenant_id, role, token_hash FROM staff_tokens WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(token_id)
    .fetch_optional(app.pool())
    .await?
    .ok_or(ServiceError::Unauthorized)?;
    let stored_hash: Vec<u8> = row.try_get("token_hash")?;
    if !token_matches(token, &stored_hash) {
        return Err(ServiceError::Unauthorized);
    }
    let role: String = row.try_get("role")?;
    let tenant = TenantId::from_uuid(row.try_get("tenant_id")?);
    Ok(Staff {
        token_id,
        role: StaffRole::parse(&role).map_err(|e| ServiceError::internal(anyhow::anyhow!(e)))?,
        scope: TenantScope::new(app.pool().clone(), tenant),
    })
}
