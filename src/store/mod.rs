//! The storage engine: a `Store` facade over a `MetaStore` (records) and a `DataStore` (bytes).
//! It never sees HTTP; `s3/` translates requests into these calls.

pub mod checksum;
pub mod data;
pub mod error;
pub mod listing;
pub mod meta;
pub mod types;

mod flusher;
mod ingest;
mod md5;
mod multipart;
mod object;

/// fsync of a directory: makes the entries created or renamed in it survive a power cut.
pub(crate) fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

pub use checksum::ChecksumAlgorithm;
pub use error::{StoreError, StoreResult};
pub use ingest::{BodyError, BodyStream};
pub mod ingest_api {
    //! What the protocol layer needs to describe a body it hands over.
    pub use super::checksum::{ChecksumAlgorithm, checksum_b64};
    pub use super::ingest::Expect;
}
pub use meta::PutCond;
pub use multipart::{CompletePart, UploadList};
pub use object::{ObjectPage, PutRequest};

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use data::{DataStore, FileData, MemData};
use meta::{MemMeta, MetaStore, SledMeta};
use types::{Acl, BucketRecord, now_millis};

/// S3's limits that the engine enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_object_size: u64,
    pub min_part_size: u64,
    /// Bodies up to this size are gathered in memory rather than streamed to a file of their
    /// own: they go to the data store's small-body log, or into the record when it has none.
    pub inline_max: usize,
    /// Bodies up to this size always stay inside the record: a log write would cost them more
    /// than the few bytes they add to it.
    pub keep_inline_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_object_size: 5 * 1024 * 1024 * 1024,
            min_part_size: 5 * 1024 * 1024,
            inline_max: 4096,
            keep_inline_max: 256,
        }
    }
}

pub struct Store {
    meta: Arc<dyn MetaStore>,
    data: Arc<dyn DataStore>,
    flusher: flusher::Flusher,
    /// Serialises bucket removal against object commits, so an object cannot be committed into
    /// a bucket that is being deleted (held only around synchronous metadata calls).
    bucket_lock: RwLock<()>,
    /// Bucket records by name. Every request reads its bucket, a GET twice (the access check and
    /// the read), and each sled lookup + decode was ~3% of a 4 KiB GET's CPU. Buckets change only
    /// through this `Store`, which holds the write lock while it changes a record, so a miss
    /// being filled at the same time cannot put back a stale one. Missing names are not cached.
    buckets: RwLock<HashMap<String, Arc<BucketRecord>>>,
    /// Small PUTs writing their body now (object.rs: alone, a body stays in its record).
    small_puts: std::sync::atomic::AtomicUsize,
    pub limits: Limits,
}

impl Store {
    pub fn new(meta: Arc<dyn MetaStore>, data: Arc<dyn DataStore>, limits: Limits) -> Self {
        Store {
            flusher: flusher::Flusher::new(meta.clone()),
            meta,
            data,
            bucket_lock: RwLock::new(()),
            buckets: RwLock::new(HashMap::new()),
            small_puts: std::sync::atomic::AtomicUsize::new(0),
            limits,
        }
    }

    pub fn open_mem(limits: Limits) -> Self {
        Self::new(Arc::new(MemMeta::new()), Arc::new(MemData::new()), limits)
    }

    /// Opens the embedded default: sled metadata and a file data store. Either can be in memory.
    pub fn open(data_path: Option<&Path>, meta_path: Option<&Path>, limits: Limits) -> StoreResult<Self> {
        let meta: Arc<dyn MetaStore> = match meta_path {
            Some(p) => Arc::new(SledMeta::open(p)?),
            None => Arc::new(MemMeta::new()),
        };
        let data: Arc<dyn DataStore> = match data_path {
            Some(p) => Arc::new(FileData::open(p)?),
            None => Arc::new(MemData::new()),
        };
        Ok(Self::new(meta, data, limits))
    }

    /// Removes temp files and data no record references; run once before serving.
    pub async fn sweep(&self) -> StoreResult<data::SweepStats> {
        let meta = self.meta.clone();
        let live = tokio::task::spawn_blocking(move || meta.referenced_data_ids())
            .await
            .map_err(|e| StoreError::Meta(e.to_string()))??;
        let live = Arc::new(live);
        let mut stats = self.data.sweep(&live).await?;
        match self.compact(&live).await {
            Ok(n) => stats.relocated = n,
            // The old copies are still named and valid: serving goes on, the next start retries.
            Err(e) => tracing::warn!(error = %e, "could not compact the small-body log"),
        }
        Ok(stats)
    }

