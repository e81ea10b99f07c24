//! The client list (status filter, search, cursor paging), a client with its portal users,
//! and the invitation dashboard: the "clients" read model.

use aggregates::ids::ClientId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

pub const CLIENT_STATUSES: &[&str] = &[
    "not_invited",
    "invited",
    "invitation_expired",
    "active",
    "disabled",
];

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ClientSummary {
    pub id: Uuid,
    pub display_name: String,
    pub kind: String,
    pub email: Option<String>,
    pub has_email: bool,
    pub external_ref: Option<String>,
    /// not_invited, invited, invitation_expired, active or disabled.
    pub status: String,
    pub invited_at: Option<DateTime<Utc>>,
    pub invitation_expires_at: Option<DateTime<Utc>>,
    pub registered_at: DateTime<Utc>,
    /// Archived clients are out of lists (but `?archived=true`) and counts.
    pub archived: bool,
    /// The latest successful login of any of the client's logins; `null` if none has
    /// logged in.
    pub last_login_at: Option<DateTime<Utc>>,
}

fn summary(row: &sqlx::postgres::PgRow) -> Result<ClientSummary, sqlx::Error> {
    Ok(ClientSummary {
        id: row.try_get("client_id")?,
        display_name: row.try_get("display_name")?,
        kind: row.try_get("kind")?,
        email: row.try_get("email")?,
        has_email: row.try_get("has_email")?,
        external_ref: row.try_get("external_ref")?,
        status: row.try_get("status")?,
        invited_at: row.try_get("invited_at")?,
        invitation_expires_at: row.try_get("invitation_expires_at")?,
        registered_at: row.try_get("registered_at")?,
        archived: row.try_get("archived")?,
        last_login_at: row.try_get("last_login_at")?,
    })
}

pub struct ClientQuery {
    pub status: Option<String>,
    pub search: Option<String>,
    pub limit: i64,
    pub after: Option<(String, Uuid)>,
    /// The archived clients instead of the others.
    pub archived: bool,
    /// Only clients with (true) or without (false) an e-mail address.
    pub has_email: Option<bool>,
}

/// The firm's (`$1`) clients a search (`$3`, an ILIKE pattern) finds by name, e-mail
/// address or reference, or by a login's username or e-mail address: each column looked up
/// in its trigram index (migration `…17_client_search_trigrams`), not the firm read whole.
pub const SEARCH_MATCHES_SQL: &str = "SELECT c.client_id FROM rm_clients c
      WHERE c.tenant_id = $1
        AND (c.display_name ILIKE $3 OR c.email ILIKE $3 OR c.external_ref ILIKE $3)
     UNION
     SELECT pc.client_id FROM rm_portal_users u
       JOIN rm_portal_user_clients pc USING (tenant_id, portal_user_id)
      WHERE u.tenant_id = $1 AND (u.username ILIKE $3 OR u.email ILIKE $3)";

