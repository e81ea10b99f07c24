//! Every query of the `events` table by readers, and all SQL that looks inside a payload's
//! JSON. Event names come from the domain's event kinds (`EventKind::name`), never from
//! string literals, and every query is scoped to one tenant.

use aggregates::events::{AnyEvent, EventKind};
use aggregates::ids::{PortalUserId, TenantId};
use aggregates::portal_user::PortalUserEventKind;
use std::collections::HashMap;
use std::sync::LazyLock;

use cqrs_es::Aggregate;
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

use crate::decode::{DecodeError, Stored};
use crate::personal::DataKeys;
use crate::statements::CHAIN_BODY_SQL;
use crate::LogError;

/// One stored event of a known aggregate, decoded, with its place in the stream and log.
pub struct StreamEvent<E> {
    pub stream_id: Uuid,
    pub sequence: i64,
    pub global_position: i64,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub event: E,
}

/// The position of the newest committed event (0 for an empty log), and of the newest at
/// or before `position` (none if the log starts after it).
pub async fn head_and_at_or_before<'c>(
    db: impl PgExecutor<'c>,
    position: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT coalesce(max(global_position), 0) FROM events),
                (SELECT max(global_position) FROM events WHERE global_position <= $1)",
    )
    .bind(position)
    .fetch_one(db)
    .await
}

/// The events of several streams of one aggregate type in one query, in stream order.
/// Streams are found by their key (the primary key's `aggregate_type, aggregate_id`) before
/// the tenant is checked. Written as one WHERE, the planner chose the tenant's index for a
/// firm its statistics did not know yet (a new, fast-growing firm is estimated at a row or
/// two) and read the firm's whole log for every command — measured: 1.8 ms of PostgreSQL's
/// time per rename instead of 0.2 ms, until the next ANALYZE. The MATERIALIZED step cannot
/// be merged, so the tenant can only filter the stream's own rows.
pub static LOAD_STREAMS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH stream AS MATERIALIZED (
             SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                    metadata, global_position, recorded_at, tenant_id
               FROM events WHERE aggregate_type = $1 AND aggregate_id = ANY($2))
         SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                global_position, recorded_at, {intact} AS intact
           FROM stream LEFT JOIN audit_seals s USING (global_position)
          WHERE stream.tenant_id = $3
          ORDER BY aggregate_id, sequence",
        intact = *INTACT_SQL
    )
});

/// Whether a loaded event (joined with its seal `s` by `global_position`) is what the audit
/// chain sealed: true for an event not sealed yet (the sealer follows commits within a
/// second); false for one changed since — the state it would build is not the history.
static INTACT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "(s.event_hash IS NULL OR s.event_hash = sha256(s.prev_hash \
         || convert_to(s.chain_seq::text || E'\\n' || {CHAIN_BODY_SQL}, 'UTF8')))"
    )
});

pub async fn load_streams<'c, A: Aggregate>(
    db: impl PgExecutor<'c>,
    keys: &DataKeys,
    tenant: TenantId,
    ids: &[Uuid],
) -> Result<Vec<StreamEvent<A::Event>>, LogError> {
    let stream_ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let rows = sqlx::query(&LOAD_STREAMS_SQL)
        .bind(A::TYPE)
        .bind(&stream_ids)
        .bind(tenant.uuid())
        .fetch_all(db)
        .await?;
    let payloads = opened_payloads(keys, &rows).await?;
    rows.iter()
        .zip(payloads)
        .map(|(row, payload)| stream_event(row, payload, |stored| stored.decode_as::<A>()))
        .collect()
}

/// A stream named completely: its tenant, type and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub tenant: Uuid,
    pub stream_type: &'static str,
    pub id: Uuid,
}

/// A stored event as read, before decoding (a batched read hands each stream its own).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    stream_type: String,
    stream_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    global_position: i64,
    recorded_at: chrono::DateTime<chrono::Utc>,
    /// As the audit chain sealed it (or not sealed yet).
    intact: bool,
}

impl StoredEvent {
    /// Opens the personal fields of a batch of stored events (keys read in one query).
    pub async fn open_all(keys: &DataKeys, events: &mut [StoredEvent]) -> Result<(), LogError> {
        let opener = keys.prepare(events.iter().map(|e| &e.payload)).await?;
        for event in events {
            opener.open(&mut event.payload);
        }
        Ok(())
    }

