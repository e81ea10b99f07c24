//! The firm's staff members and tokens as admins and auditors list them (never a secret).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct StaffMemberView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    /// admin, staff, auditor or reporting.
    pub role: String,
    /// active or disabled.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

const MEMBER_COLUMNS: &str = "id, name, email, role,
    CASE WHEN disabled THEN 'disabled' ELSE 'active' END AS status, created_at";

/// Every member of the firm, by name.
pub async fn members(scope: &TenantScope) -> ReadResult<Vec<StaffMemberView>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {MEMBER_COLUMNS} FROM staff_members WHERE tenant_id = $1 ORDER BY lower(name), id"
    ))
    .bind(scope.id())
    .fetch_all(scope.pool())
    .await?)
}

pub async fn member(scope: &TenantScope, id: Uuid) -> ReadResult<Option<StaffMemberView>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {MEMBER_COLUMNS} FROM staff_members WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(scope.id())
    .bind(id)
    .fetch_optional(scope.pool())
    .await?)
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct TokenView {
    pub id: Uuid,
    pub label: Option<String>,
    /// The member a personal token acts as; null for a service token (or one from before
    /// staff members).
    pub staff_id: Option<Uuid>,
    /// member, service, or unnamed (issued before staff members existed).
    pub holder: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Kept to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Every token of the firm, oldest first.
pub async fn tokens(scope: &TenantScope) -> ReadResult<Vec<TokenView>> {
    Ok(sqlx::query_as(
        "SELECT id, label, staff_member_id AS staff_id, holder, role, created_at, expires_at,
                last_used_at, revoked_at
           FROM staff_tokens WHERE tenant_id = $1 ORDER BY created_at, id",
    )
    .bind(scope.id())
    .fetch_all(scope.pool())
    .await?)
}
