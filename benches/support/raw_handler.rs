//! The raw SQL floor every command figure is measured beside: `raw-handler-tps.sh`
//! (pgbench on the postgres-es events table), run against the bench's own database.

use sqlx::PgPool;

/// Clients pgbench runs, as the service's load generators use connections.
const CONNECTIONS: usize = 16;

/// A libpq URL of the bench database, for pgbench: DATABASE_URL, or the private cluster's
/// socket.
pub async fn libpq_url(pool: &PgPool) -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Ok(url);
    }
    let (socket, user, database): (String, String, String) = sqlx::query_as(
        "SELECT current_setting('unix_socket_directories'), current_user, current_database()",
    )
    .fetch_one(pool)
    .await?;
    let socket = socket
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(format!(
        "postgresql:///{database}?host={socket}&user={user}"
    ))
}

/// Runs `support/raw-handler-tps.sh` (pgbench): as fast as it goes, or started at `rate`
/// per second. Its output lines.
fn run_raw_handler(url: &str, seconds: f64, rate: Option<f64>) -> anyhow::Result<String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/support/raw-handler-tps.sh"
    );
    let pg_bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| d.flatten().map(|e| e.path().join("bin")).max())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let path = format!("{pg_bin}:{}", std::env::var("PATH").unwrap_or_default());
    let mut command = std::process::Command::new("bash");
    command
        .arg(script)
        .arg(url)
        .arg(CONNECTIONS.to_string())
        .arg((seconds.round() as u64).max(1).to_string());
    if let Some(rate) = rate {
        command.arg(format!("{rate:.0}"));
    }
    let out = command.env("PATH", path).output()?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// The value printed after `name` by the raw handler's script.
fn raw_value(text: &str, name: &str) -> anyhow::Result<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("raw-handler-tps.sh printed no {name}: {text}"))
}

pub fn raw_handler_tps(url: &str, seconds: f64) -> anyhow::Result<f64> {
    raw_value(&run_raw_handler(url, seconds, None)?, "raw_handler_tps")
}

/// The raw handler started at `rate` per second: its p99 latency (ms) and the fraction of
/// its transactions over 10 ms — what the disk and PostgreSQL allow any durable commit.
pub fn raw_handler_tail(url: &str, seconds: f64, rate: f64) -> anyhow::Result<(f64, f64)> {
    let text = run_raw_handler(url, seconds, Some(rate))?;
    Ok((
        raw_value(&text, "raw_handler_p99_ms")?,
        raw_value(&text, "raw_handler_over_10ms")?,
    ))
}
