//! Sending a failed e-mail again. Delivery is operational state kept beside the log (the
//! notification log's chain covers what was owed to whom, not the attempts), so a retry
//! writes no event; the mailer picks the e-mail up at once.

use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::service::{ServiceError, ServiceResult};

/// Makes a failed e-mail due again, with a fresh set of attempts.
pub async fn retry(scope: &TenantScope, id: Uuid) -> ServiceResult<()> {
    let mut tx = scope.pool().begin().await?;
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM notifications WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(scope.id())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    match status.as_deref() {
        None => return Err(ServiceError::NotFound("notification")),
        Some("failed") => {}
        Some(other) => {
            return Err(ServiceError::Conflict {
                code: "notification_not_failed",
                detail: format!("only a failed e-mail can be sent again; this one is {other}"),
            })
        }
    }
    sqlx::query(
        "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = now()
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(scope.id())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    // Wakes the mailer (several servers may run one; each listens).
    sqlx::query("SELECT pg_notify('notifications_pending', '')")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
