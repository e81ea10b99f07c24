//! Recomputes a tenant's hash chain from the stored columns, independently of the database
//! function that wrote it, and reports the first event where it breaks.

use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::AppResult;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Verification {
    pub ok: bool,
    /// Events checked.
    pub checked: i64,
    /// Position of the first event whose chain link or content does not match.
    pub first_broken_position: Option<i64>,
    /// What is wrong there, for people.
    pub problem: Option<String>,
    /// Hash of the newest event: keep it, and a later verify proves nothing before it changed.
    pub head_hash: Option<String>,
}

const GENESIS: [u8; 32] = [0; 32];

pub async fn verify_tenant(pool: &PgPool, tenant_id: Uuid) -> AppResult<Verification> {
    let mut rows = sqlx::query(
        "SELECT chain_seq, global_position, aggregate_type, aggregate_id, sequence, event_type, event_version,
                (extract(epoch FROM recorded_at) * 1000000)::bigint AS recorded_us,
                payload::text AS payload, metadata::text AS metadata, prev_hash, event_hash
           FROM events WHERE tenant_id = $1 ORDER BY chain_seq",
    )
    .bind(tenant_id)
    .fetch(pool);

    let mut expected_seq = 1i64;
    let mut previous = GENESIS.to_vec();
    let mut checked = 0i64;
    let mut text = Vec::with_capacity(1024);
    let broken = |position: i64, checked: i64, problem: String| Verification {
        ok: false,
        checked,
        first_broken_position: Some(position),
        problem: Some(problem),
        head_hash: None,
    };
    while let Some(row) = rows.try_next().await? {
        let seq: i64 = row.try_get("chain_seq")?;
        let position: i64 = row.try_get("global_position")?;
        let prev_hash: &[u8] = row.try_get("prev_hash")?;
        let event_hash: &[u8] = row.try_get("event_hash")?;
        checked += 1;
        if seq != expected_seq {
            return Ok(broken(
                position,
                checked,
                format!(
                    "event {expected_seq} of the chain is missing or out of order (found {seq})"
                ),
            ));
        }
        if prev_hash != previous.as_slice() {
            return Ok(broken(
                position,
                checked,
                "does not link to the event before it".into(),
            ));
        }
        text.clear();
        for (i, part) in [
            seq.to_string().as_str(),
            position.to_string().as_str(),
            row.try_get::<&str, _>("aggregate_type")?,
            row.try_get::<&str, _>("aggregate_id")?,
            row.try_get::<i64, _>("sequence")?.to_string().as_str(),
            row.try_get::<&str, _>("event_type")?,
            row.try_get::<&str, _>("event_version")?,
            row.try_get::<i64, _>("recorded_us")?.to_string().as_str(),
            row.try_get::<&str, _>("payload")?,
            row.try_get::<&str, _>("metadata")?,
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                text.push(b'\n');
            }
            text.extend_from_slice(part.as_bytes());
        }
        let mut hasher = Sha256::new();
        hasher.update(prev_hash);
        hasher.update(&text);
        if hasher.finalize().as_slice() != event_hash {
            return Ok(broken(
                position,
                checked,
                "content does not match its hash (altered)".into(),
            ));
        }
        previous = event_hash.to_vec();
        expected_seq += 1;
    }
    drop(rows);

    // A deleted tail leaves no gap to find: the chain head remembers how long the chain was.
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT last_seq, last_hash FROM audit_chain_heads WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?;
    let (head_seq, head_hash) = head.unwrap_or((0, GENESIS.to_vec()));
    if head_seq != checked || head_hash != previous {
        return Ok(Verification {
            ok: false,
            checked,
            first_broken_position: None,
            problem: Some(format!("the chain head records {head_seq} events but {checked} are present (events removed at the end)")),
            head_hash: None,
        });
    }
    Ok(Verification {
        ok: true,
        checked,
        first_broken_position: None,
        problem: None,
        head_hash: (checked > 0).then(|| hex::encode(&previous)),
    })
}

pub async fn tenants(pool: &PgPool) -> AppResult<Vec<(Uuid, String)>> {
    Ok(
        sqlx::query_as("SELECT id, slug FROM tenants ORDER BY created_at")
            .fetch_all(pool)
            .await?,
    )
}
