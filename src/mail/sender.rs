//! Delivers owed e-mails: claims due notifications and checkpoint e-mails (marked with the
//! sender's presence, so a killed sender's claims are taken over at once, and with a lease
//! as the last resort), sends each through SMTP or into the file outbox, and
//! records the outcome — sent, retried later with exponential back-off, or failed for good.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;
use tokio::sync::watch;

use super::checkpoint_mail::{self, DueCheckpoint};
use super::compose::{Composer, Due};
use super::MailConfig;
use crate::infra::presence::{Presence, OWNER_GONE};
use crate::infra::wakeups::Wakeups;

/// How long a claimed e-mail stays reserved for a sender that is still present (a stuck
/// one): claims of a sender that is gone are taken over at once (`presence`).
const LEASE: Duration = Duration::from_secs(300);
/// Claimed per round.
const CLAIM: i64 = 32;
/// How often to look for due retries when no NOTIFY arrives.
const POLL: Duration = Duration::from_secs(1);
/// The most waiting documents an invitation names by title (it says how many in all).
const WAITING_NAMED: i64 = 10;

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory (no SMTP server configured).
    Files(PathBuf),
}

/// What became of one delivery attempt.
enum Delivery {
    Sent,
    /// Worth trying again (connection refused, 4xx).
    Retry(String),
    /// Will not get better by retrying (5xx, bad address, link already expired).
    Fail(String),
}

impl Transport {
    pub fn from_config(config: &MailConfig) -> anyhow::Result<Self> {
        Ok(match &config.smtp_url {
            Some(url) => Self::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&config.outbox_dir)?;
                Self::Files(config.outbox_dir.clone())
            }
        })
    }

    /// Sends `message`; in the file outbox it is `<name>.eml`.
    async fn deliver(&self, message: Message, name: &str) -> Delivery {
        match self {
            Self::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Delivery::Sent,
                Err(e) if e.is_permanent() => Delivery::Fail(e.to_string()),
                Err(e) => Delivery::Retry(e.to_string()),
            },
            Self::Files(dir) => {
                let name = format!("{name}.eml");
                let partial = dir.join(format!(".{name}.partial"));
                let written = tokio::fs::write(&partial, message.formatted()).await;
                match written.and(tokio::fs::rename(&partial, dir.join(name)).await) {
                    Ok(()) => Delivery::Sent,
                    Err(e) => Delivery::Retry(format!("writing the outbox file: {e}")),
                }
            }
        }
    }
}

pub struct Sender {
    pool: PgPool,
    transport: Transport,
    composer: Composer,
    retry_base: Duration,
    max_attempts: i32,
}

impl Sender {
    pub fn new(
        pool: PgPool,
        transport: Transport,
        composer: Composer,
        config: &MailConfig,
    ) -> Self {
        Self {
            pool,
            transport,
            composer,
            retry_base: config.retry_base,
            max_attempts: config.max_attempts,
        }
    }

