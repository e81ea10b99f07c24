//! Second factors' secret-side rows (`secrets.portal_totp`, `secrets.portal_recovery_codes`,
//! `secrets.portal_mfa_challenges`), written in the commit of the event that changes them.

use uuid::Uuid;

use crate::store::{SideStatement, SideWrite};

/// The authenticator key the person just proved they hold, from the step of that code on.
#[derive(Clone)]
pub struct ConfirmTotp {
    pub portal_user_id: Uuid,
    pub step: i64,
}

impl SideWrite for ConfirmTotp {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "UPDATE portal_totp SET confirmed = true, last_step = GREATEST(last_step, $3)
              WHERE tenant_id = $1 AND portal_user_id = $2",
        )
        .bind(tenant_id)
        .bind(self.portal_user_id)
        .bind(self.step)
    }
}

/// The login's authenticator key goes (removed by its user, or reset by staff).
pub struct DeleteTotp {
    pub portal_user_id: Uuid,
}

impl SideWrite for DeleteTotp {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query("DELETE FROM portal_totp WHERE tenant_id = $1 AND portal_user_id = $2")
            .bind(tenant_id)
            .bind(self.portal_user_id)
    }
}

/// New recovery codes (their hashes) in place of every earlier one; none to just remove.
pub struct ReplaceRecoveryCodes {
    pub portal_user_id: Uuid,
    pub hashes: Vec<Vec<u8>>,
}

impl SideWrite for ReplaceRecoveryCodes {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        // New codes are random, so they never share a key with the rows going.
        sqlx::query(
            "WITH gone AS (
                 DELETE FROM portal_recovery_codes WHERE tenant_id = $1 AND portal_user_id = $2)
             INSERT INTO portal_recovery_codes (tenant_id, portal_user_id, code_hash)
             SELECT $1, $2, h FROM UNNEST($3::bytea[]) AS h",
        )
        .bind(tenant_id)
        .bind(self.portal_user_id)
        .bind(&self.hashes)
    }
}

/// A factor confirmed: the login's sessions that could only set one up may do anything now.
pub struct LiftEnrolmentOnly {
    pub portal_user_id: Uuid,
}

impl SideWrite for LiftEnrolmentOnly {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "UPDATE portal_sessions SET enrolment_only = false
              WHERE tenant_id = $1 AND portal_user_id = $2 AND enrolment_only AND ended_at IS NULL",
        )
        .bind(tenant_id)
        .bind(self.portal_user_id)
    }
}

/// Second steps not yet completed stop working (the factors they would check are gone).
pub struct EndChallenges {
    pub portal_user_id: Uuid,
}

impl SideWrite for EndChallenges {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "UPDATE portal_mfa_challenges SET used_at = now()
              WHERE tenant_id = $1 AND portal_user_id = $2 AND used_at IS NULL",
        )
        .bind(tenant_id)
        .bind(self.portal_user_id)
    }
}

/// A passkey just registered: the relying party's record of it under the id its event
/// names.
#[derive(Clone)]
pub struct InsertPasskey {
    pub id: Uuid,
    pub portal_user_id: Uuid,
    pub credential_id: Vec<u8>,
    pub name: String,
    /// webauthn-rs's `Passkey`: the public key, counter and flags.
    pub passkey: serde_json::Value,
}

impl SideWrite for InsertPasskey {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "INSERT INTO portal_passkeys (id, tenant_id, portal_user_id, credential_id, name, passkey)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.id)
        .bind(tenant_id)
        .bind(self.portal_user_id)
        .bind(&self.credential_id)
        .bind(&self.name)
        .bind(&self.passkey)
    }
}

/// One passkey goes (removed by its user).
pub struct DeletePasskey {
    pub portal_user_id: Uuid,
    pub id: Uuid,
}

impl SideWrite for DeletePasskey {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "DELETE FROM portal_passkeys WHERE tenant_id = $1 AND portal_user_id = $2 AND id = $3",
        )
        .bind(tenant_id)
        .bind(self.portal_user_id)
        .bind(self.id)
    }
}

/// Every passkey of the login goes (staff reset its factors).
pub struct DeletePasskeys {
    pub portal_user_id: Uuid,
}

impl SideWrite for DeletePasskeys {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query("DELETE FROM portal_passkeys WHERE tenant_id = $1 AND portal_user_id = $2")
            .bind(tenant_id)
            .bind(self.portal_user_id)
    }
}
