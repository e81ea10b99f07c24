//! Queries on the read-model tables (built by the `projections` crate), and waiting for a
//! read model to include a given position (read-your-writes).

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// The read models every staff read route depends on.
pub const READ_MODELS: &[&str] = &["clients", "items", "contracts"];
/// The longest a read waits for `min_position`.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Waits until the read models include `position` (bounded), or answers 504.
pub async fn wait_for(pool: &PgPool, position: Option<i64>) -> AppResult<()> {
    // Position 0 is "before the first event": every read model has it.
    let Some(position) = position.filter(|p| *p > 0) else {
        return Ok(());
    };
    let started = Instant::now();
    loop {
        if projections::engine::includes(pool, READ_MODELS, position).await? {
            return Ok(());
        }
        if started.elapsed() >= MAX_WAIT {
            return Err(AppError::ProjectionLag { position });
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

pub const CLIENT_STATUSES: &[&str] = &[
    "not_invited",
    "invited",
    "invitation_expired",
    "active",
    "disabled",
];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    })
}

/// Where a page of the client list continues: the last row's sort key.
pub fn encode_cursor(name: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&(name, id)).unwrap_or_default())
}

pub fn decode_cursor(raw: &str) -> Option<(String, Uuid)> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).ok()?).ok()
}

pub struct ClientQuery {
    pub status: Option<String>,
    pub search: Option<String>,
    pub limit: i64,
    pub after: Option<(String, Uuid)>,
}