    /// This event as an event of `A`, upcast to the current version.
    pub fn decode<A: Aggregate>(self) -> Result<StreamEvent<A::Event>, LogError> {
        if !self.intact {
            return Err(altered(&self.stream_type, &self.stream_id, self.sequence).into());
        }
        let stream_id = parse_id(&self.stream_type, &self.stream_id, self.sequence)?;
        let event = Stored {
            stream_type: &self.stream_type,
            stream_id: &self.stream_id,
            sequence: self.sequence,
            event_type: self.event_type,
            event_version: self.event_version,
            payload: self.payload,
        }
        .decode_as::<A>()?;
        Ok(StreamEvent {
            stream_id,
            sequence: self.sequence,
            global_position: self.global_position,
            recorded_at: self.recorded_at,
            event,
        })
    }
}

/// `read_streams`' statement: stream types and ids as two arrays.
pub static READ_STREAMS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version,
                e.payload, global_position, e.recorded_at, e.tenant_id, {intact} AS intact
           FROM unnest($1::text[], $2::text[]) AS k(stream_type, stream_id)
           JOIN events e ON e.aggregate_type = k.stream_type AND e.aggregate_id = k.stream_id
           LEFT JOIN audit_seals s USING (global_position)
          ORDER BY e.aggregate_type, e.aggregate_id, e.sequence",
        intact = *INTACT_SQL
    )
});

/// The events of several streams, of any types and tenants, in one statement, each stream's
/// in order; a stream whose events belong to another tenant than its key names reads as
/// empty. The statement names no tenant, so the planner can only go by the stream key
/// (the primary key), whatever it knows of the firms.
pub async fn read_streams<'c>(
    db: impl PgExecutor<'c>,
    keys: &[StreamKey],
) -> Result<HashMap<StreamKey, Vec<StoredEvent>>, sqlx::Error> {
    // Each stream once, though two tenants' keys may name the same stream id.
    let mut wanted: Vec<(&str, Uuid)> = keys.iter().map(|k| (k.stream_type, k.id)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let (types, ids): (Vec<&str>, Vec<String>) = wanted
        .iter()
        .map(|(stream_type, id)| (*stream_type, id.to_string()))
        .unzip();
    let rows = sqlx::query(&READ_STREAMS_SQL)
        .bind(&types)
        .bind(&ids)
        .fetch_all(db)
        .await?;
    let mut streams: HashMap<StreamKey, Vec<StoredEvent>> = HashMap::new();
    for row in rows {
        let stream_type: String = row.try_get("aggregate_type")?;
        let stream_id: String = row.try_get("aggregate_id")?;
        let tenant: Uuid = row.try_get("tenant_id")?;
        let id = Uuid::try_parse(&stream_id).ok();
        let Some(key) = keys
            .iter()
            .find(|k| k.tenant == tenant && k.stream_type == stream_type && Some(k.id) == id)
        else {
            // Another tenant's stream under the same id: not this key's to see.
            continue;
        };
        streams.entry(*key).or_default().push(StoredEvent {
            stream_type,
            stream_id,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            global_position: row.try_get("global_position")?,
            recorded_at: row.try_get("recorded_at")?,
            intact: row.try_get("intact")?,
        });
    }
    Ok(streams)
}

/// The events of the given kinds in the given streams of one tenant, decoded, in stream order.
pub async fn events_of_kinds<'c>(
    db: impl PgExecutor<'c>,
    keys: &DataKeys,
    tenant: TenantId,
    stream_ids: &[Uuid],
    kinds: &[EventKind],
) -> Result<Vec<StreamEvent<AnyEvent>>, LogError> {
    let ids: Vec<String> = stream_ids.iter().map(Uuid::to_string).collect();
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    // By stream key first, as `LOAD_STREAMS_SQL` (the kinds name the stream types, so the
    // primary key can be used).
    let rows = sqlx::query(
        "WITH stream AS MATERIALIZED (
             SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                    global_position, recorded_at, tenant_id
               FROM events
              WHERE aggregate_type = ANY($4) AND aggregate_id = ANY($2) AND event_type = ANY($3))
         SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, global_position, recorded_at
           FROM stream WHERE tenant_id = $1
          ORDER BY aggregate_id, sequence",
    )
    .bind(tenant.uuid())
    .bind(&ids)
    .bind(&names)
    .bind(stream_types(kinds))
    .fetch_all(db)
    .await?;
    let payloads = opened_payloads(keys, &rows).await?;
    rows.iter()
        .zip(payloads)
        .map(|(row, payload)| stream_event(row, payload, |stored| stored.decode_any()))
        .collect()
}

