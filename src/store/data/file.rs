//! File data store: `<root>/<id[0..2]>/<id[2..4]>/<id>`, written through `<root>/tmp/`; small
//! bodies go to the shared segments of `<root>/log/` instead (body_log.rs).
//!
//! Write order (see ARCHITECTURE.md): stream into a temp file in large writes -> fdatasync ->
//! rename into its shard -> fsync the shard directory. Only then does the caller commit metadata,
//! so a crash leaves at worst an unreferenced file, which the start-up sweep removes.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::num::NonZeroU64;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::spawn_blocking;

use super::body_log::{BodyLog, LogId};
use super::bufpool::Pool;
use super::write_cache::{self, RecentWrites, drop_cached};
use super::{ByteStream, DataStore, DataWriter, SweepStats, new_id};
use crate::store::error::{StoreError, StoreResult};
use crate::store::sync_dir;

/// Network chunks are gathered to this size before each hand-off to the writer thread, which
/// writes them with one `writev`: a thread hop per small chunk would cost more than the write.
const WRITE_BUF: usize = 1024 * 1024;
/// At most this many chunks per hand-off (the kernel's IOV_MAX is 1024).
const MAX_CHUNKS: usize = 512;
/// Bytes of small bodies moved out of mostly-dead log segments at most per start.
const COMPACT_PER_START: u64 = 256 * 1024 * 1024;
/// Reads are sent to the response in chunks of this size.
const READ_CHUNK: usize = 256 * 1024;

/// Full read chunks come from (and go back to) this pool; 32 idle buffers are 8 MiB.
static READ_BUFS: Pool = Pool::new(READ_CHUNK, 32);
/// Shorter reads (small objects, tails) take a buffer of their own size instead.
const POOLED_MIN: u64 = 64 * 1024;

/// Reads exactly `n` bytes (at most `READ_CHUNK`). `read_to_end` reads into the spare capacity
/// without zeroing it first; `vec![0; n]` + `read_exact` spent 13% of a 1 MiB GET in memset.
fn read_chunk(f: &mut File, n: u64) -> std::io::Result<Bytes> {
    let pooled = n >= POOLED_MIN && n <= READ_CHUNK as u64;
    let mut buf = if pooled { READ_BUFS.take() } else { Vec::with_capacity(usize::try_from(n).unwrap_or(usize::MAX)) };
    let start = buf.len();
    f.take(n).read_to_end(&mut buf)?;
    if ((buf.len() - start) as u64) < n {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "data file shorter than its record"));
    }
    Ok(if pooled { READ_BUFS.bytes(buf, start) } else { Bytes::from(buf) })
}

pub struct FileData {
    root: Arc<PathBuf>,
    recent: Arc<RecentWrites>,
    log: Arc<BodyLog>,
}

impl FileData {
    pub fn open(root: &Path) -> StoreResult<Self> {
        fs::create_dir_all(root.join("tmp"))?;
        Ok(FileData {
            root: Arc::new(root.to_path_buf()),
            recent: Arc::new(RecentWrites::new(write_cache::BUDGET)),
            log: Arc::new(BodyLog::open(root)?),
        })
    }

