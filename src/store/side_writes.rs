//! Rows that commit or fail together with a command's events: secrets (password hashes,
//! token hashes), lookups (tenant slugs), images, and ends of sessions.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Rows that must commit or fail together with the events (secrets and lookups).
#[derive(Debug)]
pub enum SideWrite {
    Credential {
        portal_user_id: Uuid,
        password_hash: String,
    },
    ItemImage {
        item_id: Uuid,
        sha256: String,
        png: Vec<u8>,
    },
    Tenant {
        id: Uuid,
        slug: String,
        name: String,
    },
    StaffToken {
        id: Uuid,
        role: &'static str,
        label: Option<String>,
        token_hash: Vec<u8>,
        /// `member`, `service` (or `unnamed`, only for tokens from before staff members).
        holder: &'static str,
        staff_member_id: Option<Uuid>,
        expires_at: Option<DateTime<Utc>>,
    },
    /// A revoked token answers 401 from the commit on.
    RevokeToken { id: Uuid },
    /// A staff member's current name, e-mail, role and status, for authentication.
    StaffMember {
        id: Uuid,
        name: String,
        email: String,
        role: &'static str,
        disabled: bool,
    },
    /// Ends a portal user's open sessions with the change that makes them invalid (disable,
    /// removal, a new password), so no request is served on the old footing after commit.
    EndSessions {
        portal_user_id: Uuid,
        reason: &'static str,
    },
    /// A password changed by its user ends every session but the one it was changed in.
    EndOtherSessions { portal_user_id: Uuid, keep: Uuid },
    /// A new password or a removed login also lifts a login lockout.
    ClearLoginThrottle { portal_user_id: Uuid },
    /// Where the signer e-mails the firm's new checkpoints, current from the commit on.
    CheckpointRecipient { email: Option<String> },
}

impl SideWrite {
    /// Writes this row inside the command's transaction.
    pub(super) async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        tenant_id: Uuid,
    ) -> Result<(), sqlx::Error> {
        match self {
            SideWrite::Credential {
                portal_user_id,
                password_hash,
            } => {
                sqlx::query(
                    "INSERT INTO portal_credentials (tenant_id, portal_user_id, password_hash)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, portal_user_id)
                 DO UPDATE SET password_hash = EXCLUDED.password_hash, changed_at = now()",
                )
                .bind(tenant_id)
                .bind(portal_user_id)
                .bind(password_hash)
                .execute(&mut **tx)
                .await?;
            }
            SideWrite::ItemImage {
                item_id,
                sha256,
                png,
            } => {
                sqlx::query(
                "INSERT INTO item_images (tenant_id, item_id, sha256, png) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, item_id)
                 DO UPDATE SET sha256 = EXCLUDED.sha256, png = EXCLUDED.png, updated_at = now()",
            )
            .bind(tenant_id)
            .bind(item_id)
            .bind(sha256)
            .bind(png)
            .execute(&mut **tx)
            .await?;
            }
            SideWrite::CheckpointRecipient { email } => {
                sqlx::query("UPDATE tenants SET checkpoint_email = $2 WHERE id = $1")
                    .bind(tenant_id)
                    .bind(email)
                    .execute(&mut **tx)
                    .await?;
            }
            SideWrite::Tenant { id, slug, name } => {
                sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(slug)
                    .bind(name)
                    .execute(&mut **tx)
                    .await?;
            }
            SideWrite::StaffToken {
                id,
                role,
                label,
                token_hash,
                holder,
                staff_member_id,
                expires_at,
            } => {
                sqlx::query(
                    "INSERT INTO staff_tokens (id, tenant_id, role, label, token_hash, holder, staff_member_id, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(tenant_id)
                .bind(role)
                .bind(label)
                .bind(token_hash)
                .bind(holder)
                .bind(staff_member_id)
                .bind(expires_at)
                .execute(&mut **tx)
                .await?;
            }
            SideWrite::RevokeToken { id } => {
                sqlx::query(
                    "UPDATE staff_tokens SET revoked_at = COALESCE(revoked_at, now())
                      WHERE id = $1 AND tenant_id = $2",
                )
                .bind(id)
                .bind(tenant_id)
                .execute(&mut **tx)
                .await?;
            }
            SideWrite::StaffMember {
                id,
                name,
                email,
                role,
                disabled,
            } => {
                sqlx::query(
                    "INSERT INTO staff_members (id, tenant_id, name, email, role, disabled)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,
                         role = EXCLUDED.role, disabled = EXCLUDED.disabled, updated_at = now()",
                )
                .bind(id)
                .bind(tenant_id)
                .bind(name)
                .bind(email)
                .bind(role)
                .bind(disabled)
                .execute(&mut **tx)
                .await?;
            }
            SideWrite::EndOtherSessions {
                portal_user_id,
                keep,
            } => {
                sqlx::query(
                    "UPDATE portal_sessions SET ended_at = now(), end_reason = 'password_changed'
                  WHERE tenant_id = $1 AND portal_user_id = $2 AND id <> $3 AND ended_at IS NULL",
                )
                .bind(tenant_id)
                .bind(portal_user_id)
                .bind(keep)
                .execute(&mut **tx)
                .await?;
            }
            SideWrite::EndSessions {
                portal_user_id,
                reason,
            } => {
                sqlx::query(
                    "UPDATE portal_sessions SET ended_at = now(), end_reason = $3
                  WHERE tenant_id = $1 AND portal_user_id = $2 AND ended_at IS NULL",
                )
                .bind(tenant_id)
                .bind(portal_user_id)
                .bind(reason)
                .execute(&mut **tx)
                .await?;
            }
            SideWrite::ClearLoginThrottle { portal_user_id } => {
                sqlx::query(
                "DELETE FROM portal_login_throttle WHERE tenant_id = $1 AND portal_user_id = $2",
            )
            .bind(tenant_id)
            .bind(portal_user_id)
            .execute(&mut **tx)
            .await?;
            }
        }
        Ok(())
    }
}