/// The `payload` column of each row with its personal fields opened (keys read in one
/// query).
pub async fn opened_payloads(
    keys: &DataKeys,
    rows: &[PgRow],
) -> Result<Vec<serde_json::Value>, LogError> {
    let mut payloads = rows
        .iter()
        .map(|row| row.try_get("payload"))
        .collect::<Result<Vec<serde_json::Value>, _>>()?;
    let opener = keys.prepare(payloads.iter()).await?;
    for payload in &mut payloads {
        opener.open(payload);
    }
    Ok(payloads)
}

/// One row of the two queries above (`aggregate_type, aggregate_id, sequence, event_type,
/// event_version, global_position, recorded_at`) with its opened payload, decoded by `decode`.
fn stream_event<E>(
    row: &PgRow,
    payload: serde_json::Value,
    decode: impl FnOnce(Stored<'_>) -> Result<E, DecodeError>,
) -> Result<StreamEvent<E>, LogError> {
    let stream_type: String = row.try_get("aggregate_type")?;
    let stream_id: String = row.try_get("aggregate_id")?;
    let sequence: i64 = row.try_get("sequence")?;
    // `load_streams` checks each event against its seal; the kinds query reads no seals.
    if row.try_get::<bool, _>("intact").ok() == Some(false) {
        return Err(altered(&stream_type, &stream_id, sequence).into());
    }
    let event = decode(Stored {
        stream_type: &stream_type,
        stream_id: &stream_id,
        sequence,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload,
    })?;
    Ok(StreamEvent {
        stream_id: parse_id(&stream_type, &stream_id, sequence)?,
        sequence,
        global_position: row.try_get("global_position")?,
        recorded_at: row.try_get("recorded_at")?,
        event,
    })
}

/// An event changed since the audit chain sealed it: as unusable as one that does not
/// decode (the state it builds is not the history), and reported alike.
fn altered(stream_type: &str, stream_id: &str, sequence: i64) -> DecodeError {
    DecodeError {
        stream_type: stream_type.to_string(),
        stream_id: stream_id.to_string(),
        sequence,
        reason: "does not match its seal in the audit chain".into(),
    }
}

/// The ids of the tenant's streams that hold an event of `kind` (e.g. every registered
/// client), in log order.
pub async fn streams_with<'c>(
    db: impl PgExecutor<'c>,
    tenant: TenantId,
    kind: EventKind,
) -> Result<Vec<Uuid>, LogError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events
          WHERE tenant_id = $1 AND aggregate_type = $2 AND event_type = $3
          ORDER BY global_position",
    )
    .bind(tenant.uuid())
    .bind(kind.stream_type())
    .bind(kind.name())
    .fetch_all(db)
    .await?;
    ids.iter()
        .map(|id| parse_id(kind.stream_type(), id, 0))
        .collect()
}

/// Whether the tenant's stream `stream_id` holds an event of `kind`.
pub async fn stream_has<'c>(
    db: impl PgExecutor<'c>,
    tenant: TenantId,
    stream_id: Uuid,
    kind: EventKind,
) -> Result<bool, LogError> {
    Ok(sqlx::query_scalar(
        // By stream key first, as `LOAD_STREAMS_SQL`.
        "WITH stream AS MATERIALIZED (
             SELECT tenant_id FROM events
              WHERE aggregate_type = $2 AND aggregate_id = $3 AND event_type = $4)
         SELECT EXISTS (SELECT 1 FROM stream WHERE tenant_id = $1)",
    )
    .bind(tenant.uuid())
    .bind(kind.stream_type())
    .bind(stream_id.to_string())
    .bind(kind.name())
    .fetch_one(db)
    .await?)
}

