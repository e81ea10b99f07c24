//! A tenant's log in commit order from a position on, for the integration feed: the
//! events of the given types after the event at (or last before) `after`, only from
//! transactions that have finished (below the commit horizon), so a later-committing event
//! with a lower position is never overtaken and a cursor never skips one.

use aggregates::ids::TenantId;
use sqlx::PgExecutor;

use crate::{DataKeys, Envelope, LogError, ENVELOPE_COLUMNS};

/// Up to `limit` events of `event_types` after `after`, oldest commit first (the last
/// one's position is where the next page continues).
pub async fn events_after<'c>(
    db: impl PgExecutor<'c>,
    keys: &DataKeys,
    tenant: TenantId,
    after: i64,
    event_types: &[&str],
    limit: i64,
) -> Result<Vec<Envelope>, LogError> {
    let rows = sqlx::query(&format!(
        "WITH start AS MATERIALIZED (
             SELECT COALESCE((SELECT tx_id FROM events
                               WHERE tenant_id = $1 AND global_position <= $2
                               ORDER BY global_position DESC LIMIT 1), '0'::xid8) AS tx,
                    COALESCE((SELECT global_position FROM events
                               WHERE tenant_id = $1 AND global_position <= $2
                               ORDER BY global_position DESC LIMIT 1), 0) AS position)
         SELECT {ENVELOPE_COLUMNS} FROM events, start
          WHERE events.tenant_id = $1
            AND (events.tx_id, events.global_position) > (start.tx, start.position)
            AND events.tx_id < pg_snapshot_xmin(pg_current_snapshot())
            AND events.event_type = ANY($3)
          ORDER BY events.tx_id, events.global_position
          LIMIT $4"
    ))
    .bind(tenant.uuid())
    .bind(after)
    .bind(event_types)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Envelope::from_rows(keys, &rows).await
}
