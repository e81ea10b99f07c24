//! The integration event feed: the webhook catalogue's messages, pulled in log order
//! (`after` a position), long-polling up to 30 s when nothing newer exists.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::page_size;
use crate::http::auth::FeedReader;
use crate::http::error::{AppResult, Problem};
use crate::http::extract::{checked, Checks};
use crate::http::Edge;
use crate::reads::webhooks::{self as reads, Feed};

/// The longest a feed request waits for a message.
const MAX_WAIT_S: u64 = 30;

#[derive(Debug, Deserialize, IntoParams)]
pub struct FeedQuery {
    /// A position: messages of events after it (`next_after` of the page before; 0 or
    /// absent: from the start of the firm's log).
    #[param(schema_with = crate::http::schema::position)]
    pub after: Option<String>,
    /// Comma-separated catalogue types (docs/events.md), or `*`; absent: all.
    #[param(schema_with = crate::http::schema::event_type_list)]
    pub types: Option<String>,
    /// 1–1000, default 100.
    #[param(schema_with = crate::http::schema::long_page_size)]
    pub limit: Option<String>,
    /// 0–30: how long to wait when nothing newer exists (at most the server's
    /// `PORTAL_FEED_MAX_WAIT_S`); default 0.
    #[param(schema_with = crate::http::schema::wait_seconds)]
    pub wait_s: Option<String>,
}

fn event_types(raw: &str) -> Result<Vec<String>, String> {
    let types: Vec<String> = raw.split(',').map(str::to_string).collect();
    aggregates::webhook::EventTypes::parse(&types).map(|t| t.as_slice().to_vec())
}

/// The integration event feed (webhook messages, pulled)
#[utoipa::path(get, path = "/api/v1/events", tag = "webhooks", operation_id = "read_event_feed",
    params(FeedQuery),
    responses((status = 200, body = Feed), (status = 422, body = Problem), (status = 403, body = Problem)),
    security(("staff_token" = [])))]
pub async fn read_event_feed(
    State(app): State<Edge>,
    FeedReader(staff): FeedReader,
    Query(q): Query<FeedQuery>,
) -> AppResult<Json<Feed>> {
    let mut v = Checks::default();
    let after = v.field("after", super::parse_position(q.after.as_deref()));
    let types = v.optional("types", q.types.as_deref(), event_types);
    let limit = v.field("limit", page_size(q.limit.as_deref(), 100, 1000));
    let wait = v.field(
        "wait_s",
        match q.wait_s.as_deref().map(str::parse::<u64>) {
            None => Ok(0),
            Some(Ok(s)) if s <= MAX_WAIT_S => Ok(s),
            _ => Err(format!(
                "must be a whole number of seconds from 0 to {MAX_WAIT_S}"
            )),
        },
    );
    v.finish()?;
    let types = checked(types).filter(|t| !t.iter().any(|t| t == "*"));
    let feed = reads::feed(
        &staff.scope,
        checked(after).unwrap_or(0),
        types.as_deref(),
        checked(limit),
        Duration::from_secs(checked(wait)).min(app.feed_max_wait),
    )
    .await?;
    Ok(Json(feed))
}
