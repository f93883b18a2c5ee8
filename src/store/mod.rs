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
mod multipart;
mod object;

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
    /// Objects up to this size are kept inside the metadata record.
    pub inline_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_object_size: 5 * 1024 * 1024 * 1024, min_part_size: 5 * 1024 * 1024, inline_max: 4096 }
    }
}

pub struct Store {
    meta: Arc<dyn MetaStore>,
    data: Arc<dyn DataStore>,
    flusher: flusher::Flusher,
    /// Serialises bucket removal against object commits, so an object cannot be committed into
    /// a bucket that is being deleted (held only around synchronous metadata calls).
    bucket_lock: RwLock<()>,
    pub limits: Limits,
}

impl Store {
    pub fn new(meta: Arc<dyn MetaStore>, data: Arc<dyn DataStore>, limits: Limits) -> Self {
        Store { flusher: flusher::Flusher::new(meta.clone()), meta, data, bucket_lock: RwLock::new(()), limits }
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
        self.data.sweep(&live).await
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

    pub fn get_bucket(&self, name: &str) -> StoreResult<BucketRecord> {
        self.meta.get_bucket(name)?.ok_or(StoreError::NoSuchBucket)
    }

    pub async fn create_bucket(&self, name: &str, owner: &str, location: &str, acl: Acl) -> StoreResult<BucketRecord> {
        let rec = BucketRecord {
            name: name.to_owned(),
            owner: owner.to_owned(),
            created: now_millis(),
            location: location.to_owned(),
            acl,
        };
        match self.meta.insert_bucket(&rec)? {
            None => {
                self.flush().await?;
                Ok(rec)
            }
            Some(existing) if existing.owner == owner => Err(StoreError::BucketAlreadyOwnedByYou),
            Some(_) => Err(StoreError::BucketAlreadyExists),
        }
    }

    pub async fn set_bucket_acl(&self, name: &str, acl: Acl) -> StoreResult<()> {
        let mut rec = self.get_bucket(name)?;
        rec.acl = acl;
        self.meta.update_bucket(&rec)?;
        self.flush().await
    }

    pub async fn delete_bucket(&self, name: &str) -> StoreResult<()> {
        self.get_bucket(name)?;
        let removed = {
            let _guard = self.bucket_lock.write().unwrap_or_else(|p| p.into_inner());
            self.meta.remove_bucket_if_empty(name)?
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
