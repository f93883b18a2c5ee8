//! Multipart uploads. Parts are data files of their own; Complete writes a manifest of them into
//! the object record in one atomic metadata operation and copies no bytes.

use std::ops::Bound;

use md5::{Digest, Md5};

use super::Store;
use super::checksum::{ChecksumAlgorithm, combine_crc, composite};
use super::data::new_id;
use super::error::{StoreError, StoreResult};
use super::ingest::{Blob, BodyStream, Expect, ingest};
use super::listing::{Entry, ListParams, OrderedScan, Step, list};
use super::types::{Acl, Checksum, DataRef, ObjectAttrs, ObjectRecord, PartRecord, PartRef, UploadRecord, now_millis};

/// One entry of CompleteMultipartUpload's part list.
#[derive(Debug, Clone)]
pub struct CompletePart {
    pub number: u32,
    /// Without quotes.
    pub etag: String,
    /// The part's checksum in the upload's algorithm, when the client lists it.
    pub checksum: Option<String>,
}

#[derive(Debug, Default)]
pub struct UploadList {
    pub uploads: Vec<UploadRecord>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
}

/// `hex(md5(concat(binary part md5s)))-N`, S3's multipart ETag.
pub fn multipart_etag(part_etags: &[String]) -> String {
    let mut h = Md5::new();
    for e in part_etags {
        // Part ETags are our own hex MD5s.
        if let Ok(bin) = hex::decode(e) {
            h.update(bin);
        }
    }
    format!("{}-{}", hex::encode(h.finalize()), part_etags.len())
}

