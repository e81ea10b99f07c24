//! `serve`: connect (or start the private cluster), migrate, listen, and shut down cleanly.

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::http::Edge;
use crate::infra::read_pool::ReadPool;
use crate::mail::MailConfig;
use crate::runtime::config::ServeConfig;
use crate::runtime::db::Database;
use crate::security::ServerSecret;

pub async fn serve(config: ServeConfig) -> Result<()> {
    crate::http::listener::raise_file_limit();
    let db = Database::connect(&config.database).await?;
    db.migrate().await?;
    let secret = ServerSecret::from_config(config.secret.as_deref(), &config.database.data_dir)?;
    let masters = crate::security::data_master_keys(
        config.data_key.as_deref(),
        config.data_key_previous.as_deref(),
        &config.database.data_dir,
    )?;
    let mut app = Edge::on(db.pool.clone(), secret, masters);
    app.audit_key = crate::audit::key::AuditKey::from_config(
        config.audit_key.as_deref(),
        &config.database.data_dir,
    )?;
    tracing::info!(key_id = %app.audit_key.key_id(), "audit checkpoints are signed with this key");
    app.trust_forwarded_for = config.trust_forwarded_for;
    app.cors_origins = crate::http::cors::parse_origins(&config.cors_origins)?;
    app.checkpoint_dir = config.checkpoint_dir.clone();
    app.outbound.allow_private = config.webhook_allow_private;
    app.feed_max_wait = std::time::Duration::from_secs(config.feed_max_wait_s);
    if config.webhook_allow_private {
        tracing::warn!(
            "PORTAL_WEBHOOK_ALLOW_PRIVATE: webhooks may go to http:// and private addresses"
        );
    }
    if let Some(url) = &config.database_read_url {
        let replica = crate::runtime::db::read_replica_pool(url)?;
        app.reads = ReadPool::with_replica(db.pool.clone(), replica);
        tracing::info!("staff reads go to the read replica (DATABASE_READ_URL)");
    }

    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "portal-accounts listening on http://{addr}");

    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    app.public_url = Some(public_url.trim_end_matches('/').to_string());
    let mut mail = MailConfig::new(
        config.smtp_url.clone(),
        &config.database.data_dir,
        &public_url,
    );
    mail.from_address = config.mail_from.clone();
    mail.retry_base = std::time::Duration::from_millis(config.mail_retry_base_ms);
    match &mail.smtp_url {
        Some(_) => tracing::info!("e-mail goes out over SMTP"),
        None => {
            tracing::info!(outbox = %mail.outbox_dir.display(), "no PORTAL_SMTP_URL: e-mails are written as .eml files")
        }
    }
    let background = Background::start(&app, &mail)?;

    let router = crate::http::router(app);
    let limits = crate::http::listener::Limits {
        max_connections: config.max_connections,
        ..Default::default()
    };
    crate::http::listener::serve(
        listener,
        router,
        limits,
        shutdown_signal(),
        crate::http::SHUTDOWN_GRACE,
    )
    .await;
    tracing::info!("shutting down");
    background.stop().await;
    db.shutdown().await;
    Ok(())
}

/// The work a server does besides answering requests: the projection engine, the audit
/// sealer, the notifications consumer, the mail sender, the webhook outbox and dispatcher,
/// and housekeeping.
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    pub fn start(app: &Edge, mail: &MailConfig) -> Result<Self> {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let engine =
            projections::Engine::new(app.pool().clone(), app.keys().clone(), projections::all());
        let mut tasks = vec![
            tokio::spawn(engine.run(stopping.clone())),
            tokio::spawn(crate::audit::runner::run(
                app.pool().clone(),
                Some(crate::audit::checkpoint::Signer {
                    key: app.audit_key.clone(),
                    deliver_to: app.checkpoint_dir.clone(),
                }),
                stopping.clone(),
            )),
            tokio::spawn(crate::runtime::housekeeping::run(
                app.pool().clone(),
                stopping.clone(),
            )),
            tokio::spawn(crate::runtime::retention::run(
                app.app.clone(),
                stopping.clone(),
            )),
        ];
        tasks.extend(crate::webhooks::spawn(
            &app.app,
            app.outbound,
            stopping.clone(),
        ));
        tasks.extend(crate::mail::spawn(
            app.pool().clone(),
            app.keys().clone(),
            app.secret.clone(),
            mail,
            stopping,
        )?);
        Ok(Self { stop, tasks })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
