//! The login history (`portal_logins`) as auditors page through it.

use aggregates::ids::PortalUserId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct LoginRecord {
    /// Order of the attempt (page with `after`).
    pub id: i64,
    pub at: DateTime<Utc>,
    /// null when the username typed matched no login.
    pub portal_user_id: Option<Uuid>,
    /// succeeded, invalid_credentials, login_disabled, locked_out, rate_limited,
    /// portal_inactive, mfa_required (a right password; the second step is owed) or
    /// invalid_code (a wrong second-step code).
    pub outcome: String,
    /// How a successful login was completed: password, totp or recovery_code (null for
    /// failures, and for logins recorded before methods were).
    pub method: Option<String>,
    pub session_id: Option<Uuid>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// The tenant's login attempts after `after`, oldest first, optionally for one login.
pub async fn page(
    scope: &TenantScope,
    portal_user_id: Option<PortalUserId>,
    after: i64,
    limit: i64,
) -> ReadResult<Vec<LoginRecord>> {
    Ok(sqlx::query_as(
        "SELECT id, at, portal_user_id, outcome, method, session_id, client_ip, user_agent, request_id
           FROM portal_logins
          WHERE tenant_id = $1 AND id > $2 AND ($3::uuid IS NULL OR portal_user_id = $3)
          ORDER BY id LIMIT $4",
    )
    .bind(scope.id())
    .bind(after)
    .bind(portal_user_id.map(PortalUserId::uuid))
    .bind(limit)
    .fetch_all(scope.pool())
    .await?)
}
