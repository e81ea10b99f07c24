//! E-mails of signed audit checkpoints to a firm's auditor: one per checkpoint signed while
//! the firm names an address (queued with the checkpoint, `audit::checkpoint::sign_due`),
//! the checkpoint's JSON attached exactly as `GET /api/v1/audit/checkpoints` shows it, so
//! the auditor's mailbox holds a copy the database's operator cannot reach.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use sqlx::{PgPool, Row};

use crate::audit::checkpoint::Checkpoint;
use crate::auth::TenantScope;
use crate::errors::read::ReadResult;

/// The notification kind these e-mails are counted under in metrics and logs.
pub const KIND: &str = "audit_checkpoint";

/// A checkpoint e-mail as the sender claims it.
#[derive(Debug, Clone)]
pub struct DueCheckpoint {
    pub checkpoint: Checkpoint,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub to_address: String,
    pub attempts: i32,
}

impl DueCheckpoint {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            checkpoint: crate::audit::checkpoint::from_row(row)?,
            tenant_name: row.try_get("tenant_name")?,
            tenant_slug: row.try_get("tenant_slug")?,
            to_address: row.try_get("to_address")?,
            attempts: row.try_get("attempts")?,
        })
    }

    /// A name for this e-mail in logs and in the file outbox.
    pub fn label(&self) -> String {
        format!(
            "{}-checkpoint-{:020}",
            self.tenant_slug, self.checkpoint.chain_seq
        )
    }
}

/// Claims up to `limit` due checkpoint e-mails, and those a sender that is gone had
/// claimed, for `lease` and the sender whose presence key is `owner`.
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: std::time::Duration,
    owner: Option<i64>,
) -> Result<Vec<DueCheckpoint>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "UPDATE checkpoint_mail m
            SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2),
                claimed_by = $3
           FROM tenants t, audit_checkpoints c
          WHERE t.id = m.tenant_id AND c.tenant_id = m.tenant_id AND c.chain_seq = m.chain_seq
            AND (m.tenant_id, m.chain_seq) IN (
                SELECT tenant_id, chain_seq FROM checkpoint_mail
                 WHERE status = 'pending' AND (next_attempt_at <= now() OR {})
                 ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING c.tenant_id, c.chain_seq, c.position, c.head_hash, c.created_at, c.key_id,
                c.signature, t.name AS tenant_name, t.slug AS tenant_slug, m.to_address,
                m.attempts",
        crate::infra::presence::OWNER_GONE
    ))
    .bind(limit)
    .bind(lease.as_secs_f64())
    .bind(owner)
    .fetch_all(pool)
    .await?;
    rows.iter().map(DueCheckpoint::from_row).collect()
}

/// Records what became of one attempt: `status` sent, pending (retry after `retry_in`)
/// or failed.
pub async fn record(
    pool: &PgPool,
    due: &DueCheckpoint,
    status: &str,
    error: Option<String>,
    retry_in: Option<std::time::Duration>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE checkpoint_mail
            SET status = $3, last_error = $4, claimed_by = NULL,
                sent_at = CASE WHEN $3 = 'sent' THEN now() END,
                next_attempt_at = now() + make_interval(secs => COALESCE($5, 0))
          WHERE tenant_id = $1 AND chain_seq = $2",
    )
    .bind(due.checkpoint.tenant_id)
    .bind(due.checkpoint.chain_seq)
    .bind(status)
    .bind(error)
    .bind(retry_in.map(|d| d.as_secs_f64()))
    .execute(pool)
    .await?;
    Ok(())
}

/// The e-mail: what the checkpoint is and how to check it, with the checkpoint attached.
pub fn message(from_address: &str, due: &DueCheckpoint) -> anyhow::Result<Message> {
    let checkpoint = &due.checkpoint;
    let json = serde_json::to_string_pretty(checkpoint)?;
    let signed_at = checkpoint
        .created_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let text = format!(
        "Portal Accounts signed a checkpoint of {firm}'s audit trail: its history up to entry \
{seq} (log position {position}) as of {signed_at}.\n\n\
Keep this e-mail or the attached file. It lets you check at any later time that the firm's \
history up to that entry has not been changed since, even by whoever runs the database:\n\n\
- online, with an auditor token: POST /api/v1/audit/checkpoints/verify with the attached \
JSON as the body (the answer is ok only if today's log still passes through this checkpoint);\n\
- offline, with an export of the log: portal-accounts audit verify-export EXPORT.ndjson \
--checkpoint {file} --public-key KEY, where KEY is the server's audit public key \
(GET /api/v1/audit/public-key; this checkpoint was signed by key {key_id}).\n\n\
You receive this because {firm} named this address for its audit checkpoints; an admin of \
the firm can change that in its settings.\n\n{json}\n",
        firm = due.tenant_name,
        seq = checkpoint.chain_seq,
        position = checkpoint.position,
        file = file_name(due),
        key_id = checkpoint.key_id,
    );
    let from = Mailbox::new(Some(due.tenant_name.clone()), from_address.parse()?);
    Ok(Message::builder()
        .from(from)
        .to(Mailbox::new(None, due.to_address.parse()?))
        .subject(format!(
            "Audit checkpoint of {}: entry {}",
            due.tenant_name, checkpoint.chain_seq
        ))
        // The same id on every attempt, so a message delivered twice is seen as one.
        .message_id(Some(format!(
            "<checkpoint-{}-{}@portal-accounts>",
            checkpoint.tenant_id, checkpoint.chain_seq
        )))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(text))
                .singlepart(
                    Attachment::new(file_name(due))
                        .body(json, ContentType::parse("application/json")?),
                ),
        )?)
}

fn file_name(due: &DueCheckpoint) -> String {
    format!("checkpoint-{}.json", due.checkpoint.chain_seq)
}

/// What became of one checkpoint's e-mail, as the firm's auditors and admins read it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CheckpointEmail {
    /// The checkpoint it carries (`chain_seq` of `GET /api/v1/audit/checkpoints`).
    pub chain_seq: i64,
    pub to: String,
    /// `pending` (not sent yet, or to be tried again), `sent` or `failed` (given up).
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The firm's checkpoint e-mails, newest checkpoint first.
pub async fn list(scope: &TenantScope, limit: i64) -> ReadResult<Vec<CheckpointEmail>> {
    Ok(sqlx::query_as(
        "SELECT chain_seq, to_address AS to, status, attempts, last_error, created_at, sent_at
           FROM checkpoint_mail WHERE tenant_id = $1 ORDER BY chain_seq DESC LIMIT $2",
    )
    .bind(scope.id())
    .bind(limit)
    .fetch_all(scope.pool())
    .await?)
}
