//! `audit`: verifying the log's hash chains, online and from an export, and the audit key.

use anyhow::{Context as _, Result};
use clap::Subcommand;

use super::with_app;
use crate::runtime::config::DatabaseConfig;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check an export (`GET /api/v1/audit/export`) with no database: every hash and link,
    /// and with --checkpoint, that the chain passes through that signed head. Exits
    /// non-zero when anything does not hold.
    VerifyExport {
        /// The NDJSON export file.
        file: std::path::PathBuf,
        /// A checkpoint kept earlier (the JSON of `GET /api/v1/audit/checkpoints/latest`).
        #[arg(long, requires = "public_key")]
        checkpoint: Option<std::path::PathBuf>,
        /// The audit public key (base64, as `GET /api/v1/audit/public-key` serves it).
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the audit key's public half (generated in the data dir on first use).
    PublicKey {
        #[arg(long, env = "PORTAL_AUDIT_KEY", hide_env_values = true)]
        audit_key: Option<String>,
        #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./.portal-data")]
        data_dir: std::path::PathBuf,
    },
    /// Recompute every tenant's hash chain (or one tenant's) and report the first break.
    /// Exits non-zero when any chain is broken.
    Verify {
        /// The tenant's slug; all tenants when absent.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

impl AuditCommand {
    pub async fn run(self) -> Result<()> {
        match self {
            Self::VerifyExport {
                file,
                checkpoint,
                public_key,
            } => verify_export(&file, checkpoint.as_deref(), public_key.as_deref()),
            Self::PublicKey {
                audit_key,
                data_dir,
            } => {
                let key =
                    crate::audit::key::AuditKey::from_config(audit_key.as_deref(), &data_dir)?;
                println!(
                    "{}",
                    serde_json::json!({"algorithm": "ed25519", "key_id": key.key_id(), "public_key": key.public_key_base64()})
                );
                Ok(())
            }
            Self::Verify { tenant, database } => verify(tenant, &database).await,
        }
    }
}

/// `audit verify-export`: exits 1 with the first broken line.
fn verify_export(
    file: &std::path::Path,
    checkpoint: Option<&std::path::Path>,
    public_key: Option<&str>,
) -> Result<()> {
    let kept = match checkpoint {
        Some(path) => Some(serde_json::from_slice::<
            crate::audit::checkpoint::Checkpoint,
        >(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )?),
        None => None,
    };
    let key = public_key
        .map(crate::audit::key::public_key_from_base64)
        .transpose()?;
    let input = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let report = crate::audit::offline::verify_export(input, kept.as_ref().zip(key.as_ref()))?;
    match &report.broken {
        None => {
            println!(
                "ok\tlines={}\tlinks={:?}..{:?}\thead={}{}",
                report.lines,
                report.first_seq,
                report.last_seq,
                report.head_hash.as_deref().unwrap_or("-"),
                if kept.is_some() {
                    "\tcheckpoint=holds"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Some((line, problem)) => {
            println!("BROKEN\tline={line}\t{problem}");
            std::process::exit(1);
        }
    }
}

/// `audit verify`: a line per firm; fails when any chain is broken.
async fn verify(tenant: Option<String>, database: &DatabaseConfig) -> Result<()> {
    let all_ok = with_app(database, |app| async move {
        let mut all_ok = true;
        for (scope, slug) in crate::auth::operator::every_tenant(app.pool(), app.keys()).await? {
            if tenant.as_ref().is_some_and(|t| t != &slug) {
                continue;
            }
            let started = std::time::Instant::now();
            let report = crate::audit::verify::verify_tenant(&scope).await?;
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{slug}\t{}\tchecked={}\t{:.0} events/s\t{}",
                if report.ok { "ok" } else { "BROKEN" },
                report.checked,
                report.checked as f64 / seconds.max(1e-9),
                report.problem.as_deref().map_or_else(
                    || format!("head={}", report.head_hash.as_deref().unwrap_or("-")),
                    |p| format!(
                        "first_broken_position={:?} {p}",
                        report.first_broken_position
                    )
                )
            );
            all_ok &= report.ok;
        }
        Ok(all_ok)
    })
    .await?;
    anyhow::ensure!(all_ok, "the event log failed verification");
    Ok(())
}
