//! Signed checkpoints: the head of a firm's chain at some moment, signed with the audit key.
//! An auditor keeps them; later, `verify` shows whether today's log still passes through
//! one. A superuser who rewrites history and recomputes every hash cannot make it pass
//! through a head signed before the rewrite without the audit key.

use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::chain::{link_hash, GENESIS};
use super::key::{signature_valid, AuditKey};
use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

/// A signed head of one firm's chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Checkpoint {
    pub tenant_id: Uuid,
    /// The head's place in the chain (`tenant_sequence` of its event).
    pub chain_seq: i64,
    /// The head event's log position.
    pub position: i64,
    /// Lower-case hex SHA-256: the `event_hash` at `chain_seq`.
    pub head_hash: String,
    pub created_at: DateTime<Utc>,
    pub key_id: String,
    /// Base64 Ed25519 signature of `canonical_text`.
    pub signature: String,
}

/// The exact text a checkpoint's signature covers (docs/audit.md): seven lines joined by
/// line feeds, no trailing line feed.
pub fn canonical_text(
    tenant_id: Uuid,
    chain_seq: i64,
    position: i64,
    head_hash: &str,
    created_at: DateTime<Utc>,
    key_id: &str,
) -> String {
    format!(
        "portal-accounts audit checkpoint v1\ntenant_id={tenant_id}\nchain_seq={chain_seq}\nposition={position}\nhead_hash={head_hash}\ncreated_at={}\nkey_id={key_id}",
        created_at.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

impl Checkpoint {
    pub fn text(&self) -> String {
        canonical_text(
            self.tenant_id,
            self.chain_seq,
            self.position,
            &self.head_hash,
            self.created_at,
            &self.key_id,
        )
    }
}

const COLUMNS: &str = "tenant_id, chain_seq, position, head_hash, created_at, key_id, signature";

pub(crate) fn from_row(row: &sqlx::postgres::PgRow) -> Result<Checkpoint, sqlx::Error> {
    Ok(Checkpoint {
        tenant_id: row.try_get("tenant_id")?,
        chain_seq: row.try_get("chain_seq")?,
        position: row.try_get("position")?,
        head_hash: hex::encode(row.try_get::<Vec<u8>, _>("head_hash")?),
        created_at: row.try_get("created_at")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

/// The heads of the chains that grew since their last checkpoint, once that checkpoint is
/// `$1` seconds old (or there is none), each with its seal's position. Each due head's seal
/// is looked up by key (the LIMIT keeps the subquery a lookup per head): as a join, a plan
/// made when the heads table looked large hash-joined every seal in the log at each round.
pub const DUE_HEADS_SQL: &str = "SELECT h.tenant_id, h.last_seq, h.last_hash, s.global_position
   FROM audit_chain_heads h
   LEFT JOIN LATERAL (
        SELECT chain_seq, created_at FROM audit_checkpoints c
         WHERE c.tenant_id = h.tenant_id ORDER BY chain_seq DESC LIMIT 1) c ON true
  CROSS JOIN LATERAL (
        SELECT s.global_position FROM audit_seals s
         WHERE s.tenant_id = h.tenant_id AND s.chain_seq = h.last_seq LIMIT 1) s
  WHERE c.chain_seq IS NULL
     OR (h.last_seq > c.chain_seq AND c.created_at <= now() - make_interval(secs => $1))";

/// What signs checkpoints, and where else each new one goes.
#[derive(Clone)]
pub struct Signer {
    pub key: AuditKey,
    /// A directory each new checkpoint is written to (`<tenant id>/<chain_seq>.json`).
    pub deliver_to: Option<std::path::PathBuf>,
}

/// Signs a checkpoint at the head of every chain that grew since its last checkpoint, if
/// that checkpoint is at least `min_age` old (or there is none). Returns how many.
pub async fn sign_due(
    pool: &PgPool,
    signer: &Signer,
    min_age: std::time::Duration,
) -> Result<usize, sqlx::Error> {
    let key = &signer.key;
    let due = sqlx::query(DUE_HEADS_SQL)
        .bind(min_age.as_secs_f64())
        .fetch_all(pool)
        .await?;
    let now = Utc::now();
    // Stored with microseconds; signed as stored.
    let created_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let mut signed = 0;
    for row in due {
        let tenant_id: Uuid = row.try_get("tenant_id")?;
        let chain_seq: i64 = row.try_get("last_seq")?;
        let head_hash = hex::encode(row.try_get::<Vec<u8>, _>("last_hash")?);
        let position: i64 = row.try_get("global_position")?;
        let key_id = key.key_id();
        let text = canonical_text(
            tenant_id, chain_seq, position, &head_hash, created_at, &key_id,
        );
        let checkpoint = Checkpoint {
            signature: base64_signature(key, &text),
            tenant_id,
            chain_seq,
            position,
            head_hash,
            created_at,
            key_id,
        };
        if !store(pool, &checkpoint).await? {
            continue;
        }
        signed += 1;
        if let Some(dir) = &signer.deliver_to {
            if let Err(e) = deliver(dir, &checkpoint) {
                // The database still has it and the next one follows within a minute.
                metrics::counter!("audit_checkpoint_delivery_failures_total").increment(1);
                tracing::warn!(error = %e, dir = %dir.display(), "a checkpoint could not be written out");
            }
        }
    }
    if signed > 0 {
        metrics::counter!("audit_checkpoints_signed_total").increment(signed as u64);
    }
    Ok(signed)
}

/// Stores a signed checkpoint and, where the firm names an auditor's address, the e-mail
/// owed for it, in one statement: both or neither, and never twice (a second signer's
/// insert of the same checkpoint does nothing, so it queues nothing). Whether it was new.
async fn store(pool: &PgPool, checkpoint: &Checkpoint) -> Result<bool, sqlx::Error> {
    let stored: i64 = sqlx::query_scalar(
        "WITH stored AS (
            INSERT INTO audit_checkpoints (tenant_id, chain_seq, position, head_hash, created_at, key_id, signature)
            VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6, $7) ON CONFLICT DO NOTHING
            RETURNING tenant_id, chain_seq),
         mailed AS (
            INSERT INTO checkpoint_mail (tenant_id, chain_seq, to_address)
            SELECT s.tenant_id, s.chain_seq, t.checkpoint_email
              FROM stored s JOIN tenants t ON t.id = s.tenant_id
             WHERE t.checkpoint_email IS NOT NULL)
         SELECT count(*) FROM stored",
    )
    .bind(checkpoint.tenant_id)
    .bind(checkpoint.chain_seq)
    .bind(checkpoint.position)
    .bind(&checkpoint.head_hash)
    .bind(checkpoint.created_at)
    .bind(&checkpoint.key_id)
    .bind(&checkpoint.signature)
    .fetch_one(pool)
    .await?;
    Ok(stored == 1)
}

/// Writes a checkpoint as `<dir>/<tenant id>/<chain_seq>.json`, whole or not at all (a
/// temporary file renamed into place), never over an existing one.
fn deliver(dir: &std::path::Path, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let tenant_dir = dir.join(checkpoint.tenant_id.to_string());
    std::fs::create_dir_all(&tenant_dir)?;
    let name = format!("{:020}.json", checkpoint.chain_seq);
    let target = tenant_dir.join(&name);
    if target.exists() {
        return Ok(());
    }
    let temporary = tenant_dir.join(format!(".{name}.tmp"));
    let json = serde_json::to_vec_pretty(checkpoint).map_err(std::io::Error::other)?;
    std::fs::write(&temporary, json)?;
    std::fs::rename(&temporary, &target)
}

fn base64_signature(key: &AuditKey, text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key.sign(text.as_bytes()).to_bytes())
}

/// The firm's checkpoints, newest first.
pub async fn list(scope: &TenantScope, limit: i64) -> ReadResult<Vec<Checkpoint>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY chain_seq DESC LIMIT $2"
    ))
    .bind(scope.id())
    .bind(limit)
    .fetch_all(scope.pool())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Whether a checkpoint holds today, and if not, why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Verdict {
    pub ok: bool,
    pub reason: Option<String>,
}

