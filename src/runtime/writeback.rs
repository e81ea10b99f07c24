//! Starts the kernel's writeback of the private cluster's recently written table and index
//! files every second, so that the pages PostgreSQL 15 leaves in the page cache
//! reach the disk in small steps instead of one burst every 30 s that every commit's WAL
//! flush would queue behind.
//!
//! Why (docs/performance.md, session 12, traced with the kernel's writeback events): when
//! PostgreSQL 15 extends a table or an index it writes the new pages into the page cache
//! and asks for nothing more; `*_flush_after` covers only buffers it writes out later. The
//! kernel writes a file's dirty pages once the file has been dirty for 30 s
//! (`vm.dirty_expire_centisecs`), all at once: under the service's load 100–120 MB of
//! `events`, `audit_seals`, `rm_clients` and their indexes in one go, and a WAL flush issued
//! then waits 40–100 ms. (PostgreSQL 16 extends by many pages at once with `fallocate`
//! where it can; for a cluster an operator runs, see docs/operations.md.) For the
//! private cluster, which this service owns, the service asks for the writeback itself:
//! `sync_file_range(SYNC_FILE_RANGE_WRITE)` only starts writing what is dirty, waits for
//! nothing and changes no data — what PostgreSQL itself does for the buffers it writes.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// How often the cluster's recently written files are handed to the kernel's writeback:
/// under the bench's load ≈ 10 MB a step. (Every quarter-second, listing once a second, was
/// tried: three runs each, no difference in the latency tail; the simpler one stayed.)
const INTERVAL: Duration = Duration::from_secs(1);

/// Slack on the "written since the last pass" test: file times are kept at the kernel's
/// coarse clock tick, and a pass takes time of its own.
const SLACK: Duration = Duration::from_secs(1);

/// The pacing thread; stops when dropped.
pub struct WritebackPacer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WritebackPacer {
    /// Starts pacing the writeback of the relation files under `cluster_dir/base`.
    pub fn start(cluster_dir: &Path) -> io::Result<Self> {
        let base = cluster_dir.join("base");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pg-writeback".into())
            .spawn(move || {
                let mut since = SystemTime::UNIX_EPOCH;
                while !stopping.load(Ordering::Relaxed) {
                    let started = SystemTime::now();
                    match start_writeback(&base, since) {
                        Ok(_) => since = started.checked_sub(SLACK).unwrap_or(started),
                        // The cluster's files are not ours to read (or gone): pacing is an
                        // optimisation, never a reason to disturb the service.
                        Err(e) => {
                            tracing::debug!(error = %e, "pacing the private cluster's writeback")
                        }
                    }
                    std::thread::park_timeout(INTERVAL);
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for WritebackPacer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// One pass: every file `recently_written` lists is handed to the kernel's writeback (a
/// relation dropped, truncated or rewritten meanwhile is simply gone). Returns how many were
/// handed.
pub fn start_writeback(base: &Path, since: SystemTime) -> io::Result<usize> {
    Ok(recently_written(base, since)?
        .iter()
        .filter(|file| hand_to_writeback(file).is_ok())
        .count())
}

/// The regular files under `base/<database>/` modified at or after `since`.
fn recently_written(base: &Path, since: SystemTime) -> io::Result<Vec<PathBuf>> {
    let mut recent = Vec::new();
    for database in std::fs::read_dir(base)? {
        let Ok(database) = database else { continue };
        let Ok(files) = std::fs::read_dir(database.path()) else {
            continue;
        };
        for file in files.flatten() {
            let Ok(meta) = file.metadata() else { continue };
            if meta.is_file() && meta.modified().is_ok_and(|m| m >= since) {
                recent.push(file.path());
            }
        }
    }
    Ok(recent)
}

/// Starts writing `path`'s dirty pages (`SYNC_FILE_RANGE_WRITE`: waits for none of it).
fn hand_to_writeback(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    // SAFETY: a plain system call on a descriptor `file` keeps open for its duration.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
