//! A private PostgreSQL cluster under the data directory, started from the installed
//! PostgreSQL binaries, for running the service (and its tests) with no database configured.
//!
//! The cluster listens only on a Unix socket inside its own directory, so it never competes
//! for a TCP port with a system PostgreSQL. PostgreSQL refuses to run as root, so when we are
//! root the cluster belongs to the `postgres` user and its tools run through `runuser`.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use fs2::FileExt;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;

const SUPERUSER: &str = "portal";
const DATABASE: &str = "portal";
const OS_USER_WHEN_ROOT: &str = "postgres";
/// Unix socket paths are limited to ~107 bytes; leave room for `/.s.PGSQL.5432`.
const MAX_SOCKET_DIR_LEN: usize = 90;

/// Settings chosen after the first clusters were made, so written into existing clusters
/// too (`add_later_settings`).
///
/// `backend_flush_after`: a backend that writes out a buffer to make room (with the
/// default 128 MB of shared buffers, most buffers written under a write load) leaves it in
/// the kernel's page cache, and the kernel writes what piled up in bursts, every 30 s by
/// default; a WAL flush issued during a burst waits behind it — the 60–100 ms commit
/// stalls measured on the bench machines (docs/decisions.md, record 17). With this the backend asks the kernel to
/// start writing every 256 kB it wrote, as PostgreSQL's own background writer and
/// checkpointer already do by default on Linux.
const LATER_SETTINGS: &[(&str, &str)] = &[("backend_flush_after", "256kB")];

pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    cluster_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<&'static str>,
    started_here: bool,
}