    fn path_of(root: &Path, id: &str) -> Option<PathBuf> {
        // Ids are ours (hex); anything else never reaches the filesystem.
        if id.len() < 5 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(root.join(&id[0..2]).join(&id[2..4]).join(id))
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> StoreResult<T> {
    match spawn_blocking(f).await {
        Ok(r) => r.map_err(StoreError::Io),
        Err(e) => Err(StoreError::Io(std::io::Error::other(e))),
    }
}

/// Removes the temp file unless the writer finished.
struct TempGuard {
    path: Option<PathBuf>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Streams a blob into its temp file. One blocking task per blob opens the file, writes the
/// body's chunks, handed over uncopied in batches of about `WRITE_BUF` through a one-slot
/// channel, and on `Finish` makes it durable and renames it into place. Hashing the next batch
/// (on the request's task) overlaps with writing this one, and memory stays bounded at about
/// three batches per upload. Gathering into one buffer instead cost a memcpy plus reallocations
/// and fresh-page faults per MiB: 16% of a 1 MiB PUT's server CPU. One task instead of three
/// (open, write, sync + rename) saves two thread hand-offs per PUT.
struct FileWriter {
    id: String,
    batch: Vec<Bytes>,
    batch_len: usize,
    tx: Option<tokio::sync::mpsc::Sender<Msg>>,
    worker: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

enum Msg {
    Data(Vec<Bytes>),
    /// The body is complete: make it durable and move it into place.
    Finish,
}

/// Writeback of written data is started every this many bytes, so the disk works while the
/// body is still arriving and the final fdatasync has little left to do.
const WRITEBACK_EVERY: u64 = 4 * 1024 * 1024;

/// `write_all` for a batch of chunks, in as few `writev` calls as the kernel allows.
fn write_all_chunks(file: &mut File, chunks: &[Bytes]) -> std::io::Result<u64> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    let mut total = 0u64;
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                total += n as u64;
                IoSlice::advance_slices(&mut rest, n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Where a blob is written and what it becomes.
struct Target {
    root: Arc<PathBuf>,
    id: String,
    recent: Arc<RecentWrites>,
}

/// The writer task: the temp file is removed unless `Finish` arrives and everything succeeds.
fn write_blob(t: Target, mut rx: tokio::sync::mpsc::Receiver<Msg>) -> std::io::Result<()> {
    let tmp = t.root.join("tmp").join(format!("{}.part", t.id));
    let mut file = File::create(&tmp)?;
    let mut guard = TempGuard { path: Some(tmp.clone()) };
    let keep = t.recent.budget();
    let (mut written, mut started) = (0u64, 0u64);
    let mut syncing: Option<std::thread::JoinHandle<()>> = None;
    let mut finished = false;
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Data(batch) => written += write_all_chunks(&mut file, &batch)?,
            Msg::Finish => {
                finished = true;
                break;
            }
        }
        if written - started >= WRITEBACK_EVERY && syncing.as_ref().is_none_or(|t| t.is_finished()) {
            syncing = start_writeback(&file, written, keep);
            started = written;
        }
    }
    if let Some(t) = syncing {
        let _ = t.join();
    }
    if !finished {
        return Err(std::io::Error::other("blob abandoned"));
    }
    file.sync_data()?;
    drop(file);
    let dest = FileData::path_of(&t.root, &t.id).ok_or_else(|| std::io::Error::other("bad id"))?;
    let dir = dest.parent().ok_or_else(|| std::io::Error::other("no parent"))?;
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        // New shard directories must themselves survive a crash.
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
            if let Some(grand) = parent.parent() {
                sync_dir(grand)?;
            }
        }
    }
    fs::rename(&tmp, &dest)?;
    guard.path = None;
    // Renamed but not yet durable: a failure here leaves a file no record names, which the
    // start-up sweep removes.
    sync_dir(dir)?;
    RecentWrites::release(t.recent.push(dest, written));
    Ok(())
}

/// fdatasync on a second descriptor of the file, on its own thread, while this one keeps
/// writing: the portable, safe stand-in for sync_file_range(SYNC_FILE_RANGE_WRITE). Only a
/// head start; durability still comes from the fdatasync in `finish`, which reports errors.
fn start_writeback(file: &File, written: u64, keep: u64) -> Option<std::thread::JoinHandle<()>> {
    let dup = file.try_clone().ok()?;
    std::thread::Builder::new()
        .name("s3-writeback".into())
        .spawn(move || {
            // Of a file longer than the cache budget, only its last `keep` bytes stay cached.
            if dup.sync_data().is_ok() && written > keep {
                drop_cached(&dup, NonZeroU64::new(written - keep));
            }
        })
        .ok()
}

impl FileWriter {
    fn new(data: &FileData, id: String) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let target = Target { root: data.root.clone(), id: id.clone(), recent: data.recent.clone() };
        let worker = spawn_blocking(move || write_blob(target, rx));
        FileWriter { id, batch: Vec::new(), batch_len: 0, tx: Some(tx), worker: Some(worker) }
    }

