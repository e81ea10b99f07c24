//! The audit runner: seals the event log after each wake, the login and notification logs
//! at most every `seal::POLL`, and signs growing chains' heads every `CHECKPOINT_EVERY`.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use super::seal::{seal_batch, BATCH, POLL};

/// How long a firm's chain may grow before its head is signed again.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// Runs the sealer until shutdown: woken by this process's writes, polling for others'.
/// With an audit key it also signs each growing chain's head every `CHECKPOINT_EVERY`.
pub async fn run(
    pool: PgPool,
    signer: Option<super::checkpoint::Signer>,
    mut shutdown: watch::Receiver<bool>,
) {
    // None: not yet (an Instant in the past might not exist this soon after boot).
    let mut last_signing: Option<std::time::Instant> = None;
    let mut last_side_sealing: Option<std::time::Instant> = None;
    let due = |last: Option<std::time::Instant>, every: Duration| {
        last.is_none_or(|l| l.elapsed() >= every)
    };
    let (mut appended, mut pacing) = (
        eventlog::wake::subscribe(),
        eventlog::wake::Pacing::default(),
    );
    loop {
        tokio::select! {
            () = pacing.round() => {}
            _ = shutdown.changed() => return,
        }
        appended.seen();
        // Batches until one is not full (the commit horizon is reached); appends committed
        // meanwhile wake the loop again. While another server's sealer holds the row, it
        // does the work.
        loop {
            match seal_batch(&pool, BATCH).await {
                Ok(Some(n)) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "sealing paused; retrying");
                    break;
                }
            }
        }
        // Logins and e-mails are not what commands wait on: sealed at most every POLL, so a
        // busy log does not pay two more transactions per wake.
        if due(last_side_sealing, POLL) {
            last_side_sealing = Some(std::time::Instant::now());
            if let Err(e) = super::side_chain::catch_up(&pool).await {
                tracing::warn!(error = %e, "sealing the login and notification logs paused; retrying");
            }
        }
        // Looking for due checkpoints costs a query: at most once a second.
        if let Some(signer) = signer
            .as_ref()
            .filter(|_| due(last_signing, Duration::from_secs(1)))
        {
            last_signing = Some(std::time::Instant::now());
            if let Err(e) = super::checkpoint::sign_due(&pool, signer, CHECKPOINT_EVERY).await {
                tracing::warn!(error = %e, "signing checkpoints failed; retrying");
            }
        }
        tokio::select! {
            () = appended.next() => {}
            () = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return,
        }
    }
}
