//! `reporting`: analysts' reporting logins for a firm.

use anyhow::Result;
use clap::Subcommand;

use super::with_app;
use crate::runtime::config::DatabaseConfig;

#[derive(Debug, Subcommand)]
pub enum ReportingCommand {
    /// Create the firm's reporting login role (or give it a new password) and print a
    /// connection URL for it, once. It reads the firm's reporting tables and views only.
    Grant {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Drop the firm's reporting login role.
    Revoke {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

impl ReportingCommand {
    pub async fn run(self) -> Result<()> {
        match self {
            Self::Grant { tenant, database } => {
                let grant = with_app(&database, |app| async move {
                    let connect = app.pool().connect_options();
                    crate::runtime::reporting::grant(app.pool(), &connect, &tenant).await
                })
                .await?;
                eprintln!("reporting role {} may read its firm's reporting tables; the URL below holds its password and is shown once", grant.role);
                println!("{}", grant.url);
                Ok(())
            }
            Self::Revoke { tenant, database } => {
                let dropped = with_app(&database, |app| async move {
                    crate::runtime::reporting::revoke(app.pool(), &tenant).await
                })
                .await?;
                println!(
                    "{}",
                    if dropped {
                        "revoked"
                    } else {
                        "no reporting role"
                    }
                );
                Ok(())
            }
        }
    }
}
