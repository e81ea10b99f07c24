//! Waking a worker that delivers what the database owes (e-mails, webhook messages): at a
//! NOTIFY on its channel, after a poll interval (due retries, other processes' work), or
//! at shutdown. The LISTEN connection is opened again after it is lost.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

pub struct Wakeups {
    pool: PgPool,
    channel: &'static str,
    poll: Duration,
    listener: Option<PgListener>,
}

impl Wakeups {
    pub fn new(pool: PgPool, channel: &'static str, poll: Duration) -> Self {
        Self {
            pool,
            channel,
            poll,
            listener: None,
        }
    }

    /// Waits for the next reason to look again; `false` once `shutdown` turned true.
    pub async fn next(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        if self.listener.is_none() {
            self.listener = listen(&self.pool, self.channel).await;
        }
        let notified = async {
            match self.listener.as_mut() {
                Some(l) => l.recv().await.map(|_| ()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = notified => {
                if r.is_err() {
                    self.listener = None;
                }
                true
            }
            () = tokio::time::sleep(self.poll) => true,
            _ = shutdown.changed() => false,
        }
    }
}

async fn listen(pool: &PgPool, channel: &str) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(channel).await.ok()?;
    Some(listener)
}
