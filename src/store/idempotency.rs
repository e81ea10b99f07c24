//! An `Idempotency-Key` recorded in the command's own transaction. While a request with a
//! key runs, its claim is in a task-local slot; the first commit of the request writes the
//! key's row as its first statement and is then held open, not committed, so the HTTP edge
//! can add the response to that row and commit both together. So:
//!
//! - a crash before that commit leaves neither the events nor the key: the retry runs anew;
//! - a commit that happened while the connection dropped (the client saw 503) left the key
//!   with its response: the retry gets that response and writes nothing new;
//! - a duplicate running at the same time waits on the key's unique index inside its own
//!   commit, then finds the key taken and is answered with the first one's response.
//!
//! Holding the transaction open past the command is the reason written down: the response
//! belongs in it. It lasts as long as building the response takes (no I/O in between). A
//! request that commits more than once (a bulk invitation of several chunks) commits the
//! held transaction when its second commit comes, and its response is kept after the fact.

use std::sync::{Arc, Mutex};

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// The key a request claims.
#[derive(Debug, Clone)]
pub struct Claim {
    pub tenant_id: Uuid,
    pub key: String,
    pub fingerprint: Vec<u8>,
}

/// What became of a claimed request's commits.
#[derive(Default)]
pub struct Deferred {
    claim: Option<Claim>,
    /// The first commit, held open for the response.
    held: Option<Transaction<'static, Postgres>>,
    /// Another request holds the key: answer with its response.
    pub taken: bool,
    /// The key's row was committed before the response was known (several commits).
    pub committed_early: bool,
}

impl Deferred {
    /// The held transaction, if the request's first commit is waiting for its response.
    pub fn take_held(&mut self) -> Option<Transaction<'static, Postgres>> {
        self.held.take()
    }
}

pub type Slot = Arc<Mutex<Deferred>>;

tokio::task_local! {
    static CURRENT: Slot;
}

/// Runs `request` with `claim` in its task-local slot; returns what it answered and the
/// slot (holding the open transaction, if it committed).
pub async fn claimed<F: std::future::Future>(claim: Claim, request: F) -> (F::Output, Slot) {
    let slot: Slot = Arc::new(Mutex::new(Deferred {
        claim: Some(claim),
        ..Deferred::default()
    }));
    let output = CURRENT.scope(slot.clone(), request).await;
    (output, slot)
}

/// What a commit should do about the request's key.
pub(super) enum KeyStep {
    /// No key on this request, or it was already written: commit as usual.
    None,
    /// Write the key's row first; hold the transaction after.
    Claim(Claim),
}

/// Decides the key step of a commit about to start (and, on a second commit, commits the
/// held first one so the request's transactions stay in order).
pub(super) async fn before_commit() -> Result<KeyStep, sqlx::Error> {
    let Ok(slot) = CURRENT.try_with(Clone::clone) else {
        return Ok(KeyStep::None);
    };
    let (claim, held) = {
        let mut state = slot.lock().expect("idempotency slot");
        // The claim stays until a commit holds it: a commit that fails (a concurrent
        // append, retried) must write the key again.
        (state.claim.clone(), state.held.take())
    };
    if let Some(held) = held {
        held.commit().await?;
        eventlog::wake::notify_appended();
        slot.lock().expect("idempotency slot").committed_early = true;
    }
    Ok(claim.map_or(KeyStep::None, KeyStep::Claim))
}

/// Writes the key's row inside the command's transaction. `Ok(false)`: another request has
/// it (the slot says so; the caller stops).
pub(super) async fn write_key(
    tx: &mut Transaction<'static, Postgres>,
    claim: &Claim,
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, key) DO NOTHING",
    )
    .bind(claim.tenant_id)
    .bind(&claim.key)
    .bind(&claim.fingerprint)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !written {
        if let Ok(slot) = CURRENT.try_with(Clone::clone) {
            slot.lock().expect("idempotency slot").taken = true;
        }
    }
    Ok(written)
}

/// Keeps the committed-to-be transaction for the HTTP edge to finish; gives it back when
/// there is no request to keep it for (then the caller commits it).
pub(super) fn hold(tx: Transaction<'static, Postgres>) -> Option<Transaction<'static, Postgres>> {
    match CURRENT.try_with(Clone::clone) {
        Ok(slot) => {
            let mut state = slot.lock().expect("idempotency slot");
            state.claim = None;
            state.held = Some(tx);
            None
        }
        Err(_) => Some(tx),
    }
}
