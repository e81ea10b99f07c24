//! The operator command line: `serve`, `migrate`, and a module per group of subcommands
//! (`tenant`, `token`, `projections`, `audit`, `db`, `reporting`, `keys`). Logging is set up once,
//! here.

mod audit;
mod db;
mod keys;
mod projections;
mod reporting;
mod tenants;
mod tokens;

pub use audit::AuditCommand;
pub use db::DbCommand;
pub use keys::KeysCommand;
pub use projections::ProjectionsCommand;
pub use reporting::ReportingCommand;
pub use tenants::TenantCommand;
pub use tokens::TokenCommand;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::app::App;
use crate::runtime::config::{DatabaseConfig, LogFormat, ServeConfig};
use crate::runtime::db::Database;
use crate::security::ServerSecret;

#[derive(Debug, Parser)]
#[command(
    name = "portal-accounts",
    version,
    about = "Event-sourced client-portal accounts"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default when no command is given).
    Serve(ServeConfig),
    /// Apply database migrations (serve does this too).
    Migrate(DatabaseConfig),
    /// Manage tenants (firms).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage staff bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Read models: where each projection stands.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Auditing the event log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The private PostgreSQL cluster (used when DATABASE_URL is unset).
    #[command(subcommand)]
    Db(DbCommand),
    /// Reporting connections for a firm's analysts.
    #[command(subcommand)]
    Reporting(ReportingCommand),
    /// The master key of personal data: rewrap the data keys after a rotation.
    #[command(subcommand)]
    Keys(KeysCommand),
}

pub async fn run(cli: Cli) -> Result<()> {
    let command = cli.command.unwrap_or_else(|| {
        let Cli { command } = Cli::parse_from(["portal-accounts", "serve"]);
        command.expect("serve parses")
    });
    let log_format = match &command {
        Command::Serve(config) => config.log_format,
        _ => LogFormat::Text,
    };
    crate::runtime::logging::init_logging(log_format);
    match command {
        Command::Serve(config) => crate::runtime::server::serve(config).await,
        Command::Migrate(database) => {
            with_app(&database, |_| async { Ok(()) }).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Tenant(command) => command.run().await,
        Command::Token(command) => command.run().await,
        Command::Projections(command) => command.run().await,
        Command::Audit(command) => command.run().await,
        Command::Db(command) => command.run().await,
        Command::Reporting(command) => command.run().await,
        Command::Keys(command) => command.run().await,
    }
}

/// Connects, migrates, runs `work`, and stops a private cluster this command started.
async fn with_app<T, F, Fut>(database: &DatabaseConfig, work: F) -> Result<T>
where
    F: FnOnce(App) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let db = Database::connect(database).await?;
    let result = async {
        db.migrate().await?;
        let secret = ServerSecret::from_config(None, &database.data_dir)?;
        let masters = crate::security::data_master_keys(
            std::env::var("PORTAL_DATA_KEY").ok().as_deref(),
            std::env::var("PORTAL_DATA_KEY_PREVIOUS").ok().as_deref(),
            &database.data_dir,
        )?;
        work(App::new(db.pool.clone(), secret, masters)).await
    }
    .await;
    db.shutdown().await;
    result
}
