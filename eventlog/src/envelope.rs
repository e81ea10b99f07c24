//! An event with its place in the log: what projections and auditors receive.

use aggregates::events::AnyEvent;
use aggregates::ids::TenantId;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::Row;
use uuid::Uuid;

use crate::decode::Stored;
use crate::personal::{DataKeys, SEALED_PREFIX};
use crate::LogError;

/// The columns `Envelope::from_rows` reads, in a form to paste into a SELECT on `events`.
/// `tx_text` is the transaction id as text (an output column named `tx_id` would make an
/// `ORDER BY tx_id` sort the text). Not `metadata`: no consumer of envelopes reads it (the
/// audit trail selects its own columns), and rendering it is a third of a row's cost.
pub const ENVELOPE_COLUMNS: &str = "global_position, tx_id::text AS tx_text, tenant_id, \
     aggregate_type, aggregate_id, sequence, event_type, event_version, payload, recorded_at";

#[derive(Debug, Clone)]
pub struct Envelope {
    pub global_position: i64,
    /// The writing transaction's id (`xid8` as text), for commit-order checkpoints.
    pub tx_id: String,
    pub tenant: TenantId,
    pub stream_type: String,
    pub stream_id: String,
    pub sequence: i64,
    pub recorded_at: DateTime<Utc>,
    pub event: AnyEvent,
}

/// The event of a row with the columns `aggregate_type, aggregate_id, sequence, event_type,
/// event_version` and its opened `payload`, upcast and decoded.
pub fn event_of_row(row: &PgRow, payload: Value) -> Result<AnyEvent, LogError> {
    let stream_type: String = row.try_get("aggregate_type")?;
    let stream_id: String = row.try_get("aggregate_id")?;
    Ok(Stored {
        stream_type: &stream_type,
        stream_id: &stream_id,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload,
    }
    .decode_any()?)
}

/// Why a row's payload does not decode, with the row's place.
fn decode_error(row: &PgRow, reason: String) -> LogError {
    let text = |column: &str| row.try_get::<String, _>(column).unwrap_or_default();
    let sequence = row.try_get("sequence").unwrap_or_default();
    Stored::error(
        &text("aggregate_type"),
        &text("aggregate_id"),
        sequence,
        reason,
    )
    .into()
}

/// Each row's `payload` and `metadata` with their personal fields opened (one key query).
pub async fn opened(keys: &DataKeys, rows: &[PgRow]) -> Result<Vec<(Value, Value)>, LogError> {
    let mut opened = rows
        .iter()
        .map(|row| Ok((row.try_get("payload")?, row.try_get("metadata")?)))
        .collect::<Result<Vec<(Value, Value)>, sqlx::Error>>()?;
    let opener = keys
        .prepare(opened.iter().flat_map(|(p, m)| [p, m]))
        .await?;
    for (payload, metadata) in &mut opened {
        opener.open(payload);
        opener.open(metadata);
    }
    Ok(opened)
}

impl Envelope {
    /// Reads rows selected with `ENVELOPE_COLUMNS`, opening personal fields, upcasting and
    /// decoding each payload. A payload with nothing sealed in it and no upcaster to pass
    /// through is decoded straight from its text; the others go through a JSON value, their
    /// keys fetched in one query for the batch.
    pub async fn from_rows(keys: &DataKeys, rows: &[PgRow]) -> Result<Vec<Self>, LogError> {
        Self::each_of_rows(keys, rows).await?.into_iter().collect()
    }

    /// `from_rows`, each row on its own: a row that does not decode is an error of its own
    /// (the rest still decode); the outer error is the database's (fetching keys).
    pub async fn each_of_rows(
        keys: &DataKeys,
        rows: &[PgRow],
    ) -> Result<Vec<Result<Self, LogError>>, LogError> {
        let upcasters = aggregates::upcasting::upcasters();
        // `Ok(None)`: a payload to open first (below).
        let mut events: Vec<Result<Option<AnyEvent>, LogError>> = Vec::with_capacity(rows.len());
        let mut to_open: Vec<(usize, Value)> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let decoded = (|| {
                let Json(text): Json<&RawValue> = row.try_get("payload")?;
                let (event_type, version): (&str, &str) =
                    (row.try_get("event_type")?, row.try_get("event_version")?);
                let plain = !text.get().contains(SEALED_PREFIX)
                    && !upcasters.iter().any(|u| u.can_upcast(event_type, version));
                if plain {
                    let stream_type: &str = row.try_get("aggregate_type")?;
                    let event = AnyEvent::decode_str(stream_type, text.get())
                        .map_err(|e| decode_error(row, e.to_string()))?;
                    Ok(Some(event))
                } else {
                    let payload = serde_json::from_str(text.get())
                        .map_err(|e| decode_error(row, e.to_string()))?;
                    to_open.push((i, payload));
                    Ok(None)
                }
            })();
            events.push(decoded);
        }
        let opener = keys.prepare(to_open.iter().map(|(_, v)| v)).await?;
        for (i, mut payload) in to_open {
            opener.open(&mut payload);
            events[i] = event_of_row(&rows[i], payload).map(Some);
        }
        Ok(rows
            .iter()
            .zip(events)
            .map(|(row, event)| Self::from_row(row, event?.expect("every payload opened")))
            .collect())
    }

    /// A row selected with `ENVELOPE_COLUMNS`, with its decoded event.
    fn from_row(row: &PgRow, event: AnyEvent) -> Result<Self, LogError> {
        Ok(Self {
            global_position: row.try_get("global_position")?,
            tx_id: row.try_get("tx_text")?,
            tenant: TenantId::from_uuid(row.try_get("tenant_id")?),
            stream_type: row.try_get("aggregate_type")?,
            stream_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
            recorded_at: row.try_get("recorded_at")?,
            event,
        })
    }

    /// The stream's id as a UUID (every stream id of this service is one).
    pub fn stream_uuid(&self) -> Result<Uuid, crate::DecodeError> {
        Uuid::try_parse(&self.stream_id).map_err(|e| crate::DecodeError {
            stream_type: self.stream_type.clone(),
            stream_id: self.stream_id.clone(),
            sequence: self.sequence,
            reason: format!("stream id is not a UUID: {e}"),
        })
    }
}
