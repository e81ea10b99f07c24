//! The staff-facing e-mail log of a client (no link or token ever shown).

use aggregates::client::ClientEventKind;
use aggregates::ids::ClientId;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::ReadResult;
use crate::auth::TenantScope;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Notification {
    /// invitation, activation or password_reset.
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
        "SELECT kind, to_address, status, attempts, last_error, created_at, sent_at,
                CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at
           FROM notifications n
          WHERE n.tenant_id = $1
            AND (n.client_id = $2
                 OR n.portal_user_id IN (SELECT portal_user_id FROM rm_portal_user_clients
                                          WHERE tenant_id = $1 AND client_id = $2))
          ORDER BY n.created_at, n.source_position",
    )
    .bind(scope.id())
    .bind(client_id.uuid())
    .fetch_all(scope.pool())
    .await?;
    Ok(Some(items))
}
