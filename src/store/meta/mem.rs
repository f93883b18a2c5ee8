//! In-memory `MetaStore` for tests and `S3BACKEND=mem`: the same semantics as sled, under one lock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use super::{
    CompletedUpload, MetaStore, ObjectVisitor, PutCond, UploadVisitor, bucket_prefix, object_key, part_key, upload_key,
};
use crate::store::error::{StoreError, StoreResult};
use crate::store::listing::Step;
use crate::store::types::{BucketRecord, DataRef, ObjectRecord, PartRecord, UploadRecord};

#[derive(Default)]
struct State {
    buckets: BTreeMap<String, BucketRecord>,
    objects: BTreeMap<Vec<u8>, ObjectRecord>,
    uploads: BTreeMap<Vec<u8>, UploadRecord>,
    parts: BTreeMap<Vec<u8>, PartRecord>,
    completed: BTreeMap<String, CompletedUpload>,
}

#[derive(Default)]
pub struct MemMeta {
    state: Mutex<State>,
}

impl MemMeta {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change (each method mutates
        // after all checks), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn has_prefix<V>(map: &BTreeMap<Vec<u8>, V>, prefix: &[u8]) -> bool {
    map.range(prefix.to_vec()..).next().is_some_and(|(k, _)| k.starts_with(prefix))
}

/// Scans `map` under `prefix`, releasing nothing between steps: the visitor only builds a page.
fn steered<V: Clone>(
    map: &BTreeMap<Vec<u8>, V>,
    prefix: &[u8],
    from: Bound<Vec<u8>>,
    visit: &mut dyn FnMut(&[u8], V) -> Step,
) {
    let join = |k: Vec<u8>| {
        let mut full = prefix.to_vec();
        full.extend_from_slice(&k);
        full
    };
    let mut lo = match from {
        Bound::Included(k) => Bound::Included(join(k)),
        Bound::Excluded(k) => Bound::Excluded(join(k)),
        Bound::Unbounded => Bound::Included(prefix.to_vec()),
    };
    'outer: loop {
        for (k, v) in map.range((lo.clone(), Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                return;
            }
            match visit(&k[prefix.len()..], v.clone()) {
                Step::Continue => {}
                Step::Stop => return,
                Step::SeekTo(next) => {
                    lo = Bound::Included(join(next));
                    continue 'outer;
                }
            }
        }
        return;
    }
}

