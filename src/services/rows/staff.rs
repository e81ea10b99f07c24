//! Staff members and their tokens as authentication reads them (`staff_members`,
//! `staff_tokens`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{SideStatement, SideWrite};

/// A new token; only its hash is kept.
pub struct StaffToken {
    pub id: Uuid,
    pub role: &'static str,
    pub label: Option<String>,
    pub token_hash: Vec<u8>,
    /// `member`, `service` (or `unnamed`, only for tokens from before staff members).
    pub holder: &'static str,
    pub staff_member_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl SideWrite for StaffToken {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "INSERT INTO staff_tokens (id, tenant_id, role, label, token_hash, holder, staff_member_id, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.id)
        .bind(tenant_id)
        .bind(self.role)
        .bind(&self.label)
        .bind(&self.token_hash)
        .bind(self.holder)
        .bind(self.staff_member_id)
        .bind(self.expires_at)
    }
}

/// A revoked token answers 401 from the commit on.
pub struct RevokeToken {
    pub id: Uuid,
}

impl SideWrite for RevokeToken {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "UPDATE staff_tokens SET revoked_at = COALESCE(revoked_at, now())
              WHERE id = $1 AND tenant_id = $2",
        )
        .bind(self.id)
        .bind(tenant_id)
    }
}

/// A staff member's current name, e-mail, role and status, for authentication.
pub struct StaffMember {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub disabled: bool,
}

impl SideWrite for StaffMember {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "INSERT INTO staff_members (id, tenant_id, name, email, role, disabled)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,
                 role = EXCLUDED.role, disabled = EXCLUDED.disabled, updated_at = now()",
        )
        .bind(self.id)
        .bind(tenant_id)
        .bind(&self.name)
        .bind(&self.email)
        .bind(self.role)
        .bind(self.disabled)
    }
}
