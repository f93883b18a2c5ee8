//! Reading a request body into the data store: bounded chunks, hashed in the same pass.

use std::pin::Pin;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};

use super::data::{DataStore, DataWriter};
use super::error::{StoreError, StoreResult};
use super::types::Checksum;

pub type BodyError = Box<dyn std::error::Error + Send + Sync>;
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The header that carries this checksum, e.g. `x-amz-checksum-crc32`.
    pub fn header_name(self) -> String {
        format!("x-amz-checksum-{}", self.as_str().to_ascii_lowercase())
    }

    pub fn is_crc(self) -> bool {
        matches!(self, Self::Crc32 | Self::Crc32c | Self::Crc64Nvme)
    }
}

pub enum Hasher {
    Crc(ChecksumAlgorithm, crc_fast::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub fn new(algo: ChecksumAlgorithm) -> Self {
        use crc_fast::CrcAlgorithm as C;
        match algo {
            ChecksumAlgorithm::Crc32 => Hasher::Crc(algo, crc_fast::Digest::new(C::Crc32IsoHdlc)),
            ChecksumAlgorithm::Crc32c => Hasher::Crc(algo, crc_fast::Digest::new(C::Crc32Iscsi)),
            ChecksumAlgorithm::Crc64Nvme => Hasher::Crc(algo, crc_fast::Digest::new(C::Crc64Nvme)),
            ChecksumAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(_, d) => d.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Crc(ChecksumAlgorithm::Crc64Nvme, d) => d.finalize().to_be_bytes().to_vec(),
            // The 32-bit CRCs come back widened to u64.
            Hasher::Crc(_, d) => (d.finalize() as u32).to_be_bytes().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Base64 of a checksum of `data` (for tests and composite checksums).
pub fn checksum_b64(algo: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(algo);
    h.update(data);
    B64.encode(h.finalize())
}

/// What the client said the body must match. A trailer's value is read after the body is drained.
#[derive(Default)]
pub struct Expect {
    pub content_length: Option<u64>,
    pub content_md5: Option<[u8; 16]>,
    pub checksum: Option<(ChecksumAlgorithm, Option<String>)>,
    #[allow(clippy::type_complexity)]
    pub trailer: Option<Box<dyn Fn(ChecksumAlgorithm) -> Option<String> + Send + Sync>>,
}

pub enum Blob {
    Inline(Vec<u8>),
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
    let mut md5 = Md5::new();
    let mut hasher = expect.checksum.as_ref().map(|(a, _)| Hasher::new(*a));
    let mut size: u64 = 0;
    let mut small = BytesMut::new();
    let mut writer: Option<Box<dyn DataWriter>> = None;

    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
        size += chunk.len() as u64;
        if size > max_size {
            return Err(StoreError::EntityTooLarge);
        }
        if expect.content_length.is_some_and(|n| size > n) {
            return Err(StoreError::Body("body longer than Content-Length".into()));
        }
        md5.update(&chunk);
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
    let md5: [u8; 16] = md5.finalize().into();
    if expect.content_md5.is_some_and(|want| want != md5) {
        return Err(StoreError::BadDigest);
    }
    let mut checksums = Vec::new();
    if let (Some(h), Some((algo, given))) = (hasher, expect.checksum.as_ref()) {
        let value = B64.encode(h.finalize());
        let want = given
            .clone()
            .or_else(|| expect.trailer.as_ref().and_then(|t| t(*algo)));
        if want.as_ref().is_some_and(|w| w.trim() != value) {
            return Err(StoreError::ChecksumMismatch {
                algorithm: algo.as_str().to_owned(),
            });
        }
        checksums.push(Checksum {
            algorithm: algo.as_str().to_owned(),
            value,
            kind: "FULL_OBJECT".into(),
        });
    }
    let blob = match writer {
        Some(w) => Blob::Pending(w),
        None => Blob::Inline(small.to_vec()),
    };
    Ok(Ingested {
        blob,
        size,
        md5,
        checksums,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_checksums() {
        // Values from the AWS documentation examples / well-known test vectors for "hello world".
        assert_eq!(
            checksum_b64(ChecksumAlgorithm::Crc32, b"hello world"),
            "DUoRhQ=="
        );
        assert_eq!(
            checksum_b64(ChecksumAlgorithm::Crc32c, b"hello world"),
            "yZRlqg=="
        );
        assert_eq!(
            checksum_b64(ChecksumAlgorithm::Sha1, b"hello world"),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(
            checksum_b64(ChecksumAlgorithm::Sha256, b"hello world"),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        assert_eq!(
            checksum_b64(ChecksumAlgorithm::Crc64Nvme, b"hello world").len(),
            12
        );
        assert_eq!(
            ChecksumAlgorithm::parse("crc32c"),
            Some(ChecksumAlgorithm::Crc32c)
        );
        assert_eq!(
            ChecksumAlgorithm::Crc64Nvme.header_name(),
            "x-amz-checksum-crc64nvme"
        );
    }
}
