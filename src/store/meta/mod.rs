//! The metadata store: buckets, object records, multipart uploads and parts.
//!
//! Keys: objects are `bucket \0 key` (bucket names cannot hold NUL, keys can, so the key comes
//! last and byte order is S3's listing order); uploads are `bucket \0 key \0 upload-id`; parts are
//! `upload-id \0 big-endian part number`. Every multi-record change is one atomic operation.

mod mem;
mod sled_store;
mod sled_sync;

pub use mem::MemMeta;
pub use sled_store::SledMeta;

use std::ops::Bound;

use super::error::StoreResult;
use super::listing::Step;
use super::types::{BucketRecord, ObjectRecord, PartRecord, UploadRecord};

/// Condition on the current object for a write (conditional PUT, copy onto itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutCond {
    Any,
    /// If-None-Match: * (only create).
    Absent,
    /// If-Match: the current ETag (without quotes).
    EtagIs(String),
}

impl PutCond {
    pub fn holds(&self, current: Option<&ObjectRecord>) -> bool {
        match self {
            PutCond::Any => true,
            PutCond::Absent => current.is_none(),
            PutCond::EtagIs(e) => current.is_some_and(|c| &c.etag == e),
        }
    }

    /// Checks the condition; S3 answers NoSuchKey (not 412) to If-Match on a missing key.
    pub fn check(&self, current: Option<&ObjectRecord>) -> StoreResult<()> {
        match (self, current) {
            _ if self.holds(current) => Ok(()),
            (PutCond::EtagIs(_), None) => Err(super::error::StoreError::NoSuchKey),
            _ => Err(super::error::StoreError::PreconditionFailed),
        }
    }
}

/// What a completed upload left behind, so a retried Complete can answer the same.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct CompletedUpload {
    pub bucket: String,
    pub key: String,
    pub etag: String,
}

pub type ObjectVisitor<'a> = dyn FnMut(&[u8], ObjectRecord) -> Step + 'a;
pub type UploadVisitor<'a> = dyn FnMut(&[u8], UploadRecord) -> Step + 'a;

pub trait MetaStore: Send + Sync + 'static {
    fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketRecord>>;
    /// Inserts unless a bucket of that name exists; returns the existing one otherwise.
    fn insert_bucket(&self, rec: &BucketRecord) -> StoreResult<Option<BucketRecord>>;
    fn update_bucket(&self, rec: &BucketRecord) -> StoreResult<()>;
    /// Removes the bucket if it holds no object, aborting its unfinished uploads as S3 does;
    /// returns the aborted parts (to free their data), or None when objects remain.
    fn remove_bucket_if_empty(&self, name: &str) -> StoreResult<Option<Vec<PartRecord>>>;
    fn list_buckets(&self) -> StoreResult<Vec<BucketRecord>>;

    fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRecord>>;
    /// Writes the record if `cond` holds on the current one; returns the replaced record.
    /// Fails with PreconditionFailed otherwise, and NoSuchBucket when the bucket is gone.
    /// Callers hold the store's bucket lock (read), so the bucket cannot be removed meanwhile.
    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        rec: &ObjectRecord,
        cond: &PutCond,
    ) -> StoreResult<Option<ObjectRecord>>;
    fn delete_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRecord>>;
    /// Visits objects of `bucket` in key order from `from` (a bound on the object key).
    fn scan_objects(&self, bucket: &str, from: Bound<Vec<u8>>, visit: &mut ObjectVisitor<'_>) -> StoreResult<()>;

    fn insert_upload(&self, rec: &UploadRecord) -> StoreResult<()>;
    fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> StoreResult<Option<UploadRecord>>;
    /// Visits uploads of `bucket` ordered by key then upload id; the visitor sees the object key.
    fn scan_uploads(&self, bucket: &str, from: Bound<Vec<u8>>, visit: &mut UploadVisitor<'_>) -> StoreResult<()>;
    /// Stores a part if its upload still exists; returns the part it replaced.
    fn put_part(&self, upload: &UploadRecord, part: &PartRecord) -> StoreResult<Option<PartRecord>>;
    /// Parts of an upload with number > `after`, at most `max`.
    fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> StoreResult<Vec<PartRecord>>;
    /// Atomically removes the upload and its parts; returns the parts (to free their data).
    fn abort_upload(&self, upload: &UploadRecord) -> StoreResult<Vec<PartRecord>>;
    /// Atomically: the object record replaces the current one (returned), the upload and all its
    /// part records go, and the completion is remembered for retries.
    fn complete_upload(&self, upload: &UploadRecord, rec: &ObjectRecord) -> StoreResult<Option<ObjectRecord>>;
    fn completed_upload(&self, upload_id: &str) -> StoreResult<Option<CompletedUpload>>;

    /// Every data id referenced by an object or a part (for the start-up sweep).
    fn referenced_data_ids(&self) -> StoreResult<std::collections::HashSet<String>>;
    /// Points each object record whose data is `moves`' key at its value instead, only where the
    /// record still names the old id when it is rewritten; returns the old ids replaced.
    fn replace_data_ids(
        &self,
        moves: &std::collections::HashMap<String, String>,
    ) -> StoreResult<std::collections::HashSet<String>>;
    /// Makes every acknowledged change durable.
    fn flush(&self) -> StoreResult<()>;
    /// Counts for metrics: (buckets, objects, bytes).
    fn stats(&self) -> StoreResult<(u64, u64, u64)>;
}

pub(crate) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

pub(crate) fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

pub(crate) fn part_key(upload_id: &str, number: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(upload_id.len() + 5);
    k.extend_from_slice(upload_id.as_bytes());
    k.push(0);
    k.extend_from_slice(&number.to_be_bytes());
    k
}

pub(crate) fn bucket_prefix(bucket: &str) -> Vec<u8> {
    let mut k = bucket.as_bytes().to_vec();
    k.push(0);
    k
}

#[cfg(test)]
mod tests;