/// How many events of the given kinds a stream gained in the last `seconds`.
pub async fn recent_count<'c>(
    db: impl PgExecutor<'c>,
    tenant: TenantId,
    stream_id: Uuid,
    kinds: &[EventKind],
    seconds: f64,
) -> Result<i64, LogError> {
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    // By stream key first, as `LOAD_STREAMS_SQL`.
    Ok(sqlx::query_scalar(
        "WITH stream AS MATERIALIZED (
             SELECT tenant_id, recorded_at FROM events
              WHERE aggregate_type = ANY($5) AND aggregate_id = $1 AND event_type = ANY($3))
         SELECT count(*) FROM stream
          WHERE tenant_id = $2 AND recorded_at > now() - make_interval(secs => $4)",
    )
    .bind(stream_id.to_string())
    .bind(tenant.uuid())
    .bind(&names)
    .bind(seconds)
    .bind(stream_types(kinds))
    .fetch_one(db)
    .await?)
}

/// SQL selecting the id (text) of the login whose username is `$username` in tenant
/// `$tenant`, any case, through the indexes that keep usernames unique: the keyed hash
/// (`DataKeys::username_key`, placeholder `key`) of a sealed username, or the plaintext of a
/// login made before usernames were sealed. The one place the username lookup is written.
pub fn login_by_username_sql(tenant: &str, username: &str, key: &str) -> String {
    let created = EventKind::from(PortalUserEventKind::PortalUserCreated).name();
    let stream = <aggregates::portal_user::PortalUser as Aggregate>::TYPE;
    format!(
        "SELECT aggregate_id FROM events
          WHERE tenant_id = {tenant} AND aggregate_type = '{stream}' AND event_type = '{created}'
            AND (payload #>> '{{{created},username_key}}' = {key}
                 OR lower(payload #>> '{{{created},username}}') = lower({username}))
          LIMIT 1"
    )
}

/// The login a typed username names in this tenant (any case).
pub async fn login_by_username<'c>(
    db: impl PgExecutor<'c>,
    keys: &DataKeys,
    tenant: TenantId,
    username: &str,
) -> Result<Option<PortalUserId>, LogError> {
    let id: Option<String> = sqlx::query_scalar(&login_by_username_sql("$1", "$2", "$3"))
        .bind(tenant.uuid())
        .bind(username.trim())
        .bind(keys.username_key(tenant.uuid(), username))
        .fetch_optional(db)
        .await?;
    id.map(|s| parse_id("portal_user", &s, 0).map(PortalUserId::from_uuid))
        .transpose()
}

/// SQL for one stream's events as a JSON array for `decode::replay_json`, so a read can take
/// a stream along in a larger query; `stream_id` is an SQL expression, `tenant` the tenant
/// placeholder.
pub fn stream_json_sql(stream_type: &str, stream_id: &str, tenant: &str) -> String {
    format!(
        "(SELECT json_agg(json_build_array(e.sequence, e.event_type, e.event_version, e.payload)
                          ORDER BY e.sequence)
            FROM events e
           WHERE e.aggregate_type = '{stream_type}' AND e.aggregate_id = {stream_id}
             AND e.tenant_id = {tenant})"
    )
}

/// SQL for a client's history (`$1` the tenant, `$2` the client id as text): the CTEs
/// naming the portal users it ever had attached and the contracts issued to it, and the
/// condition on `events` that selects the client's own stream and those. The condition
/// names the streams by their key (`history_streams`), so each is read through the
/// primary key: as an OR over stream types, the planner read every login's and contract's
/// event of the log and kept the firm's.
pub fn client_history_sql() -> (String, String) {
    use aggregates::client::{Client, ClientEventKind};
    use aggregates::contract::{Contract, ContractEventKind};
    use aggregates::portal_user::PortalUser;
    let attached = EventKind::from(ClientEventKind::PortalUserAttached).name();
    let issued = EventKind::from(ContractEventKind::ContractIssued).name();
    let (client, user, contract) = (Client::TYPE, PortalUser::TYPE, Contract::TYPE);
    let ctes = format!(
        "users AS (
             SELECT DISTINCT payload #>> '{{{attached},portal_user_id}}' AS id FROM events
              WHERE tenant_id = $1 AND aggregate_type = '{client}' AND aggregate_id = $2
                AND event_type = '{attached}'),
         contracts AS (
             SELECT aggregate_id AS id FROM events
              WHERE tenant_id = $1 AND event_type = '{issued}'
                AND payload #>> '{{{issued},client_id}}' = $2),
         history_streams AS (
             SELECT '{client}' AS stream_type, $2 AS id
             UNION ALL SELECT '{user}', id FROM users
             UNION ALL SELECT '{contract}', id FROM contracts)"
    );
    let condition =
        "(aggregate_type, aggregate_id) IN (SELECT stream_type, id FROM history_streams)".into();
    (ctes, condition)
}

