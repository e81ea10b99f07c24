//! The one statement read models use to change a column of the row a stream owns.

use eventlog::Envelope;
use sqlx::PgConnection;

use crate::engine::ProjectionError;

/// Sets one column (`set` uses `$4` for `value`, and may use `$5` for the event's time) on
/// the row of `table` keyed by the event's tenant and stream id (`key`), and records the
/// event's position on it.
pub(crate) async fn set_column<T>(
    tx: &mut PgConnection,
    e: &Envelope,
    table: &str,
    key: &str,
    set: &str,
    value: T,
) -> Result<(), ProjectionError>
where
    T: Send + for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let sql =
        format!("UPDATE {table} SET {set}, last_position = $3 WHERE tenant_id = $1 AND {key} = $2");
    sqlx::query(&sql)
        .bind(e.tenant.uuid())
        .bind(e.stream_uuid()?)
        .bind(e.global_position)
        .bind(value)
        .bind(e.recorded_at)
        .execute(tx)
        .await?;
    Ok(())
}
