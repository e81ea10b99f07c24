//! Stored payloads to domain events: upcast old shapes first, then deserialise.

use aggregates::events::AnyEvent;
use cqrs_es::persist::SerializedEvent;
use cqrs_es::Aggregate;
use serde_json::Value;

/// A stored event that does not decode: the log holds something this code cannot read.
#[derive(Debug, thiserror::Error)]
#[error("stored {stream_type} event {stream_id}#{sequence} does not decode: {reason}")]
pub struct DecodeError {
    pub stream_type: String,
    pub stream_id: String,
    pub sequence: i64,
    pub reason: String,
}

/// Lifts a stored event to today's payload shape with the domain's upcasters (every reader
/// applies the same list).
pub fn upcast(mut stored: SerializedEvent) -> SerializedEvent {
    for upcaster in aggregates::upcasting::upcasters() {
        if upcaster.can_upcast(&stored.event_type, &stored.event_version) {
            stored = upcaster.upcast(stored);
        }
    }
    stored
}

/// The stored fields of one event, as read from a row.
pub struct Stored<'a> {
    pub stream_type: &'a str,
    pub stream_id: &'a str,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
}

impl Stored<'_> {
    fn upcast(self) -> (String, i64, Value) {
        let serialized = upcast(SerializedEvent::new(
            self.stream_id.to_string(),
            self.sequence as usize,
            self.stream_type.to_string(),
            self.event_type,
            self.event_version,
            self.payload,
            Value::Null,
        ));
        (serialized.aggregate_type, self.sequence, serialized.payload)
    }

    /// The error for a stored event that does not decode, naming its place.
    pub(crate) fn error(
        stream_type: &str,
        stream_id: &str,
        sequence: i64,
        reason: String,
    ) -> DecodeError {
        DecodeError {
            stream_type: stream_type.to_string(),
            stream_id: stream_id.to_string(),
            sequence,
            reason,
        }
    }

    /// This event as an event of aggregate `A`.
    pub fn decode_as<A: Aggregate>(self) -> Result<A::Event, DecodeError> {
        let stream_id = self.stream_id.to_string();
        let (_, sequence, payload) = self.upcast();
        serde_json::from_value(payload)
            .map_err(|e| Self::error(A::TYPE, &stream_id, sequence, e.to_string()))
    }

    /// This event as whichever aggregate's event its stream type says.
    pub fn decode_any(self) -> Result<AnyEvent, DecodeError> {
        let stream_id = self.stream_id.to_string();
        let (stream_type, sequence, payload) = self.upcast();
        AnyEvent::decode(&stream_type, payload)
            .map_err(|e| Self::error(&stream_type, &stream_id, sequence, e.to_string()))
    }
}

/// One stored event of aggregate `A`, decoded.
pub fn decode<A: Aggregate>(
    stream_id: &str,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
) -> Result<A::Event, DecodeError> {
    Stored {
        stream_type: A::TYPE,
        stream_id,
        sequence,
        event_type,
        event_version,
        payload,
    }
    .decode_as::<A>()
}

/// An aggregate's state from its events given as a JSON array of
/// `[sequence, event_type, event_version, payload]` (as `queries::stream_json_sql` builds
/// them), for reads that fetch a stream inside a larger query.
pub async fn replay_json<A: Aggregate>(
    keys: &crate::DataKeys,
    stream_id: &str,
    events: Value,
) -> Result<A, crate::LogError> {
    let mut rows: Vec<(i64, String, String, Value)> = serde_json::from_value(events)
        .map_err(|e| Stored::error(A::TYPE, stream_id, 0, e.to_string()))?;
    let opener = keys.prepare(rows.iter().map(|r| &r.3)).await?;
    for row in &mut rows {
        opener.open(&mut row.3);
    }
    let mut state = A::default();
    for (sequence, event_type, event_version, payload) in rows {
        state.apply(decode::<A>(
            stream_id,
            sequence,
            event_type,
            event_version,
            payload,
        )?);
    }
    Ok(state)
}