pub async fn list(
    scope: &TenantScope,
    q: &ClientQuery,
) -> ReadResult<(Vec<ClientSummary>, Option<String>)> {
    let pattern = q.search.as_deref().map(super::contains_pattern);
    let (after_name, after_id) = q.after.clone().unzip();
    let rows = sqlx::query(&format!(
        "SELECT *, lower(display_name) AS sort_name FROM rm_client_status
          WHERE tenant_id = $1
            AND ($2::text IS NULL OR status = $2)
            AND ($3::text IS NULL OR client_id = ANY (ARRAY({SEARCH_MATCHES_SQL})))
            AND ($8::bool IS NULL OR has_email = $8)
            AND ($4::text IS NULL OR (lower(display_name), client_id) > ($4, $5))
            AND archived = $7
          ORDER BY lower(display_name), client_id
          LIMIT $6"
    ))
    .bind(scope.id())
    .bind(&q.status)
    .bind(pattern)
    .bind(after_name)
    .bind(after_id)
    .bind(q.limit + 1)
    .bind(q.archived)
    .bind(q.has_email)
    .fetch_all(scope.pool())
    .await?;
    Ok(super::page_of(&rows, q.limit, "client_id", summary)?)
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PortalUserBrief {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    /// pending_activation, active, disabled, locked or removed.
    pub status: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ClientDetail {
    #[serde(flatten)]
    pub client: ClientSummary,
    pub portal_users: Vec<PortalUserBrief>,
    /// Set while the client's records are on legal hold.
    pub legal_hold: Option<LegalHold>,
    /// Whether the client's personal data was erased: its names, addresses and reference
    /// then read as `"[erased]"` or null.
    pub erased: bool,
    pub erased_at: Option<DateTime<Utc>>,
}

/// Why a client's records are held, and since when.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct LegalHold {
    pub reason: String,
    pub since: DateTime<Utc>,
}

pub async fn client(scope: &TenantScope, id: ClientId) -> ReadResult<Option<ClientDetail>> {
    let Some(row) =
        sqlx::query("SELECT * FROM rm_client_status WHERE tenant_id = $1 AND client_id = $2")
            .bind(scope.id())
            .bind(id.uuid())
            .fetch_optional(scope.pool())
            .await?
    else {
        return Ok(None);
    };
    let users = sqlx::query(
        "SELECT s.portal_user_id, s.username, s.email, s.status
           FROM rm_portal_user_clients pc JOIN rm_portal_user_status s USING (tenant_id, portal_user_id)
          WHERE pc.tenant_id = $1 AND pc.client_id = $2 ORDER BY s.created_at",
    )
    .bind(scope.id())
    .bind(id.uuid())
    .fetch_all(scope.pool())
    .await?;
    let portal_users = users
        .iter()
        .map(|r| {
            Ok(PortalUserBrief {
                id: r.try_get("portal_user_id")?,
                username: r.try_get("username")?,
                email: r.try_get("email")?,
                status: r.try_get("status")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let (reason, since, erased_at): (Option<String>, Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as(
            "SELECT legal_hold_reason, legal_hold_since, erased_at FROM rm_clients
              WHERE tenant_id = $1 AND client_id = $2",
        )
        .bind(scope.id())
        .bind(id.uuid())
        .fetch_one(scope.pool())
        .await?;
    let legal_hold = reason
        .zip(since)
        .map(|(reason, since)| LegalHold { reason, since });
    Ok(Some(ClientDetail {
        client: summary(&row)?,
        portal_users,
        legal_hold,
        erased: erased_at.is_some(),
        erased_at,
    }))
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct InvitationDashboard {
    pub total_clients: i64,
    pub not_invited: i64,
    /// The part of `not_invited` that has no e-mail address (cannot be invited yet).
    pub not_invited_without_email: i64,
    pub invited: i64,
    pub invitation_expired: i64,
    pub active: i64,
    pub disabled: i64,
}

/// Whether the firm has this client (in the read models).
pub async fn known(scope: &TenantScope, client: ClientId) -> ReadResult<bool> {
    let known = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rm_clients WHERE tenant_id = $1 AND client_id = $2)",
    )
    .bind(scope.id())
    .bind(client.uuid())
    .fetch_one(scope.pool())
    .await?;
    Ok(known)
}

/// The dashboard from the counters the `clients` read model keeps per firm and bucket
/// (`projections::dashboard`): a few rows, whatever the firm's size. The one split that
/// depends on the clock — open invitations that have expired — is counted here from an
/// index over the open invitations' expiries (it reads only the expired ones).
pub async fn dashboard(scope: &TenantScope) -> ReadResult<InvitationDashboard> {
    let row = sqlx::query(
        "SELECT COALESCE(sum(clients), 0)::bigint AS total_clients,
                COALESCE(sum(clients) FILTER (WHERE bucket IN ('not_invited', 'not_invited_without_email')), 0)::bigint AS not_invited,
                COALESCE(sum(clients) FILTER (WHERE bucket = 'not_invited_without_email'), 0)::bigint AS not_invited_without_email,
                COALESCE(sum(clients) FILTER (WHERE bucket IN ('open_invitation', 'invited')), 0)::bigint - x.expired AS invited,
                x.expired AS invitation_expired,
                COALESCE(sum(clients) FILTER (WHERE bucket = 'active'), 0)::bigint AS active,
                COALESCE(sum(clients) FILTER (WHERE bucket = 'disabled'), 0)::bigint AS disabled
           FROM (SELECT count(*) AS expired FROM rm_client_buckets
                  WHERE tenant_id = $1 AND bucket = 'open_invitation' AND invitation_expires_at <= now()) x
           LEFT JOIN rm_client_counts k ON k.tenant_id = $1
          GROUP BY x.expired",
    )
    .bind(scope.id())
    .fetch_one(scope.pool())
    .await?;
    Ok(InvitationDashboard {
        total_clients: row.try_get("total_clients")?,
        not_invited: row.try_get("not_invited")?,
        not_invited_without_email: row.try_get("not_invited_without_email")?,
        invited: row.try_get("invited")?,
        invitation_expired: row.try_get("invitation_expired")?,
        active: row.try_get("active")?,
        disabled: row.try_get("disabled")?,
    })
}
