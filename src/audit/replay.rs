//! An aggregate's state as it stood at a moment: its events up to a time or a position,
//! upcast and applied with the domain's own `apply`.

use aggregates::client::Client;
use aggregates::contract::Contract;
use aggregates::item::Item;
use aggregates::portal_user::PortalUser;
use aggregates::tenant::Tenant;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::{ReadError, ReadResult};

/// Up to which point to replay.
#[derive(Debug, Clone, Copy)]
pub enum AsOf {
    Latest,
    Position(i64),
    Time(DateTime<Utc>),
}

impl AsOf {
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw {
            None => Ok(Self::Latest),
            Some(s) => match s.parse::<i64>() {
                Ok(p) if p >= 0 => Ok(Self::Position(p)),
                Ok(_) => Err("a position must not be negative".into()),
                Err(_) => DateTime::parse_from_rfc3339(s)
                    .map(|t| Self::Time(t.with_timezone(&Utc)))
                    .map_err(|_| "must be a position or an RFC 3339 time".into()),
            },
        }
    }
}

#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ReplayedState {
    pub stream_type: String,
    pub stream_id: String,
    /// How many of the stream's events were applied.
    pub version: i64,
    /// Position and time of the last event applied.
    pub last_position: i64,
    pub last_recorded_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub state: Value,
}

/// `None` when the tenant has no such stream, or it had no event yet at that point.
pub async fn replay(
    scope: &TenantScope,
    stream_type: &str,
    stream_id: Uuid,
    as_of: AsOf,
) -> ReadResult<Option<ReplayedState>> {
    let (pool, tenant_id) = ((scope.pool(), scope.keys()), scope.id());
    match stream_type {
        Client::TYPE => replay_as::<Client>(pool, tenant_id, stream_id, as_of).await,
        PortalUser::TYPE => replay_as::<PortalUser>(pool, tenant_id, stream_id, as_of).await,
        Item::TYPE => replay_as::<Item>(pool, tenant_id, stream_id, as_of).await,
        Contract::TYPE => replay_as::<Contract>(pool, tenant_id, stream_id, as_of).await,
        Tenant::TYPE => replay_as::<Tenant>(pool, tenant_id, stream_id, as_of).await,
        _ => Ok(None),
    }
}

async fn replay_as<A: Aggregate>(
    (pool, keys): (&PgPool, &eventlog::DataKeys),
    tenant_id: Uuid,
    stream_id: Uuid,
    as_of: AsOf,
) -> ReadResult<Option<ReplayedState>> {
    let (position, time) = match as_of {
        AsOf::Latest => (i64::MAX, None),
        AsOf::Position(p) => (p, None),
        AsOf::Time(t) => (i64::MAX, Some(t)),
    };
    let rows = sqlx::query(eventlog::statements::REPLAY_STREAM_SQL)
        .bind(tenant_id)
        .bind(A::TYPE)
        .bind(stream_id.to_string())
        .bind(position)
        .bind(time)
        .fetch_all(pool)
        .await?;
    let Some(last) = rows.last() else {
        return Ok(None);
    };
    let payloads = eventlog::queries::opened_payloads(keys, &rows).await?;
    let mut state = A::default();
    for (row, payload) in rows.iter().zip(payloads) {
        let event = eventlog::decode::<A>(
            &stream_id.to_string(),
            row.try_get("sequence")?,
            row.try_get("event_type")?,
            row.try_get("event_version")?,
            payload,
        )?;
        state.apply(event);
    }
    Ok(Some(ReplayedState {
        stream_type: A::TYPE.to_string(),
        stream_id: stream_id.to_string(),
        version: last.try_get("sequence")?,
        last_position: last.try_get("global_position")?,
        last_recorded_at: last.try_get("recorded_at")?,
        state: serde_json::to_value(&state).map_err(ReadError::internal)?,
    }))
}
