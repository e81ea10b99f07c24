//! Chains for what auditors read besides the event log — the portal login history and the
//! notification log — each per firm, sealed after commit like the events (same claim of a
//! checkpoint row, same commit-safe order, hashing in Rust) and verified the same way.
//!
//! A row's link: `row_hash = SHA-256(prev_hash || chain_seq "\n" row_text)`, where
//! `row_text` is a JSON array of the row's fields as PostgreSQL prints `jsonb`
//! (docs/audit.md lists the fields of each chain).

use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::chain::{link_hash, move_checkpoint, sealed_by, tenants_of, Links, GENESIS};

/// One chained table.
#[derive(Debug, Clone, Copy)]
pub struct SideChain {
    /// The chain's name in `side_seals` (and in reports).
    pub name: &'static str,
    /// The sealer's checkpoint row.
    checkpoint: &'static str,
    table: &'static str,
    /// The bigint column naming a row, in insert order.
    key: &'static str,
    /// The hashed fields, as a `jsonb_build_array(...)` expression over the table.
    text_sql: &'static str,
}

/// Portal login attempts. Rows without a `method` (failures, and logins from before it was
/// kept) hash as they always did; the others add `method` to the array.
pub const LOGINS: SideChain = SideChain {
    name: "portal_logins",
    checkpoint: "seal_portal_logins",
    table: "portal_logins",
    key: "id",
    text_sql:
        "(jsonb_build_array(id, tenant_id, portal_user_id, encode(username_key, 'hex'), outcome, \
               session_id, client_ip, user_agent, request_id, \
               (extract(epoch FROM at) * 1000000)::bigint) \
               || CASE WHEN method IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(method) END)::text",
};

/// E-mails owed (what, to whom, for which event), not their delivery attempts. Rows from
/// before contract e-mails (no recipient, contract or details) hash as they always did;
/// the others add `recipient, contract_id, details` to the array.
pub const NOTIFICATIONS: SideChain = SideChain {
    name: "notifications",
    checkpoint: "seal_notifications",
    table: "notifications",
    key: "row_no",
    text_sql:
        "(jsonb_build_array(source_position, id, tenant_id, kind, client_id, portal_user_id, \
               to_address, recipient_name, username, link_stream_id, link_id, \
               (extract(epoch FROM link_expires_at) * 1000000)::bigint, \
               (extract(epoch FROM created_at) * 1000000)::bigint) \
               || CASE WHEN recipient = '00000000-0000-0000-0000-000000000000' \
                        AND contract_id IS NULL AND details = '{}'::jsonb \
                       THEN '[]'::jsonb \
                       ELSE jsonb_build_array(recipient, contract_id, details) END)::text",
};

pub const ALL: [SideChain; 2] = [LOGINS, NOTIFICATIONS];

const BATCH: i64 = 1_000;

/// Seals one batch of `chain`'s rows: `None` while another runner holds it.
pub async fn seal_batch(pool: &PgPool, chain: SideChain) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = projections::engine::begin_derived(pool).await?;
    let Some(claimed) = projections::engine::claim(&mut tx, chain.checkpoint).await? else {
        return Ok(None);
    };
    let rows = sqlx::query(&format!(
        "SELECT tx_id::text AS tx_text, {key} AS row_key, tenant_id, {text} AS row_text
           FROM {table}
          WHERE (tx_id, {key}) > ($1::xid8, $2) AND tx_id < $3::xid8
          ORDER BY tx_id, {key} LIMIT $4",
        key = chain.key,
        text = chain.text_sql,
        table = chain.table,
    ))
    .bind(&claimed.last_tx)
    .bind(claimed.last_position)
    .bind(&claimed.horizon)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let Some(last) = rows.last() else {
        return Ok(Some(0));
    };
    let (end_tx, end_key): (String, i64) = (last.try_get("tx_text")?, last.try_get("row_key")?);
    let in_batch = tenants_of(&rows)?;
    let stored: Vec<(Uuid, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT tenant_id, last_seq, last_hash FROM side_chain_heads
          WHERE chain = $1 AND tenant_id = ANY($2)",
    )
    .bind(chain.name)
    .bind(&in_batch)
    .fetch_all(&mut *tx)
    .await?;
    let links = Links::after(stored, &in_batch, &rows, ("row_key", "row_text"))?;
    let insert = sqlx::query(
        "INSERT INTO side_seals (chain, row_key, tenant_id, chain_seq, prev_hash, row_hash)
         SELECT $1, * FROM UNNEST($2::bigint[], $3::uuid[], $4::bigint[], $5::bytea[], $6::bytea[])
         ON CONFLICT DO NOTHING",
    );
    links
        .bind_to(insert.bind(chain.name))
        .execute(&mut *tx)
        .await?;
    let (head_tenants, head_seqs, head_hashes) = &links.heads;
    sqlx::query(
        "INSERT INTO side_chain_heads (chain, tenant_id, last_seq, last_hash)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::bigint[], $4::bytea[])
         ON CONFLICT (chain, tenant_id) DO UPDATE SET last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash",
    )
    .bind(chain.name)
    .bind(head_tenants)
    .bind(head_seqs)
    .bind(head_hashes)
    .execute(&mut *tx)
    .await?;
    move_checkpoint(&mut tx, chain.checkpoint, (&end_tx, end_key)).await?;
    tx.commit().await?;
    Ok(Some(rows.len()))
}