impl EmbeddedPostgres {
    /// Where the cluster for `data_dir` lives; nothing is created yet.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self> {
        fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let run_as = is_root().then_some(OS_USER_WHEN_ROOT);
        let mut cluster_dir = data_dir.join("pg");
        if run_as.is_some() && !reachable_by_others(&data_dir) {
            // The postgres user cannot reach e.g. /root/...; keep the cluster where it can, at
            // a place derived from the data directory so it is found again after a restart.
            cluster_dir = fallback_dir("portal-accounts-pg", &data_dir);
        }
        if cluster_dir.as_os_str().len() > MAX_SOCKET_DIR_LEN {
            cluster_dir = fallback_dir("portal-pg", &data_dir);
        }
        Ok(Self {
            data_dir,
            cluster_dir,
            bin_dir: find_bin_dir()?,
            run_as,
            started_here: false,
        })
    }

    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// Creates the cluster on first use, starts it unless it already runs, and makes sure the
    /// application database exists. Safe to call from several processes at once.
    pub fn ensure_running(&mut self) -> Result<PgConnectOptions> {
        let lock = self.lock()?;
        if !self.cluster_dir.join("PG_VERSION").exists() {
            self.init_cluster()?;
        }
        let access_changed = self.configure_access()?;
        let settings_changed = self.add_later_settings()?;
        if !self.is_running() {
            self.start()?;
            self.started_here = true;
        } else if access_changed || settings_changed {
            self.pg_tool("pg_ctl", &os(&["reload", "-D"], &self.cluster_dir))?;
        }
        self.create_database()?;
        drop(lock);
        Ok(self.connect_options(DATABASE))
    }

    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.cluster_dir)
            .port(5432)
            .username(SUPERUSER)
            .database(database)
    }

    /// Whether this process started the cluster (and so should stop it when done).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    pub fn stop(&mut self) -> Result<()> {
        if self.is_running() {
            self.pg_tool(
                "pg_ctl",
                &os(&["stop", "-m", "fast", "-w", "-D"], &self.cluster_dir),
            )?;
        }
        self.started_here = false;
        Ok(())
    }

    fn lock(&self) -> Result<File> {
        let path = self.data_dir.join("pg.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock_exclusive()?;
        Ok(file)
    }

    fn init_cluster(&self) -> Result<()> {
        fs::create_dir_all(&self.cluster_dir)?;
        fs::set_permissions(&self.cluster_dir, fs::Permissions::from_mode(0o700))?;
        if let Some(user) = self.run_as {
            // Let the postgres user pass through the data directory (not list it).
            fs::set_permissions(&self.data_dir, fs::Permissions::from_mode(0o711))?;
            run(Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&self.cluster_dir))?;
        }
        tracing::info!(dir = %self.cluster_dir.display(), "creating private PostgreSQL cluster");
        let mut args = os(&["-D"], &self.cluster_dir);
        for a in [
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        ] {
            args.push(OsStr::new(a));
        }
        self.pg_tool("initdb", &args)?;
        // Only the Unix socket in the cluster's own 0700 directory: nobody else can connect.
        let conf = format!(
            "\n# portal-accounts private cluster\nlisten_addresses = ''\nunix_socket_directories = '{}'\nport = 5432\nmax_connections = 200\nshared_buffers = 128MB\nfsync = on\n",
            self.cluster_dir.display()
        );
        let conf_path = self.cluster_dir.join("postgresql.auto.conf");
        let mut existing = fs::read_to_string(&conf_path).unwrap_or_default();
        existing.push_str(&conf);
        fs::write(&conf_path, existing)?;
        if let Some(user) = self.run_as {
            run(Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&conf_path))?;
        }
        Ok(())
    }

    /// Adds the settings of `LATER_SETTINGS` that the cluster's `postgresql.auto.conf` does
    /// not name yet (a cluster made before they were chosen gets them at its next start; one
    /// an operator set differently, with `ALTER SYSTEM` or by hand, keeps theirs). Returns
    /// whether the file changed.
    fn add_later_settings(&self) -> Result<bool> {
        let path = self.cluster_dir.join("postgresql.auto.conf");
        let existing =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let missing = missing_settings(&existing, LATER_SETTINGS);
        if missing.is_empty() {
            return Ok(false);
        }
        fs::write(&path, format!("{existing}{missing}"))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(true)
    }

    /// Who may connect: the service's own role without a password (only whoever can reach
    /// the cluster's 0700 socket directory can try), including for replication (a replica
    /// made with `pg_basebackup`); every other role — a firm's reporting login — only with
    /// its password. Returns whether the file changed.
    fn configure_access(&self) -> Result<bool> {
        let hba = format!(
            "# Written by portal-accounts at every start.\n\
             local all         {SUPERUSER} trust\n\
             local replication {SUPERUSER} trust\n\
             local all         all         scram-sha-256\n"
        );
        let path = self.cluster_dir.join("pg_hba.conf");
        if fs::read_to_string(&path).unwrap_or_default() == hba {
            return Ok(false);
        }
        fs::write(&path, hba).with_context(|| format!("writing {}", path.display()))?;
        if let Some(user) = self.run_as {
            run(Command::new("chown").arg(format!("{user}:")).arg(&path))?;
        }
        Ok(true)
    }

    fn is_running(&self) -> bool {
        self.pg_tool("pg_ctl", &os(&["status", "-D"], &self.cluster_dir))
            .is_ok()
    }

    fn start(&self) -> Result<()> {
        tracing::info!(dir = %self.cluster_dir.display(), "starting private PostgreSQL cluster");
        let log = self.cluster_dir.join("server.log");
        let mut args = os(&["start", "-w", "-t", "120", "-D"], &self.cluster_dir);
        args.extend([OsStr::new("-l"), log.as_os_str()]);
        self.pg_tool("pg_ctl", &args)
            .map(drop)
            .with_context(|| format!("starting PostgreSQL; see {}", log.display()))
    }

    fn create_database(&self) -> Result<()> {
        let psql = |sql: &str| {
            let mut args = os(
                &[
                    "-qtA",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-U",
                    SUPERUSER,
                    "-d",
                    "postgres",
                    "-h",
                ],
                &self.cluster_dir,
            );
            args.extend([OsStr::new("-c"), OsStr::new(sql)]);
            self.pg_tool("psql", &args)
        };
        let exists = psql(&format!(
            "SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
        ))?;
        if exists.trim() != "1" {
            psql(&format!("CREATE DATABASE {DATABASE}"))?;
        }
        Ok(())
    }

    /// Runs one of PostgreSQL's tools (as the cluster's owner) and returns what it printed.
    fn pg_tool(&self, tool: &str, args: &[&OsStr]) -> Result<String> {
        let program = self.bin_dir.join(tool);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        cmd.args(args);
        // The cluster's tools must not inherit a libpq environment meant for another server.
        for var in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGDATA"] {
            cmd.env_remove(var);
        }
        run(&mut cmd)
    }
}

