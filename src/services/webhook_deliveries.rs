//! A test message to an endpoint, and sending a message again by hand. Delivery is
//! operational state kept beside the log (the log holds what happened; the attempts are
//! the dispatcher's), so neither writes an event; the dispatcher is woken at once.

use aggregates::webhook::TEST_EVENT_TYPE;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::service::{ServiceError, ServiceResult};

/// Queues a `webhook.test` message to the endpoint; its delivery id.
pub async fn send_test(
    scope: &TenantScope,
    webhook_id: Uuid,
    now: DateTime<Utc>,
) -> ServiceResult<Uuid> {
    let id = Uuid::now_v7();
    let data = serde_json::json!({
        "webhook_id": webhook_id,
        "tenant_id": scope.id(),
    });
    let inserted = sqlx::query(
        "INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, message_id, event_type,
                                         occurred_at, data, next_attempt_at)
         SELECT $1, w.tenant_id, w.id, $3, $4, $5, $6, $5
           FROM webhooks w WHERE w.id = $2 AND w.tenant_id = $7",
    )
    .bind(id)
    .bind(webhook_id)
    .bind(format!("msg_test_{}", id.simple()))
    .bind(TEST_EVENT_TYPE)
    .bind(now)
    .bind(data)
    .bind(scope.id())
    .execute(scope.pool())
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ServiceError::NotFound("webhook"));
    }
    Ok(id)
}

/// Makes a delivery due again now with a fresh schedule, whatever became of it.
pub async fn redeliver(
    scope: &TenantScope,
    webhook_id: Uuid,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let updated = sqlx::query(
        "UPDATE webhook_deliveries
            SET status = 'pending', attempts = 0, next_attempt_at = $4, claimed_by = NULL
          WHERE tenant_id = $1 AND webhook_id = $2 AND id = $3",
    )
    .bind(scope.id())
    .bind(webhook_id)
    .bind(delivery_id)
    .bind(now)
    .execute(scope.pool())
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ServiceError::NotFound("delivery"));
    }
    sqlx::query("SELECT pg_notify('webhook_deliveries_pending', '')")
        .execute(scope.pool())
        .await?;
    Ok(())
}
