//! The data store: object bytes in files (or memory) named by generated ids, never by keys.

mod body_log;
mod bufpool;
mod file;
mod mem;
mod write_cache;

pub use file::FileData;
pub use mem::MemData;

use std::collections::HashSet;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;

use super::error::StoreResult;

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>>;

/// Result of the start-up sweep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepStats {
    pub temp_removed: u64,
    pub orphans_removed: u64,
    pub kept: u64,
    /// Small bodies moved out of mostly-dead log segments.
    pub relocated: u64,
}

#[async_trait::async_trait]
pub trait DataStore: Send + Sync + 'static {
    /// Starts a new blob. Dropping the writer without `finish` discards it.
    async fn create(&self) -> StoreResult<Box<dyn DataWriter>>;
    /// Stores a small body durably, sharing one write and fdatasync with the others arriving
    /// meanwhile, and returns its id; `None` when this store keeps no such log (the caller then
    /// keeps the body inside the record).
    async fn put_small(&self, _body: Bytes) -> StoreResult<Option<String>> {
        Ok(None)
    }
    /// Opens `range` of blob `id`. The blob is opened before this returns, so a concurrent delete
    /// cannot cut the stream short.
    async fn open(&self, id: &str, range: Range<u64>) -> StoreResult<ByteStream>;
    /// Frees a blob; a failure is logged, and the start-up sweep will retry it.
    async fn delete(&self, id: &str);
    /// Frees blobs like `delete`, returning once the space they held is released (start-up
    /// compaction: the next start, and a test, see the dead segments gone).
    async fn delete_all(&self, ids: &[String]) {
        for id in ids {
            self.delete(id).await;
        }
    }
    /// Removes temp files and blobs that no record references. Run before serving.
    async fn sweep(&self, live: &Arc<HashSet<String>>) -> StoreResult<SweepStats>;
    /// Start-up, after `sweep`: copies the bodies still named in mostly-dead shared storage (the
    /// body log's segments) to fresh space and returns (old id, new id) pairs. Both stay valid:
    /// the caller repoints the records, then frees the old ids (or the new ones it did not use).
    async fn relocate_sparse(&self, _live: &Arc<HashSet<String>>) -> StoreResult<Vec<(String, String)>> {
        Ok(Vec::new())
    }
    /// Verifies that the store accepts writes (readiness probe).
    async fn check_writable(&self) -> StoreResult<()>;
}

#[async_trait::async_trait]
pub trait DataWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> StoreResult<()>;
    /// Makes the blob durable and returns its id.
    async fn finish(self: Box<Self>) -> StoreResult<String>;
}

pub fn new_id() -> String {
    use rand::Rng;
    let v: u128 = rand::thread_rng().r#gen();
    format!("{v:032x}")
}