    /// Moves the bodies still named in mostly-dead shared data to fresh space: copies made
    /// durable, records repointed and flushed, and only then the old ids freed. Until the flush
    /// both copies stay counted, so a failure or a crash at any step loses nothing.
    async fn compact(&self, live: &Arc<std::collections::HashSet<String>>) -> StoreResult<u64> {
        let moves: HashMap<String, String> = self.data.relocate_sparse(live).await?.into_iter().collect();
        if moves.is_empty() {
            return Ok(0);
        }
        let meta = self.meta.clone();
        let replaced = {
            let moves = moves.clone();
            tokio::task::spawn_blocking(move || meta.replace_data_ids(&moves))
                .await
                .map_err(|e| StoreError::Meta(e.to_string()))??
        };
        self.flush().await?;
        let unused: Vec<String> =
            moves.into_iter().map(|(old, new)| if replaced.contains(&old) { old } else { new }).collect();
        self.data.delete_all(&unused).await;
        Ok(replaced.len() as u64)
    }

    pub async fn flush(&self) -> StoreResult<()> {
        self.flusher.flush().await
    }

    pub async fn check_writable(&self) -> StoreResult<()> {
        self.data.check_writable().await
    }

    pub fn stats(&self) -> StoreResult<(u64, u64, u64)> {
        self.meta.stats()
    }

    // ---- buckets ----

    /// Shared, not cloned: a GET looks its bucket up twice.
    pub fn get_bucket(&self, name: &str) -> StoreResult<Arc<BucketRecord>> {
        if let Some(rec) = self.buckets.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(rec.clone());
        }
        let mut cache = self.bucket_cache();
        let rec = Arc::new(self.meta.get_bucket(name)?.ok_or(StoreError::NoSuchBucket)?);
        cache.insert(name.to_owned(), rec.clone());
        Ok(rec)
    }

    fn bucket_cache(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<BucketRecord>>> {
        self.buckets.write().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn create_bucket(&self, name: &str, owner: &str, location: &str, acl: Acl) -> StoreResult<BucketRecord> {
        let rec = BucketRecord {
            name: name.to_owned(),
            owner: owner.to_owned(),
            created: now_millis(),
            location: location.to_owned(),
            acl,
        };
        let inserted = {
            let mut cache = self.bucket_cache();
            let existing = self.meta.insert_bucket(&rec)?;
            if existing.is_none() {
                cache.insert(name.to_owned(), Arc::new(rec.clone()));
            }
            existing
        };
        match inserted {
            None => {
                self.flush().await?;
                Ok(rec)
            }
            Some(existing) if existing.owner == owner => Err(StoreError::BucketAlreadyOwnedByYou),
            Some(_) => Err(StoreError::BucketAlreadyExists),
        }
    }

    pub async fn set_bucket_acl(&self, name: &str, acl: Acl) -> StoreResult<()> {
        {
            let mut cache = self.bucket_cache();
            let mut rec = self.meta.get_bucket(name)?.ok_or(StoreError::NoSuchBucket)?;
            rec.acl = acl;
            self.meta.update_bucket(&rec)?;
            cache.insert(name.to_owned(), Arc::new(rec));
        }
        self.flush().await
    }

    pub async fn delete_bucket(&self, name: &str) -> StoreResult<()> {
        self.get_bucket(name)?;
        let removed = {
            let _guard = self.bucket_lock.write().unwrap_or_else(|p| p.into_inner());
            let mut cache = self.bucket_cache();
            let removed = self.meta.remove_bucket_if_empty(name)?;
            if removed.is_some() {
                cache.remove(name);
            }
            removed
        };
        let Some(aborted_parts) = removed else { return Err(StoreError::BucketNotEmpty) };
        self.flush().await?;
        self.free_data(aborted_parts.into_iter().map(|p| p.data).collect()).await;
        Ok(())
    }

    pub fn list_buckets(&self) -> StoreResult<Vec<BucketRecord>> {
        self.meta.list_buckets()
    }

    async fn free_data(&self, ids: Vec<String>) {
        for id in ids {
            self.data.delete(&id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(canned: &str) -> Acl {
        Acl { canned: canned.to_owned(), grants: Vec::new() }
    }

    #[tokio::test]
    async fn bucket_cache_follows_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(None, Some(dir.path()), Limits::default()).unwrap();
        assert!(matches!(store.get_bucket("b"), Err(StoreError::NoSuchBucket)));
        store.create_bucket("b", "alice", "", acl("private")).await.unwrap();
        assert_eq!(store.get_bucket("b").unwrap().owner, "alice");
        store.set_bucket_acl("b", acl("public-read")).await.unwrap();
        assert_eq!(store.get_bucket("b").unwrap().acl.canned, "public-read");
        store.delete_bucket("b").await.unwrap();
        assert!(matches!(store.get_bucket("b"), Err(StoreError::NoSuchBucket)));
        store.create_bucket("b", "bob", "", acl("private")).await.unwrap();
        let rec = store.get_bucket("b").unwrap();
        assert_eq!((rec.owner.as_str(), rec.acl.canned.as_str()), ("bob", "private"));
        // What the cache holds is what the metadata store holds.
        assert_eq!(store.meta.get_bucket("b").unwrap().as_ref(), Some(&*rec));
    }
}
