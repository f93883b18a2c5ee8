//! `x-amz-checksum-*` algorithms: streaming hashers, and the multipart forms AWS defines
//! (COMPOSITE: a checksum of the part checksums, `-N`; FULL_OBJECT: the CRC of the whole object,
//! combined from the part CRCs without reading the data again).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use md5::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

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
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
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

fn crc_algorithm(algo: ChecksumAlgorithm) -> Option<crc_fast::CrcAlgorithm> {
    use crc_fast::CrcAlgorithm as C;
    match algo {
        ChecksumAlgorithm::Crc32 => Some(C::Crc32IsoHdlc),
        ChecksumAlgorithm::Crc32c => Some(C::Crc32Iscsi),
        ChecksumAlgorithm::Crc64Nvme => Some(C::Crc64Nvme),
        _ => None,
    }
}

fn decode_crc(algo: ChecksumAlgorithm, b64: &str) -> Option<u64> {
    let bytes = B64.decode(b64).ok()?;
    match (algo, bytes.len()) {
        (ChecksumAlgorithm::Crc64Nvme, 8) => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        (_, 4) => Some(u64::from(u32::from_be_bytes(bytes.try_into().ok()?))),
        _ => None,
    }
}

fn encode_crc(algo: ChecksumAlgorithm, v: u64) -> String {
    if algo == ChecksumAlgorithm::Crc64Nvme {
        B64.encode(v.to_be_bytes())
    } else {
        B64.encode((v as u32).to_be_bytes())
    }
}

/// FULL_OBJECT checksum of the concatenation of parts given as (base64 CRC, length).
pub fn combine_crc(algo: ChecksumAlgorithm, parts: &[(String, u64)]) -> Option<String> {
    let crc = crc_algorithm(algo)?;
    let mut iter = parts.iter();
    let (first, _) = iter.next()?;
    let mut acc = decode_crc(algo, first)?;
    for (value, len) in iter {
        acc = crc_fast::checksum_combine(crc, acc, decode_crc(algo, value)?, *len);
    }
    Some(encode_crc(algo, acc))
}

/// COMPOSITE checksum: the checksum of the concatenated binary part checksums, suffixed `-N`.
pub fn composite(algo: ChecksumAlgorithm, part_values: &[String]) -> Option<String> {
    let mut concat = Vec::new();
    for v in part_values {
        concat.extend(B64.decode(v).ok()?);
    }
    Some(format!("{}-{}", checksum_b64(algo, &concat), part_values.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_crc_equals_crc_of_concatenation() {
        let a = b"hello ".repeat(1000);
        let b = b"world".repeat(777);
        let whole = [a.clone(), b.clone()].concat();
        for algo in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme] {
            let parts = vec![(checksum_b64(algo, &a), a.len() as u64), (checksum_b64(algo, &b), b.len() as u64)];
            assert_eq!(combine_crc(algo, &parts), Some(checksum_b64(algo, &whole)), "{algo:?}");
        }
        assert_eq!(combine_crc(ChecksumAlgorithm::Sha256, &[]), None);
    }

    #[test]
    fn composite_has_part_count() {
        let v = checksum_b64(ChecksumAlgorithm::Crc32, b"x");
        let c = composite(ChecksumAlgorithm::Crc32, &[v.clone(), v]).unwrap();
        assert!(c.ends_with("-2"));
    }

    #[test]
    fn known_checksums() {
        // Values from the AWS documentation examples / well-known test vectors for "hello world".
        assert_eq!(checksum_b64(ChecksumAlgorithm::Crc32, b"hello world"), "DUoRhQ==");
        assert_eq!(checksum_b64(ChecksumAlgorithm::Crc32c, b"hello world"), "yZRlqg==");
        assert_eq!(checksum_b64(ChecksumAlgorithm::Sha1, b"hello world"), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(
            checksum_b64(ChecksumAlgorithm::Sha256, b"hello world"),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        assert_eq!(checksum_b64(ChecksumAlgorithm::Crc64Nvme, b"hello world").len(), 12);
        assert_eq!(ChecksumAlgorithm::parse("crc32c"), Some(ChecksumAlgorithm::Crc32c));
        assert_eq!(ChecksumAlgorithm::Crc64Nvme.header_name(), "x-amz-checksum-crc64nvme");
    }
}
