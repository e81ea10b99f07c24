//! Route handlers, one module per resource. Handlers only translate: HTTP in, validated
//! domain values to an application service, JSON out.

pub mod audit;
pub mod catalogue;
pub mod checkpoints;
pub mod client_items;
pub mod clients;
pub mod contracts;
pub mod events;
pub mod invitations;
pub mod items;
pub mod notifications;
pub mod ops;
pub mod portal;
pub mod portal_content;
pub mod portal_mfa;
pub mod portal_users;
pub mod settings;
pub mod staff;
pub mod tokens;
pub mod webhooks;

use crate::http::error::{AppError, AppResult};
use crate::http::schema::MAX_PAGE;
use crate::http::Edge;
use crate::reads;

use serde::Serialize;
use utoipa::ToSchema;

/// The answer of a command that creates nothing addressable.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct PositionOnly {
    /// Global position of the command's last event (read models that reached it show it).
    pub position: i64,
}

impl From<crate::store::Committed<()>> for PositionOnly {
    fn from(c: crate::store::Committed<()>) -> Self {
        Self {
            position: c.position,
        }
    }
}

/// `{"id", "position"}` for commands that create something.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Created {
    pub id: uuid::Uuid,
    pub position: i64,
}

impl From<crate::store::Committed<uuid::Uuid>> for Created {
    fn from(done: crate::store::Committed<uuid::Uuid>) -> Self {
        Self {
            id: done.value,
            position: done.position,
        }
    }
}

/// `min_position`: absent, or a position ≥ 0.
pub fn parse_position(raw: Option<&str>) -> Result<Option<i64>, String> {
    match raw.map(str::parse::<i64>) {
        None => Ok(None),
        Some(Ok(n)) if n >= 0 => Ok(Some(n)),
        _ => Err("must be a position (a whole number ≥ 0)".into()),
    }
}

/// `limit`: absent, `default`; else a whole number from 1 to `max`.
pub fn page_size(raw: Option<&str>, default: i64, max: i64) -> Result<i64, String> {
    match raw.map(str::parse::<i64>) {
        None => Ok(default),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {max}")),
    }
}

/// A `true` or `false` query parameter.
pub fn true_or_false(raw: &str) -> Result<bool, String> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".to_string()),
    }
}

/// A `cursor` query parameter: the `next_cursor` of the page before.
pub fn cursor(raw: &str) -> Result<(String, uuid::Uuid), String> {
    reads::decode_cursor(raw).ok_or_else(|| "is not a cursor this API gave out".to_string())
}

/// Declares what a staff list answers: one page of `items`, and the `next_cursor` that asks
/// for the next page (`null` on the last).
macro_rules! list_page {
    ($name:ident of $item:ty) => {
        #[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use list_page;

/// The page a staff list answers, the same on every list: its size and where it starts.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// 1–200, default 50.
    #[param(schema_with = crate::http::schema::page_size)]
    pub limit: Option<String>,
    /// `next_cursor` of the page before.
    #[param(schema_with = crate::http::schema::cursor)]
    pub cursor: Option<String>,
}

/// A page and a wait, checked (into `v`, with the list's other parameters).
pub struct CheckedPage {
    pub min_position: Option<Option<i64>>,
    pub limit: Option<i64>,
    pub after: Option<Option<(String, uuid::Uuid)>>,
}

impl Page {
    pub fn check(&self, wait: &MinPosition, v: &mut crate::http::extract::Checks) -> CheckedPage {
        let raw_position = wait.min_position.as_deref();
        CheckedPage {
            min_position: v.field("min_position", parse_position(raw_position)),
            limit: v.field("limit", page_size(self.limit.as_deref(), 50, MAX_PAGE)),
            after: v.optional("cursor", self.cursor.as_deref(), cursor),
        }
    }
}

/// A `q` search parameter: at most 200 characters, trimmed; blank searches for nothing.
pub fn search_text(raw: &str) -> Result<Option<String>, String> {
    (raw.chars().count() <= 200)
        .then(|| Some(raw.trim().to_string()).filter(|s| !s.is_empty()))
        .ok_or_else(|| "must be at most 200 characters".to_string())
}

/// A value from a fixed list.
pub fn one_of(list: &'static [&'static str]) -> impl Fn(&str) -> Result<String, String> {
    move |s| {
        list.contains(&s)
            .then(|| s.to_string())
            .ok_or_else(|| format!("must be one of {}", list.join(", ")))
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct MinPosition {
    /// Wait (≤ 5 s) until the read models include this position.
    #[param(schema_with = crate::http::schema::position)]
    pub min_position: Option<String>,
}

impl MinPosition {
    pub async fn wait(&self, app: &Edge) -> AppResult<()> {
        let position = parse_position(self.min_position.as_deref())
            .map_err(|m| AppError::invalid("min_position", m))?;
        wait_until(app, position).await
    }
}

/// Waits (≤ 5 s) until the read models include `position`, if one is asked for.
pub async fn wait_until(app: &Edge, position: Option<i64>) -> AppResult<()> {
    Ok(reads::wait_for(app.reads.pool(), app.reads.primary(), position).await?)
}