    /// Sends until `shutdown` turns true, woken by new notifications and by due retries.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut wakeups = Wakeups::new(self.pool.clone(), "notifications_pending", POLL);
        let mut presence = Presence::announce(&self.pool).await;
        loop {
            if let Err(e) = self.send_due(&mut presence).await {
                tracing::warn!(error = %e, "mail sender paused; retrying");
            }
            if !wakeups.next(&mut shutdown).await {
                return;
            }
        }
    }

    /// Delivers every notification and checkpoint e-mail that is due now; the number
    /// handled. Stops early when the sender's presence was lost: what it had claimed may
    /// be another sender's by now.
    pub async fn send_due(&self, presence: &mut Presence) -> Result<usize, sqlx::Error> {
        let mut handled = 0;
        loop {
            let batch = self.claim(presence.key()).await?;
            if batch.is_empty() {
                break;
            }
            for due in &batch {
                if !presence.confirm(&self.pool).await {
                    return Ok(handled);
                }
                let outcome = self.attempt(due).await;
                self.record(due, outcome).await?;
                handled += 1;
            }
        }
        loop {
            let batch = checkpoint_mail::claim(&self.pool, CLAIM, LEASE, presence.key()).await?;
            if batch.is_empty() {
                return Ok(handled);
            }
            for due in &batch {
                if !presence.confirm(&self.pool).await {
                    return Ok(handled);
                }
                self.send_checkpoint(due).await?;
                handled += 1;
            }
        }
    }

    async fn send_checkpoint(&self, due: &DueCheckpoint) -> Result<(), sqlx::Error> {
        let outcome = match checkpoint_mail::message(&self.composer.from_address, due) {
            Ok(message) => self.transport.deliver(message, &due.label()).await,
            Err(e) => Delivery::Fail(format!("cannot build the message: {e}")),
        };
        let (status, error, retry_in) = self.settle(due.attempts, outcome);
        log_outcome(
            checkpoint_mail::KIND,
            &due.label(),
            due.attempts,
            status,
            &error,
        );
        checkpoint_mail::record(&self.pool, due, status, error, retry_in).await
    }

    /// The status an attempt leaves an e-mail in, its error (bounded) and when to retry.
    fn settle(
        &self,
        attempts: i32,
        outcome: Delivery,
    ) -> (&'static str, Option<String>, Option<Duration>) {
        let (status, error, retry_in) = match outcome {
            Delivery::Sent => ("sent", None, None),
            Delivery::Retry(e) if attempts < self.max_attempts => {
                ("pending", Some(e), Some(self.back_off(attempts)))
            }
            Delivery::Retry(e) | Delivery::Fail(e) => ("failed", Some(e), None),
        };
        let error = error.map(|e| e.chars().take(500).collect::<String>());
        (status, error, retry_in)
    }

    /// Claims due notifications, and those a sender that is gone had claimed, for this
    /// sender (`owner`: its presence key). An invitation or activation e-mail names the
    /// documents waiting for the client's signature as they stand when it is sent.
    async fn claim(&self, owner: Option<i64>) -> Result<Vec<Due>, sqlx::Error> {
        sqlx::query_as(&format!(
            "UPDATE notifications n
                SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2),
                    claimed_by = $3
               FROM tenants t
              WHERE t.id = n.tenant_id
                AND n.id IN (SELECT id FROM notifications
                              WHERE status = 'pending' AND (next_attempt_at <= now() OR {OWNER_GONE})
                              ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING n.id, n.tenant_id, t.slug AS tenant_slug, t.name AS tenant_name, n.kind,
                    n.to_address, n.recipient_name, n.username, n.link_stream_id, n.link_id,
                    n.link_expires_at, n.contract_id, n.details, n.attempts,
                    CASE WHEN n.kind IN ('invitation', 'activation') THEN
                        ARRAY(SELECT k.title FROM rm_contracts k
                               WHERE k.tenant_id = n.tenant_id AND k.client_id = n.client_id
                                 AND k.status = 'awaiting_signature'
                               ORDER BY k.issued_at, k.contract_id LIMIT {WAITING_NAMED})
                    ELSE '{{}}'::text[] END AS waiting_documents"
        ))
        .bind(CLAIM)
        .bind(LEASE.as_secs_f64())
        .bind(owner)
        .fetch_all(&self.pool)
        .await
    }

    async fn attempt(&self, due: &Due) -> Delivery {
        if due
            .link_expires_at
            .is_some_and(|at| at <= chrono::Utc::now())
        {
            return Delivery::Fail("the link expired before the e-mail could be sent".into());
        }
        let message = match self.composer.message(due) {
            Ok(m) => m,
            Err(e) => return Delivery::Fail(format!("cannot build the message: {e}")),
        };
        let name = format!("{}-{}", due.tenant_slug, due.id);
        self.transport.deliver(message, &name).await
    }

    async fn record(&self, due: &Due, outcome: Delivery) -> Result<(), sqlx::Error> {
        let (status, error, retry_in) = self.settle(due.attempts, outcome);
        log_outcome(&due.kind, &due.id.to_string(), due.attempts, status, &error);
        sqlx::query(
            "UPDATE notifications
                SET status = $2, last_error = $3, claimed_by = NULL,
                    sent_at = CASE WHEN $2 = 'sent' THEN now() END,
                    next_attempt_at = now() + make_interval(secs => COALESCE($4, 0))
              WHERE id = $1",
        )
        .bind(due.id)
        .bind(status)
        .bind(error)
        .bind(retry_in.map(|d| d.as_secs_f64()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// base, 2×base, 4×base … capped at an hour.
    fn back_off(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).max(0) as u32);
        self.retry_base
            .saturating_mul(factor)
            .min(Duration::from_secs(3600))
    }
}

/// Counts and logs what became of one e-mail (`what` names it: a notification's id, a
/// checkpoint e-mail's label).
fn log_outcome(kind: &str, what: &str, attempts: i32, status: &str, error: &Option<String>) {
    if status == "sent" {
        metrics::counter!("emails_sent_total", "kind" => kind.to_string()).increment(1);
        tracing::info!(email = %what, kind = %kind, attempts, "e-mail sent");
    } else {
        metrics::counter!("email_failures_total", "kind" => kind.to_string()).increment(1);
        tracing::warn!(email = %what, kind = %kind, attempts, status, error = ?error, "e-mail not sent");
    }
}
