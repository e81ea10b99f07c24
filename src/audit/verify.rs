//! Recomputes a tenant's hash chain from the events and their seals, and reports the first
//! link where it breaks; also how far the sealer has come.

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
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
    /// The log position the sealer has sealed through (in commit order).
    pub sealed_through: i64,
    /// This tenant's events committed but not sealed yet (not in `checked`).
    pub unsealed: i64,
    /// The login history's own chain.
    pub logins: Option<super::side_chain::ChainCheck>,
    /// The notification log's own chain.
    pub notifications: Option<super::side_chain::ChainCheck>,
}

use super::chain::{link_hash, GENESIS};
use super::seal::CHECKPOINT;
/// Chain links verified per query; ranges are verified concurrently and joined in order.
const RANGE: i64 = 100_000;

/// What one range of the chain looked like.
struct RangeReport {
    checked: i64,
    /// The first row's prev_hash, to join with the range before.
    first_prev: Option<(i64, Vec<u8>)>,
    last_hash: Option<Vec<u8>>,
    broken: Option<(i64, String)>,
}

/// Verifies the tenant's chain as sealed, after sealing what has committed.
pub async fn verify_tenant(scope: &TenantScope) -> ReadResult<Verification> {
    let (pool, tenant_id) = (scope.pool(), scope.id());
    super::seal::seal_tenant(pool, tenant_id, super::SEAL_WAIT).await?;
    let (head_seq, head_hash): (i64, Vec<u8>) =
        sqlx::query_as("SELECT last_seq, last_hash FROM audit_chain_heads WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?
            .unwrap_or((0, GENESIS.to_vec()));
    let present: i64 = sqlx::query_scalar(
        "SELECT COALESCE(max(chain_seq), 0) FROM audit_seals WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await?;
    let (sealed_through, unsealed): (i64, i64) =
        sqlx::query_as(eventlog::statements::SEALING_PROGRESS_SQL)
            .bind(tenant_id)
            .bind(CHECKPOINT)
            .fetch_one(pool)
            .await?;
    super::side_chain::seal_tenant(pool, tenant_id, super::SEAL_WAIT).await?;
    let logins = super::side_chain::verify(pool, super::side_chain::LOGINS, tenant_id).await?;
    let notifications =
        super::side_chain::verify(pool, super::side_chain::NOTIFICATIONS, tenant_id).await?;
    let mut verdict = match walk(pool, tenant_id, head_seq.max(present)).await? {
        Err(broken) => broken,
        // A deleted tail leaves no gap to find: the chain head remembers how long it was.
        Ok((checked, last)) if head_seq != checked || head_hash != last => Verification {
            first_broken_position: None,
            ..broken(0, checked, format!("the chain head records {head_seq} events but {checked} are present (events removed at the end)"))
        },
        Ok((checked, last)) => Verification {
            ok: true,
            checked,
            first_broken_position: None,
            problem: None,
            head_hash: (checked > 0).then(|| hex::encode(&last)),
            sealed_through: 0,
            unsealed: 0,
            logins: None,
            notifications: None,
        },
    };
    verdict.sealed_through = sealed_through;
    verdict.unsealed = unsealed;
    for (name, check) in [
        ("login history", &logins),
        ("notification log", &notifications),
    ] {
        if !check.ok {
            verdict.ok = false;
            verdict.problem.get_or_insert_with(|| {
                let problem = check.problem.as_deref().unwrap_or("broken");
                format!("the {name}'s chain: {problem}")
            });
        }
    }
    verdict.logins = Some(logins);
    verdict.notifications = Some(notifications);
    Ok(verdict)
}

/// Checks the chain's links in ranges, several at a time, up to `last`: how many events
/// it checked and the last one's hash, or where it first breaks.
async fn walk(
    pool: &PgPool,
    tenant_id: Uuid,
    last: i64,
) -> ReadResult<Result<(i64, Vec<u8>), Verification>> {
    // One more range than cores keeps every core busy while ranges wait on each other.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) + 1;
    let mut ranges = futures::stream::iter((0..((last + RANGE - 1) / RANGE).max(1)).map(|i| {
        let from = i * RANGE + 1;
        verify_range(pool, tenant_id, from, (from + RANGE - 1).min(last.max(1)))
    }))
    .buffered(workers);

    let mut checked = 0;
    let mut previous = GENESIS.to_vec();
    while let Some(range) = ranges.try_next().await? {
        if let Some((position, prev)) = &range.first_prev {
            if *prev != previous && range.broken.as_ref().is_none_or(|(p, _)| p != position) {
                let problem = "does not link to the event before it".into();
                return Ok(Err(broken(*position, checked + 1, problem)));
            }
        }
        if let Some((position, problem)) = range.broken {
            return Ok(Err(broken(position, checked + range.checked, problem)));
        }
        checked += range.checked;
        if let Some(hash) = range.last_hash {
            previous = hash;
        }
    }
    Ok(Ok((checked, previous)))
}

fn broken(position: i64, checked: i64, problem: String) -> Verification {
    Verification {
        ok: false,
        checked,
        first_broken_position: Some(position),
        problem: Some(problem),
        head_hash: None,
        sealed_through: 0,
        unsealed: 0,
        logins: None,
        notifications: None,
    }
}

/// Checks links `from..=to` of the chain: no gaps, each row linked to the one before it
/// (the first row's link is checked by the caller) and each row's hash matching its content.
async fn verify_range(
    pool: &PgPool,
    tenant_id: Uuid,
    from: i64,
    to: i64,
) -> ReadResult<RangeReport> {
    // The text is assembled as the sealer assembles it; a seal whose event is gone reads
    // as missing.
    let mut rows = sqlx::query(&eventlog::statements::SEALS_WITH_BODIES_SQL)
        .bind(tenant_id)
        .bind(from)
        .bind(to)
        .fetch(pool);

    let mut report = RangeReport {
        checked: 0,
        first_prev: None,
        last_hash: None,
        broken: None,
    };
    let mut expected_seq = from;
    while let Some(row) = rows.try_next().await? {
        let seq: i64 = row.try_get("chain_seq")?;
        let position: i64 = row.try_get("global_position")?;
        let prev_hash: &[u8] = row.try_get("prev_hash")?;
        let event_hash: &[u8] = row.try_get("event_hash")?;
        report.checked += 1;
        let problem = if seq != expected_seq {
            Some(format!(
                "event {expected_seq} of the chain is missing or out of order (found {seq})"
            ))
        } else if row.try_get::<bool, _>("missing")? {
            Some("the sealed event is missing from the log (deleted)".to_string())
        } else if report.first_prev.is_some() && report.last_hash.as_deref() != Some(prev_hash) {
            Some("does not link to the event before it".to_string())
        } else {
            let body: &str = row.try_get("body")?;
            (link_hash(prev_hash, seq, body).as_slice() != event_hash)
                .then(|| "content does not match its hash (altered)".to_string())
        };
        if report.first_prev.is_none() {
            report.first_prev = Some((position, prev_hash.to_vec()));
        }
        if let Some(problem) = problem {
            report.broken = Some((position, problem));
            return Ok(report);
        }
        report.last_hash = Some(event_hash.to_vec());
        expected_seq += 1;
    }
    Ok(report)
}