pub async fn list_clients(
    pool: &PgPool,
    tenant_id: Uuid,
    q: &ClientQuery,
) -> AppResult<(Vec<ClientSummary>, Option<String>)> {
    let pattern = q.search.as_ref().map(|s| {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let (after_name, after_id) = q.after.clone().unzip();
    let rows = sqlx::query(
        "SELECT *, lower(display_name) AS sort_name FROM rm_client_status
          WHERE tenant_id = $1
            AND ($2::text IS NULL OR status = $2)
            AND ($3::text IS NULL OR display_name ILIKE $3 OR email ILIKE $3 OR external_ref ILIKE $3)
            AND ($4::text IS NULL OR (lower(display_name), client_id) > ($4, $5))
          ORDER BY lower(display_name), client_id
          LIMIT $6",
    )
    .bind(tenant_id)
    .bind(&q.status)
    .bind(pattern)
    .bind(after_name)
    .bind(after_id)
    .bind(q.limit + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > q.limit;
    let page = &rows[..rows.len().min(q.limit as usize)];
    let next = match (more, page.last()) {
        (true, Some(last)) => Some(encode_cursor(
            &last.try_get::<String, _>("sort_name")?,
            last.try_get("client_id")?,
        )),
        _ => None,
    };
    Ok((page.iter().map(summary).collect::<Result<_, _>>()?, next))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PortalUserBrief {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    /// pending_activation, active, disabled, locked or removed.
    pub status: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientDetail {
    #[serde(flatten)]
    pub client: ClientSummary,
    pub portal_users: Vec<PortalUserBrief>,
}

pub async fn client(pool: &PgPool, tenant_id: Uuid, id: Uuid) -> AppResult<Option<ClientDetail>> {
    let Some(row) =
        sqlx::query("SELECT * FROM rm_client_status WHERE tenant_id = $1 AND client_id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?
    else {
        return Ok(None);
    };
    let users = sqlx::query(
        "SELECT s.portal_user_id, s.username, s.email, s.status
           FROM rm_portal_user_clients pc JOIN rm_portal_user_status s USING (tenant_id, portal_user_id)
          WHERE pc.tenant_id = $1 AND pc.client_id = $2 ORDER BY s.created_at",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_all(pool)
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
    Ok(Some(ClientDetail {
        client: summary(&row)?,
        portal_users,
    }))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PortalUserDetail {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub status: String,
    pub client_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
}

pub async fn portal_user(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> AppResult<Option<PortalUserDetail>> {
    let row = sqlx::query(
        "SELECT s.*, ARRAY(SELECT client_id FROM rm_portal_user_clients pc
                            WHERE pc.tenant_id = s.tenant_id AND pc.portal_user_id = s.portal_user_id
                            ORDER BY client_id) AS client_ids
           FROM rm_portal_user_status s WHERE s.tenant_id = $1 AND s.portal_user_id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
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
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
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

pub async fn dashboard(pool: &PgPool, tenant_id: Uuid) -> AppResult<InvitationDashboard> {
    let row = sqlx::query(
        "SELECT count(*) AS total_clients,
                count(*) FILTER (WHERE status = 'not_invited') AS not_invited,
                count(*) FILTER (WHERE status = 'not_invited' AND NOT has_email) AS not_invited_without_email,
                count(*) FILTER (WHERE status = 'invited') AS invited,
                count(*) FILTER (WHERE status = 'invitation_expired') AS invitation_expired,
                count(*) FILTER (WHERE status = 'active') AS active,
                count(*) FILTER (WHERE status = 'disabled') AS disabled
           FROM rm_client_status WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_one(pool)
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Price {
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientItem {
    pub item_id: Uuid,
    pub sku: String,
    pub name: String,
    /// The item's current price.
    pub unit_price: Price,
    pub has_image: bool,
    pub assigned_at: DateTime<Utc>,
}

/// The items on a client's portal with today's prices; `None` for an unknown client.
pub async fn client_items(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: Uuid,
) -> AppResult<Option<Vec<ClientItem>>> {
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rm_clients WHERE tenant_id = $1 AND client_id = $2)",
    )
    .bind(tenant_id)
    .bind(client_id)
    .fetch_one(pool)
    .await?;
    if !known {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT i.item_id, i.sku, i.name, i.amount_minor, i.currency, i.has_image, ci.assigned_at
           FROM rm_client_items ci JOIN rm_items i USING (tenant_id, item_id)
          WHERE ci.tenant_id = $1 AND ci.client_id = $2
          ORDER BY i.name, i.item_id",
    )
    .bind(tenant_id)
    .bind(client_id)
    .fetch_all(pool)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(ClientItem {
                item_id: r.try_get("item_id")?,
                sku: r.try_get("sku")?,
                name: r.try_get("name")?,
                unit_price: Price {
                    amount_minor: r.try_get("amount_minor")?,
                    currency: r.try_get("currency")?,
                },
                has_image: r.try_get("has_image")?,
                assigned_at: r.try_get("assigned_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some(items))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractView {
    pub id: Uuid,
    pub client_id: Uuid,
    pub title: String,
    pub content_sha256: String,
    /// awaiting_signature, signed or voided.
    pub status: String,
    pub signed_by: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub issued_at: DateTime<Utc>,
}

pub async fn contract(pool: &PgPool, tenant_id: Uuid, id: Uuid) -> AppResult<Option<ContractView>> {
    let row = sqlx::query("SELECT * FROM rm_contracts WHERE tenant_id = $1 AND contract_id = $2")
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(contract_view).transpose()?)
}

fn contract_view(r: &sqlx::postgres::PgRow) -> Result<ContractView, sqlx::Error> {
    Ok(ContractView {
        id: r.try_get("contract_id")?,
        client_id: r.try_get("client_id")?,
        title: r.try_get("title")?,
        content_sha256: r.try_get("content_sha256")?,
        status: r.try_get("status")?,
        signed_by: r.try_get("signed_by")?,
        signed_at: r.try_get("signed_at")?,
        issued_at: r.try_get("issued_at")?,
    })
}

/// Awaiting-signature and signed contracts of the given clients (what a portal user sees).
pub async fn contracts_of_clients(
    pool: &PgPool,
    tenant_id: Uuid,
    client_ids: &[Uuid],
) -> AppResult<Vec<ContractView>> {
    let rows = sqlx::query(
        "SELECT * FROM rm_contracts
          WHERE tenant_id = $1 AND client_id = ANY($2) AND status <> 'voided'
          ORDER BY issued_at DESC, contract_id",
    )
    .bind(tenant_id)
    .bind(client_ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(contract_view).collect::<Result<_, _>>()?)
}

/// A contract's title and body, from the event that issued it (they never change).
pub async fn contract_text(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> AppResult<Option<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT payload #>> '{ContractIssued,title}', payload #>> '{ContractIssued,body}'
           FROM events
          WHERE aggregate_type = 'contract' AND aggregate_id = $1 AND tenant_id = $2
            AND event_type = 'ContractIssued'",
    )
    .bind(id.to_string())
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?)
}

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
pub async fn notifications(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: Uuid,
) -> AppResult<Option<Vec<Notification>>> {
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events
                         WHERE aggregate_type = 'client' AND aggregate_id = $2 AND tenant_id = $1
                           AND event_type = 'ClientRegistered')",
    )
    .bind(tenant_id)
    .bind(client_id.to_string())
    .fetch_one(pool)
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
    .bind(tenant_id)
    .bind(client_id)
    .fetch_all(pool)
    .await?;
    Ok(Some(items))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct LoginRecord {
    /// Order of the attempt (page with `after`).
    pub id: i64,
    pub at: DateTime<Utc>,
    /// null when the username typed matched no login.
    pub portal_user_id: Option<Uuid>,
    /// succeeded, invalid_credentials, login_disabled, locked_out or portal_inactive.
    pub outcome: String,
    pub session_id: Option<Uuid>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// The tenant's login attempts after `after`, oldest first, optionally for one login.
pub async fn logins(
    pool: &PgPool,
    tenant_id: Uuid,
    portal_user_id: Option<Uuid>,
    after: i64,
    limit: i64,
) -> AppResult<Vec<LoginRecord>> {
    Ok(sqlx::query_as(
        "SELECT id, at, portal_user_id, outcome, session_id, client_ip, user_agent, request_id
           FROM portal_logins
          WHERE tenant_id = $1 AND id > $2 AND ($3::uuid IS NULL OR portal_user_id = $3)
          ORDER BY id LIMIT $4",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(portal_user_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
