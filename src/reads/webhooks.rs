//! Webhook endpoints (never their secrets), their delivery logs, and the integration event
//! feed: the catalogue's messages read straight from the firm's log in commit order.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;
use crate::webhooks::catalogue;

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    /// Catalogue types (docs/events.md), or `["*"]` for all.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// staff, gone (the receiver answered 410) or failing (throughout the retry schedule).
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

const WEBHOOK_COLUMNS: &str =
    "id, url, event_types, description, enabled, disabled_reason, created_at";

pub async fn webhooks(scope: &TenantScope) -> ReadResult<Vec<WebhookView>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_id = $1 ORDER BY created_at, id"
    ))
    .bind(scope.id())
    .fetch_all(scope.pool())
    .await?)
}

pub async fn webhook(scope: &TenantScope, id: Uuid) -> ReadResult<Option<WebhookView>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(scope.id())
    .bind(id)
    .fetch_optional(scope.pool())
    .await?)
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct DeliveryView {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The `webhook-id` the message is sent under.
    pub message_id: String,
    pub event_type: String,
    /// The event's position in the log (null for a test message).
    pub position: Option<i64>,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// When a pending message is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A page of an endpoint's delivery log, newest first, after `cursor` (a delivery id).
pub async fn deliveries(
    scope: &TenantScope,
    webhook_id: Uuid,
    status: Option<&str>,
    cursor: Option<Uuid>,
    limit: i64,
) -> ReadResult<Vec<DeliveryView>> {
    Ok(sqlx::query_as(
        "SELECT id, webhook_id, message_id, event_type, position, status, attempts,
                last_status_code, last_error,
                CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at,
                delivered_at
           FROM webhook_deliveries
          WHERE tenant_id = $1 AND webhook_id = $2 AND ($3::text IS NULL OR status = $3)
            AND ($4::uuid IS NULL OR id < $4)
          ORDER BY id DESC LIMIT $5",
    )
    .bind(scope.id())
    .bind(webhook_id)
    .bind(status)
    .bind(cursor)
    .bind(limit)
    .fetch_all(scope.pool())
    .await?)
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FeedItem {
    /// The same id the message has as a webhook (`webhook-id`).
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: String,
    pub position: i64,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Feed {
    pub items: Vec<FeedItem>,
    /// Pass as `after` for what follows (the position of the last event read).
    pub next_after: i64,
}

/// How often a long poll looks again while nothing newer exists.
const LONG_POLL_EVERY: Duration = Duration::from_millis(200);

/// The catalogue's messages after `after` (of `types`, or all), at most `limit`; when
/// none exists yet, waits for one up to `wait`.
pub async fn feed(
    scope: &TenantScope,
    after: i64,
    types: Option<&[String]>,
    limit: i64,
    wait: Duration,
) -> ReadResult<Feed> {
    let deadline = Instant::now() + wait;
    let stored = catalogue::stored_types_for(types);
    loop {
        let events = eventlog::feed::events_after(
            scope.pool(),
            scope.keys(),
            scope.tenant(),
            after,
            &stored,
            limit,
        )
        .await?;
        let next_after = events.last().map_or(after, |e| e.global_position);
        let mut items = Vec::new();
        for event in &events {
            let Some(message) = catalogue::message_of(event)? else {
                continue;
            };
            if types.is_some_and(|t| !t.iter().any(|t| t == message.event_type)) {
                continue;
            }
            items.push(FeedItem {
                id: catalogue::message_id(event.global_position),
                event_type: message.event_type.to_string(),
                timestamp: event
                    .recorded_at
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
                position: event.global_position,
                data: message.data,
            });
        }
        if !events.is_empty() || Instant::now() >= deadline {
            return Ok(Feed { items, next_after });
        }
        tokio::time::sleep(LONG_POLL_EVERY.min(deadline - Instant::now())).await;
    }
}
