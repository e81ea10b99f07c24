//! `tenants`: creating firms.

use anyhow::Result;
use clap::Subcommand;

use super::with_app;
use crate::runtime::config::DatabaseConfig;
use crate::services::tenants;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints its id.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

impl TenantCommand {
    pub async fn run(self) -> Result<()> {
        match self {
            Self::Create {
                slug,
                name,
                database,
            } => {
                let id = with_app(&database, |app| async move {
                    Ok(tenants::create_tenant(&app, &slug, &name).await?)
                })
                .await?;
                println!("{id}");
                Ok(())
            }
        }
    }
}
