//! The hash chain every audit log shares: the link before the first row, how a link is
//! hashed, the text of an event that its link covers, and the wait for a row to be sealed.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// The link before a chain's first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// The canonical text of an event's link, given the text of everything after `chain_seq`
/// (see `BODY_SQL`): what `sha256(prev_hash || text)` covers.
pub fn link_hash(prev_hash: &[u8], chain_seq: i64, body: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(chain_seq.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(body.as_bytes());
    hasher.finalize().into()
}

/// The text of an event its link covers (`eventlog::statements::CHAIN_BODY_SQL`).
pub use eventlog::statements::CHAIN_BODY_SQL as BODY_SQL;

/// Runs sealing passes (`seal_pass`) until `is_sealed` says the row waited for is sealed, or
/// `deadline` passes (a transaction still open elsewhere holds the commit horizon back, or
/// another runner holds the chain); returns whether it was sealed. The wait of
/// `seal_tenant` here and of `side_chain::seal_tenant`.
pub(crate) async fn sealed_by<'a>(
    deadline: std::time::Instant,
    mut seal_pass: impl FnMut() -> BoxFuture<'a, Result<(), sqlx::Error>>,
    mut is_sealed: impl FnMut() -> BoxFuture<'a, Result<bool, sqlx::Error>>,
) -> Result<bool, sqlx::Error> {
    loop {
        seal_pass().await?;
        if is_sealed().await? {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The firms of a batch's rows (their `tenant_id`), each once, sorted.
pub(crate) fn tenants_of(rows: &[PgRow]) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut tenants: Vec<Uuid> = rows
        .iter()
        .map(|r| r.try_get("tenant_id"))
        .collect::<Result<_, _>>()?;
    tenants.sort_unstable();
    tenants.dedup();
    Ok(tenants)
}

/// The links a batch of rows adds to its firms' chains, computed in order from each chain's
/// stored head, as arrays to write with one statement: what both sealers (the event log's
/// and the side chains') write.
pub(crate) struct Links {
    pub keys: Vec<i64>,
    pub tenants: Vec<Uuid>,
    pub seqs: Vec<i64>,
    pub prevs: Vec<Vec<u8>>,
    pub hashes: Vec<Vec<u8>>,
    /// Each touched chain's new head: firm, last link number, last hash.
    pub heads: (Vec<Uuid>, Vec<i64>, Vec<Vec<u8>>),
}

/// A statement with its arguments still to bind.
pub(crate) type Statement<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl Links {
    /// Binds the links' five arrays (key, firm, link number, previous hash, hash), in that
    /// order, as the statement's next parameters.
    pub(crate) fn bind_to<'q>(&'q self, statement: Statement<'q>) -> Statement<'q> {
        statement
            .bind(&self.keys)
            .bind(&self.tenants)
            .bind(&self.seqs)
            .bind(&self.prevs)
            .bind(&self.hashes)
    }

    /// Links `rows` — each with `tenant_id`, a key column and the text its link covers —
    /// after `stored`, the heads of the firms `tenants` (a firm without one starts at
    /// `GENESIS`).
    pub(crate) fn after(
        stored: Vec<(Uuid, i64, Vec<u8>)>,
        tenants: &[Uuid],
        rows: &[PgRow],
        (key, text): (&str, &str),
    ) -> Result<Self, sqlx::Error> {
        let mut heads: HashMap<Uuid, (i64, Vec<u8>)> =
            stored.into_iter().map(|(t, s, h)| (t, (s, h))).collect();
        let n = rows.len();
        let mut links = Links {
            keys: Vec::with_capacity(n),
            tenants: Vec::with_capacity(n),
            seqs: Vec::with_capacity(n),
            prevs: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            heads: (vec![], vec![], vec![]),
        };
        for row in rows {
            let tenant: Uuid = row.try_get("tenant_id")?;
            let head = heads.entry(tenant).or_insert_with(|| (0, GENESIS.to_vec()));
            let seq = head.0 + 1;
            let hash = link_hash(&head.1, seq, row.try_get::<&str, _>(text)?).to_vec();
            links.keys.push(row.try_get::<i64, _>(key)?);
            links.tenants.push(tenant);
            links.seqs.push(seq);
            links
                .prevs
                .push(std::mem::replace(&mut head.1, hash.clone()));
            links.hashes.push(hash);
            head.0 = seq;
        }
        for tenant in tenants {
            if let Some((seq, hash)) = heads.remove(tenant) {
                links.heads.0.push(*tenant);
                links.heads.1.push(seq);
                links.heads.2.push(hash);
            }
        }
        Ok(links)
    }
}

/// Moves a sealer's checkpoint to the last row of its batch, in the batch's transaction.
pub(crate) async fn move_checkpoint(
    tx: &mut PgConnection,
    name: &str,
    (end_tx, end_key): (&str, i64),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints SET last_tx = $2::xid8, last_position = $3, updated_at = now()
          WHERE name = $1",
    )
    .bind(name)
    .bind(end_tx)
    .bind(end_key)
    .execute(tx)
    .await?;
    Ok(())
}
