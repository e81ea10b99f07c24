//! Queries on the read-model tables (built by the `projections` crate), one file per
//! resource, each taking the caller's `TenantScope`; and waiting for the read models to
//! include a given position (read-your-writes).

pub mod catalogue;
pub mod clients;
pub mod contract_detail;
pub mod contracts;
pub mod error;
pub mod invitations;
pub mod items;
pub mod logins;
pub mod notifications;
pub mod portal_users;
pub mod staff;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sqlx::PgPool;
use uuid::Uuid;

use error::{ReadError, ReadResult};

/// The read models every staff read route depends on.
pub const READ_MODELS: &[&str] = &["clients", "items", "contracts", "history"];
/// The longest a read waits for `min_position`.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Waits until the read models include `position` (bounded), or answers 504.
pub async fn wait_for(pool: &PgPool, position: Option<i64>) -> ReadResult<()> {
    // Position 0 is "before the first event": every read model has it.
    let Some(position) = position.filter(|p| *p > 0) else {
        return Ok(());
    };
    let started = Instant::now();
    loop {
        if projections::engine::includes(pool, READ_MODELS, position).await? {
            return Ok(());
        }
        if started.elapsed() >= MAX_WAIT {
            return Err(ReadError::ProjectionLag { position });
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

/// Where a page sorted by name continues: the last row's sort key, opaque to callers.
pub fn encode_cursor(name: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&(name, id)).unwrap_or_default())
}

/// The sort key a cursor from `encode_cursor` holds; `None` for anything else.
pub fn decode_cursor(raw: &str) -> Option<(String, Uuid)> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).ok()?).ok()
}

/// A search text as an `ILIKE` pattern matching it anywhere, its wildcards taken literally.
pub fn contains_pattern(search: &str) -> String {
    let escaped = search
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}
