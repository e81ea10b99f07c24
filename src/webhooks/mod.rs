//! Webhooks: the public event catalogue, the `webhook_outbox` consumer that owes each
//! matching message to each endpoint, and the dispatcher that delivers them by the
//! Standard Webhooks specification with retries over about three days.

pub mod catalogue;
pub mod dispatch;
pub mod outbox;
pub mod schedule;
mod send;
pub mod signature;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::infra::outbound::OutboundPolicy;

/// Starts the outbox consumer and the dispatcher; both stop when `shutdown` turns true.
pub fn spawn(
    app: &App,
    policy: OutboundPolicy,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let outbox = projections::Engine::new(
        app.pool().clone(),
        app.keys().clone(),
        vec![Arc::new(outbox::Outbox)],
    );
    let dispatcher = dispatch::Dispatcher::new(app.clone(), policy);
    vec![
        tokio::spawn(outbox.run(shutdown.clone())),
        tokio::spawn(dispatcher.run(shutdown)),
    ]
}
