//! The private cluster's writeback pacing: a pass hands the dirty pages of the relation
//! files written since the last pass to the kernel's writeback, and leaves older files alone.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use portal_accounts::runtime::writeback::start_writeback;

/// `cachestat(2)` (Linux 6.5): how many of a file's pages are cached, dirty, under writeback.
const SYS_CACHESTAT: libc::c_long = 451;

#[repr(C)]
struct CacheStatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default, Debug)]
struct CacheStat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

fn cache_stat(path: &Path) -> CacheStat {
    let file = File::open(path).unwrap();
    let range = CacheStatRange { off: 0, len: 0 };
    let mut stat = CacheStat::default();
    // SAFETY: both pointers are to live values of the layout the kernel expects.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const CacheStatRange,
            &mut stat as *mut CacheStat,
            0u32,
        )
    };
    assert_eq!(rc, 0, "cachestat: {}", std::io::Error::last_os_error());
    stat
}

/// Writes 8 MB without syncing: dirty pages the kernel would keep for ~30 s.
fn write_dirty(path: &Path) {
    let mut file = File::create(path).unwrap();
    let block = vec![7u8; 1 << 20];
    for _ in 0..8 {
        file.write_all(&block).unwrap();
    }
}

#[test]
fn a_pass_starts_writing_recent_relation_files_and_skips_old_ones() {
    // On the disk, not a tmpfs: tmpfs pages are never written back.
    let cluster = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "writeback-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let database = cluster.join("base").join("16384");
    fs::create_dir_all(&database).unwrap();
    let recent = database.join("16394");
    let old = database.join("16395");
    write_dirty(&recent);
    write_dirty(&old);
    File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    assert!(
        cache_stat(&recent).nr_dirty > 0,
        "{:?}",
        cache_stat(&recent)
    );

    let handed = start_writeback(
        &cluster.join("base"),
        SystemTime::now() - Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(handed, 1, "only the file written since the last pass");

    // The kernel now writes it: no dirty page and none under writeback, long before the
    // 30 s after which it would have written it on its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = cache_stat(&recent);
        if stat.nr_dirty == 0 && stat.nr_writeback == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "still not written: {stat:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::remove_dir_all(&cluster).unwrap();
}

#[test]
fn a_missing_cluster_directory_is_an_error_not_a_panic() {
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-cluster/base");
    assert!(start_writeback(&missing, SystemTime::UNIX_EPOCH).is_err());
}
