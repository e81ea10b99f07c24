//! Webhook endpoints (admin): create (the secret shown once), list, read, change, delete,
//! rotate the secret, send a test message; each endpoint's delivery log and redelivery.

use aggregates::values::Label;
use aggregates::webhook::{EventTypes, WebhookUrl};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{cursor, one_of, page_size, PositionOnly};
use crate::http::auth::{Admin, AdminReader};
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{checked, Checks, JsonBody, PathId, PathIds};
use crate::http::schema::MAX_PAGE;
use crate::http::Edge;
use crate::reads::webhooks::{self as reads, DeliveryView, WebhookView};
use crate::services::webhook_deliveries;
use crate::services::webhooks::{self as service, Change};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    #[schema(schema_with = crate::http::schema::webhook_url)]
    pub url: String,
    #[schema(schema_with = crate::http::schema::webhook_event_types)]
    pub event_types: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::label_or_null)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    pub id: Uuid,
    /// `whsec_` and the base64 key, shown this once; the server keeps it sealed.
    pub secret: String,
    pub position: i64,
}

fn check_url(v: &mut Checks, raw: Option<&str>) -> Option<Option<WebhookUrl>> {
    v.optional("url", raw, |u| WebhookUrl::parse(u).map_err(str::to_string))
}

fn check_types(v: &mut Checks, raw: Option<&[String]>) -> Option<Option<EventTypes>> {
    match raw {
        None => Some(None),
        Some(raw) => v.field("event_types", EventTypes::parse(raw)).map(Some),
    }
}

fn check_description(v: &mut Checks, raw: Option<&str>) -> Option<Option<Label>> {
    v.optional("description", raw, Label::parse)
}

