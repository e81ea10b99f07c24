//! Service configuration: each setting from a `serve` flag or its environment variable.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where the database is; shared by `serve` and the operator commands.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// PostgreSQL to use. Unset: a private cluster under the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Holds the private cluster, the generated server secret and the e-mail outbox.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./.portal-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// A streaming replica for staff reads and `min_position` waits. Unset: the primary.
    /// When it does not answer, reads fall back to the primary.
    #[arg(long, env = "DATABASE_READ_URL")]
    pub database_read_url: Option<String>,
    /// Connections served at once; more are closed at accept. Each request's headers must
    /// arrive within 10 s (idle keep-alive connections close then too).
    #[arg(long, env = "PORTAL_MAX_CONNECTIONS", default_value_t = 4_096)]
    pub max_connections: usize,
    /// Address to serve on; port 0 picks a free port (logged at start).
    #[arg(long, env = "PORTAL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Base URL put in e-mailed links. Default: http://<listen address>.
    #[arg(long, env = "PORTAL_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// SMTP server for e-mail, e.g. smtp://127.0.0.1:2525. Unset: .eml files in the data dir.
    #[arg(long, env = "PORTAL_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Server secret for link tokens. Unset: generated once and kept in the data dir.
    #[arg(long, env = "PORTAL_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Ed25519 audit key (32-byte seed, base64) that signs chain checkpoints. Unset:
    /// generated once and kept in the data dir (`audit-ed25519.key`).
    #[arg(long, env = "PORTAL_AUDIT_KEY", hide_env_values = true)]
    pub audit_key: Option<String>,
    /// Master key (64 hex digits) wrapping the per-client keys of personal data in events.
    /// Unset: generated once and kept in the data dir (`data.key`).
    #[arg(long, env = "PORTAL_DATA_KEY", hide_env_values = true)]
    pub data_key: Option<String>,
    /// Former master keys (comma-separated) still unwrapping keys not yet rewrapped.
    #[arg(long, env = "PORTAL_DATA_KEY_PREVIOUS", hide_env_values = true)]
    pub data_key_previous: Option<String>,
    /// A directory each new signed checkpoint is also written to, as
    /// `<tenant id>/<chain_seq>.json` (mount it from elsewhere, or ship it to the firms'
    /// auditors), so rewriting history unnoticed needs that copy too. Unset: none.
    #[arg(long, env = "PORTAL_CHECKPOINT_DIR")]
    pub checkpoint_dir: Option<std::path::PathBuf>,
    /// Sender address of e-mails (the firm's name is shown as the sender's name).
    #[arg(long, env = "PORTAL_MAIL_FROM", default_value = "portal@localhost")]
    pub mail_from: String,
    /// First retry delay after a temporary SMTP failure, in milliseconds; doubles per attempt.
    #[arg(long, env = "PORTAL_MAIL_RETRY_BASE_MS", default_value_t = 30_000)]
    pub mail_retry_base_ms: u64,
    /// Development and tests only: let webhooks go to http:// URLs and to loopback,
    /// private and link-local addresses (refused otherwise, at creation and at delivery).
    #[arg(long, env = "PORTAL_WEBHOOK_ALLOW_PRIVATE", default_value_t = false)]
    pub webhook_allow_private: bool,
    /// The longest an event-feed request long-polls (`wait_s` is capped to it), in
    /// seconds, 0–30: lower it behind a proxy that closes quiet requests sooner.
    #[arg(long, env = "PORTAL_FEED_MAX_WAIT_S", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=30))]
    pub feed_max_wait_s: u64,
    /// Behind a reverse proxy: take the client's address (event metadata, login history,
    /// per-address login limits) from the last X-Forwarded-For hop, not the TCP peer.
    #[arg(long, env = "PORTAL_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Origins a browser-based staff UI may call the API from (comma-separated, e.g.
    /// `https://staff.example.com`). Unset: no cross-origin calls are allowed.
    #[arg(long, env = "PORTAL_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Log lines as human-readable text or as JSON objects.
    #[arg(long, env = "PORTAL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}
