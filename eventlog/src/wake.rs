//! "Events were appended": the writer in this process says so after each commit, and the
//! runners that follow the log (projections, the sealer) wake at once. Runners in other
//! processes poll instead (a NOTIFY in every writing transaction made each commit take
//! PostgreSQL's cluster-wide notify lock).

use std::sync::OnceLock;

use tokio::sync::Notify;

fn signal() -> &'static Notify {
    static SIGNAL: OnceLock<Notify> = OnceLock::new();
    SIGNAL.get_or_init(Notify::new)
}

/// Called after a transaction that appended events has committed.
pub fn notify_appended() {
    signal().notify_waiters();
}

/// Completes at the next `notify_appended`.
pub async fn appended() {
    signal().notified().await;
}
