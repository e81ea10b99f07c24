//! Throttle counters: failures (or requests) per key — a typed username, a client address —
//! within a window; reaching the limit locks the key for a while.

use uuid::Uuid;

use crate::app::Limits;

/// Whole seconds until a lock lifts (at least one), for `Retry-After`.
pub(super) fn seconds(remaining: f64) -> u64 {
    remaining.ceil().max(1.0) as u64
}

/// SQL for the seconds a lock on `key` has left at `now` (NULL while unlocked), to take
/// along in a larger query; each argument is an SQL expression or placeholder.
pub(super) fn seconds_locked_sql(tenant: &str, key: &str, now: &str) -> String {
    format!(
        "(SELECT EXTRACT(EPOCH FROM (locked_until - {now}))::float8 FROM portal_login_throttle
           WHERE tenant_id = {tenant} AND key = {key} AND locked_until > {now})"
    )
}

/// One more failure (or request) on a throttle key.
pub struct Count<'a> {
    pub tenant_id: Uuid,
    pub key: &'a [u8],
    pub portal_user_id: Option<Uuid>,
    /// This many within `lockout_window` lock the key for `lockout_duration`.
    pub limit: i32,
    /// When it happens (`App::clock`).
    pub now: chrono::DateTime<chrono::Utc>,
}

pub struct Counted {
    /// This one reached the limit.
    pub just_locked: bool,
    /// The key is locked now (by this one or earlier).
    pub locked: bool,
}

impl Count<'_> {
    pub async fn add(
        &self,
        conn: &mut sqlx::PgConnection,
        limits: &Limits,
    ) -> Result<Counted, sqlx::Error> {
        sqlx::query(
            "INSERT INTO portal_login_throttle (tenant_id, key, portal_user_id, failures, window_started_at)
             VALUES ($1, $2, $3, 1, $5)
             ON CONFLICT (tenant_id, key) DO UPDATE SET
                 portal_user_id = COALESCE(EXCLUDED.portal_user_id, portal_login_throttle.portal_user_id),
                 failures = CASE WHEN portal_login_throttle.window_started_at < $5 - make_interval(secs => $4)
                                 THEN 1 ELSE portal_login_throttle.failures + 1 END,
                 window_started_at = CASE WHEN portal_login_throttle.window_started_at < $5 - make_interval(secs => $4)
                                 THEN $5 ELSE portal_login_throttle.window_started_at END",
        )
        .bind(self.tenant_id)
        .bind(self.key)
        .bind(self.portal_user_id)
        .bind(limits.lockout_window.num_seconds() as f64)
        .bind(self.now)
        .execute(&mut *conn)
        .await?;
        let (just_locked, locked): (bool, bool) = sqlx::query_as(
            "WITH locking AS (
                 UPDATE portal_login_throttle
                    SET locked_until = $5 + make_interval(secs => $4), failures = 0, window_started_at = $5
                  WHERE tenant_id = $1 AND key = $2 AND failures >= $3
                 RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM locking),
                    EXISTS (SELECT 1 FROM locking)
                    OR EXISTS (SELECT 1 FROM portal_login_throttle
                                WHERE tenant_id = $1 AND key = $2 AND locked_until > $5)",
        )
        .bind(self.tenant_id)
        .bind(self.key)
        .bind(self.limit)
        .bind(limits.lockout_duration.num_seconds() as f64)
        .bind(self.now)
        .fetch_one(&mut *conn)
        .await?;
        Ok(Counted {
            just_locked,
            locked,
        })
    }
}