/// Flags followed by a path, as the arguments of one tool call.
fn os<'a>(flags: &[&'a str], path: &'a Path) -> Vec<&'a OsStr> {
    let mut args: Vec<&OsStr> = flags.iter().map(|f| OsStr::new(*f)).collect();
    args.push(path.as_os_str());
    args
}

fn run(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !output.status.success() {
        bail!(
            "{:?} failed ({}): {}{}",
            cmd.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether a user other than the owner can pass through every directory up to `dir`.
fn reachable_by_others(dir: &Path) -> bool {
    dir.ancestors()
        .skip(1)
        .all(|d| fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

fn fallback_dir(prefix: &str, data_dir: &Path) -> PathBuf {
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let root = if prefix == "portal-pg" {
        "/tmp"
    } else {
        "/var/tmp"
    };
    PathBuf::from(root).join(format!("{prefix}-{}", &hex::encode(digest)[..16]))
}

/// The newest installed PostgreSQL's bin directory (`PORTAL_PG_BIN` overrides).
pub fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PORTAL_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    if let Some((_, bin)) = candidates.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    bail!("no PostgreSQL binaries found (looked in /usr/lib/postgresql/*/bin); set DATABASE_URL or PORTAL_PG_BIN")
}

/// The lines setting those of `settings` that no line of `conf` sets (comments aside).
fn missing_settings(conf: &str, settings: &[(&str, &str)]) -> String {
    let named: Vec<&str> = conf
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            line.split(|c: char| c == '=' || c.is_whitespace())
                .next()
                .filter(|name| !name.is_empty())
        })
        .collect();
    let lines: String = settings
        .iter()
        .filter(|(name, _)| !named.contains(name))
        .map(|(name, value)| format!("{name} = '{value}'\n"))
        .collect();
    // Never glue a new line onto a last line that lacks its newline.
    if !lines.is_empty() && !conf.is_empty() && !conf.ends_with('\n') {
        format!("\n{lines}")
    } else {
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::missing_settings;

    const LATER: &[(&str, &str)] = &[("backend_flush_after", "256kB")];

    #[test]
    fn a_cluster_made_before_a_setting_was_chosen_gets_it() {
        let conf = "# Do not edit this file manually!\nlisten_addresses = ''\nfsync = on\n";
        assert_eq!(
            missing_settings(conf, LATER),
            "backend_flush_after = '256kB'\n"
        );
        // Mentioned only in a comment is not set.
        assert_eq!(
            missing_settings("# backend_flush_after = 0\n", LATER),
            "backend_flush_after = '256kB'\n"
        );
        assert_eq!(
            missing_settings("fsync = on", LATER),
            "\nbackend_flush_after = '256kB'\n"
        );
    }

    #[test]
    fn an_operators_own_value_is_kept() {
        for conf in [
            "backend_flush_after = '0'\n",
            "backend_flush_after='1MB'\n",
            "  backend_flush_after 64\n",
        ] {
            assert_eq!(missing_settings(conf, LATER), "", "{conf}");
        }
    }
}
