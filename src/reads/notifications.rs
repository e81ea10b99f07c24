//! The staff-facing e-mail log, of a client or of the whole firm (no link or token ever
//! shown).

use aggregates::client::ClientEventKind;
use aggregates::ids::ClientId;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Notification {
    pub id: uuid::Uuid,
    /// The client the e-mail is about.
    pub client_id: Option<uuid::Uuid>,
    /// The login the e-mail is for (all but invitations).
    pub portal_user_id: Option<uuid::Uuid>,
    /// The contract a contract e-mail is about (`contract_to_sign`, `contract_signed`).
    pub contract_id: Option<uuid::Uuid>,
    /// invitation, activation, password_reset, contract_to_sign, contract_signed or
    /// username_reminder.
    pub kind: String,
    #[sqlx(rename = "to_address")]
    pub to: String,
    /// pending, sent or failed.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// E-mails about a client: its invitations and the links sent to the logins that reach it.
/// `None` for an unknown client.
pub async fn of_client(
    scope: &TenantScope,
    client_id: ClientId,
) -> ReadResult<Option<Vec<Notification>>> {
    // From the log, not the read model: a client registered a moment ago is known.
    let registered = ClientEventKind::ClientRegistered.into();
    let known =
        eventlog::queries::stream_has(scope.pool(), scope.tenant(), client_id.uuid(), registered)
            .await?;
    if !known {
        return Ok(None);
    }
    let items = sqlx::query_as(
        "SELECT id, client_id, portal_user_id, contract_id, kind, to_address, status, attempts, last_error,
                created_at, sent_at, CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at
           FROM notifications n
          WHERE n.tenant_id = $1
            AND (n.client_id = $2
                 OR n.portal_user_id IN (SELECT portal_user_id FROM rm_portal_user_clients
                                          WHERE tenant_id = $1 AND client_id = $2))
          ORDER BY n.created_at, n.row_no",
    )
    .bind(scope.id())
    .bind(client_id.uuid())
    .fetch_all(scope.pool())
    .await?;
    Ok(Some(items))
}

/// The e-mail statuses and kinds staff may filter by.
pub const STATUSES: &[&str] = &["pending", "sent", "failed"];
pub const KINDS: &[&str] = crate::mail::notifications::kind::ALL;

/// The firm's e-mails, newest first, optionally of one status and kind, after `before`
/// (the last id of the page before).
pub async fn of_firm(
    scope: &TenantScope,
    status: Option<&str>,
    kind: Option<&str>,
    before: Option<uuid::Uuid>,
    limit: i64,
) -> ReadResult<Vec<Notification>> {
    Ok(sqlx::query_as(
        "SELECT id, client_id, portal_user_id, contract_id, kind, to_address, status, attempts, last_error,
                created_at, sent_at, CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at
           FROM notifications
          WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3)
            AND ($4::uuid IS NULL OR id < $4)
          ORDER BY id DESC LIMIT $5",
    )
    .bind(scope.id())
    .bind(status)
    .bind(kind)
    .bind(before)
    .bind(limit)
    .fetch_all(scope.pool())
    .await?)
}
