//! `keys`: the master key that wraps the data keys of personal fields (docs/privacy.md).

use anyhow::Result;
use clap::Subcommand;

use super::with_app;
use crate::runtime::config::DatabaseConfig;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Rewraps every data key under the current master key (`PORTAL_DATA_KEY`), reading
    /// the others with `PORTAL_DATA_KEY_PREVIOUS`; no event is rewritten.
    Rewrap {
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

impl KeysCommand {
    pub async fn run(self) -> Result<()> {
        match self {
            Self::Rewrap { database } => {
                let done = with_app(&database, |app| async move {
                    Ok(app.keys().rewrap_all().await?)
                })
                .await?;
                println!("rewrapped {done} data keys");
                Ok(())
            }
        }
    }
}
