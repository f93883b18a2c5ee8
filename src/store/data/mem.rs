//! In-memory data store for tests and `S3BACKEND=mem`.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};

use super::{ByteStream, DataStore, DataWriter, SweepStats, new_id};
use crate::store::error::{StoreError, StoreResult};

#[derive(Default, Clone)]
pub struct MemData {
    blobs: Arc<RwLock<HashMap<String, Bytes>>>,
}

impl MemData {
    pub fn new() -> Self {
        Self::default()
    }
}

struct MemWriter {
    blobs: Arc<RwLock<HashMap<String, Bytes>>>,
    buf: BytesMut,
}

#[async_trait::async_trait]
impl DataWriter for MemWriter {
    async fn write(&mut self, chunk: Bytes) -> StoreResult<()> {
        self.buf.extend_from_slice(&chunk);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> StoreResult<String> {
        let id = new_id();
        let mut blobs = self.blobs.write().unwrap_or_else(|p| p.into_inner());
        blobs.insert(id.clone(), self.buf.freeze());
        Ok(id)
    }
}

const CHUNK: usize = 256 * 1024;

#[async_trait::async_trait]
impl DataStore for MemData {
    async fn create(&self) -> StoreResult<Box<dyn DataWriter>> {
        Ok(Box::new(MemWriter { blobs: self.blobs.clone(), buf: BytesMut::new() }))
    }

    async fn open(&self, id: &str, range: Range<u64>) -> StoreResult<ByteStream> {
        let blob = {
            let blobs = self.blobs.read().unwrap_or_else(|p| p.into_inner());
            blobs.get(id).cloned()
        };
        let blob = blob.ok_or_else(|| StoreError::Io(std::io::ErrorKind::NotFound.into()))?;
        let end = usize::try_from(range.end).unwrap_or(usize::MAX).min(blob.len());
        let start = usize::try_from(range.start).unwrap_or(usize::MAX).min(end);
        let slice = blob.slice(start..end);
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            (0..slice.len()).step_by(CHUNK).map(|i| Ok(slice.slice(i..(i + CHUNK).min(slice.len())))).collect();
        Ok(Box::pin(futures::stream::iter(chunks)))
    }

    async fn delete(&self, id: &str) {
        self.blobs.write().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    async fn sweep(&self, live: &Arc<HashSet<String>>) -> StoreResult<SweepStats> {
        let mut blobs = self.blobs.write().unwrap_or_else(|p| p.into_inner());
        let before = blobs.len() as u64;
        blobs.retain(|id, _| live.contains(id));
        let kept = blobs.len() as u64;
        Ok(SweepStats { temp_removed: 0, orphans_removed: before - kept, kept, relocated: 0 })
    }

    async fn check_writable(&self) -> StoreResult<()> {
        Ok(())
    }
}
