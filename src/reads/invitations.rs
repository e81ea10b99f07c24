//! Every invitation a firm sent, from the `history` read model: per client, or firm-wide by
//! state — the "invitations" screen and its follow-up lists.

use aggregates::ids::ClientId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

/// The states staff filter by.
pub const STATES: &[&str] = &["pending", "expired", "accepted", "revoked", "replaced"];

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct InvitationView {
    pub invitation_id: Uuid,
    pub client_id: Uuid,
    /// pending, expired, accepted, revoked (by staff) or replaced (by a newer invitation).
    pub state: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    /// When it was revoked or replaced.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `rm_invitations` in the API's words: an open invitation is pending until it expires
/// (at the time bound as `now`, e.g. `$3`).
fn select(now: &str) -> String {
    format!(
        "SELECT invitation_id, client_id, email, sent_at AS created_at, expires_at,
            CASE WHEN state = 'open' AND expires_at <= {now} THEN 'expired'
                 WHEN state = 'open' THEN 'pending'
                 ELSE state END AS state,
            CASE WHEN state = 'accepted' THEN ended_at END AS accepted_at,
            CASE WHEN state IN ('revoked', 'replaced') THEN ended_at END AS revoked_at
       FROM rm_invitations"
    )
}

/// A client's invitations, newest first; `None` when the firm has no such client.
pub async fn of_client(
    scope: &TenantScope,
    client: ClientId,
    now: DateTime<Utc>,
) -> ReadResult<Option<Vec<InvitationView>>> {
    if !super::clients::known(scope, client).await? {
        return Ok(None);
    }
    Ok(Some(
        sqlx::query_as(&format!(
            "{} WHERE tenant_id = $1 AND client_id = $2 ORDER BY sent_at DESC, invitation_id",
            select("$3")
        ))
        .bind(scope.id())
        .bind(client.uuid())
        .bind(now)
        .fetch_all(scope.pool())
        .await?,
    ))
}

/// The firm's invitations in one state (all when `None`), newest first, at most `limit`.
pub async fn of_firm(
    scope: &TenantScope,
    state: Option<&str>,
    limit: i64,
    now: DateTime<Utc>,
) -> ReadResult<Vec<InvitationView>> {
    Ok(sqlx::query_as(&format!(
        "SELECT * FROM ({} WHERE tenant_id = $1) i
          WHERE $2::text IS NULL OR i.state = $2
          ORDER BY i.created_at DESC, i.invitation_id LIMIT $3",
        select("$4")
    ))
    .bind(scope.id())
    .bind(state)
    .bind(limit)
    .bind(now)
    .fetch_all(scope.pool())
    .await?)
}
