//! Domain records kept by the metadata store. They never mention HTTP or s3s.
//!
//! Records are serialised as one version byte and the body: version 2 is postcard (compact binary,
//! written now), version 1 is JSON (written by earlier releases, still read). See `decode`.
//! postcard is not self-describing: fields are positional, so records must not use
//! `skip_serializing_if`, and adding or reordering a field needs a new version (decode the old
//! one and migrate). `#[serde(default)]` only helps version 1 (JSON) records.

use serde::{Deserialize, Serialize};

use super::error::StoreError;

/// First byte of every stored record; bump it (and keep decoding the old one in `decode`) when
/// the encoding or a record's shape changes incompatibly.
const RECORD_VERSION: u8 = 2;
/// Records of earlier releases: JSON. Read, never written.
const RECORD_VERSION_JSON: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs of strings and numbers into a Vec cannot fail.
    postcard::to_extend(value, vec![RECORD_VERSION]).expect("record serialisation")
}

pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("undecodable record: {e}"));
    match bytes.split_first() {
        Some((&RECORD_VERSION, rest)) => postcard::from_bytes(rest).map_err(|e| corrupt(&e)),
        Some((&RECORD_VERSION_JSON, rest)) => serde_json::from_slice(rest).map_err(|e| corrupt(&e)),
        Some((v, _)) => Err(StoreError::Corrupt(format!("unknown record version {v}"))),
        None => Err(StoreError::Corrupt("empty record".into())),
    }
}

/// `decode` for a record read as a shared buffer: inline object bytes become slices of `bytes`
/// instead of copies. A 4 KiB GET spent 2% of the server's CPU copying them out of the record.
pub fn decode_shared<T: for<'de> Deserialize<'de>>(bytes: bytes::Bytes) -> Result<T, StoreError> {
    b64::SHARED.with(|s| *s.borrow_mut() = Some(bytes.clone()));
    let r = decode(&bytes);
    b64::SHARED.with(|s| s.borrow_mut().take());
    r
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketRecord {
    pub name: String,
    pub owner: String,
    pub created: i64,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub acl: Acl,
}

/// Canned ACLs are what CloudServer users actually set; grants are kept as the canned name plus
/// explicit grants so GetAcl can render them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Acl {
    #[serde(default)]
    pub canned: String,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    /// "CanonicalUser" with `id`, or "Group" with `uri`.
    pub grantee_type: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub uri: String,
    pub permission: String,
}

impl Acl {
    pub fn canned(name: &str) -> Self {
        Acl { canned: name.to_owned(), grants: Vec::new() }
    }

    pub const ALL_USERS: &'static str = "http://acs.amazonaws.com/groups/global/AllUsers";

    /// Whether an anonymous caller may read (GET/HEAD/list) under this ACL.
    pub fn public_read(&self) -> bool {
        matches!(self.canned.as_str(), "public-read" | "public-read-write")
            || self
                .grants
                .iter()
                .any(|g| g.uri == Self::ALL_USERS && matches!(g.permission.as_str(), "READ" | "FULL_CONTROL"))
    }

    /// Whether an anonymous caller may write objects into a bucket under this ACL.
    pub fn public_write(&self) -> bool {
        self.canned == "public-read-write"
            || self
                .grants
                .iter()
                .any(|g| g.uri == Self::ALL_USERS && matches!(g.permission.as_str(), "WRITE" | "FULL_CONTROL"))
    }
}

/// Where an object's bytes live.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum DataRef {
    /// Tiny objects live inside the metadata record: one commit, no file, no extra fsync.
    /// `Bytes`, so a GET hands the body to the response without another copy.
    Inline(#[serde(with = "b64")] bytes::Bytes),
    /// One data file, named by id.
    File(String),
    /// A completed multipart upload: the part files in order, never copied.
    Parts(Vec<PartRef>),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartRef {
    pub number: u32,
    pub data: String,
    pub size: u64,
    pub etag: String,
    #[serde(default)]
    pub checksums: Vec<Checksum>,
}

/// A checksum as S3 names it: algorithm (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`) and
/// the base64 value; `kind` is `FULL_OBJECT` or `COMPOSITE`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: String,
    pub value: String,
    #[serde(default)]
    pub kind: String,
}

/// Headers stored with an object and returned on GET/HEAD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectAttrs {
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_encoding: Option<String>,
    #[serde(default)]
    pub content_disposition: Option<String>,
    #[serde(default)]
    pub content_language: Option<String>,
    #[serde(default)]
    pub cache_control: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub website_redirect: Option<String>,
    /// x-amz-meta-* pairs, names lower-cased, in the order given.
    #[serde(default)]
    pub user: Vec<(String, String)>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectRecord {
    pub size: u64,
    /// Hex MD5, or `<hex>-N` for multipart; without quotes.
    pub etag: String,
    pub last_modified: i64,
    pub owner: String,
    #[serde(default)]
    pub attrs: ObjectAttrs,
    #[serde(default)]
    pub acl: Acl,
    pub data: DataRef,
    #[serde(default)]
    pub checksums: Vec<Checksum>,
}

