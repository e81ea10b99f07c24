//! What auditors read: the tenant's log in commit order, a client's whole history, any
//! stream replayed to a moment, a streamed export, and verification of the hash chain.

pub mod chain;
pub mod checkpoint;
pub mod describe;
pub mod key;
pub mod offline;
pub mod replay;
pub mod runner;
pub mod seal;
pub mod side_chain;
pub mod verify;

use aggregates::client::Client;
use aggregates::ids::ClientId;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use eventlog::Actor;
use uuid::Uuid;

use crate::auth::TenantScope;

use crate::errors::read::{ReadError, ReadResult};

/// One event as auditors see it. `payload` is the event's own fields; secrets never exist
/// in events, so nothing needs hiding here.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub position: i64,
    /// The event's place in its tenant's hash chain (1, 2, 3 … in commit order).
    pub tenant_sequence: i64,
    pub stream_type: String,
    pub stream_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub recorded_at: DateTime<Utc>,
    /// Who, as `kind:id` (`staff:…`, `portal_user:…`) or a bare kind (`operator`, `system`).
    pub actor: Option<String>,
    /// staff, portal_user, operator or system.
    pub actor_kind: Option<String>,
    pub actor_id: Option<Uuid>,
    /// The person's name when the event was written (events from before staff members
    /// name only their token: see `via_token`).
    pub actor_name: Option<String>,
    /// The staff token the command came with.
    pub via_token: Option<Uuid>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub command: Option<String>,
    /// A sentence for people: what happened.
    pub summary: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Hex SHA-256 links of the chain.
    pub prev_hash: String,
    pub event_hash: String,
}

macro_rules! columns {
    () => {
        "global_position, chain_seq, aggregate_type, aggregate_id, sequence, event_type, \
         event_version, recorded_at, payload, metadata, prev_hash, event_hash"
    };
}
const COLUMNS: &str = columns!();

/// Rows selected with `COLUMNS` as auditors read them: personal fields opened (or
/// `"[erased]"`), keys read in one query.
async fn audit_events(scope: &TenantScope, rows: &[PgRow]) -> ReadResult<Vec<AuditEvent>> {
    let opened = eventlog::envelope::opened(scope.keys(), rows).await?;
    Ok(rows
        .iter()
        .zip(opened)
        .map(|(row, (payload, metadata))| from_row(row, payload, metadata))
        .collect::<Result<_, _>>()?)
}

fn from_row(row: &PgRow, opened: Value, metadata: Value) -> Result<AuditEvent, sqlx::Error> {
    let event_type: String = row.try_get("event_type")?;
    let payload = opened.get(&event_type).cloned().unwrap_or(opened.clone());
    let actor = Actor::of_metadata(&metadata);
    let summary = match eventlog::event_of_row(row, opened) {
        Ok(event) => describe::summary(&event),
        Err(e) => format!("{event_type} (not readable by this version: {e})"),
    };
    let meta = |k: &str| metadata.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(AuditEvent {
        position: row.try_get("global_position")?,
        tenant_sequence: row.try_get("chain_seq")?,
        stream_type: row.try_get("aggregate_type")?,
        stream_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        summary,
        event_type,
        event_version: row.try_get("event_version")?,
        recorded_at: row.try_get("recorded_at")?,
        actor: actor.as_ref().map(|(a, _)| a.reference()),
        actor_kind: actor.as_ref().map(|(a, _)| a.kind.as_str().to_string()),
        actor_id: actor.as_ref().and_then(|(a, _)| a.id),
        actor_name: actor.as_ref().and_then(|(a, _)| a.name.clone()),
        via_token: actor.as_ref().and_then(|(_, via)| *via),
        request_id: meta("request_id"),
        client_ip: meta("client_ip"),
        user_agent: meta("user_agent"),
        command: meta("command"),
        payload,
        prev_hash: hex::encode(row.try_get::<Vec<u8>, _>("prev_hash")?),
        event_hash: hex::encode(row.try_get::<Vec<u8>, _>("event_hash")?),
    })
}

/// Auditors read the sealed log: what has committed is sealed first (usually nothing is
/// left to do: the background sealer runs moments after each commit).
async fn seal_committed(scope: &TenantScope) -> ReadResult<()> {
    seal::seal_tenant(scope.pool(), scope.id(), SEAL_WAIT).await?;
    Ok(())
}

/// The longest an audit read waits for what committed before it to be sealed.
pub const SEAL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The tenant-chain place to continue after a position the reader last saw. Paging runs in
/// chain order, which is commit order, so an event that commits late is never skipped.
async fn chain_cursor(scope: &TenantScope, after: i64) -> ReadResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(
            (SELECT chain_seq FROM audit_seals WHERE tenant_id = $1 AND global_position = $2),
            (SELECT max(chain_seq) FROM audit_seals WHERE tenant_id = $1 AND global_position <= $2),
            0)",
    )
    .bind(scope.id())
    .bind(after)
    .fetch_one(scope.pool())
    .await?)
}

/// Which events an auditor asks for; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// A staff member, portal user or token id (events from before staff members match
    /// by the token or portal user they name).
    pub actor: Option<Uuid>,
    pub stream_id: Option<String>,
    pub event_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

