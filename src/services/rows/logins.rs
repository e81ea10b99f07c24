//! Portal logins' secret-side rows: the password hash, the end of sessions, the lockout.

use uuid::Uuid;

use crate::store::{SideStatement, SideWrite};

/// A portal user's password hash (`portal_credentials`), new or replacing the old one.
pub struct Credential {
    pub portal_user_id: Uuid,
    pub password_hash: String,
}

impl SideWrite for Credential {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "INSERT INTO portal_credentials (tenant_id, portal_user_id, password_hash)
             VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, portal_user_id)
             DO UPDATE SET password_hash = EXCLUDED.password_hash, changed_at = now()",
        )
        .bind(tenant_id)
        .bind(self.portal_user_id)
        .bind(&self.password_hash)
    }
}

/// Ends a portal user's open sessions with the change that makes them invalid (disable,
/// removal, a new password), so no request is served on the old footing after commit.
pub struct EndSessions {
    pub portal_user_id: Uuid,
    pub reason: &'static str,
}

impl SideWrite for EndSessions {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "UPDATE portal_sessions SET ended_at = now(), end_reason = $3
              WHERE tenant_id = $1 AND portal_user_id = $2 AND ended_at IS NULL",
        )
        .bind(tenant_id)
        .bind(self.portal_user_id)
        .bind(self.reason)
    }
}

/// A password changed by its user ends every session but the one it was changed in.
pub struct EndOtherSessions {
    pub portal_user_id: Uuid,
    pub keep: Uuid,
}

impl SideWrite for EndOtherSessions {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "UPDATE portal_sessions SET ended_at = now(), end_reason = 'password_changed'
              WHERE tenant_id = $1 AND portal_user_id = $2 AND id <> $3 AND ended_at IS NULL",
        )
        .bind(tenant_id)
        .bind(self.portal_user_id)
        .bind(self.keep)
    }
}

/// A new password or a removed login also lifts a login lockout.
pub struct ClearLoginThrottle {
    pub portal_user_id: Uuid,
}

impl SideWrite for ClearLoginThrottle {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "DELETE FROM portal_login_throttle WHERE tenant_id = $1 AND portal_user_id = $2",
        )
        .bind(tenant_id)
        .bind(self.portal_user_id)
    }
}
