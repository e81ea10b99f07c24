//! Read models and the projection engine that builds them from the event log.
//!
//! The write side (this workspace's server crate) only appends events; everything a staff
//! UI, an auditor's dashboard or a report reads is built here, from the log, in commit order.
//! The engine and its tables arrive with the projections work; until then this crate holds
//! the shared description of a stored event that both sides agree on.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One row of the `events` table as readers see it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub global_position: i64,
    pub tenant_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}