/// The object's checksum from its parts': FULL_OBJECT (combined CRC) or COMPOSITE, as the upload
/// was created. None when the upload has no algorithm or a part lacks its checksum.
fn object_checksum(upload: &UploadRecord, parts: &[&PartRecord]) -> Option<Checksum> {
    let algo = ChecksumAlgorithm::parse(upload.checksum_algorithm.as_deref()?)?;
    let values: Vec<String> = parts
        .iter()
        .map(|p| p.checksums.iter().find(|c| c.algorithm == algo.as_str()).map(|c| c.value.clone()))
        .collect::<Option<_>>()?;
    let full = match upload.checksum_type.as_deref() {
        Some(t) => t == "FULL_OBJECT",
        // AWS's default type: FULL_OBJECT for CRC64NVME, COMPOSITE otherwise.
        None => algo == ChecksumAlgorithm::Crc64Nvme,
    };
    if full && algo.is_crc() {
        let with_len: Vec<(String, u64)> = values.into_iter().zip(parts.iter().map(|p| p.size)).collect();
        let value = combine_crc(algo, &with_len)?;
        return Some(Checksum { algorithm: algo.as_str().to_owned(), value, kind: "FULL_OBJECT".into() });
    }
    Some(Checksum { algorithm: algo.as_str().to_owned(), value: composite(algo, &values)?, kind: "COMPOSITE".into() })
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        owner: &str,
        attrs: ObjectAttrs,
        acl: Acl,
        checksum_algorithm: Option<String>,
        checksum_type: Option<String>,
    ) -> StoreResult<UploadRecord> {
        self.get_bucket(bucket)?;
        let rec = UploadRecord {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: new_id(),
            initiated: now_millis(),
            owner: owner.to_owned(),
            attrs,
            acl,
            checksum_algorithm,
            checksum_type,
        };
        {
            let _guard = self.bucket_lock.read().unwrap_or_else(|p| p.into_inner());
            self.meta.insert_upload(&rec)?;
        }
        self.flush().await?;
        Ok(rec)
    }

    pub fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> StoreResult<UploadRecord> {
        self.get_bucket(bucket)?;
        self.meta.get_upload(bucket, key, upload_id)?.ok_or(StoreError::NoSuchUpload)
    }

    pub async fn upload_part(
        &self,
        upload: &UploadRecord,
        number: u32,
        body: BodyStream,
        expect: &Expect,
    ) -> StoreResult<PartRecord> {
        // inline_max 0: a part always gets its own file so Complete can reference it.
        let ing = ingest(&*self.data, body, expect, self.limits.max_object_size, 0).await?;
        let id = match ing.blob {
            Blob::Pending(w) => w.finish().await?,
            Blob::Inline(bytes) => {
                let mut w = self.data.create().await?;
                w.write(bytes).await?;
                w.finish().await?
            }
        };
        let part = PartRecord {
            number,
            data: id,
            size: ing.size,
            etag: hex::encode(ing.md5),
            last_modified: now_millis(),
            checksums: ing.checksums,
        };
        let old = match self.meta.put_part(upload, &part) {
            Ok(old) => old,
            Err(e) => {
                self.data.delete(&part.data).await;
                return Err(e);
            }
        };
        self.flush().await?;
        if let Some(old) = old {
            self.data.delete(&old.data).await;
        }
        Ok(part)
    }

    pub fn list_parts(&self, upload: &UploadRecord, after: u32, max: usize) -> StoreResult<(Vec<PartRecord>, bool)> {
        let mut parts = self.meta.list_parts(&upload.upload_id, after, max.saturating_add(1))?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        Ok((parts, truncated))
    }

    /// Completes an upload. Retrying a Complete that already succeeded returns the object.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: &[CompletePart],
        expected: Option<(ChecksumAlgorithm, String)>,
    ) -> StoreResult<ObjectRecord> {
        self.get_bucket(bucket)?;
        let Some(upload) = self.meta.get_upload(bucket, key, upload_id)? else {
            if let Some(done) = self.meta.completed_upload(upload_id)?
                && done.bucket == bucket
                && done.key == key
                && let Some(current) = self.meta.get_object(bucket, key)?
                && current.etag == done.etag
            {
                return Ok(current);
            }
            return Err(StoreError::NoSuchUpload);
        };
        let stored = self.meta.list_parts(upload_id, 0, usize::MAX)?;
        let mut chosen: Vec<&PartRecord> = Vec::with_capacity(requested.len());
        let mut last = 0u32;
        for r in requested {
            if r.number <= last {
                return Err(StoreError::InvalidPartOrder);
            }
            last = r.number;
            let part = stored
                .iter()
                .find(|p| p.number == r.number && p.etag == r.etag)
                .ok_or_else(|| StoreError::InvalidPart(format!("part {} with ETag {}", r.number, r.etag)))?;
            if let (Some(want), Some(algo)) = (&r.checksum, upload.checksum_algorithm.as_deref())
                && part.checksums.iter().any(|c| c.algorithm == algo && &c.value != want)
            {
                return Err(StoreError::InvalidPart(format!("part {} with a different {algo} checksum", r.number)));
            }
            chosen.push(part);
        }
        if let Some((_, init)) = chosen.split_last()
            && init.iter().any(|p| p.size < self.limits.min_part_size)
        {
            return Err(StoreError::EntityTooSmall);
        }
        let etags: Vec<String> = chosen.iter().map(|p| p.etag.clone()).collect();
        let rec = ObjectRecord {
            size: chosen.iter().map(|p| p.size).sum(),
            etag: multipart_etag(&etags),
            last_modified: now_millis(),
            owner: upload.owner.clone(),
            attrs: upload.attrs.clone(),
            acl: upload.acl.clone(),
            data: DataRef::Parts(
                chosen
                    .iter()
                    .map(|p| PartRef {
                        number: p.number,
                        data: p.data.clone(),
                        size: p.size,
                        etag: p.etag.clone(),
                        checksums: p.checksums.clone(),
                    })
                    .collect(),
            ),
            checksums: object_checksum(&upload, &chosen).into_iter().collect(),
        };
        if let Some((algo, want)) = expected {
            let got = rec.checksums.iter().find(|c| c.algorithm == algo.as_str());
            if got.is_some_and(|c| c.value != want.trim()) {
                return Err(StoreError::ChecksumMismatch { algorithm: algo.as_str().to_owned() });
            }
        }
        let old = {
            let _guard = self.bucket_lock.read().unwrap_or_else(|p| p.into_inner());
            self.meta.complete_upload(&upload, &rec)?
        };
        self.flush().await?;
        let kept: std::collections::HashSet<&str> = chosen.iter().map(|p| p.data.as_str()).collect();
        let unused: Vec<String> =
            stored.iter().filter(|p| !kept.contains(p.data.as_str())).map(|p| p.data.clone()).collect();
        self.free_data(unused).await;
        if let Some(old) = old {
            self.free_data(old.data_ids()).await;
        }
        Ok(rec)
    }

    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> StoreResult<()> {
        let upload = self.get_upload(bucket, key, upload_id)?;
        let parts = self.meta.abort_upload(&upload)?;
        self.flush().await?;
        self.free_data(parts.into_iter().map(|p| p.data).collect()).await;
        Ok(())
    }

    /// Lists uploads ordered by key then upload id, with prefix/delimiter grouping and the
    /// key-marker / upload-id-marker pair.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max: usize,
    ) -> StoreResult<UploadList> {
        self.get_bucket(bucket)?;
        struct Scan<'a> {
            store: &'a Store,
            bucket: &'a str,
            key_marker: Option<&'a str>,
            upload_id_marker: Option<&'a str>,
        }
        impl OrderedScan<UploadRecord> for Scan<'_> {
            fn scan(&self, from: Bound<Vec<u8>>, visit: &mut dyn FnMut(&[u8], UploadRecord) -> Step) {
                // The listing works on object keys; uploads of the marker key that sort at or
                // before the upload-id marker were on the previous page.
                let mut filter = |k: &[u8], u: UploadRecord| {
                    if let (Some(km), Some(um)) = (self.key_marker, self.upload_id_marker)
                        && k == km.as_bytes()
                        && u.upload_id.as_str() <= um
                    {
                        return Step::Continue;
                    }
                    visit(k, u)
                };
                let from = match from {
                    // Uploads are keyed `key \0 id`: including the marker key when an upload-id
                    // marker is given lets the later uploads of that key through.
                    Bound::Excluded(k) if self.upload_id_marker.is_some() => Bound::Included(k),
                    Bound::Excluded(mut k) => {
                        k.push(1);
                        Bound::Included(k)
                    }
                    other => other,
                };
                let _ = self.store.meta.scan_uploads(self.bucket, from, &mut filter);
            }
        }
        let scan = Scan { store: self, bucket, key_marker, upload_id_marker };
        let params = ListParams {
            prefix: prefix.as_bytes().to_vec(),
            delimiter: delimiter.map(|d| d.as_bytes().to_vec()),
            after: key_marker.map(|k| k.as_bytes().to_vec()),
            max_keys: max,
        };
        let page = list(&scan, &params);
        let mut out = UploadList { is_truncated: page.is_truncated, ..Default::default() };
        for e in page.entries {
            match e {
                Entry::Object(_, u) => out.uploads.push(u),
                Entry::CommonPrefix(p) => out.common_prefixes.push(String::from_utf8_lossy(&p).into_owned()),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_of_parts() {
        // md5("") twice -> known composite.
        let e = "d41d8cd98f00b204e9800998ecf8427e".to_string();
        let got = multipart_etag(&[e.clone(), e]);
        assert!(got.ends_with("-2"));
        assert_eq!(got.len(), 32 + 2);
    }
}