pub async fn events_page(
    scope: &TenantScope,
    after: i64,
    limit: i64,
    filter: &EventFilter,
) -> ReadResult<Vec<AuditEvent>> {
    seal_committed(scope).await?;
    let from = chain_cursor(scope, after).await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sealed_events
          WHERE tenant_id = $1 AND chain_seq > $2
            AND ($4::text IS NULL OR metadata #>> '{{actor,id}}' = $4 OR metadata ->> 'via_token' = $4
                 OR metadata ->> 'actor' IN ('staff_token:' || $4, 'portal_user:' || $4))
            AND ($5::text IS NULL OR aggregate_id = $5)
            AND ($6::text IS NULL OR event_type = $6)
            AND ($7::timestamptz IS NULL OR recorded_at >= $7)
            AND ($8::timestamptz IS NULL OR recorded_at < $8)
          ORDER BY chain_seq LIMIT $3"
    ))
    .bind(scope.id())
    .bind(from)
    .bind(limit)
    .bind(filter.actor.map(|a| a.to_string()))
    .bind(&filter.stream_id)
    .bind(&filter.event_type)
    .bind(filter.from)
    .bind(filter.to)
    .fetch_all(scope.pool())
    .await?;
    audit_events(scope, &rows).await
}

/// The statement `client_history` reads with (`$1` the tenant, `$2` the client id as text).
pub fn client_history_statement() -> String {
    let (related, in_history) = eventlog::queries::client_history_sql();
    format!(
        "WITH {related}
         SELECT {COLUMNS} FROM sealed_events
          WHERE tenant_id = $1 AND {in_history}
          ORDER BY chain_seq"
    )
}

/// Every event about a client: its own stream, every portal user that ever reached it, and
/// its contracts, in commit order. `None` when the tenant has no such client.
pub async fn client_history(
    scope: &TenantScope,
    client_id: ClientId,
) -> ReadResult<Option<Vec<AuditEvent>>> {
    seal_committed(scope).await?;
    let rows = sqlx::query(&client_history_statement())
        .bind(scope.id())
        .bind(client_id.to_string())
        .fetch_all(scope.pool())
        .await?;
    let events = audit_events(&scope.clone(), &rows).await?;
    let exists = events.iter().any(|e| e.stream_type == Client::TYPE);
    Ok(exists.then_some(events))
}

/// One line of the export: the event as `/events` shows it, plus every field its hash
/// covers exactly as hashed (docs/audit.md), so it can be checked with no database.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ExportLine {
    #[serde(flatten)]
    pub event: AuditEvent,
    pub tenant_id: Uuid,
    /// The event's place in its firm's hash chain: `tenant_sequence` under the name the
    /// checkpoints use (API v1.2; exports written before it lack the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_seq: Option<i64>,
    /// `recorded_at` in microseconds since the Unix epoch, as hashed.
    pub recorded_at_us: i64,
    /// The stored payload (`{"EventType": {...}}`) and metadata, as hashed.
    pub payload_text: String,
    pub metadata_text: String,
}

/// The tenant's events after `after`, one NDJSON line each, read from the database as they
/// are written to the client: memory stays flat however long the log.
pub fn export(
    scope: TenantScope,
    after: i64,
) -> impl Stream<Item = Result<Vec<u8>, ReadError>> + Send + 'static {
    futures::stream::once(async move {
        seal_committed(&scope).await?;
        let from = chain_cursor(&scope, after).await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", tenant_id, (extract(epoch FROM recorded_at) * 1000000)::bigint AS recorded_at_us, \
             payload::text AS payload_text, metadata::text AS metadata_text \
             FROM sealed_events WHERE tenant_id = $1 AND chain_seq > $2 ORDER BY chain_seq"
        ))
        .bind(scope.id())
        .bind(from)
        .fetch_owned(scope.pool().clone());
        let keys = scope.clone();
        Ok::<_, ReadError>(rows.map_err(ReadError::from).and_then(move |row| {
            let keys = keys.clone();
            async move {
                let event = audit_events(&keys, std::slice::from_ref(&row))
                    .await?
                    .remove(0);
                let event = ExportLine {
                    chain_seq: Some(event.tenant_sequence),
                    event,
                    tenant_id: row.try_get("tenant_id")?,
                    recorded_at_us: row.try_get("recorded_at_us")?,
                    payload_text: row.try_get("payload_text")?,
                    metadata_text: row.try_get("metadata_text")?,
                };
                let mut line = serde_json::to_vec(&event).map_err(ReadError::internal)?;
                line.push(b'\n');
                Ok(line)
            }
        }))
    })
    .try_flatten()
}

trait FetchOwned {
    fn fetch_owned(
        self,
        pool: PgPool,
    ) -> futures::stream::BoxStream<'static, Result<PgRow, sqlx::Error>>;
}

impl FetchOwned for sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    fn fetch_owned(
        self,
        pool: PgPool,
    ) -> futures::stream::BoxStream<'static, Result<PgRow, sqlx::Error>> {
        // The query borrows its connection; a small channel hands rows over to the response.
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            let mut rows = self.fetch(&pool);
            while let Some(row) = rows.next().await {
                if tx.send(row).await.is_err() {
                    return;
                }
            }
        });
        tokio_stream_from(rx)
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> futures::stream::BoxStream<'static, T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}
