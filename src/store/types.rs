//! Domain records kept by the metadata store. They never mention HTTP or s3s.
//!
//! Records are serialised as one version byte followed by JSON, so a later format can be migrated
//! on read (see `decode`).

use serde::{Deserialize, Serialize};

use super::error::StoreError;

/// First byte of every stored record; bump it (and add a migration in `decode`) when a record's
/// shape changes incompatibly.
const RECORD_VERSION: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(RECORD_VERSION);
    // Serialising plain structs of strings and numbers into a Vec cannot fail.
    serde_json::to_writer(&mut out, value).expect("record serialisation");
    out
}

pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, rest)) => {
            serde_json::from_slice(rest).map_err(|e| StoreError::Corrupt(format!("undecodable record: {e}")))
        }
        Some((v, _)) => Err(StoreError::Corrupt(format!("unknown record version {v}"))),
        None => Err(StoreError::Corrupt("empty record".into())),
    }
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
    Inline(#[serde(with = "b64")] Vec<u8>),
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect: Option<String>,
    /// x-amz-meta-* pairs, names lower-cased, in the order given.
    #[serde(default)]
    pub user: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
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
            data: DataRef::Inline(vec![0, 1, 255]),
            checksums: vec![],
        };
        let bytes = encode(&rec);
        assert_eq!(bytes[0], RECORD_VERSION);
        assert_eq!(decode::<ObjectRecord>(&bytes).unwrap(), rec);
        assert!(decode::<ObjectRecord>(&[9, b'{']).is_err());
        assert!(decode::<ObjectRecord>(&[]).is_err());
    }
}
