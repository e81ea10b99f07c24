//! "Events were appended": the writer in this process says so after each commit, and the
//! runners that follow the log (projections, the sealer) wake at once. Runners in other
//! processes poll instead (a NOTIFY in every writing transaction made each commit take
//! PostgreSQL's cluster-wide notify lock).
//!
//! The signal is a counter, not a one-shot wake-up: a runner that was busy when commits
//! happened still sees that the counter moved and goes round again, so it can stop after a
//! batch that reached the end of the log instead of asking the database once more whether
//! anything came in meanwhile.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::watch;

fn signal() -> &'static watch::Sender<u64> {
    static SIGNAL: OnceLock<watch::Sender<u64>> = OnceLock::new();
    SIGNAL.get_or_init(|| watch::channel(0).0)
}

/// Called after a transaction that appended events has committed.
pub fn notify_appended() {
    signal().send_modify(|appends| *appends = appends.wrapping_add(1));
}

/// A runner's view of the signal.
pub struct Appended(watch::Receiver<u64>);

/// Follows appends from now on.
pub fn subscribe() -> Appended {
    Appended(signal().subscribe())
}

impl Appended {
    /// Marks every append so far as seen: call before reading the log.
    pub fn seen(&mut self) {
        self.0.mark_unchanged();
    }

    /// Completes at once if anything was appended since `seen`, else at the next append.
    pub async fn next(&mut self) {
        // The sender lives in a static and is never dropped, so this cannot fail.
        let _ = self.0.changed().await;
    }
}

/// The shortest time between two rounds of one runner while appends keep coming. A round
/// costs a handful of round trips (claim, fetch, apply, checkpoint, commit) whatever it
/// carries; woken by every commit, runners spent more of the database's time on those
/// than on the events (measured: half of all CPU per registration). Pacing the rounds lets
/// events gather into batches; a runner that was idle longer than this starts at once, so
/// a quiet system's read models lag by no more than before.
pub const ROUND_EVERY: Duration = Duration::from_millis(25);

/// Spaces a runner's rounds `ROUND_EVERY` apart.
#[derive(Default)]
pub struct Pacing {
    last_round: Option<Instant>,
}

impl Pacing {
    /// Waits until the next round may start, then counts it as started.
    pub async fn round(&mut self) {
        if let Some(last) = self.last_round {
            tokio::time::sleep_until((last + ROUND_EVERY).into()).await;
        }
        self.last_round = Some(Instant::now());
    }
}