    /// The writer task's result once it has stopped (its error, if a write failed).
    async fn join(&mut self) -> StoreResult<()> {
        self.tx = None;
        let worker = self.worker.take().ok_or_else(|| StoreError::Io(std::io::Error::other("writer closed")))?;
        match worker.await {
            Ok(r) => r.map_err(StoreError::Io),
            Err(e) => Err(StoreError::Io(std::io::Error::other(e))),
        }
    }

    async fn send(&mut self, msg: Msg) -> StoreResult<()> {
        let tx = self.tx.as_ref().ok_or_else(|| StoreError::Io(std::io::Error::other("writer closed")))?;
        if tx.send(msg).await.is_err() {
            // The task stopped early: the open or a write failed (disk full, I/O error).
            self.join().await?;
            return Err(StoreError::Io(std::io::Error::other("writer stopped")));
        }
        Ok(())
    }

    async fn flush_batch(&mut self) -> StoreResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.batch);
        self.batch_len = 0;
        self.send(Msg::Data(data)).await
    }
}

#[async_trait::async_trait]
impl DataWriter for FileWriter {
    async fn write(&mut self, chunk: Bytes) -> StoreResult<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.batch_len += chunk.len();
        self.batch.push(chunk);
        if self.batch_len >= WRITE_BUF || self.batch.len() >= MAX_CHUNKS {
            self.flush_batch().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> StoreResult<String> {
        self.flush_batch().await?;
        self.send(Msg::Finish).await?;
        self.join().await?;
        Ok(self.id.clone())
    }
}

#[async_trait::async_trait]
impl DataStore for FileData {
    async fn create(&self) -> StoreResult<Box<dyn DataWriter>> {
        Ok(Box::new(FileWriter::new(self, new_id())))
    }

    async fn put_small(&self, body: Bytes) -> StoreResult<Option<String>> {
        self.log.append(body).await.map(Some)
    }

    async fn open(&self, id: &str, range: Range<u64>) -> StoreResult<ByteStream> {
        if let Some(log_id) = LogId::parse(id) {
            let bytes = self.log.read(&log_id, range).await?;
            return Ok(Box::pin(futures::stream::iter([Ok(bytes)])));
        }
        let path =
            Self::path_of(&self.root, id).ok_or_else(|| StoreError::Corrupt(format!("invalid data id {id:?}")))?;
        let start = range.start;
        let mut file = blocking(move || {
            let mut f = File::open(path)?;
            f.seek(SeekFrom::Start(start))?;
            Ok(f)
        })
        .await?;
        let mut remaining = range.end.saturating_sub(range.start);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        spawn_blocking(move || {
            while remaining > 0 {
                let n = remaining.min(READ_CHUNK as u64);
                let res = read_chunk(&mut file, n);
                let failed = res.is_err();
                if tx.blocking_send(res).is_err() || failed {
                    return; // client went away, or the error was delivered
                }
                remaining -= n;
            }
        });
        Ok(Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx))))
    }

    async fn delete(&self, id: &str) {
        if let Some(log_id) = LogId::parse(id) {
            return self.log.free(&log_id);
        }
        let Some(path) = Self::path_of(&self.root, id) else {
            return;
        };
        if let Err(e) = blocking(move || fs::remove_file(path)).await {
            tracing::warn!(id, error = %e, "could not delete data file; the start-up sweep will retry");
        }
    }

    async fn delete_all(&self, ids: &[String]) {
        for id in ids {
            self.delete(id).await;
        }
        self.log.deleted().await;
    }

    async fn sweep(&self, live: &Arc<HashSet<String>>) -> StoreResult<SweepStats> {
        let root = self.root.clone();
        // Shared, not copied: the set names every blob of the store.
        let files = live.clone();
        let log = self.log.clone();
        let (mut stats, (deleted, kept)) =
            blocking(move || Ok((sweep_dir(&root, &files)?, log.sweep(&files)?))).await?;
        stats.orphans_removed += deleted;
        stats.kept += kept;
        Ok(stats)
    }

    async fn relocate_sparse(&self, live: &Arc<HashSet<String>>) -> StoreResult<Vec<(String, String)>> {
        let log = self.log.clone();
        let live = live.clone();
        let segments = blocking(move || log.sparse(&live)).await?;
        let mut moves = Vec::new();
        let mut failed = None;
        let mut copied = 0;
        // One segment at a time: at most a quarter of a segment's bytes in memory, and its
        // appends queued together share the writer's rounds. Bounded per start, so that a
        // start-up after a long run does not wait on gigabytes of copies; the rest waits.
        for ids in segments {
            if copied >= COMPACT_PER_START {
                break;
            }
            copied += ids.iter().map(|id| id.len).sum::<u64>();
            let log = self.log.clone();
            let read = ids.clone();
            let bodies = match blocking(move || log.read_bodies(&read)).await {
                Ok(b) => b,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            let copies = futures::future::join_all(bodies.into_iter().map(|b| self.log.append(b))).await;
            for (old, new) in ids.iter().zip(copies) {
                match new {
                    Ok(new) => moves.push((old.to_string(), new)),
                    Err(e) => failed = Some(e),
                }
            }
            if failed.is_some() {
                break;
            }
        }
        if let Some(e) = failed {
            // No record names the copies yet.
            for id in moves.iter().filter_map(|(_, new)| LogId::parse(new)) {
                self.log.free(&id);
            }
            return Err(e);
        }
        Ok(moves)
    }

    async fn check_writable(&self) -> StoreResult<()> {
        let path = self.root.join("tmp").join(format!(".probe-{}", new_id()));
        blocking(move || {
            fs::write(&path, b"ok")?;
            fs::remove_file(&path)
        })
        .await
    }
}

