//! An event with its place in the log: what projections and auditors receive.

use aggregates::events::AnyEvent;
use aggregates::ids::TenantId;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use crate::decode::Stored;
use crate::personal::DataKeys;
use crate::LogError;

/// The columns `Envelope::from_row` reads, in a form to paste into a SELECT on `events`.
/// `tx_text` is the transaction id as text (an output column named `tx_id` would make an
/// `ORDER BY tx_id` sort the text).
pub const ENVELOPE_COLUMNS: &str = "global_position, tx_id::text AS tx_text, tenant_id, \
     aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at";

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
    /// Who asked for the change and from where (actor, request id, client IP, …).
    pub metadata: Value,
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

/// Each row's `payload` and `metadata` with their personal fields opened (one key query).
pub async fn opened(keys: &DataKeys, rows: &[PgRow]) -> Result<Vec<(Value, Value)>, LogError> {
    let mut opened = rows
        .iter()
        .map(|row| Ok((row.try_get("payload")?, row.try_get("metadata")?)))
        .collect::<Result<Vec<(Value, Value)>, sqlx::Error>>()?;
    keys.prepare(opened.iter().flat_map(|(p, m)| [p, m]))
        .await?;
    for (payload, metadata) in &mut opened {
        keys.open(payload);
        keys.open(metadata);
    }
    Ok(opened)
}

impl Envelope {
    /// Reads rows selected with `ENVELOPE_COLUMNS`, opening personal fields, upcasting and
    /// decoding each payload.
    pub async fn from_rows(keys: &DataKeys, rows: &[PgRow]) -> Result<Vec<Self>, LogError> {
        let opened = opened(keys, rows).await?;
        rows.iter()
            .zip(opened)
            .map(|(row, (payload, metadata))| Self::from_row(row, payload, metadata))
            .collect()
    }

    /// A row selected with `ENVELOPE_COLUMNS`, with its opened payload and metadata.
    pub fn from_row(row: &PgRow, payload: Value, metadata: Value) -> Result<Self, LogError> {
        let stream_type: String = row.try_get("aggregate_type")?;
        let stream_id: String = row.try_get("aggregate_id")?;
        let sequence: i64 = row.try_get("sequence")?;
        let event = event_of_row(row, payload)?;
        Ok(Self {
            global_position: row.try_get("global_position")?,
            tx_id: row.try_get("tx_text")?,
            tenant: TenantId::from_uuid(row.try_get("tenant_id")?),
            stream_type,
            stream_id,
            sequence,
            recorded_at: row.try_get("recorded_at")?,
            metadata,
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
