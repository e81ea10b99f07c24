//! `db`: the private PostgreSQL cluster.

use anyhow::Result;
use clap::Subcommand;

use crate::runtime::embedded_pg::EmbeddedPostgres;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Stop the private cluster under the data directory if it is running (e.g. one left
    /// behind by a crashed server or by the test suite).
    Stop {
        #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./.portal-data")]
        data_dir: std::path::PathBuf,
    },
}

impl DbCommand {
    pub async fn run(self) -> Result<()> {
        match self {
            Self::Stop { data_dir } => {
                if data_dir.join("pg.lock").exists() {
                    EmbeddedPostgres::for_data_dir(&data_dir)?.stop()?;
                }
                Ok(())
            }
        }
    }
}
