//! Reading a request body into the data store: bounded chunks, hashed in the same pass.

use std::pin::Pin;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::checksum::{ChecksumAlgorithm, Hasher};
use super::data::{DataStore, DataWriter};
use super::error::{StoreError, StoreResult};
use super::md5::BodyMd5;
use super::types::Checksum;

pub type BodyError = Box<dyn std::error::Error + Send + Sync>;
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// What the client said the body must match. A trailer's value is read after the body is drained.
#[derive(Default)]
pub struct Expect {
    pub content_length: Option<u64>,
    pub content_md5: Option<[u8; 16]>,
    pub checksum: Option<(ChecksumAlgorithm, Option<String>)>,
    #[allow(clippy::type_complexity)]
    pub trailer: Option<Box<dyn Fn(ChecksumAlgorithm) -> Option<String> + Send + Sync>>,
}

/// How long a body may stall between two chunks.
pub const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

pub enum Blob {
    Inline(Bytes),
    Pending(Box<dyn DataWriter>),
}

pub struct Ingested {
    pub blob: Blob,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: Vec<Checksum>,
}

/// Streams `body` into the data store (or an inline buffer when it ends up tiny), hashing as it
/// goes, then checks it against `expect`. Nothing is durable until the caller finishes the blob;
/// on any error the partial blob is dropped, which deletes it.
pub async fn ingest(
    data: &dyn DataStore,
    mut body: BodyStream,
    expect: &Expect,
    max_size: u64,
    inline_max: usize,
) -> StoreResult<Ingested> {
    let res = ingest_inner(data, &mut body, expect, max_size, inline_max).await;
    if let Err(StoreError::Io(_) | StoreError::EntityTooLarge) = res {
        drain(&mut body).await;
    }
    res
}

/// The most of a body read and dropped after a failure part-way through it.
const DRAIN_MAX: u64 = 64 << 20;
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads and drops the rest of a body (within bounds) before its error is answered: an
/// HTTP/1.1 server that closes a connection with request bytes unread makes the kernel reset
/// it, and a client still sending then often sees the reset instead of the S3 error (seen with
/// a full disk under load).
async fn drain(body: &mut BodyStream) {
    let _ = tokio::time::timeout(DRAIN_DEADLINE, async {
        let mut n = 0u64;
        while let Some(Ok(chunk)) = body.next().await {
            n += chunk.len() as u64;
            if n > DRAIN_MAX {
                break;
            }
        }
    })
    .await;
}

async fn ingest_inner(
    data: &dyn DataStore,
    body: &mut BodyStream,
    expect: &Expect,
    max_size: u64,
    inline_max: usize,
) -> StoreResult<Ingested> {
    let mut md5 = BodyMd5::new();
    let mut hasher = expect.checksum.as_ref().map(|(a, _)| Hasher::new(*a));
    let mut size: u64 = 0;
    let mut small = BytesMut::new();
    let mut writer: Option<Box<dyn DataWriter>> = None;

    loop {
        // A client that stops sending is cut off, and its partial blob dropped.
        let next =
            tokio::time::timeout(BODY_IDLE_TIMEOUT, body.next()).await.map_err(|_| StoreError::RequestTimeout)?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
        size += chunk.len() as u64;
        if size > max_size {
            return Err(StoreError::EntityTooLarge);
        }
        if expect.content_length.is_some_and(|n| size > n) {
            return Err(StoreError::Body("body longer than Content-Length".into()));
        }
        md5.update(&chunk).await;
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        match writer.as_mut() {
            Some(w) => w.write(chunk).await?,
            None if small.len() + chunk.len() <= inline_max => small.extend_from_slice(&chunk),
            None => {
                let mut w = data.create().await?;
                if !small.is_empty() {
                    w.write(small.split().freeze()).await?;
                }
                w.write(chunk).await?;
                writer = Some(w);
            }
        }
    }
    if expect.content_length.is_some_and(|n| size != n) {
        return Err(StoreError::IncompleteBody);
    }
    let md5 = md5.finish().await.ok_or_else(|| StoreError::Io(std::io::Error::other("the MD5 thread stopped")))?;
    if expect.content_md5.is_some_and(|want| want != md5) {
        return Err(StoreError::BadDigest);
    }
    let mut checksums = Vec::new();
    if let (Some(h), Some((algo, given))) = (hasher, expect.checksum.as_ref()) {
        let value = B64.encode(h.finalize());
        let want = given.clone().or_else(|| expect.trailer.as_ref().and_then(|t| t(*algo)));
        if want.as_ref().is_some_and(|w| w.trim() != value) {
            return Err(StoreError::ChecksumMismatch { algorithm: algo.as_str().to_owned() });
        }
        checksums.push(Checksum { algorithm: algo.as_str().to_owned(), value, kind: "FULL_OBJECT".into() });
    }
    let blob = match writer {
        Some(w) => Blob::Pending(w),
        None => Blob::Inline(small.freeze()),
    };
    Ok(Ingested { blob, size, md5, checksums })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::store::data::MemData;

    #[tokio::test]
    async fn a_body_rejected_part_way_is_read_to_its_end() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let chunks = (0..10).map(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok::<_, BodyError>(Bytes::from(vec![1u8; 1000]))
        });
        let body: BodyStream = Box::pin(futures::stream::iter(chunks));
        let res = ingest(&MemData::new(), body, &Expect::default(), 2500, 0).await;
        assert!(matches!(res, Err(StoreError::EntityTooLarge)));
        assert_eq!(pulled.load(Ordering::Relaxed), 10, "the rest of the body was drained");
    }
}
