//! A portal login as staff see it.

use aggregates::ids::PortalUserId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PortalUserDetail {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub status: String,
    pub client_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// Until when failed logins keep it locked (null when not locked).
    pub locked_until: Option<DateTime<Utc>>,
    /// Why staff disabled it, if they said (null when not disabled).
    pub disabled_reason: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The second factors it has (never their secrets).
    pub mfa: MfaSummary,
}

/// A login's second factors as staff see them.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MfaSummary {
    pub totp: bool,
    /// How many passkeys the login has registered.
    pub passkeys: i32,
    pub recovery_codes_left: i32,
}

pub async fn portal_user(
    scope: &TenantScope,
    id: PortalUserId,
    now: DateTime<Utc>,
) -> ReadResult<Option<PortalUserDetail>> {
    let row = sqlx::query(
        "SELECT s.*, ARRAY(SELECT client_id FROM rm_portal_user_clients pc
                            WHERE pc.tenant_id = s.tenant_id AND pc.portal_user_id = s.portal_user_id
                            ORDER BY client_id) AS client_ids,
                (SELECT max(t.locked_until) FROM portal_login_throttle t
                  WHERE t.tenant_id = s.tenant_id AND t.portal_user_id = s.portal_user_id
                    AND t.locked_until > $3) AS locked_until,
                u.disabled_reason, u.first_name, u.last_name, u.totp_enabled, u.recovery_codes_left,
                u.passkeys
           FROM rm_portal_user_status s
           JOIN rm_portal_users u USING (tenant_id, portal_user_id)
          WHERE s.tenant_id = $1 AND s.portal_user_id = $2",
    )
    .bind(scope.id())
    .bind(id.uuid())
    .bind(now)
    .fetch_optional(scope.pool())
    .await?;
    row.map(|r| {
        Ok(PortalUserDetail {
            id: r.try_get("portal_user_id")?,
            username: r.try_get("username")?,
            email: r.try_get("email")?,
            status: r.try_get("status")?,
            client_ids: r.try_get("client_ids")?,
            created_at: r.try_get("created_at")?,
            activated_at: r.try_get("activated_at")?,
            last_login_at: r.try_get("last_login_at")?,
            locked_until: r.try_get("locked_until")?,
            disabled_reason: r.try_get("disabled_reason")?,
            first_name: r.try_get("first_name")?,
            last_name: r.try_get("last_name")?,
            mfa: MfaSummary {
                totp: r.try_get("totp_enabled")?,
                passkeys: r.try_get("passkeys")?,
                recovery_codes_left: r.try_get("recovery_codes_left")?,
            },
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}
