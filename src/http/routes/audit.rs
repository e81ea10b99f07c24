//! Audit routes (auditor and admin): the log in order, a client's history, a stream as of a
//! moment, the NDJSON export and chain verification.

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use aggregates::ids::{ClientId, PortalUserId};

use crate::audit::replay::{self, AsOf, ReplayedState};
use crate::audit::verify::{self, Verification};
use crate::audit::{self, AuditEvent, EventFilter};
use crate::http::auth::Auditor;
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{canonical_uuid, checked, Checks, PathId};
use crate::http::schema::{MAX_LONG_PAGE, MAX_SHORT_TEXT};
use crate::reads;

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Position of the last event already read (0 or absent: from the start).
    #[param(schema_with = crate::http::schema::position)]
    pub after: Option<String>,
    /// 1–1000; default 100.
    #[param(schema_with = crate::http::schema::long_page_size)]
    pub limit: Option<String>,
    /// Only events by this staff member, portal user or token (id).
    #[param(schema_with = crate::http::schema::uuid_text)]
    pub actor: Option<String>,
    /// Only events of this stream.
    #[param(schema_with = crate::http::schema::short_text)]
    pub stream_id: Option<String>,
    /// Only events of this type (`LoginDisabled`, …).
    #[param(schema_with = crate::http::schema::short_text)]
    pub event_type: Option<String>,
    /// Only events recorded at or after this time (RFC 3339).
    #[param(schema_with = crate::http::schema::date_time)]
    pub from: Option<String>,
    /// Only events recorded before this time (RFC 3339).
    #[param(schema_with = crate::http::schema::date_time)]
    pub to: Option<String>,
}

impl EventsQuery {
    fn filter(&self) -> AppResult<EventFilter> {
        let mut v = Checks::default();
        let time = |raw: &str| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| "must be an RFC 3339 time".to_string())
        };
        let bounded = |raw: &str| {
            (raw.chars().count() <= MAX_SHORT_TEXT && !raw.contains('\0'))
                .then(|| raw.to_string())
                .ok_or_else(|| "must be at most 200 characters".to_string())
        };
        let actor = v.optional("actor", self.actor.as_deref(), |raw| {
            canonical_uuid(raw).ok_or_else(|| "must be an id (UUID)".to_string())
        });
        let stream_id = v.optional("stream_id", self.stream_id.as_deref(), bounded);
        let event_type = v.optional("event_type", self.event_type.as_deref(), bounded);
        let from = v.optional("from", self.from.as_deref(), time);
        let to = v.optional("to", self.to.as_deref(), time);
        v.finish()?;
        Ok(EventFilter {
            actor: checked(actor),
            stream_id: checked(stream_id),
            event_type: checked(event_type),
            from: checked(from),
            to: checked(to),
        })
    }
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `after` for the next page; `null` when this page was the last.
    pub next_after: Option<i64>,
}

fn number(raw: Option<&str>, field: &str, default: i64, min: i64, max: i64) -> AppResult<i64> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(AppError::invalid(
                field,
                format!("must be a whole number from {min} to {max}"),
            )),
        },
    }
}

/// Page through the firm's events in log order, with who did what
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(EventsQuery),
    responses((status = 200, body = EventsPage), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn events(
    Auditor(staff): Auditor,
    Query(q): Query<EventsQuery>,
) -> AppResult<Json<EventsPage>> {
    let after = number(q.after.as_deref(), "after", 0, 0, i64::MAX)?;
    let limit = number(q.limit.as_deref(), "limit", 100, 1, MAX_LONG_PAGE)?;
    let filter = q.filter()?;
    let events = audit::events_page(&staff.scope, after, limit, &filter).await?;
    let next_after = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.position))
        .flatten();
    Ok(Json(EventsPage { events, next_after }))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ClientHistory {
    pub client_id: Uuid,
    pub events: Vec<AuditEvent>,
}

