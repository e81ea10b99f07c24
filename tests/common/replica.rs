//! A real streaming replica of the test cluster: `pg_basebackup -R` of the private
//! cluster, started beside it on its own Unix socket, stopped and removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use uuid::Uuid;

pub struct Replica {
    dir: PathBuf,
    bin: PathBuf,
    /// PostgreSQL refuses to run as root: as root, its tools run as `postgres`.
    run_as: Option<&'static str>,
    /// How to connect (the cluster owner's role, by the replica's socket).
    pub url: String,
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_basebackup").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("a PostgreSQL bin directory with pg_basebackup")
}

impl Replica {
    /// Copies the running primary whose socket is in `primary_socket_dir` and starts the
    /// copy as a hot standby streaming from it.
    pub fn start(primary_socket_dir: &Path) -> Self {
        let root = unsafe { libc::geteuid() } == 0;
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = tmp.join(format!(
            "rep-{}",
            &Uuid::now_v7().simple().to_string()[24..]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let replica = Self {
            url: format!(
                "postgresql://portal@localhost/portal?host={}&port=5432",
                dir.display().to_string().replace('/', "%2F")
            ),
            dir,
            bin: bin_dir(),
            run_as: root.then_some("postgres"),
        };
        if root {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o711)).unwrap();
            replica.run(Command::new("chown").arg("postgres:").arg(&replica.dir));
        }
        let socket = primary_socket_dir.to_str().unwrap();
        let dir = replica.dir.to_str().unwrap();
        replica.tool(
            "pg_basebackup",
            &[
                "-D",
                dir,
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "-h",
                socket,
                "-p",
                "5432",
                "-U",
                "portal",
            ],
        );
        // The primary's socket lives in its data directory, so the copy has its lock file.
        for entry in std::fs::read_dir(&replica.dir).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with(".s.PGSQL") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        // The copy carries the primary's settings; its own socket directory wins (last line).
        let conf = replica.dir.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&format!(
            "\nlisten_addresses = ''\nunix_socket_directories = '{dir}'\nhot_standby = on\n"
        ));
        std::fs::write(&conf, text).unwrap();
        let log = replica.dir.join("server.log");
        replica.tool(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                dir,
                "-l",
                log.to_str().unwrap(),
            ],
        );
        replica
    }

    /// Stops the replica (as a crash or an outage would look to the service: it is gone).
    pub fn stop(&self) {
        let dir = self.dir.to_str().unwrap();
        if self.try_tool("pg_ctl", &["status", "-D", dir]) {
            self.tool("pg_ctl", &["stop", "-m", "immediate", "-w", "-D", dir]);
        }
    }

    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        for var in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGDATA"] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn tool(&self, tool: &str, args: &[&str]) {
        self.run(self.command(tool).args(args));
    }

    fn try_tool(&self, tool: &str, args: &[&str]) -> bool {
        self.command(tool)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn run(&self, cmd: &mut Command) {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
