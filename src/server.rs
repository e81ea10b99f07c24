//! `serve`: connect (or start the private cluster), migrate, listen, and shut down cleanly.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::ServeConfig;
use crate::db::Database;
use crate::security::ServerSecret;

pub async fn serve(config: ServeConfig) -> Result<()> {
    let db = Database::connect(&config.database).await?;
    db.migrate().await?;
    let secret = ServerSecret::from_config(config.secret.as_deref(), &config.database.data_dir)?;
    let app = App::new(db.pool.clone(), secret);

    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "portal-accounts listening on http://{addr}");

    let (stop_projections, stopping) = tokio::sync::watch::channel(false);
    let engine = projections::Engine::new(db.pool.clone(), projections::all());
    let projecting = tokio::spawn(engine.run(stopping));

    let router = crate::http::router(app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("shutting down");
    let _ = stop_projections.send(true);
    let _ = projecting.await;
    db.shutdown().await;
    Ok(())
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