/// How many events of a client's history (`client_history_sql`) have personal fields
/// stored in the clear: written before personal fields were sealed.
pub async fn plaintext_personal_events<'c>(
    db: impl PgExecutor<'c>,
    tenant: TenantId,
    client_id: Uuid,
) -> Result<i64, LogError> {
    let personal: Vec<&str> = aggregates::events::all_event_type_names()
        .into_iter()
        .filter(|name| !aggregates::personal::fields(name).is_empty())
        .collect();
    let (related, in_history) = client_history_sql();
    Ok(sqlx::query_scalar(&format!(
        "WITH {related}
         SELECT count(*) FROM events
          WHERE tenant_id = $1 AND {in_history} AND event_type = ANY($3)
            AND strpos(payload::text, '\"pd1:') = 0"
    ))
    .bind(tenant.uuid())
    .bind(client_id.to_string())
    .bind(&personal)
    .fetch_one(db)
    .await?)
}

/// Each firm that has set `erase_archived_after_days`, with its days (its latest policies).
pub async fn retention_days<'c>(db: impl PgExecutor<'c>) -> Result<Vec<(TenantId, i64)>, LogError> {
    use aggregates::tenant::{Tenant, TenantEventKind};
    let changed = EventKind::from(TenantEventKind::PortalPoliciesChanged).name();
    let rows: Vec<(Uuid, Option<i64>)> = sqlx::query_as(&format!(
        "SELECT tenant_id, days FROM (
             SELECT DISTINCT ON (tenant_id) tenant_id,
                    (payload #>> '{{{changed},policies,erase_archived_after_days}}')::bigint AS days
               FROM events WHERE aggregate_type = '{tenant}' AND event_type = '{changed}'
              ORDER BY tenant_id, global_position DESC) latest
          WHERE days IS NOT NULL",
        tenant = Tenant::TYPE,
    ))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(tenant, days)| Some((TenantId::from_uuid(tenant), days?)))
        .collect())
}

/// The firm's clients archived (and not brought back, nor erased) before `cutoff`.
pub async fn archived_before<'c>(
    db: impl PgExecutor<'c>,
    tenant: TenantId,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Uuid>, LogError> {
    use aggregates::client::{Client, ClientEventKind as C};
    let kinds: Vec<&str> = [C::ClientArchived, C::ClientUnarchived, C::ClientErased]
        .into_iter()
        .map(|k| EventKind::from(k).name())
        .collect();
    let archived = EventKind::from(C::ClientArchived).name();
    let ids: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT aggregate_id FROM (
             SELECT DISTINCT ON (aggregate_id) aggregate_id, event_type, recorded_at
               FROM events
              WHERE tenant_id = $1 AND aggregate_type = '{client}' AND event_type = ANY($2)
              ORDER BY aggregate_id, global_position DESC) latest
          WHERE event_type = '{archived}' AND recorded_at < $3",
        client = Client::TYPE,
    ))
    .bind(tenant.uuid())
    .bind(&kinds)
    .bind(cutoff)
    .fetch_all(db)
    .await?;
    ids.iter().map(|id| parse_id(Client::TYPE, id, 0)).collect()
}

fn parse_id(stream_type: &str, raw: &str, sequence: i64) -> Result<Uuid, LogError> {
    Uuid::try_parse(raw).map_err(|e| {
        LogError::Decode(crate::DecodeError {
            stream_type: stream_type.to_string(),
            stream_id: raw.to_string(),
            sequence,
            reason: format!("stream id is not a UUID: {e}"),
        })
    })
}

/// The stream types the kinds belong to, each once.
fn stream_types(kinds: &[EventKind]) -> Vec<&'static str> {
    let mut types: Vec<&'static str> = kinds.iter().map(|k| k.stream_type()).collect();
    types.sort_unstable();
    types.dedup();
    types
}
