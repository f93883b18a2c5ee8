//! The small-body log: bodies of up to a few KiB appended to shared segment files
//! (`<root>/log/<seg>.log`), many per fdatasync, instead of living inside the metadata record.
//!
//! Why: sled splits a leaf by entry count, whatever the entries weigh, and rewrites it whole; a
//! 4 KiB body inside each record made those rewrites ~64 KiB and was ~45% of a 4 KiB PUT's
//! server CPU. Here a PUT costs a share of one write and one fdatasync.
//!
//! Order, as for data files: the body is durable (written, fdatasynced, and for a new segment
//! its directory entry synced) before `append` returns, and only then does the caller commit
//! the record naming it. A crash leaves at worst bytes no record names, reclaimed with their
//! segment. Segments are never appended to after a restart and their numbers never reused, so an
//! id always names the bytes it was given for.
//!
//! Space: each segment counts the bytes of the bodies still named by records; a sealed
//! segment whose count reaches zero is deleted. At start-up, the live bodies of segments that are
//! mostly dead are copied to the new run's segment (`sparse`, `read_bodies`, then the caller
//! repoints the records and frees the old ids), so a few long-lived bodies do not pin 16 MiB.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, IoSliceMut};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use bytes::Bytes;

use crate::store::error::{StoreError, StoreResult};
use crate::store::sync_dir;

/// A segment is sealed once it holds this much; the next body starts a new one.
pub const SEGMENT_MAX: u64 = 16 * 1024 * 1024;
/// Read descriptors kept open at most (one per segment read from).
const MAX_OPEN: usize = 256;

/// Where a body lives: the data id the record stores is `log.<seg>.<offset>.<len>`, which no
/// file id (hex) can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogId {
    pub seg: u64,
    pub off: u64,
    pub len: u64,
}

impl LogId {
    const PREFIX: &'static str = "log.";

    pub fn parse(id: &str) -> Option<LogId> {
        let mut it = id.strip_prefix(Self::PREFIX)?.split('.');
        let mut num = || it.next().filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))?.parse().ok();
        let (seg, off, len) = (num()?, num()?, num()?);
        it.next().is_none().then_some(LogId { seg, off, len })
    }
}

impl std::fmt::Display for LogId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}.{}.{}", Self::PREFIX, self.seg, self.off, self.len)
    }
}

