//! Where the projections stand: whether they include a position (read-your-writes), and
//! their position, lag and failures for operators and `/metrics`.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

/// Whether every projection named has applied the event at `position` (false if there is no
/// such event yet).
pub async fn includes(pool: &PgPool, names: &[&str], position: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(eventlog::statements::PROJECTIONS_INCLUDE_SQL)
        .bind(position)
        .bind(names)
        .fetch_one(pool)
        .await
}

/// Where a projection stands, for operators and `/metrics`.
#[derive(Debug, Clone)]
pub struct ProjectionStatus {
    pub name: String,
    pub position: i64,
    /// Positions between the projection and the newest event in the log.
    pub lag: i64,
    pub failures: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn status(pool: &PgPool) -> Result<Vec<ProjectionStatus>, sqlx::Error> {
    let rows = sqlx::query(eventlog::statements::PROJECTION_STATUS_SQL)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ProjectionStatus {
                name: r.try_get("name")?,
                position: r.try_get("last_position")?,
                lag: r.try_get("lag")?,
                failures: r.try_get("failures")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .collect()
}
