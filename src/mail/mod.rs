//! E-mail: the consumer that turns link-issuing events into owed notifications, the sender
//! that delivers them (SMTP via lettre, or `.eml` files), and the messages themselves.

pub mod checkpoint_mail;
pub mod compose;
pub mod notifications;
mod recipients;
pub mod sender;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::security::ServerSecret;

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (or `smtps://`, `?tls=required`); `None`: files in `outbox_dir`.
    pub smtp_url: Option<String>,
    pub outbox_dir: PathBuf,
    /// Base URL of the links, e.g. `https://portal.example.com`.
    pub public_url: String,
    pub from_address: String,
    /// First retry delay after a temporary failure; doubles each attempt.
    pub retry_base: Duration,
    /// Attempts before a notification is marked failed.
    pub max_attempts: i32,
}

impl MailConfig {
    pub fn new(smtp_url: Option<String>, data_dir: &std::path::Path, public_url: &str) -> Self {
        Self {
            smtp_url,
            outbox_dir: data_dir.join("outbox"),
            public_url: public_url.trim_end_matches('/').to_string(),
            from_address: "portal@localhost".into(),
            retry_base: Duration::from_secs(30),
            max_attempts: 10,
        }
    }
}

/// Starts the notifications consumer and the sender; both stop when `shutdown` turns true.
pub fn spawn(
    pool: PgPool,
    keys: eventlog::DataKeys,
    secret: ServerSecret,
    config: &MailConfig,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let transport = sender::Transport::from_config(config)?;
    let composer = compose::Composer {
        secret,
        public_url: config.public_url.clone(),
        from_address: config.from_address.clone(),
    };
    let owed = notifications::Notifications { keys: keys.clone() };
    let consumer = projections::Engine::new(pool.clone(), keys, vec![Arc::new(owed)]);
    let sender = sender::Sender::new(pool, transport, composer, config);
    Ok(vec![
        tokio::spawn(consumer.run(shutdown.clone())),
        tokio::spawn(sender.run(shutdown)),
    ])
}