/// Add a webhook endpoint (its secret shown once)
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    request_body = NewWebhookBody,
    responses((status = 201, body = WebhookCreated),
        (status = 422, description = "invalid fields, or `webhook_url_not_allowed`", body = Problem),
        (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn create_webhook(
    State(app): State<Edge>,
    Admin(meta): Admin,
    JsonBody(body): JsonBody<NewWebhookBody>,
) -> AppResult<(StatusCode, Json<WebhookCreated>)> {
    let mut v = Checks::default();
    let url = v.field("url", WebhookUrl::parse(&body.url).map_err(str::to_string));
    let types = v.field("event_types", EventTypes::parse(&body.event_types));
    let description = check_description(&mut v, body.description.as_deref());
    v.finish()?;
    let (url, types, description) = (checked(url), checked(types), checked(description));
    let done = service::create(&app, app.outbound, &meta, url, types, description).await?;
    let created = WebhookCreated {
        id: done.value.id,
        secret: done.value.secret,
        position: done.position,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Webhooks {
    pub items: Vec<WebhookView>,
}

/// List the firm's webhook endpoints
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    responses((status = 200, body = Webhooks), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_webhooks(AdminReader(staff): AdminReader) -> AppResult<Json<Webhooks>> {
    Ok(Json(Webhooks {
        items: reads::webhooks(&staff.scope).await?,
    }))
}

/// A webhook endpoint (never its secret)
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "get_webhook",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookView), (status = 404, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn get_webhook(
    AdminReader(staff): AdminReader,
    PathId(id): PathId,
) -> AppResult<Json<WebhookView>> {
    reads::webhook(&staff.scope, id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("webhook"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeWebhookBody {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::webhook_url)]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::webhook_event_types)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::label_or_null)]
    pub description: Option<String>,
    /// `false` stops deliveries (messages of events committed meanwhile are not owed to
    /// the endpoint; the feed has them); `true` resumes them.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Change, enable or disable a webhook endpoint
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "change_webhook",
    params(("id" = Uuid, Path)), request_body = ChangeWebhookBody,
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem),
        (status = 422, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn change_webhook(
    State(app): State<Edge>,
    Admin(meta): Admin,
    PathId(id): PathId,
    JsonBody(body): JsonBody<ChangeWebhookBody>,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let url = check_url(&mut v, body.url.as_deref());
    let types = check_types(&mut v, body.event_types.as_deref());
    let description = check_description(&mut v, body.description.as_deref());
    v.finish()?;
    let change = Change {
        url: checked(url),
        event_types: checked(types),
        description: checked(description),
        enabled: body.enabled,
    };
    Ok(Json(
        service::change(&app, app.outbound, &meta, id, change)
            .await?
            .into(),
    ))
}

/// Delete a webhook endpoint and its delivery log
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "delete_webhook",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn delete_webhook(
    State(app): State<Edge>,
    Admin(meta): Admin,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(service::delete(&app, &meta, id).await?.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretRotated {
    /// The new secret, shown this once; the previous one signs beside it for 24 hours.
    pub secret: String,
    pub position: i64,
}

/// Rotate a webhook's signing secret (24 h overlap)
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    operation_id = "rotate_webhook_secret", params(("id" = Uuid, Path)),
    responses((status = 200, body = SecretRotated), (status = 404, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn rotate_webhook_secret(
    State(app): State<Edge>,
    Admin(meta): Admin,
    PathId(id): PathId,
) -> AppResult<Json<SecretRotated>> {
    let done = service::rotate_secret(&app, &meta, id).await?;
    Ok(Json(SecretRotated {
        secret: done.value,
        position: done.position,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryQueued {
    /// The delivery's id in the endpoint's delivery log.
    pub id: Uuid,
    /// `pending`: the dispatcher sends it now.
    pub status: String,
}

/// Send a `webhook.test` message to an endpoint
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks",
    operation_id = "send_webhook_test", params(("id" = Uuid, Path)),
    responses((status = 202, body = DeliveryQueued), (status = 404, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn send_webhook_test(
    State(app): State<Edge>,
    AdminReader(staff): AdminReader,
    PathId(id): PathId,
) -> AppResult<(StatusCode, Json<DeliveryQueued>)> {
    let id = webhook_deliveries::send_test(&staff.scope, id, app.app.clock.now()).await?;
    let queued = DeliveryQueued {
        id,
        status: "pending".into(),
    };
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveriesQuery {
    /// pending, delivered or failed; absent: all.
    #[param(schema_with = crate::http::schema::delivery_status)]
    pub status: Option<String>,
    /// 1–200, default 50 (newest first).
    #[param(schema_with = crate::http::schema::page_size)]
    pub limit: Option<String>,
    /// `next_cursor` of the page before.
    #[param(schema_with = crate::http::schema::cursor)]
    pub cursor: Option<String>,
}

super::list_page!(DeliveryPage of DeliveryView);

const STATUSES: &[&str] = &["pending", "delivered", "failed"];

/// A webhook endpoint's delivery log, newest first
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    operation_id = "list_webhook_deliveries", params(("id" = Uuid, Path), DeliveriesQuery),
    responses((status = 200, body = DeliveryPage), (status = 404, body = Problem),
        (status = 422, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_webhook_deliveries(
    AdminReader(staff): AdminReader,
    PathId(id): PathId,
    Query(q): Query<DeliveriesQuery>,
) -> AppResult<Json<DeliveryPage>> {
    let mut v = Checks::default();
    let status = v.optional("status", q.status.as_deref(), one_of(STATUSES));
    let limit = v.field("limit", page_size(q.limit.as_deref(), 50, MAX_PAGE));
    let before = v.optional("cursor", q.cursor.as_deref(), |c| {
        cursor(c).map(|(_, id)| id)
    });
    v.finish()?;
    if reads::webhook(&staff.scope, id).await?.is_none() {
        return Err(AppError::NotFound("webhook"));
    }
    let limit = checked(limit);
    let items = reads::deliveries(
        &staff.scope,
        id,
        checked(status).as_deref(),
        checked(before),
        limit,
    )
    .await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|d| crate::reads::encode_cursor("", d.id)))
        .flatten();
    Ok(Json(DeliveryPage { items, next_cursor }))
}

/// Send a webhook message again now, with a fresh retry schedule
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    operation_id = "retry_webhook_delivery",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, body = DeliveryQueued), (status = 404, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn retry_webhook_delivery(
    State(app): State<Edge>,
    AdminReader(staff): AdminReader,
    PathIds(id, delivery_id): PathIds,
) -> AppResult<(StatusCode, Json<DeliveryQueued>)> {
    webhook_deliveries::redeliver(&staff.scope, id, delivery_id, app.app.clock.now()).await?;
    tracing::info!(webhook = %id, delivery = %delivery_id, actor = ?staff.actor, "webhook message sent again on request");
    let queued = DeliveryQueued {
        id: delivery_id,
        status: "pending".into(),
    };
    Ok((StatusCode::ACCEPTED, Json(queued)))
}
