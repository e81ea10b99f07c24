//! What erasing a client does beside its `ClientErased` event, in the same transaction: the
//! data keys of the client and its logins destroyed, the logins made unusable, and the
//! personal fields of the login history, the e-mail log and stored responses scrubbed
//! (docs/privacy.md lists each).

use uuid::Uuid;

use crate::store::{SideStatement, SideWrite};

/// The subjects erased: the client and the logins attached to it.
#[derive(Clone)]
pub struct Erased {
    pub client_id: Uuid,
    pub portal_user_ids: Vec<Uuid>,
}

impl Erased {
    pub fn subjects(&self) -> Vec<Uuid> {
        std::iter::once(self.client_id)
            .chain(self.portal_user_ids.iter().copied())
            .collect()
    }

    /// Every statement of the erasure, in order.
    pub fn rows(&self) -> Vec<ErasureRow> {
        use ErasureStep as S;
        [
            S::DestroyKeys,
            S::EndSessions,
            S::DeleteSecrets,
            S::ScrubLoginHistory,
            S::ScrubMail,
            S::DeleteResponses,
        ]
        .into_iter()
        .map(|step| ErasureRow {
            step,
            erased: self.clone(),
        })
        .collect()
    }
}

#[derive(Clone, Copy)]
pub enum ErasureStep {
    /// Each subject's key row loses its wrapped key for good (a subject whose events were
    /// all written before sealing gets a row saying so, so nothing is sealed for it again).
    DestroyKeys,
    /// The logins' open sessions end now.
    EndSessions,
    /// Password hashes, second factors, passkeys, challenges and lockout counters go.
    DeleteSecrets,
    /// Login attempts keep outcome and time; address and browser go, and their links in
    /// the side chain are marked redacted (verified by link, not by content).
    ScrubLoginHistory,
    /// The e-mail log keeps what was sent when; the address, name, username and details
    /// go (links marked redacted), and e-mails not yet sent are not sent.
    ScrubMail,
    /// Stored responses of idempotent requests that name the client or its logins.
    DeleteResponses,
}

pub struct ErasureRow {
    step: ErasureStep,
    erased: Erased,
}

impl SideWrite for ErasureRow {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        let subjects = self.erased.subjects();
        let logins = self.erased.portal_user_ids.clone();
        let client = self.erased.client_id;
        let sql = match self.step {
            ErasureStep::DestroyKeys => {
                "INSERT INTO secrets.data_keys (subject_id, tenant_id, wrapped, master_key_id, erased_at)
                 SELECT s, $1, NULL, '', now() FROM unnest($2::uuid[]) AS s
                 ON CONFLICT (subject_id) DO UPDATE SET wrapped = NULL, erased_at = now()
                  WHERE data_keys.tenant_id = EXCLUDED.tenant_id"
            }
            ErasureStep::EndSessions => {
                "UPDATE portal_sessions SET ended_at = now(), end_reason = 'erased'
                  WHERE tenant_id = $1 AND portal_user_id = ANY($3) AND ended_at IS NULL"
            }
            ErasureStep::DeleteSecrets => {
                "WITH c AS (DELETE FROM portal_credentials WHERE tenant_id = $1 AND portal_user_id = ANY($3)),
                      t AS (DELETE FROM secrets.portal_totp WHERE tenant_id = $1 AND portal_user_id = ANY($3)),
                      r AS (DELETE FROM secrets.portal_recovery_codes WHERE tenant_id = $1 AND portal_user_id = ANY($3)),
                      m AS (DELETE FROM secrets.portal_mfa_challenges WHERE tenant_id = $1 AND portal_user_id = ANY($3)),
                      p AS (DELETE FROM secrets.portal_passkeys WHERE tenant_id = $1 AND portal_user_id = ANY($3)),
                      k AS (DELETE FROM secrets.portal_passkey_ceremonies WHERE tenant_id = $1 AND portal_user_id = ANY($3))
                 DELETE FROM portal_login_throttle WHERE tenant_id = $1 AND portal_user_id = ANY($3)"
            }
            ErasureStep::ScrubLoginHistory => {
                "WITH scrubbed AS (
                     UPDATE portal_logins SET client_ip = NULL, user_agent = NULL
                      WHERE tenant_id = $1 AND portal_user_id = ANY($3)
                        AND (client_ip IS NOT NULL OR user_agent IS NOT NULL)
                  RETURNING id)
                 UPDATE side_seals SET redacted = true
                  WHERE chain = 'portal_logins' AND tenant_id = $1 AND NOT redacted
                    AND row_key IN (SELECT id FROM scrubbed)"
            }
            ErasureStep::ScrubMail => {
                "WITH scrubbed AS (
                     UPDATE notifications
                        SET to_address = '[erased]', recipient_name = '[erased]', username = NULL,
                            details = '{}'::jsonb,
                            status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END
                      WHERE tenant_id = $1 AND (client_id = $4 OR portal_user_id = ANY($3)
                                                OR recipient = ANY($2))
                  RETURNING row_no)
                 UPDATE side_seals SET redacted = true
                  WHERE chain = 'notifications' AND tenant_id = $1 AND NOT redacted
                    AND row_key IN (SELECT row_no FROM scrubbed)"
            }
            ErasureStep::DeleteResponses => {
                "DELETE FROM idempotency_keys
                  WHERE tenant_id = $1 AND response_body IS NOT NULL
                    AND EXISTS (SELECT 1 FROM unnest($2::uuid[]) AS s
                                 WHERE position(convert_to(s::text, 'UTF8') IN response_body) > 0)"
            }
        };
        sqlx::query(sql)
            .bind(tenant_id)
            .bind(subjects)
            .bind(logins)
            .bind(client)
    }
}