impl Verdict {
    fn refused(reason: impl Into<String>) -> Self {
        Self {
            ok: false,
            reason: Some(reason.into()),
        }
    }
}

/// Checks a checkpoint an auditor kept: signed by this server's audit key, this firm's, and
/// today's chain — recomputed from the events themselves, not from stored hashes — passes
/// through its head at its place.
pub async fn verify(scope: &TenantScope, key: &AuditKey, cp: &Checkpoint) -> ReadResult<Verdict> {
    if cp.tenant_id != scope.id() {
        return Ok(Verdict::refused("the checkpoint is another firm's"));
    }
    if cp.key_id != key.key_id() {
        return Ok(Verdict::refused(format!(
            "signed by key {}, not this server's audit key {}",
            cp.key_id,
            key.key_id()
        )));
    }
    if !signature_valid(&key.public_key(), cp.text().as_bytes(), &cp.signature) {
        return Ok(Verdict::refused(
            "the signature does not match the checkpoint (forged or altered)",
        ));
    }
    super::seal::seal_tenant(scope.pool(), scope.id(), super::SEAL_WAIT).await?;
    Ok(
        match recompute_through(scope.pool(), scope.id(), cp.chain_seq).await? {
            Err(problem) => Verdict::refused(problem),
            Ok((position, hash)) if position != cp.position || hex::encode(hash) != cp.head_hash => {
                Verdict::refused(format!(
                    "today's chain does not pass through this head at {}: history up to it was rewritten",
                    cp.chain_seq
                ))
            }
            Ok(_) => Verdict {
                ok: true,
                reason: None,
            },
        },
    )
}

/// Recomputes the firm's chain from the events' content in seal order up to `chain_seq`,
/// ignoring stored hashes: the head's position and hash, or what is wrong.
pub async fn recompute_through(
    pool: &PgPool,
    tenant_id: Uuid,
    chain_seq: i64,
) -> Result<Result<(i64, [u8; 32]), String>, sqlx::Error> {
    let mut rows = sqlx::query(&eventlog::statements::SEALS_WITH_BODIES_SQL)
        .bind(tenant_id)
        .bind(1i64)
        .bind(chain_seq)
        .fetch(pool);
    let (mut expected, mut hash, mut position) = (1i64, GENESIS, 0i64);
    while let Some(row) = rows.try_next().await? {
        let seq: i64 = row.try_get("chain_seq")?;
        if seq != expected {
            return Ok(Err(format!("link {expected} of the chain is missing")));
        }
        if row.try_get::<bool, _>("missing")? {
            return Ok(Err(format!(
                "the event at link {seq} is missing from the log"
            )));
        }
        hash = link_hash(&hash, seq, row.try_get::<&str, _>("body")?);
        position = row.try_get("global_position")?;
        expected += 1;
    }
    if expected - 1 != chain_seq {
        return Ok(Err(format!(
            "the chain is {} links long, shorter than the checkpoint's {chain_seq}",
            expected - 1
        )));
    }
    Ok(Ok((position, hash)))
}
