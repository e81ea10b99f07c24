//! The operator command line: `serve`, `migrate`, `tenant create`, `token create`.

use aggregates::tenant::StaffRole;
use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::app::App;
use crate::runtime::config::{DatabaseConfig, LogFormat, ServeConfig};
use crate::runtime::db::Database;
use crate::runtime::embedded_pg::EmbeddedPostgres;
use crate::security::ServerSecret;
use crate::services::tenants;

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
}

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

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Stop the private cluster under the data directory if it is running (e.g. one left
    /// behind by a crashed server or by the test suite).
    Stop {
        #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./.portal-data")]
        data_dir: std::path::PathBuf,
    },
}

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

pub async fn run(cli: Cli) -> Result<()> {
    let command = cli.command.unwrap_or_else(|| {
        let Cli { command } = Cli::parse_from(["portal-accounts", "serve"]);
        command.expect("serve parses")
    });
    match command {
        Command::Serve(config) => {
            crate::runtime::logging::init_logging(config.log_format);
            crate::runtime::server::serve(config).await
        }
        Command::Migrate(database) => {
            crate::runtime::logging::init_logging(LogFormat::Text);
            with_app(&database, |_| async { Ok(()) }).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Tenant(TenantCommand::Create {
            slug,
            name,
            database,
        }) => {
            crate::runtime::logging::init_logging(LogFormat::Text);
            let id = with_app(&database, |app| async move {
                Ok(tenants::create_tenant(&app, &slug, &name).await?)
            })
            .await?;
            println!("{id}");
            Ok(())
        }
        Command::Projections(ProjectionsCommand::Status { database }) => {
            crate::runtime::logging::init_logging(LogFormat::Text);
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
        Command::Projections(ProjectionsCommand::Rebuild { name, database }) => {
            crate::runtime::logging::init_logging(LogFormat::Text);
            with_app(&database, |app| async move {
                let all = projections::all();
                let chosen: Vec<_> = all
                    .iter()
                    .filter(|p| name.as_deref().is_none_or(|n| n == p.name()))
                    .collect();
                anyhow::ensure!(
                    !chosen.is_empty(),
                    "no projection is called {}",
                    name.unwrap_or_default()
                );
                let engine = projections::Engine::new(app.pool().clone(), all.clone());
                for projection in chosen {
                    let started = std::time::Instant::now();
                    let applied = engine.rebuild(projection.as_ref()).await?;
                    println!(
                        "{}\trebuilt from {applied} events in {:.1} s",
                        projection.name(),
                        started.elapsed().as_secs_f64()
                    );
                }
                Ok(())
            })
            .await
        }
        Command::Audit(AuditCommand::VerifyExport {
            file,
            checkpoint,
            public_key,
        }) => {
            let kept = match &checkpoint {
                Some(path) => Some(serde_json::from_slice::<
                    crate::audit::checkpoint::Checkpoint,
                >(
                    &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                )?),
                None => None,
            };
            let key = public_key
                .as_deref()
                .map(crate::audit::key::public_key_from_base64)
                .transpose()?;
            let input = std::io::BufReader::new(
                std::fs::File::open(&file)
                    .with_context(|| format!("opening {}", file.display()))?,
            );
            let report =
                crate::audit::offline::verify_export(input, kept.as_ref().zip(key.as_ref()))?;
            match &report.broken {
                None => {
                    println!(
                        "ok	lines={}	links={:?}..{:?}	head={}{}",
                        report.lines,
                        report.first_seq,
                        report.last_seq,
                        report.head_hash.as_deref().unwrap_or("-"),
                        if kept.is_some() {
                            "	checkpoint=holds"
                        } else {
                            ""
                        }
                    );
                    Ok(())
                }
                Some((line, problem)) => {
                    println!("BROKEN	line={line}	{problem}");
                    std::process::exit(1);
                }
            }
        }
        Command::Audit(AuditCommand::PublicKey {
            audit_key,
            data_dir,
        }) => {
            let key = crate::audit::key::AuditKey::from_config(audit_key.as_deref(), &data_dir)?;
            println!(
                "{}",
                serde_json::json!({"algorithm": "ed25519", "key_id": key.key_id(), "public_key": key.public_key_base64()})
            );
            Ok(())
        }
        Command::Audit(AuditCommand::Verify { tenant, database }) => {
            crate::runtime::logging::init_logging(LogFormat::Text);
            let all_ok = with_app(&database, |app| async move {
                let mut all_ok = true;
                for (scope, slug) in crate::auth::operator::every_tenant(app.pool()).await? {
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
        Command::Db(DbCommand::Stop { data_dir }) => {
            crate::runtime::logging::init_logging(LogFormat::Text);
            if data_dir.join("pg.lock").exists() {
                EmbeddedPostgres::for_data_dir(&data_dir)?.stop()?;
            }
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            tenant,
            role,
            label,
            staff_name,
            staff_email,
            service,
            database,
        }) => {
            crate::runtime::logging::init_logging(LogFormat::Text);
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
        Command::Reporting(ReportingCommand::Grant { tenant, database }) => {
            crate::runtime::logging::init_logging(LogFormat::Text);
            let grant = with_app(&database, |app| async move {
                let connect = app.pool().connect_options();
                crate::runtime::reporting::grant(app.pool(), &connect, &tenant).await
            })
            .await?;
            eprintln!("reporting role {} may read its firm's reporting tables; the URL below holds its password and is shown once", grant.role);
            println!("{}", grant.url);
            Ok(())
        }
        Command::Reporting(ReportingCommand::Revoke { tenant, database }) => {
            crate::runtime::logging::init_logging(LogFormat::Text);
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
        work(App::new(db.pool.clone(), secret)).await
    }
    .await;
    db.shutdown().await;
    result
}
