//! The sealer: extends each tenant's hash chain shortly after commit, off the write path.
//! It reads the log in commit-safe order (as the projections do), hashes in Rust, and
//! writes a batch of links, the chain heads and its checkpoint in one transaction; its
//! checkpoint row is locked for the batch, so one runner seals at a time across processes
//! and a batch that dies is sealed again whole. Every event is sealed exactly once.

use std::time::Duration;

use futures::{FutureExt, TryFutureExt};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use eventlog::statements;

use super::chain::{move_checkpoint, sealed_by, tenants_of, Links};

/// The sealer's row in `projection_checkpoints`.
pub const CHECKPOINT: &str = "audit_sealer";
/// Events sealed per transaction.
pub(super) const BATCH: i64 = 1_000;
/// How often to look for events when no write in this process wakes the sealer.
pub(super) const POLL: Duration = Duration::from_millis(250);

/// Seals one batch. `Ok(None)`: another runner holds the sealer; `Ok(Some(n))`: `n`
/// events sealed (0 when caught up with the commit horizon).
pub async fn seal_batch(pool: &PgPool, batch: i64) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = projections::engine::begin_derived(pool).await?;
    let Some(projections::engine::Claimed {
        last_tx,
        last_position,
        horizon,
    }) = projections::engine::claim(&mut tx, CHECKPOINT).await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(&statements::SEAL_BATCH_SQL)
        .bind(&last_tx)
        .bind(last_position)
        .bind(&horizon)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
    let Some(last) = rows.last() else {
        return Ok(Some(0));
    };
    let (end_tx, end_position): (String, i64) =
        (last.try_get("tx_text")?, last.try_get("global_position")?);

    let tenants = tenants_of(&rows)?;
    let stored: Vec<(Uuid, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT tenant_id, last_seq, last_hash FROM audit_chain_heads WHERE tenant_id = ANY($1)",
    )
    .bind(&tenants)
    .fetch_all(&mut *tx)
    .await?;
    let n = rows.len();
    let links = Links::after(stored, &tenants, &rows, ("global_position", "body"))?;
    // A seal already there for an event being sealed now was not written by a sealer (seals
    // are written only here, once per event): someone wrote into the chain by hand. Sealing
    // goes on (the links stand as computed; the forged row stays), and verify reports the
    // break.
    let written = links
        .bind_to(sqlx::query(
            "INSERT INTO audit_seals (global_position, tenant_id, chain_seq, prev_hash, event_hash)
             SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::bigint[], $4::bytea[], $5::bytea[])
             ON CONFLICT DO NOTHING",
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if written < n as u64 {
        tracing::error!(
            expected = n,
            written,
            "seals already present for events being sealed: the chain was written outside the sealer"
        );
    }
    let (head_tenants, head_seqs, head_hashes) = &links.heads;
    sqlx::query(
        "INSERT INTO audit_chain_heads (tenant_id, last_seq, last_hash)
         SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::bytea[])
         ON CONFLICT (tenant_id) DO UPDATE SET last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash",
    )
    .bind(head_tenants)
    .bind(head_seqs)
    .bind(head_hashes)
    .execute(&mut *tx)
    .await?;
    move_checkpoint(&mut tx, CHECKPOINT, (&end_tx, end_position)).await?;
    tx.commit().await?;
    metrics::counter!("audit_events_sealed_total").increment(n as u64);
    Ok(Some(n))
}

/// Seals until caught up with the commit horizon. While another runner holds the sealer,
/// waits for it (so that, on return, what had committed before the call is sealed unless a
/// transaction still open somewhere holds the horizon back).
pub async fn catch_up(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut sealed = 0;
    loop {
        match seal_batch(pool, BATCH).await? {
            Some(0) => return Ok(sealed),
            Some(n) => sealed += n,
            None => {
                // Another runner is sealing; wait for its batch to end, then look again.
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
                    .bind(CHECKPOINT)
                    .execute(&mut *tx)
                    .await?;
                tx.rollback().await?;
            }
        }
    }
}

/// Seals until every event of `tenant` committed before the call is sealed. A transaction
/// still open elsewhere holds the commit horizon back (the sealer must not pass it); this
/// waits for it, at most `limit`, then returns what is sealed by then.
pub async fn seal_tenant(pool: &PgPool, tenant: Uuid, limit: Duration) -> Result<(), sqlx::Error> {
    let newest: Option<i64> = sqlx::query_scalar(statements::NEWEST_OF_TENANT_SQL)
        .bind(tenant)
        .fetch_one(pool)
        .await?;
    let Some(newest) = newest else {
        return Ok(());
    };
    let sealed = sealed_by(
        std::time::Instant::now() + limit,
        || catch_up(pool).map_ok(drop).boxed(),
        || {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM audit_seals WHERE global_position = $1)",
            )
            .bind(newest)
            .fetch_one(pool)
            .boxed()
        },
    )
    .await?;
    if !sealed {
        tracing::warn!(%tenant, newest, "an open transaction holds sealing back; reading what is sealed");
    }
    Ok(())
}

/// Events committed but not sealed yet, and how long the oldest of them has waited.
pub async fn backlog(pool: &PgPool) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(statements::BACKLOG_SQL)
        .bind(CHECKPOINT)
        .fetch_one(pool)
        .await
}
