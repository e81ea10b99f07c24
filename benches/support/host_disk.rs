//! What the kernel is writing to the disk under the bench's PostgreSQL, for telling a WAL
//! flush stall caused by the page cache's writeback from one caused by PostgreSQL itself.
//!
//! Every durable commit ends in an `fdatasync` of the WAL, which on a disk with a volatile
//! write cache (and no FUA) is a cache flush: it waits for every write already queued to
//! the device, including the kernel writing back data files that PostgreSQL left in the
//! page cache. Linux lets that background writeback run until synchronous writes are slower
//! than the queue's `wbt_lat_usec` — 75 ms on a device that calls itself rotational, as
//! this machine's virtual disk does (docs/operations.md, "Database").

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The block device a path lives on, read from `/proc/diskstats` and `/proc/meminfo`.
pub struct DiskWatch {
    name: String,
    queue: PathBuf,
    last: Option<Counters>,
}

#[derive(Clone, Copy)]
struct Counters {
    sectors_written: u64,
    write_wait_ms: u64,
}

impl DiskWatch {
    /// The device holding `path`, if `/sys` tells which one it is.
    pub fn for_path(path: &Path) -> Option<Self> {
        let dev = fs::metadata(path).ok()?.dev();
        // The kernel's encoding of a device number (glibc's major()/minor()).
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let device = fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
        let name = device.file_name()?.to_string_lossy().into_owned();
        // A partition has no queue of its own; its disk's is one level up.
        let queue = [device.join("queue"), device.join("../queue")]
            .into_iter()
            .find(|q| q.is_dir())?;
        Some(Self {
            name,
            queue,
            last: None,
        })
    }

    /// The settings that decide how hard the kernel's writeback competes with WAL flushes.
    pub fn settings(&self) -> String {
        let queue = |f: &str| read_trimmed(&self.queue.join(f));
        let vm = |f: &str| read_trimmed(Path::new("/proc/sys/vm").join(f).as_path());
        format!(
            "disk {}: rotational {}, wbt_lat_usec {}, write_cache {}, fua {}; vm.dirty_background_bytes {}, \
             vm.dirty_background_ratio {}, vm.dirty_expire_centisecs {}",
            self.name,
            queue("rotational"),
            queue("wbt_lat_usec"),
            queue("write_cache"),
            queue("fua"),
            vm("dirty_background_bytes"),
            vm("dirty_background_ratio"),
            vm("dirty_expire_centisecs"),
        )
    }

    /// Since the previous call: a line when the device was busy writing (more than 8 MB,
    /// or requests waiting more than 100 ms in all), with the page cache's dirty and
    /// under-writeback totals. `None` when quiet or unreadable.
    pub fn sample(&mut self) -> Option<String> {
        let now = self.counters()?;
        let last = self.last.replace(now)?;
        let written_mb = (now.sectors_written - last.sectors_written) as f64 * 512.0 / 1e6;
        let waited = now.write_wait_ms - last.write_wait_ms;
        if written_mb <= 8.0 && waited <= 100 {
            return None;
        }
        let (dirty, writeback) = page_cache_mb();
        Some(format!(
            "disk: {written_mb:.0} MB written, write requests waited {waited} ms in all; \
             page cache dirty {dirty} MB, under writeback {writeback} MB"
        ))
    }

    fn counters(&self) -> Option<Counters> {
        let stats = fs::read_to_string("/proc/diskstats").ok()?;
        let fields: Vec<&str> = stats
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.get(2) == Some(&self.name.as_str()))?;
        // Fields 10 and 11 (1-based, after major, minor, name): sectors written, ms spent writing.
        let n = |i: usize| fields.get(i)?.parse::<u64>().ok();
        Some(Counters {
            sectors_written: n(9)?,
            write_wait_ms: n(10)?,
        })
    }
}

/// `Dirty` and `Writeback` from `/proc/meminfo`, in MB.
fn page_cache_mb() -> (u64, u64) {
    let info = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |key: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kb("Dirty:") / 1024, kb("Writeback:") / 1024)
}

fn read_trimmed(path: &Path) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}
