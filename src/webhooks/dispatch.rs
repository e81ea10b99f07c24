//! Sends owed webhook messages. One worker per endpoint with something due, so a slow or
//! dead receiver holds up only itself; each worker takes its endpoint (an advisory lock on
//! the dispatcher's presence session: one worker of all processes per endpoint), reads its
//! due deliveries oldest message first (first attempts go out in log order), posts them one
//! by one over a kept-alive connection, and records the outcomes of the batch in one
//! statement. Nothing is written to claim a delivery: after a crash the lock goes with the
//! session and another dispatcher sends what was not recorded again, under the same
//! `webhook-id`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aggregates::webhook::DisabledReason;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use super::send::{self, Answer, Due};
use super::{schedule, signature};
use crate::app::App;
use crate::infra::coalesce::generic_plan_pool;
use crate::infra::outbound::OutboundPolicy;
use crate::infra::presence::Presence;
use crate::infra::wakeups::Wakeups;
use crate::services::webhooks::{disable_by_system, sealing_key};

/// Deliveries one worker reads at a time (a batch to a receiver that never answers takes
/// 50 × the 15 s deadline before its outcomes are recorded).
const BATCH: i64 = 50;
/// How often to look for due retries when no NOTIFY arrives.
const POLL: Duration = Duration::from_secs(1);
/// The longest error text kept on a delivery.
const ERROR_MAX: usize = 300;

#[derive(Clone)]
pub struct Dispatcher {
    app: App,
    policy: OutboundPolicy,
    client: reqwest::Client,
    /// Every statement of the dispatcher finds its rows by key: on a pool that plans only
    /// so (`generic_plan_pool`), a plan cached while the deliveries table was small does not
    /// go on scanning it whole for every batch as it grows.
    by_key: PgPool,
    /// Endpoints with a worker running in this process.
    busy: Arc<Mutex<HashSet<Uuid>>>,
}

/// What one attempt came to.
struct Outcome {
    status: &'static str,
    code: Option<i32>,
    error: Option<String>,
    next_attempt_at: DateTime<Utc>,
    /// Not tried (the endpoint answered 410 earlier in the batch, or the lock was lost): the
    /// delivery is left as it was.
    untried: bool,
}

/// An endpoint this dispatcher holds: the presence session its lock is on.
struct Taken<'a> {
    webhook_id: Uuid,
    presence: &'a tokio::sync::Mutex<Presence>,
    generation: u64,
}

/// The advisory lock key of an endpoint: its id folded to 64 bits (uuid v7 ids differ in
/// their random half, so both halves count).
fn endpoint_key(webhook_id: Uuid) -> i64 {
    let (high, low) = webhook_id.as_u64_pair();
    (high ^ low) as i64
}

/// A read batch, and whether the endpoint was still this dispatcher's when it was read.
struct Claim {
    batch: Vec<Due>,
    confirmed: bool,
}

/// A sent batch whose outcomes are not recorded yet.
struct Sent {
    batch: Vec<Due>,
    outcomes: Vec<Outcome>,
}

impl Sent {
    /// A message failed for good: the endpoint may have to be disabled.
    fn may_disable(&self) -> bool {
        self.outcomes.iter().any(|o| o.status == "failed")
    }

    /// Nothing more goes to the endpoint from this worker: it answered 410, or the
    /// presence was lost.
    fn stops(&self) -> bool {
        self.outcomes.iter().any(|o| o.untried || o.is_gone())
    }
}

impl Outcome {
    fn is_gone(&self) -> bool {
        self.status == "failed" && self.code == Some(410)
    }
}

impl Dispatcher {
    pub fn new(app: App, policy: OutboundPolicy) -> Self {
        Self {
            by_key: generic_plan_pool(app.pool()),
            app,
            policy,
            client: policy.client(),
            busy: Arc::default(),
        }
    }

    fn pool(&self) -> &PgPool {
        self.app.pool()
    }