fn sweep_dir(root: &Path, live: &HashSet<String>) -> std::io::Result<SweepStats> {
    let mut stats = SweepStats::default();
    for entry in fs::read_dir(root.join("tmp"))? {
        fs::remove_file(entry?.path())?;
        stats.temp_removed += 1;
    }
    for l1 in fs::read_dir(root)? {
        let l1 = l1?;
        let name = l1.file_name();
        if name == "tmp" || name == "log" || !l1.file_type()?.is_dir() {
            continue;
        }
        for l2 in fs::read_dir(l1.path())? {
            let l2 = l2?;
            if !l2.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(l2.path())? {
                let f = f?;
                let id = f.file_name().to_string_lossy().into_owned();
                if live.contains(&id) {
                    stats.kept += 1;
                } else {
                    fs::remove_file(f.path())?;
                    stats.orphans_removed += 1;
                }
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    async fn read_all(mut s: ByteStream) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn write_read_range_and_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileData::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = store.create().await.unwrap();
        for chunk in data.chunks(70_000) {
            w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        let id = w.finish().await.unwrap();
        assert_eq!(read_all(store.open(&id, 0..data.len() as u64).await.unwrap()).await, data);
        assert_eq!(read_all(store.open(&id, 10..300_000).await.unwrap()).await, &data[10..300_000]);

        // An abandoned writer leaves no temp file; an unreferenced blob is swept.
        let mut w = store.create().await.unwrap();
        w.write(Bytes::from_static(b"x")).await.unwrap();
        drop(w);
        let w = store.create().await.unwrap();
        let orphan = w.finish().await.unwrap();
        fs::write(dir.path().join("tmp").join("leftover.part"), b"x").unwrap();
        let stats = store.sweep(&Arc::new(HashSet::from([id.clone()]))).await.unwrap();
        assert_eq!(stats, SweepStats { temp_removed: 1, orphans_removed: 1, kept: 1, relocated: 0 });
        assert!(store.open(&orphan, 0..0).await.is_err());
        assert!(store.open("../../etc/passwd", 0..1).await.is_err());
    }

    #[tokio::test]
    async fn open_stream_survives_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileData::open(dir.path()).unwrap();
        let mut w = store.create().await.unwrap();
        w.write(Bytes::from(vec![7u8; 1_000_000])).await.unwrap();
        let id = w.finish().await.unwrap();
        let s = store.open(&id, 0..1_000_000).await.unwrap();
        store.delete(&id).await;
        assert_eq!(read_all(s).await.len(), 1_000_000);
    }
}
