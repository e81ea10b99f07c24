//! Retention: once an hour, the archived clients whose firm's `erase_archived_after_days`
//! has run out are erased by the system (`services::erasure::sweep_retention`).

use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;

const EVERY: Duration = Duration::from_secs(3600);

pub async fn run(app: App, mut shutdown: watch::Receiver<bool>) {
    loop {
        match crate::services::erasure::sweep_retention(&app).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(clients = n, "erased archived clients past their retention"),
            Err(e) => tracing::warn!(error = %e, "the retention sweep failed; will try again"),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