impl MetaStore for MemMeta {
    fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        Ok(self.lock().buckets.get(name).cloned())
    }

    fn insert_bucket(&self, rec: &BucketRecord) -> StoreResult<Option<BucketRecord>> {
        let mut s = self.lock();
        if let Some(existing) = s.buckets.get(&rec.name) {
            return Ok(Some(existing.clone()));
        }
        s.buckets.insert(rec.name.clone(), rec.clone());
        Ok(None)
    }

    fn update_bucket(&self, rec: &BucketRecord) -> StoreResult<()> {
        self.lock().buckets.insert(rec.name.clone(), rec.clone());
        Ok(())
    }

    fn remove_bucket_if_empty(&self, name: &str) -> StoreResult<Option<Vec<PartRecord>>> {
        let mut s = self.lock();
        let prefix = bucket_prefix(name);
        if has_prefix(&s.objects, &prefix) {
            return Ok(None);
        }
        let uploads: Vec<Vec<u8>> =
            s.uploads.range(prefix.clone()..).map(|(k, _)| k.clone()).take_while(|k| k.starts_with(&prefix)).collect();
        let mut parts = Vec::new();
        for uk in uploads {
            if let Some(u) = s.uploads.remove(&uk) {
                let mut pp = u.upload_id.as_bytes().to_vec();
                pp.push(0);
                let keys: Vec<Vec<u8>> =
                    s.parts.range(pp.clone()..).map(|(k, _)| k.clone()).take_while(|k| k.starts_with(&pp)).collect();
                parts.extend(keys.iter().filter_map(|k| s.parts.remove(k)));
            }
        }
        s.buckets.remove(name);
        Ok(Some(parts))
    }

    fn list_buckets(&self) -> StoreResult<Vec<BucketRecord>> {
        Ok(self.lock().buckets.values().cloned().collect())
    }

    fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRecord>> {
        Ok(self.lock().objects.get(&object_key(bucket, key)).cloned())
    }

    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        rec: &ObjectRecord,
        cond: &PutCond,
    ) -> StoreResult<Option<ObjectRecord>> {
        let mut s = self.lock();
        if !s.buckets.contains_key(bucket) {
            return Err(StoreError::NoSuchBucket);
        }
        let k = object_key(bucket, key);
        cond.check(s.objects.get(&k))?;
        Ok(s.objects.insert(k, rec.clone()))
    }

    fn delete_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRecord>> {
        Ok(self.lock().objects.remove(&object_key(bucket, key)))
    }

    fn scan_objects(&self, bucket: &str, from: Bound<Vec<u8>>, visit: &mut ObjectVisitor<'_>) -> StoreResult<()> {
        let s = self.lock();
        steered(&s.objects, &bucket_prefix(bucket), from, visit);
        Ok(())
    }

    fn insert_upload(&self, rec: &UploadRecord) -> StoreResult<()> {
        let mut s = self.lock();
        if !s.buckets.contains_key(&rec.bucket) {
            return Err(StoreError::NoSuchBucket);
        }
        s.uploads.insert(upload_key(&rec.bucket, &rec.key, &rec.upload_id), rec.clone());
        Ok(())
    }

    fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> StoreResult<Option<UploadRecord>> {
        Ok(self.lock().uploads.get(&upload_key(bucket, key, upload_id)).cloned())
    }

    fn scan_uploads(&self, bucket: &str, from: Bound<Vec<u8>>, visit: &mut UploadVisitor<'_>) -> StoreResult<()> {
        let s = self.lock();
        let mut adapter = |_: &[u8], rec: UploadRecord| {
            let key = rec.key.clone();
            visit(key.as_bytes(), rec)
        };
        steered(&s.uploads, &bucket_prefix(bucket), from, &mut adapter);
        Ok(())
    }

    fn put_part(&self, upload: &UploadRecord, part: &PartRecord) -> StoreResult<Option<PartRecord>> {
        let mut s = self.lock();
        if !s.uploads.contains_key(&upload_key(&upload.bucket, &upload.key, &upload.upload_id)) {
            return Err(StoreError::NoSuchUpload);
        }
        Ok(s.parts.insert(part_key(&upload.upload_id, part.number), part.clone()))
    }

    fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> StoreResult<Vec<PartRecord>> {
        if after == u32::MAX {
            return Ok(Vec::new());
        }
        let s = self.lock();
        let lo = part_key(upload_id, after + 1);
        let mut prefix = upload_id.as_bytes().to_vec();
        prefix.push(0);
        Ok(s.parts.range(lo..).take_while(|(k, _)| k.starts_with(&prefix)).take(max).map(|(_, v)| v.clone()).collect())
    }

    fn abort_upload(&self, upload: &UploadRecord) -> StoreResult<Vec<PartRecord>> {
        let parts = self.list_parts(&upload.upload_id, 0, usize::MAX)?;
        let mut s = self.lock();
        if s.uploads.remove(&upload_key(&upload.bucket, &upload.key, &upload.upload_id)).is_none() {
            return Err(StoreError::NoSuchUpload);
        }
        for p in &parts {
            s.parts.remove(&part_key(&upload.upload_id, p.number));
        }
        Ok(parts)
    }

    fn complete_upload(&self, upload: &UploadRecord, rec: &ObjectRecord) -> StoreResult<Option<ObjectRecord>> {
        let parts = self.list_parts(&upload.upload_id, 0, usize::MAX)?;
        let mut s = self.lock();
        if s.uploads.remove(&upload_key(&upload.bucket, &upload.key, &upload.upload_id)).is_none() {
            return Err(StoreError::NoSuchUpload);
        }
        for p in &parts {
            s.parts.remove(&part_key(&upload.upload_id, p.number));
        }
        s.completed.insert(
            upload.upload_id.clone(),
            CompletedUpload { bucket: upload.bucket.clone(), key: upload.key.clone(), etag: rec.etag.clone() },
        );
        Ok(s.objects.insert(object_key(&upload.bucket, &upload.key), rec.clone()))
    }

    fn completed_upload(&self, upload_id: &str) -> StoreResult<Option<CompletedUpload>> {
        Ok(self.lock().completed.get(upload_id).cloned())
    }

    fn referenced_data_ids(&self) -> StoreResult<HashSet<String>> {
        let s = self.lock();
        let mut ids: HashSet<String> = s.objects.values().flat_map(ObjectRecord::data_ids).collect();
        ids.extend(s.parts.values().map(|p| p.data.clone()));
        Ok(ids)
    }

    fn replace_data_ids(&self, moves: &HashMap<String, String>) -> StoreResult<HashSet<String>> {
        let mut s = self.lock();
        let mut replaced = HashSet::new();
        for rec in s.objects.values_mut() {
            if let DataRef::File(id) = &mut rec.data
                && let Some(new) = moves.get(id.as_str())
            {
                replaced.insert(std::mem::replace(id, new.clone()));
            }
        }
        Ok(replaced)
    }

    fn flush(&self) -> StoreResult<()> {
        Ok(())
    }

    fn stats(&self) -> StoreResult<(u64, u64, u64)> {
        let s = self.lock();
        let bytes = s.objects.values().map(|o| o.size).sum();
        Ok((s.buckets.len() as u64, s.objects.len() as u64, bytes))
    }
}
