//! `projections`: where the read models stand, and rebuilding them.

use anyhow::Result;
use clap::Subcommand;

use super::with_app;
use crate::runtime::config::DatabaseConfig;

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Position, lag and failed events of each projection.
    Status {
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Rebuild a read model (or all) from the first event, while the service keeps serving.
    Rebuild {
        /// clients, items or contracts; all when absent.
        name: Option<String>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

impl ProjectionsCommand {
    pub async fn run(self) -> Result<()> {
        match self {
            Self::Status { database } => {
                let all = with_app(&database, |app| async move {
                    Ok(projections::engine::status(app.pool()).await?)
                })
                .await?;
                println!("projection\tposition\tlag\tfailed_events\tupdated_at");
                for p in all {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        p.name,
                        p.position,
                        p.lag,
                        p.failures,
                        p.updated_at.to_rfc3339()
                    );
                }
                Ok(())
            }
            Self::Rebuild { name, database } => {
                with_app(&database, |app| async move {
                    let all = projections::all();
                    let chosen: Vec<&dyn projections::Projection> = all
                        .iter()
                        .map(|p| p.as_ref())
                        .filter(|p| name.as_deref().is_none_or(|n| n == p.name()))
                        .collect();
                    anyhow::ensure!(
                        !chosen.is_empty(),
                        "no projection is called {}",
                        name.unwrap_or_default()
                    );
                    let engine = projections::Engine::new(
                        app.pool().clone(),
                        app.keys().clone(),
                        all.clone(),
                    );
                    let started = std::time::Instant::now();
                    let read = engine.rebuild(&chosen).await?;
                    let names: Vec<&str> = chosen.iter().map(|p| p.name()).collect();
                    println!(
                        "{}\trebuilt from {read} events in {:.1} s",
                        names.join(", "),
                        started.elapsed().as_secs_f64()
                    );
                    Ok(())
                })
                .await
            }
        }
    }
}