impl ObjectRecord {
    /// Ids of every data file this record owns, to free them when it is replaced or deleted.
    pub fn data_ids(&self) -> Vec<String> {
        match &self.data {
            DataRef::Inline(_) => Vec::new(),
            DataRef::File(id) => vec![id.clone()],
            DataRef::Parts(parts) => parts.iter().map(|p| p.data.clone()).collect(),
        }
    }

    pub fn parts_count(&self) -> Option<usize> {
        match &self.data {
            DataRef::Parts(p) => Some(p.len()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadRecord {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub initiated: i64,
    pub owner: String,
    #[serde(default)]
    pub attrs: ObjectAttrs,
    #[serde(default)]
    pub acl: Acl,
    /// Checksum algorithm and type announced at creation, if any.
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    #[serde(default)]
    pub checksum_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartRecord {
    pub number: u32,
    pub data: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: i64,
    #[serde(default)]
    pub checksums: Vec<Checksum>,
}

/// Inline bytes: raw in the binary encoding, base64 in JSON (version 1 records).
mod b64 {
    use std::cell::RefCell;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    thread_local! {
        /// The buffer `decode_shared` is decoding: borrowed bytes that lie inside it are
        /// returned as slices of it. serde offers no other way to hand a visitor its owner.
        pub(super) static SHARED: RefCell<Option<bytes::Bytes>> = const { RefCell::new(None) };
    }

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&STANDARD.encode(v)) } else { s.serialize_bytes(v) }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bytes::Bytes, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            STANDARD.decode(s).map(bytes::Bytes::from).map_err(serde::de::Error::custom)
        } else {
            d.deserialize_bytes(Bytes)
        }
    }

    /// A slice of the shared buffer if `v` lies inside it, else a copy.
    fn shared_or_copy(v: &[u8]) -> bytes::Bytes {
        SHARED.with(|s| {
            let shared = s.borrow();
            match shared.as_ref() {
                Some(owner)
                    if owner.as_ptr_range().start <= v.as_ptr() && v.as_ptr_range().end <= owner.as_ptr_range().end =>
                {
                    owner.slice_ref(v)
                }
                _ => bytes::Bytes::copy_from_slice(v),
            }
        })
    }

    struct Bytes;

    impl<'de> serde::de::Visitor<'de> for Bytes {
        type Value = bytes::Bytes;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("bytes")
        }

        fn visit_borrowed_bytes<E: serde::de::Error>(self, v: &'de [u8]) -> Result<bytes::Bytes, E> {
            Ok(shared_or_copy(v))
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<bytes::Bytes, E> {
            Ok(bytes::Bytes::copy_from_slice(v))
        }

        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<bytes::Bytes, E> {
            Ok(v.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_with_version_byte() {
        let rec = ObjectRecord {
            size: 3,
            etag: "abc".into(),
            last_modified: 1,
            owner: "o".into(),
            attrs: ObjectAttrs::default(),
            acl: Acl::default(),
            data: DataRef::Inline(vec![0, 1, 255].into()),
            checksums: vec![],
        };
        let bytes = encode(&rec);
        assert_eq!(bytes[0], RECORD_VERSION);
        assert_eq!(decode::<ObjectRecord>(&bytes).unwrap(), rec);
        assert!(decode::<ObjectRecord>(&[9, b'{']).is_err());
        assert!(decode::<ObjectRecord>(&[RECORD_VERSION, 0xff, 0xff]).is_err());
        // Version 1 (JSON) records written by earlier releases still read.
        let mut v1 = vec![RECORD_VERSION_JSON];
        serde_json::to_writer(&mut v1, &rec).unwrap();
        assert!(String::from_utf8_lossy(&v1).contains(r#""Inline":"AAH/""#), "inline bytes are base64 in JSON");
        assert_eq!(decode::<ObjectRecord>(&v1).unwrap(), rec);
        assert!(decode::<ObjectRecord>(&[]).is_err());
    }

    #[test]
    fn shared_decode_slices_the_record() {
        let body = bytes::Bytes::from(vec![7u8; 4096]);
        let rec = ObjectRecord {
            size: 4096,
            etag: "e".into(),
            last_modified: 1,
            owner: "o".into(),
            attrs: ObjectAttrs::default(),
            acl: Acl::default(),
            data: DataRef::Inline(body),
            checksums: vec![],
        };
        let stored = bytes::Bytes::from(encode(&rec));
        let got: ObjectRecord = decode_shared(stored.clone()).unwrap();
        assert_eq!(got, rec);
        let DataRef::Inline(inline) = &got.data else { panic!("inline") };
        let range = stored.as_ptr_range();
        assert!(range.start <= inline.as_ptr() && inline.as_ptr_range().end <= range.end, "not copied");
        // A plain decode afterwards copies: the shared buffer was only set for that call.
        let copied: ObjectRecord = decode(&stored).unwrap();
        let DataRef::Inline(inline) = &copied.data else { panic!("inline") };
        assert!(!(range.start <= inline.as_ptr() && inline.as_ptr() < range.end));
    }
}