/// Every event of a client, its logins, items and contracts
#[utoipa::path(get, path = "/api/v1/audit/clients/{id}/history", tag = "audit",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ClientHistory), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn client_history(
    Auditor(staff): Auditor,
    PathId(client_id): PathId,
) -> AppResult<Json<ClientHistory>> {
    let events = audit::client_history(&staff.scope, ClientId::from_uuid(client_id))
        .await?
        .ok_or(AppError::NotFound("client"))?;
    Ok(Json(ClientHistory { client_id, events }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AsOfQuery {
    /// A global position, or an RFC 3339 time; absent: now.
    #[param(schema_with = crate::http::schema::position_or_time)]
    pub as_of: Option<String>,
}

/// A stream's state as of a position or a moment
#[utoipa::path(get, path = "/api/v1/audit/streams/{stream_type}/{stream_id}", tag = "audit",
    params(("stream_type" = String, Path, description = "client, portal_user, item, contract or tenant"), ("stream_id" = Uuid, Path), AsOfQuery),
    responses((status = 200, body = ReplayedState), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn stream_as_of(
    Auditor(staff): Auditor,
    Path((stream_type, stream_id)): Path<(String, String)>,
    Query(q): Query<AsOfQuery>,
) -> AppResult<Json<ReplayedState>> {
    let stream_id = canonical_uuid(&stream_id).ok_or(AppError::NotFound("stream"))?;
    let as_of = AsOf::parse(q.as_of.as_deref()).map_err(|m| AppError::invalid("as_of", m))?;
    let state = replay::replay(&staff.scope, &stream_type, stream_id, as_of)
        .await?
        .ok_or(AppError::NotFound("stream"))?;
    Ok(Json(state))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// Position of the last event already exported.
    #[param(schema_with = crate::http::schema::position)]
    pub after: Option<String>,
}

/// Export the firm's log as NDJSON, resuming after a position
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportQuery),
    responses((status = 200, content_type = "application/x-ndjson", body = crate::http::schema::NdjsonBody, description = "one event (as in /audit/events) per line, in commit order")),
    security(("staff_token" = [])))]
pub async fn export(Auditor(staff): Auditor, Query(q): Query<ExportQuery>) -> AppResult<Response> {
    let after = number(q.after.as_deref(), "after", 0, 0, i64::MAX)?;
    let lines = audit::export(staff.scope.clone(), after).map(|line| {
        line.map_err(|e| {
            // Headers are gone by now: end the stream; the client sees a truncated body.
            tracing::error!(error = %e, "audit export failed mid-stream");
            std::io::Error::other("export failed")
        })
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}

/// Verify the firm's hash chain
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = Verification)),
    security(("staff_token" = [])))]
pub async fn verify_chain(Auditor(staff): Auditor) -> AppResult<Json<Verification>> {
    Ok(Json(verify::verify_tenant(&staff.scope).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LoginsQuery {
    /// Only attempts after this id (0 for the first page).
    #[param(schema_with = crate::http::schema::position)]
    pub after: Option<String>,
    /// At most this many (1–1000, default 100).
    #[param(schema_with = crate::http::schema::long_page_size)]
    pub limit: Option<String>,
    /// Only attempts on this portal user's login.
    #[param(schema_with = crate::http::schema::uuid_text)]
    pub portal_user_id: Option<String>,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct LoginsPage {
    pub logins: Vec<reads::logins::LoginRecord>,
    pub next_after: Option<i64>,
}

/// Portal login attempts, kept beside the event log rather than in account streams.
#[utoipa::path(get, path = "/api/v1/audit/logins", tag = "audit", params(LoginsQuery),
    responses((status = 200, body = LoginsPage), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn logins(
    Auditor(staff): Auditor,
    Query(q): Query<LoginsQuery>,
) -> AppResult<Json<LoginsPage>> {
    let after = number(q.after.as_deref(), "after", 0, 0, i64::MAX)?;
    let limit = number(q.limit.as_deref(), "limit", 100, 1, MAX_LONG_PAGE)?;
    let user = q
        .portal_user_id
        .as_deref()
        .map(|s| {
            canonical_uuid(s).ok_or_else(|| AppError::invalid("portal_user_id", "must be a UUID"))
        })
        .transpose()?;
    let logins = reads::logins::page(
        &staff.scope,
        user.map(PortalUserId::from_uuid),
        after,
        limit,
    )
    .await?;
    let next_after = (logins.len() as i64 == limit)
        .then(|| logins.last().map(|l| l.id))
        .flatten();
    Ok(Json(LoginsPage { logins, next_after }))
}