fn segment_name(seg: u64) -> String {
    format!("{seg:016x}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".log")?;
    (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok()).flatten()
}

type Reply = tokio::sync::oneshot::Sender<std::io::Result<()>>;

enum Job {
    Append {
        seg: u64,
        off: u64,
        body: Bytes,
        reply: Reply,
    },
    Delete(u64),
    /// Answered once the deletes queued before it are done.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

struct Queue {
    jobs: Vec<Job>,
    /// The segment being appended to, and where its next body goes.
    seg: u64,
    next: u64,
    closed: bool,
}

struct Shared {
    dir: PathBuf,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Bytes of each segment that records name (or that an append in flight will).
    live: Mutex<HashMap<u64, u64>>,
    /// Segments that existed at open: their counts come from the start-up sweep.
    first_new: u64,
    readers: RwLock<HashMap<u64, Arc<File>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct BodyLog {
    shared: Arc<Shared>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl BodyLog {
    pub fn open(root: &Path) -> StoreResult<BodyLog> {
        let dir = root.join("log");
        fs::create_dir_all(&dir)?;
        let mut last = None;
        for entry in fs::read_dir(&dir)? {
            if let Some(seg) = parse_segment_name(&entry?.file_name().to_string_lossy()) {
                last = last.max(Some(seg));
            }
        }
        // Past every segment on disk, and past any a previous run made and deleted (its ids
        // started below this run's clock): an id never names two different bodies.
        let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() << 24);
        let first_new = last.map_or(0, |s| s + 1).max(clock);
        let shared = Arc::new(Shared {
            dir,
            queue: Mutex::new(Queue { jobs: Vec::new(), seg: first_new, next: 0, closed: false }),
            wake: Condvar::new(),
            live: Mutex::new(HashMap::new()),
            first_new,
            readers: RwLock::new(HashMap::new()),
        });
        let s = shared.clone();
        let writer = std::thread::Builder::new().name("s3-bodylog".into()).spawn(move || write_loop(&s))?;
        Ok(BodyLog { shared, writer: Some(writer) })
    }

    /// Appends `body` and returns its id once it is durable.
    pub async fn append(&self, body: Bytes) -> StoreResult<String> {
        let len = body.len() as u64;
        let (reply, done) = tokio::sync::oneshot::channel();
        let id = {
            let mut q = lock(&self.shared.queue);
            if q.closed {
                return Err(StoreError::Io(std::io::Error::other("body log closed")));
            }
            if q.next > 0 && q.next + len > SEGMENT_MAX {
                let sealed = q.seg;
                q.seg += 1;
                q.next = 0;
                // Every body of the sealed segment may already be gone: nothing will free it.
                let mut live = lock(&self.shared.live);
                if live.get(&sealed).is_none_or(|&n| n == 0) {
                    live.remove(&sealed);
                    q.jobs.push(Job::Delete(sealed));
                }
            }
            let id = LogId { seg: q.seg, off: q.next, len };
            q.next += len;
            // Counted under the queue lock: a segment sealed meanwhile cannot look dead to a
            // free() before this body is counted in it.
            *lock(&self.shared.live).entry(id.seg).or_default() += len;
            q.jobs.push(Job::Append { seg: id.seg, off: id.off, body, reply });
            id
        };
        self.shared.wake.notify_one();
        let res = match done.await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::other("body log writer stopped")),
        };
        match res {
            Ok(()) => Ok(id.to_string()),
            Err(e) => {
                self.free(&id);
                Err(StoreError::Io(e))
            }
        }
    }

    /// Forgets a body no record names any more; deletes its segment once that one is all dead.
    pub fn free(&self, id: &LogId) {
        let mut q = lock(&self.shared.queue);
        let mut live = lock(&self.shared.live);
        let Some(count) = live.get_mut(&id.seg) else { return };
        *count = count.saturating_sub(id.len);
        if *count == 0 && id.seg != q.seg {
            live.remove(&id.seg);
            q.jobs.push(Job::Delete(id.seg));
            drop((live, q));
            self.shared.wake.notify_one();
        }
    }

    /// Returns once the segments that `free` found dead so far are deleted.
    pub async fn deleted(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        {
            let mut q = lock(&self.shared.queue);
            if q.closed {
                return;
            }
            q.jobs.push(Job::Barrier(done));
        }
        self.shared.wake.notify_one();
        let _ = wait.await;
    }

    /// Reads `range` (relative to the body) of a body.
    pub async fn read(&self, id: &LogId, range: Range<u64>) -> StoreResult<Bytes> {
        let end = range.end.min(id.len);
        let start = range.start.min(end);
        let n = usize::try_from(end - start).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if n == 0 {
            return Ok(Bytes::new());
        }
        let at = id.off + start;
        let cached = self.shared.readers.read().unwrap_or_else(|p| p.into_inner()).get(&id.seg).cloned();
        let mut buf = vec![0u8; n];
        if let Some(file) = &cached {
            // The bytes are almost always in the page cache: read them without a thread hop,
            // unless the kernel would have to wait for the disk.
            let flags = rustix::io::ReadWriteFlags::NOWAIT;
            if let Ok(got) = rustix::io::preadv2(file, &mut [IoSliceMut::new(&mut buf)], at, flags)
                && got == n
            {
                return Ok(Bytes::from(buf));
            }
        }
        let shared = self.shared.clone();
        let seg = id.seg;
        let res = tokio::task::spawn_blocking(move || {
            let file = match cached {
                Some(f) => f,
                None => shared.reader(seg)?,
            };
            file.read_exact_at(&mut buf, at).map_err(|e| match e.kind() {
                ErrorKind::UnexpectedEof => std::io::Error::other("log segment shorter than its record"),
                _ => e,
            })?;
            Ok::<_, std::io::Error>(buf)
        })
        .await;
        match res {
            Ok(r) => Ok(Bytes::from(r?)),
            Err(e) => Err(StoreError::Io(std::io::Error::other(e))),
        }
    }

    /// Start-up: counts what the records name in the segments from before this start, and
    /// deletes those none of them names. Returns (segments deleted, segments kept).
    pub fn sweep(&self, live_ids: &HashSet<String>) -> std::io::Result<(u64, u64)> {
        let mut counts: HashMap<u64, u64> = HashMap::new();
        for id in live_ids.iter().filter_map(|s| LogId::parse(s)) {
            if id.seg < self.shared.first_new {
                *counts.entry(id.seg).or_default() += id.len;
            }
        }
        let (mut deleted, mut kept) = (0, 0);
        for entry in fs::read_dir(&self.shared.dir)? {
            let entry = entry?;
            let Some(seg) = parse_segment_name(&entry.file_name().to_string_lossy()) else { continue };
            if seg >= self.shared.first_new {
                continue;
            }
            match counts.get(&seg) {
                Some(&n) if n > 0 => {
                    lock(&self.shared.live).insert(seg, n);
                    kept += 1;
                }
                _ => {
                    fs::remove_file(entry.path())?;
                    deleted += 1;
                }
            }
        }
        Ok((deleted, kept))
    }
}

/// A segment from before this start is compacted when less than 1/`SPARSE_BELOW` of it is live.
const SPARSE_BELOW: u64 = 4;

impl BodyLog {
    /// Start-up, after `sweep`: the bodies still named in segments from before this start that
    /// are mostly dead, grouped by segment (oldest first) and in file order.
    pub fn sparse(&self, live_ids: &HashSet<String>) -> std::io::Result<Vec<Vec<LogId>>> {
        let mut by_seg: HashMap<u64, Vec<LogId>> = HashMap::new();
        for id in live_ids.iter().filter_map(|s| LogId::parse(s)) {
            if id.seg < self.shared.first_new {
                by_seg.entry(id.seg).or_default().push(id);
            }
        }
        let mut out = Vec::new();
        for (seg, mut ids) in by_seg {
            let size = match fs::metadata(self.shared.path(seg)) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let live: u64 = ids.iter().map(|i| i.len).sum();
            if live.saturating_mul(SPARSE_BELOW) < size {
                ids.sort_unstable_by_key(|i| i.off);
                out.push(ids);
            }
        }
        out.sort_unstable_by_key(|ids| ids[0].seg);
        Ok(out)
    }

    /// Reads whole bodies of one segment through one descriptor (blocking: start-up only).
    pub fn read_bodies(&self, ids: &[LogId]) -> std::io::Result<Vec<Bytes>> {
        let Some(first) = ids.first() else { return Ok(Vec::new()) };
        let file = File::open(self.shared.path(first.seg))?;
        ids.iter()
            .map(|id| {
                debug_assert_eq!(id.seg, first.seg);
                let mut buf = vec![0u8; usize::try_from(id.len).map_err(std::io::Error::other)?];
                file.read_exact_at(&mut buf, id.off)?;
                Ok(Bytes::from(buf))
            })
            .collect()
    }
}

impl Drop for BodyLog {
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.wake.notify_one();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Shared {
    fn path(&self, seg: u64) -> PathBuf {
        self.dir.join(segment_name(seg))
    }

    fn reader(&self, seg: u64) -> std::io::Result<Arc<File>> {
        let file = Arc::new(File::open(self.path(seg))?);
        // A segment deleted since it was opened here is not cached: it would hold its space.
        if !lock(&self.live).contains_key(&seg) {
            return Ok(file);
        }
        let mut readers = self.readers.write().unwrap_or_else(|p| p.into_inner());
        if readers.len() >= MAX_OPEN {
            readers.clear();
        }
        readers.insert(seg, file.clone());
        Ok(file)
    }
}

/// The writer thread: takes every job queued since its last round, so one write and one
/// fdatasync per segment serve all the appends that arrived while the previous round synced.
fn write_loop(shared: &Shared) {
    let mut files: HashMap<u64, File> = HashMap::new();
    loop {
        let jobs = {
            let mut q = lock(&shared.queue);
            while q.jobs.is_empty() && !q.closed {
                q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
            }
            if q.jobs.is_empty() {
                return;
            }
            std::mem::take(&mut q.jobs)
        };
        let mut appends: Vec<(u64, u64, Bytes, Reply)> = Vec::new();
        for job in jobs {
            match job {
                Job::Append { seg, off, body, reply } => appends.push((seg, off, body, reply)),
                Job::Barrier(done) => {
                    let _ = done.send(());
                }
                Job::Delete(seg) => {
                    files.remove(&seg);
                    shared.readers.write().unwrap_or_else(|p| p.into_inner()).remove(&seg);
                    if let Err(e) = fs::remove_file(shared.path(seg)) {
                        tracing::warn!(seg, error = %e, "could not delete a dead log segment; the start-up sweep will retry");
                    }
                }
            }
        }
        let results = write_appends(shared, &mut files, &appends);
        for (seg, _, _, reply) in appends {
            let res = match results.get(&seg) {
                Some(Err((kind, msg))) => Err(std::io::Error::new(*kind, msg.clone())),
                _ => Ok(()),
            };
            let _ = reply.send(res);
        }
        // Only the segment being appended to stays open for writing.
        if let Some(&newest) = files.keys().max() {
            files.retain(|&s, _| s == newest);
        }
    }
}

type SegResult = Result<(), (ErrorKind, String)>;

/// Writes the appends (in queue order: contiguous runs per segment) and syncs each segment.
fn write_appends(
    shared: &Shared,
    files: &mut HashMap<u64, File>,
    appends: &[(u64, u64, Bytes, Reply)],
) -> HashMap<u64, SegResult> {
    let mut results: HashMap<u64, SegResult> = HashMap::new();
    let mut i = 0;
    while i < appends.len() {
        let (seg, start) = (appends[i].0, appends[i].1);
        let mut j = i;
        let mut buf = Vec::new();
        while j < appends.len() && appends[j].0 == seg && appends[j].1 == start + buf.len() as u64 {
            buf.extend_from_slice(&appends[j].2);
            j += 1;
        }
        i = j;
        if matches!(results.get(&seg), Some(Err(_))) {
            continue;
        }
        let res = open_for_append(shared, files, seg).and_then(|f| f.write_all_at(&buf, start));
        results.insert(seg, res.map_err(|e| (e.kind(), e.to_string())));
    }
    for (seg, res) in results.iter_mut() {
        if res.is_ok()
            && let Some(f) = files.get(seg)
            && let Err(e) = f.sync_data()
        {
            *res = Err((e.kind(), e.to_string()));
        }
    }
    results
}

fn open_for_append<'a>(shared: &Shared, files: &'a mut HashMap<u64, File>, seg: u64) -> std::io::Result<&'a File> {
    match files.entry(seg) {
        std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
        std::collections::hash_map::Entry::Vacant(e) => {
            // Segments from this start did not exist at open; a retry after a failed round finds it.
            let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(shared.path(seg))?;
            // The new segment's name must survive a power cut before any record names it.
            sync_dir(&shared.dir)?;
            Ok(e.insert(file))
        }
    }
}

#[cfg(test)]
#[path = "body_log_tests.rs"]
mod tests;