    /// Dispatches until `shutdown` turns true, woken by new deliveries and by due retries.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let presence = Arc::new(tokio::sync::Mutex::new(
            Presence::announce(self.pool()).await,
        ));
        let mut wakeups = Wakeups::new(self.pool().clone(), "webhook_deliveries_pending", POLL);
        loop {
            if let Err(e) = self.start_workers(&presence).await {
                tracing::warn!(error = %e, "webhook dispatcher paused; retrying");
            }
            if !wakeups.next(&mut shutdown).await {
                return;
            }
        }
    }

    /// A worker for every enabled endpoint with a due delivery that has none yet.
    async fn start_workers(
        &self,
        presence: &Arc<tokio::sync::Mutex<Presence>>,
    ) -> Result<(), sqlx::Error> {
        let due: Vec<Uuid> = sqlx::query_scalar(
            "SELECT w.id FROM webhooks w
              WHERE w.enabled AND EXISTS (
                    SELECT 1 FROM webhook_deliveries d
                     WHERE d.webhook_id = w.id AND d.status = 'pending'
                       AND d.next_attempt_at <= $1)",
        )
        .bind(self.app.clock.now())
        .fetch_all(&self.by_key)
        .await?;
        for webhook_id in due {
            if !self.busy.lock().expect("not poisoned").insert(webhook_id) {
                continue;
            }
            let (worker, presence) = (self.clone(), presence.clone());
            tokio::spawn(async move {
                if let Err(e) = worker.serve(webhook_id, &presence).await {
                    tracing::warn!(webhook = %webhook_id, error = %e, "webhook worker stopped");
                }
                worker
                    .busy
                    .lock()
                    .expect("not poisoned")
                    .remove(&webhook_id);
            });
        }
        Ok(())
    }

    /// Drains the endpoint if no dispatcher anywhere is at it.
    async fn serve(
        &self,
        webhook_id: Uuid,
        presence: &tokio::sync::Mutex<Presence>,
    ) -> Result<(), sqlx::Error> {
        let key = endpoint_key(webhook_id);
        let taken = {
            let mut presence = presence.lock().await;
            // A session lost while no worker ran is taken again here, not left to fail
            // every lock attempt.
            presence.confirm(self.pool()).await;
            presence.try_take(key).await.then(|| presence.generation())
        };
        let Some(generation) = taken else {
            return Ok(());
        };
        let drained = self.drain(webhook_id, presence, generation).await;
        presence.lock().await.free(key, generation).await;
        drained
    }

    /// Sends the endpoint's due deliveries, a batch at a time, until none is due. While a
    /// batch goes out (one message at a time, in log order) the previous batch's outcomes
    /// are recorded and the next batch is read (past the messages still in flight): the
    /// receiver's round trips set the pace, not the database's. A batch in which a message
    /// failed for good is settled (it may disable the endpoint) before anything more is sent.
    async fn drain(
        &self,
        webhook_id: Uuid,
        presence: &tokio::sync::Mutex<Presence>,
        generation: u64,
    ) -> Result<(), sqlx::Error> {
        let taken = Taken {
            webhook_id,
            presence,
            generation,
        };
        let mut claim = self.claim(&taken, &[]).await?;
        let mut unrecorded: Option<Sent> = None;
        loop {
            if let Some(sent) = unrecorded.take_if(|sent| sent.may_disable()) {
                if self.finish(&sent).await? {
                    return Ok(());
                }
            }
            if claim.batch.is_empty() {
                let Some(sent) = unrecorded.take() else {
                    return Ok(());
                };
                self.finish(&sent).await?;
                // That batch was read while the last one went out: look once more.
                claim = self.claim(&taken, &[]).await?;
                continue;
            }
            let in_flight: Vec<Uuid> = claim
                .batch
                .iter()
                .chain(unrecorded.iter().flat_map(|sent| &sent.batch))
                .map(|due| due.id)
                .collect();
            let (outcomes, recorded, next) = tokio::join!(
                self.send(&claim.batch, claim.confirmed),
                self.record_sent(unrecorded.take()),
                self.claim(&taken, &in_flight),
            );
            let sent = Sent {
                batch: claim.batch,
                outcomes,
            };
            match (recorded, next) {
                (Ok(()), Ok(next)) if !sent.stops() => {
                    unrecorded = Some(sent);
                    claim = next;
                }
                (recorded, next) => {
                    self.finish(&sent).await?;
                    return recorded.and(next.map(|_| ()));
                }
            }
        }
    }

    /// The batch's messages one at a time; none once a receiver answered 410 or when the
    /// presence was lost. The signing keys are read once: a batch is one endpoint's.
    async fn send(&self, batch: &[Due], confirmed: bool) -> Vec<Outcome> {
        let now = self.app.clock.now();
        let keys = batch.first().and_then(|due| self.keys(due, now));
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut stop = !confirmed;
        for due in batch {
            if stop {
                outcomes.push(self.untried());
                continue;
            }
            let outcome = self.attempt(due, keys.as_deref()).await;
            stop = outcome.is_gone();
            outcomes.push(outcome);
        }
        outcomes
    }

    async fn record_sent(&self, sent: Option<Sent>) -> Result<(), sqlx::Error> {
        match sent {
            Some(sent) => self.record(&sent.batch, &sent.outcomes).await,
            None => Ok(()),
        }
    }

    /// Records a sent batch and settles its endpoint; whether the endpoint was disabled.
    async fn finish(&self, sent: &Sent) -> Result<bool, sqlx::Error> {
        self.record(&sent.batch, &sent.outcomes).await?;
        Ok(self.settle_endpoint(&sent.batch, &sent.outcomes).await)
    }

    /// The endpoint's next due deliveries but those in flight, and whether the endpoint
    /// is still this dispatcher's (its presence session, which holds the endpoint's lock,
    /// is the one the lock was taken on). The attempt each would be is `attempts + 1`.
    async fn claim(&self, taken: &Taken<'_>, in_flight: &[Uuid]) -> Result<Claim, sqlx::Error> {
        let batch: Vec<Due> = sqlx::query_as(
            "SELECT d.id, d.tenant_id, d.webhook_id, d.message_id, d.event_type, d.occurred_at,
                    d.data, d.attempts + 1 AS attempts, w.url, w.secret_sealed,
                    w.previous_secret_sealed, w.previous_valid_until
               FROM webhooks w
               JOIN webhook_deliveries d ON d.webhook_id = w.id
              WHERE w.id = $1 AND w.enabled AND d.status = 'pending'
                AND d.next_attempt_at <= $2 AND d.id <> ALL($3)
              ORDER BY d.position NULLS FIRST, d.id
              LIMIT $4",
        )
        .bind(taken.webhook_id)
        .bind(self.app.clock.now())
        .bind(in_flight)
        .bind(BATCH)
        .fetch_all(&self.by_key)
        .await?;
        let confirmed = batch.is_empty() || {
            let mut presence = taken.presence.lock().await;
            presence.confirm(self.pool()).await && presence.generation() == taken.generation
        };
        Ok(Claim { batch, confirmed })
    }

    fn untried(&self) -> Outcome {
        Outcome {
            status: "pending",
            code: None,
            error: None,
            next_attempt_at: self.app.clock.now(),
            untried: true,
        }
    }

    /// One POST of one message, and what it leaves the delivery in.
    async fn attempt(&self, due: &Due, keys: Option<&[Vec<u8>]>) -> Outcome {
        let now = self.app.clock.now();
        let answer = match keys {
            Some(keys) => send::post(&self.client, &self.policy, due, keys, now).await,
            None => Answer::NoAnswer(
                "the endpoint's secret cannot be read with this server's key".into(),
            ),
        };
        let (code, retry_after, error) = match answer {
            Answer::Status(code, _) if (200..300).contains(&code) => {
                metrics::counter!("webhook_deliveries_total", "outcome" => "delivered")
                    .increment(1);
                return Outcome {
                    status: "delivered",
                    code: Some(i32::from(code)),
                    error: None,
                    next_attempt_at: now,
                    untried: false,
                };
            }
            Answer::Status(410, _) => (
                Some(410),
                None,
                Some("the receiver answered 410 Gone".into()),
            ),
            Answer::Status(code, retry_after) => (
                Some(i32::from(code)),
                retry_after,
                Some(format!("the receiver answered {code}")),
            ),
            Answer::NoAnswer(why) => (None, None, Some(why)),
        };
        let next = (code != Some(410))
            .then(|| schedule::next_attempt(due.attempts, now, retry_after))
            .flatten();
        metrics::counter!("webhook_deliveries_total", "outcome" => if next.is_some() { "retry" } else { "failed" })
            .increment(1);
        tracing::warn!(webhook = %due.webhook_id, message = %due.message_id, attempts = due.attempts,
            error = ?error, "webhook message not delivered");
        Outcome {
            status: if next.is_some() { "pending" } else { "failed" },
            code,
            error: error.map(|e| e.chars().take(ERROR_MAX).collect()),
            next_attempt_at: next.unwrap_or(now),
            untried: false,
        }
    }

    /// The keys that sign now: the current secret, and the previous one within its overlap.
    fn keys(&self, due: &Due, now: DateTime<Utc>) -> Option<Vec<Vec<u8>>> {
        let sealing = sealing_key(&self.app);
        let open = |sealed: &[u8]| {
            let secret = sealing.open(sealed, due.webhook_id.as_bytes())?;
            signature::key_of(std::str::from_utf8(&secret).ok()?)
        };
        let mut keys = vec![open(&due.secret_sealed)?];
        if let (Some(previous), Some(until)) =
            (&due.previous_secret_sealed, due.previous_valid_until)
        {
            if until > now {
                keys.extend(open(previous));
            }
        }
        Some(keys)
    }

    /// The batch's outcomes in one statement; a message not tried is left as it was.
    async fn record(&self, batch: &[Due], outcomes: &[Outcome]) -> Result<(), sqlx::Error> {
        let tried = || batch.iter().zip(outcomes).filter(|(_, o)| !o.untried);
        if tried().next().is_none() {
            return Ok(());
        }
        let ids: Vec<Uuid> = tried().map(|(d, _)| d.id).collect();
        let attempts: Vec<i32> = tried().map(|(d, _)| d.attempts).collect();
        let statuses: Vec<&str> = tried().map(|(_, o)| o.status).collect();
        let codes: Vec<Option<i32>> = tried().map(|(_, o)| o.code).collect();
        let errors: Vec<Option<String>> = tried().map(|(_, o)| o.error.clone()).collect();
        let next: Vec<DateTime<Utc>> = tried().map(|(_, o)| o.next_attempt_at).collect();
        sqlx::query(
            "UPDATE webhook_deliveries d
                SET status = o.status, claimed_by = NULL, next_attempt_at = o.next_attempt_at,
                    attempts = o.attempts, last_status_code = o.code, last_error = o.error,
                    delivered_at = CASE WHEN o.status = 'delivered' THEN o.next_attempt_at END
               FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::text[], $6::timestamptz[])
                    AS o (id, attempts, status, code, error, next_attempt_at)
              WHERE d.id = o.id",
        )
        .bind(&ids)
        .bind(&attempts)
        .bind(&statuses)
        .bind(&codes)
        .bind(&errors)
        .bind(&next)
        .execute(&self.by_key)
        .await?;
        Ok(())
    }

    /// Disables the endpoint if the receiver answered 410, or if a message failed for good
    /// and nothing reached the receiver since that message's first attempt.
    async fn settle_endpoint(&self, batch: &[Due], outcomes: &[Outcome]) -> bool {
        let Some(first) = batch.first() else {
            return false;
        };
        let reason = if outcomes
            .iter()
            .any(|o| o.code == Some(410) && o.status == "failed")
        {
            Some(DisabledReason::Gone)
        } else if let Some((due, _)) = batch
            .iter()
            .zip(outcomes)
            .find(|(_, o)| o.status == "failed")
        {
            let delivered_since: Result<bool, _> = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM webhook_deliveries
                                 WHERE webhook_id = $1 AND delivered_at >= $2)",
            )
            .bind(due.webhook_id)
            .bind(due.occurred_at)
            .fetch_one(&self.by_key)
            .await;
            matches!(delivered_since, Ok(false)).then_some(DisabledReason::Failing)
        } else {
            None
        };
        let Some(reason) = reason else {
            return false;
        };
        tracing::warn!(webhook = %first.webhook_id, reason = reason.as_str(), "webhook disabled");
        if let Err(e) =
            disable_by_system(&self.app, first.tenant_id, first.webhook_id, reason).await
        {
            tracing::warn!(webhook = %first.webhook_id, error = %e, "could not disable the webhook");
        }
        true
    }
}
