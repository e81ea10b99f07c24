//! `tokens`: staff tokens made by the operator.

use aggregates::tenant::StaffRole;
use anyhow::Result;
use clap::Subcommand;

use super::with_app;
use crate::runtime::config::DatabaseConfig;
use crate::services::tenants;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a staff member (named after the label, or --staff-name) with a personal
    /// token, or with --service a service token; prints the token once (only its hash is
    /// stored).
    Create {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// admin, staff, auditor or reporting.
        #[arg(long, value_parser = |s: &str| StaffRole::parse(s))]
        role: StaffRole,
        #[arg(long)]
        label: Option<String>,
        /// The new staff member's name (default: the label).
        #[arg(long)]
        staff_name: Option<String>,
        /// The new staff member's e-mail.
        #[arg(long)]
        staff_email: Option<String>,
        /// A service token (for a staff UI backend): no person of its own; every command
        /// names one in `X-Acting-Staff`.
        #[arg(long, conflicts_with_all = ["staff_name", "staff_email"])]
        service: bool,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

impl TokenCommand {
    pub async fn run(self) -> Result<()> {
        match self {
            Self::Create {
                tenant,
                role,
                label,
                staff_name,
                staff_email,
                service,
                database,
            } => {
                let spec = tenants::OperatorToken {
                    label,
                    staff_name,
                    staff_email,
                    service,
                };
                let token = with_app(&database, |app| async move {
                    Ok(tenants::issue_operator_token(&app, &tenant, role, spec).await?)
                })
                .await?;
                println!("{token}");
                Ok(())
            }
        }
    }
}
