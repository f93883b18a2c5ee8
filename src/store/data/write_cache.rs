//! How much freshly written object data stays in the page cache.
//!
//! Written data is kept cached up to a budget (read-after-write stays a cache hit), and the
//! oldest written files are released with `posix_fadvise(DONTNEED)` beyond it. Without a
//! bound, every upload grows the cache with pages the kernel takes from its cold free memory:
//! on this VM, writing 1 MiB into such pages cost 2.3 ms of kernel CPU against 0.5 ms into
//! recycled ones (a page untouched for a while is reported free to the host, and the next touch
//! faults there), which was 23% of a 1 MiB PUT's server CPU. Uploads also no longer evict the
//! metadata's pages. Advice only: the kernel keeps dirty pages, and every error is ignored.

use std::collections::VecDeque;
use std::fs::File;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::sync::Mutex;

/// Bytes of recently written object data kept in the page cache.
pub const BUDGET: u64 = 256 * 1024 * 1024;

/// The recently written files, oldest first, with the bytes each is counted for.
pub struct RecentWrites {
    budget: u64,
    inner: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    files: VecDeque<(PathBuf, u64)>,
    total: u64,
}

impl RecentWrites {
    pub fn new(budget: u64) -> Self {
        RecentWrites { budget, inner: Mutex::new(Recent::default()) }
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Records `len` bytes just written to `path` and returns the files to release, oldest
    /// first, so that what stays counted fits the budget. A file longer than the budget counts
    /// for the budget: its head was already released while it was written.
    pub fn push(&self, path: PathBuf, len: u64) -> Vec<PathBuf> {
        let mut r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let len = len.min(self.budget);
        r.files.push_back((path, len));
        r.total += len;
        let mut out = Vec::new();
        while r.total > self.budget {
            let Some((p, l)) = r.files.pop_front() else { break };
            r.total -= l;
            out.push(p);
        }
        out
    }

    /// Releases the cache of the files `push` returned (deleted ones are already gone).
    pub fn release(paths: Vec<PathBuf>) {
        for p in paths {
            if let Ok(f) = File::open(&p) {
                drop_cached(&f, None);
            }
        }
    }
}

/// Asks the kernel to drop the clean cached pages of the first `len` bytes of `file` (`None`:
/// all of it). Dirty pages in the range are only queued for writeback.
pub fn drop_cached(file: &File, len: Option<NonZeroU64>) {
    let _ = rustix::fs::fadvise(file, 0, len, rustix::fs::Advice::DontNeed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn releases_the_oldest_files_beyond_the_budget() {
        let r = RecentWrites::new(10);
        assert!(r.push(p("a"), 4).is_empty());
        assert!(r.push(p("b"), 4).is_empty());
        assert_eq!(r.push(p("c"), 4), vec![p("a")]);
        assert_eq!(r.push(p("d"), 6), vec![p("b")], "total 10 fits exactly");
        assert_eq!(r.push(p("e"), 1), vec![p("c")]);
    }

    #[test]
    fn a_file_longer_than_the_budget_counts_for_the_budget() {
        let r = RecentWrites::new(10);
        assert!(r.push(p("a"), 3).is_empty());
        assert_eq!(r.push(p("big"), 1000), vec![p("a")]);
        assert_eq!(r.push(p("b"), 1), vec![p("big")]);
        assert!(r.push(p("c"), 9).is_empty());
    }

    #[test]
    fn release_ignores_missing_files_and_keeps_contents() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, vec![7u8; 100_000]).unwrap();
        RecentWrites::release(vec![dir.path().join("missing"), f.clone()]);
        assert_eq!(std::fs::read(&f).unwrap(), vec![7u8; 100_000]);
    }
}
