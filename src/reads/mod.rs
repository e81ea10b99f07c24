//! Queries on the read-model tables (built by the `projections` crate), one file per
//! resource, each taking the caller's `TenantScope`; and waiting for the read models to
//! include a given position (read-your-writes).

pub mod catalogue;
pub mod clients;
pub mod contract_detail;
pub mod contracts;
pub mod invitations;
pub mod items;
pub mod logins;
pub mod notifications;
pub mod personal_data;
pub mod portal_users;
pub mod staff;
pub mod webhooks;

use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::errors::read::{ReadError, ReadResult};

/// The read models every staff read route depends on.
pub const READ_MODELS: &[&str] = &["clients", "items", "contracts", "history"];
/// The longest a read waits for `min_position`.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Waits until the read models (read from `pool`) include `position` (bounded), or
/// answers 504. The log itself is asked of the `primary` (a replica may be behind): a
/// position beyond its newest event is refused at once rather than waited for, and a
/// position no event holds (a rolled-back transaction drew it) stands for the event
/// before it.
pub async fn wait_for(pool: &PgPool, primary: &PgPool, position: Option<i64>) -> ReadResult<()> {
    // Position 0 is "before the first event": every read model has it.
    let Some(asked) = position.filter(|p| *p > 0) else {
        return Ok(());
    };
    let started = Instant::now();
    let mut position = asked;
    let mut resolved = false;
    loop {
        if projections::engine::includes(pool, READ_MODELS, position).await? {
            return Ok(());
        }
        if !resolved {
            resolved = true;
            let (head, at_or_before) =
                eventlog::queries::head_and_at_or_before(primary, asked).await?;
            if asked > head {
                return Err(ReadError::BeyondLog {
                    position: asked,
                    head,
                });
            }
            match at_or_before {
                Some(p) if p != position => {
                    position = p;
                    continue;
                }
                Some(_) => {}
                None => return Ok(()),
            }
        }
        if started.elapsed() >= MAX_WAIT {
            return Err(ReadError::ProjectionLag { position });
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

/// Where a page sorted by name continues: the last row's sort key (the hex of the name, a
/// dot, the id in lower case). Callers treat it as opaque; its published pattern is
/// `http::schema::CURSOR_PATTERN`.
/// A page of `limit` rows out of `rows` (fetched with one more to tell whether another page
/// follows), each read by `read`, and the cursor of the next page: its last row's
/// `sort_name` and `id_column`.
pub fn page_of<T>(
    rows: &[sqlx::postgres::PgRow],
    limit: i64,
    id_column: &str,
    read: impl Fn(&sqlx::postgres::PgRow) -> Result<T, sqlx::Error>,
) -> Result<(Vec<T>, Option<String>), sqlx::Error> {
    use sqlx::Row;
    let more = rows.len() as i64 > limit;
    let page = &rows[..rows.len().min(limit as usize)];
    let next = match (more, page.last()) {
        (true, Some(last)) => Some(encode_cursor(
            &last.try_get::<String, _>("sort_name")?,
            last.try_get(id_column)?,
        )),
        _ => None,
    };
    Ok((page.iter().map(read).collect::<Result<_, _>>()?, next))
}

pub fn encode_cursor(name: &str, id: Uuid) -> String {
    format!("{}.{}", hex::encode(name), id.hyphenated())
}

/// The sort key a cursor holds; `None` for anything not of the cursor's pattern. Any
/// string of that pattern is a place in the sort order, so it is accepted even if this
/// API did not hand it out (a name that is not UTF-8 or holds a NUL is read leniently).
pub fn decode_cursor(raw: &str) -> Option<(String, Uuid)> {
    let (name, id) = raw.rsplit_once('.')?;
    let lower_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lower_hex(name) || !lower_hex(&id.replace('-', "")) {
        return None;
    }
    let id = (id.len() == 36)
        .then(|| Uuid::try_parse(id).ok())
        .flatten()?;
    let name = String::from_utf8_lossy(&hex::decode(name).ok()?).replace('\0', "\u{fffd}");
    Some((name, id))
}

/// A search text as an `ILIKE` pattern matching it anywhere, its wildcards taken literally.
pub fn contains_pattern(search: &str) -> String {
    let escaped = search
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_only_their_pattern_is_read() {
        let id = Uuid::now_v7();
        let cursor = encode_cursor("Zoë & Co", id);
        assert_eq!(decode_cursor(&cursor), Some(("Zoë & Co".to_string(), id)));
        assert_eq!(decode_cursor(&format!(".{id}")), Some((String::new(), id)));
        let upper = id.hyphenated().to_string().to_uppercase();
        for bad in [
            String::new(),
            id.to_string(),
            format!("abc.{id}"),
            format!("AB.{id}"),
            format!("ab.{upper}"),
            format!("ab.{}", id.simple()),
            format!("ab.{{{id}}}"),
        ] {
            assert_eq!(decode_cursor(&bad), None, "{bad}");
        }
        // Any cursor of the pattern is a place in the order, even one holding a NUL.
        assert_eq!(
            decode_cursor(&format!("00ff.{id}")).map(|(name, _)| name),
            Some("\u{fffd}\u{fffd}".to_string())
        );
    }
}
