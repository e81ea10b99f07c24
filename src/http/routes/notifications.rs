//! The firm's e-mail log for staff (failed e-mails at a glance) and sending a failed one
//! again.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{cursor, one_of, page_size};
use crate::http::auth::{Acting, Reader};
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{checked, Checks, PathId};
use crate::http::schema::MAX_PAGE;
use crate::reads::notifications::{self, Notification, KINDS, STATUSES};

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationsQuery {
    /// pending, sent or failed; absent: all.
    #[param(schema_with = crate::http::schema::notification_status)]
    pub status: Option<String>,
    /// invitation, activation or password_reset; absent: all.
    #[param(schema_with = crate::http::schema::notification_kind)]
    pub kind: Option<String>,
    /// 1–200, default 50 (newest first).
    #[param(schema_with = crate::http::schema::page_size)]
    pub limit: Option<String>,
    /// `next_cursor` of the page before.
    #[param(schema_with = crate::http::schema::cursor)]
    pub cursor: Option<String>,
}

super::list_page!(NotificationPage of Notification);

/// The firm's e-mail log by status and kind
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", operation_id = "list_firm_notifications", params(NotificationsQuery),
    responses((status = 200, body = NotificationPage), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list(
    Reader(staff): Reader,
    Query(q): Query<NotificationsQuery>,
) -> AppResult<Json<NotificationPage>> {
    let mut v = Checks::default();
    let status = v.optional("status", q.status.as_deref(), one_of(STATUSES));
    let kind = v.optional("kind", q.kind.as_deref(), one_of(KINDS));
    let limit = v.field("limit", page_size(q.limit.as_deref(), 50, MAX_PAGE));
    let before = v.optional("cursor", q.cursor.as_deref(), |c| {
        cursor(c).map(|(_, id)| id)
    });
    v.finish()?;
    let limit = checked(limit);
    let items = notifications::of_firm(
        &staff.scope,
        checked(status).as_deref(),
        checked(kind).as_deref(),
        checked(before),
        limit,
    )
    .await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|n| crate::reads::encode_cursor("", n.id)))
        .flatten();
    Ok(Json(NotificationPage { items, next_cursor }))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct RetryAccepted {
    pub id: uuid::Uuid,
    /// `pending`: the mailer sends it again now.
    pub status: std::borrow::Cow<'static, str>,
}

/// Send a failed e-mail again
#[utoipa::path(post, path = "/api/v1/notifications/{id}/retry", tag = "notifications",
    params(("id" = Uuid, Path)),
    responses((status = 202, body = RetryAccepted),
        (status = 404, body = Problem),
        (status = 409, description = "notification_not_failed", body = Problem)),
    security(("staff_token" = [])))]
pub async fn retry(
    Acting(staff): Acting,
    PathId(id): PathId,
) -> AppResult<(StatusCode, Json<RetryAccepted>)> {
    crate::services::notifications::retry(&staff.scope, id).await?;
    tracing::info!(notification = %id, actor = ?staff.actor, "failed e-mail sent again on request");
    Ok((
        StatusCode::ACCEPTED,
        Json(RetryAccepted {
            id,
            status: "pending".into(),
        }),
    ))
}