/// Seals every side chain up to the commit horizon (a chain another runner holds is left
/// to it).
pub async fn catch_up(pool: &PgPool) -> Result<(), sqlx::Error> {
    for chain in ALL {
        while let Some(n) = seal_batch(pool, chain).await? {
            if n == 0 {
                break;
            }
        }
    }
    Ok(())
}

/// Seals until the newest row of each of `tenant`'s chains committed before the call is
/// sealed (as `seal::seal_tenant` does for events): a transaction still open elsewhere holds
/// the commit horizon back, and another runner may hold a chain; this waits for either, at
/// most `limit` in all, then returns what is sealed by then.
pub async fn seal_tenant(pool: &PgPool, tenant: Uuid, limit: Duration) -> Result<(), sqlx::Error> {
    let deadline = std::time::Instant::now() + limit;
    for chain in ALL {
        let newest: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT max({key}) FROM {table} WHERE tenant_id = $1",
            key = chain.key,
            table = chain.table,
        ))
        .bind(tenant)
        .fetch_one(pool)
        .await?;
        let Some(newest) = newest else {
            continue;
        };
        let sealed = sealed_by(
            deadline,
            || catch_up(pool).boxed(),
            || {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM side_seals WHERE chain = $1 AND row_key = $2)",
                )
                .bind(chain.name)
                .bind(newest)
                .fetch_one(pool)
                .boxed()
            },
        )
        .await?;
        if !sealed {
            tracing::warn!(%tenant, chain = chain.name, newest, "an open transaction holds sealing back; reading what is sealed");
            return Ok(());
        }
    }
    Ok(())
}

/// A side chain's verification for one firm.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ChainCheck {
    pub ok: bool,
    pub checked: i64,
    /// The row (login id, notification's event position) where it first breaks.
    pub first_broken_row: Option<i64>,
    pub problem: Option<String>,
    /// Rows scrubbed by an erasure: present and linked, their content no longer checkable.
    #[serde(default)]
    pub redacted: i64,
}

/// Recomputes `chain` for `tenant` from the rows themselves.
pub async fn verify(
    pool: &PgPool,
    chain: SideChain,
    tenant: Uuid,
) -> Result<ChainCheck, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT s.row_key, s.chain_seq, s.prev_hash, s.row_hash, s.redacted,
                t.row_text IS NULL AS missing,
                t.row_text
           FROM side_seals s
           LEFT JOIN LATERAL (SELECT {text} AS row_text FROM {table} WHERE {key} = s.row_key) t ON true
          WHERE s.chain = $1 AND s.tenant_id = $2 ORDER BY s.chain_seq",
        key = chain.key,
        table = chain.table,
        text = chain.text_sql,
    ))
    .bind(chain.name)
    .bind(tenant)
    .fetch_all(pool)
    .await?;
    let head: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT last_seq, last_hash FROM side_chain_heads WHERE chain = $1 AND tenant_id = $2",
    )
    .bind(chain.name)
    .bind(tenant)
    .fetch_optional(pool)
    .await?;
    let mut previous = GENESIS.to_vec();
    let (mut checked, mut redacted) = (0, 0);
    for row in &rows {
        let scrubbed: bool = row.try_get("redacted")?;
        redacted += i64::from(scrubbed);
        let key: i64 = row.try_get("row_key")?;
        let seq: i64 = row.try_get("chain_seq")?;
        let prev: Vec<u8> = row.try_get("prev_hash")?;
        let hash: Vec<u8> = row.try_get("row_hash")?;
        let problem = if seq != checked + 1 {
            Some(format!("link {} is missing", checked + 1))
        } else if row.try_get::<bool, _>("missing")? {
            Some("the row is missing (deleted)".to_string())
        } else if prev != previous {
            Some("does not link to the row before it".to_string())
        } else if !scrubbed
            && link_hash(
                &prev,
                seq,
                row.try_get::<Option<&str>, _>("row_text")?
                    .unwrap_or_default(),
            )[..]
                != hash[..]
        {
            Some("content does not match its hash (altered)".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Ok(ChainCheck {
                ok: false,
                checked,
                first_broken_row: Some(key),
                problem: Some(problem),
                redacted,
            });
        }
        previous = hash;
        checked += 1;
    }
    let (head_seq, head_hash) = head.unwrap_or((0, GENESIS.to_vec()));
    if head_seq != checked || head_hash != previous {
        return Ok(ChainCheck {
            ok: false,
            checked,
            first_broken_row: None,
            problem: Some(format!(
                "the chain head records {head_seq} rows but {checked} are present (rows removed at the end)"
            )),
            redacted,
        });
    }
    Ok(ChainCheck {
        ok: true,
        checked,
        first_broken_row: None,
        problem: None,
        redacted,
    })
}
