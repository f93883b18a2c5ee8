//! ListObjects (v1, v2) and ListObjectVersions over the engine's range-scan listing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::S3Api;
use super::util::{self, etag, ts};
use crate::store::listing::{Entry, ListParams};
use crate::store::types::ObjectRecord;

/// `encoding-type=url` encodes everything but unreserved characters and `/`, as S3 does.
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

struct Encoder(bool);

impl Encoder {
    fn new(t: Option<&EncodingType>) -> S3Result<Self> {
        match t.map(|t| t.as_str()) {
            None => Ok(Encoder(false)),
            Some(s) if s.eq_ignore_ascii_case("url") => Ok(Encoder(true)),
            Some(_) => Err(util::invalid_argument("Invalid Encoding Method specified in Request")),
        }
    }

    fn enc(&self, s: &str) -> String {
        if self.0 { utf8_percent_encode(s, KEY_ENCODE).to_string() } else { s.to_owned() }
    }

    fn opt(&self, s: Option<&str>) -> Option<String> {
        s.map(|s| self.enc(s))
    }
}

struct Page {
    objects: Vec<(String, ObjectRecord)>,
    prefixes: Vec<String>,
    last: Option<String>,
    truncated: bool,
}

fn run(
    api: &S3Api,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: usize,
) -> S3Result<Page> {
    let params = ListParams {
        prefix: prefix.as_bytes().to_vec(),
        delimiter: delimiter.filter(|d| !d.is_empty()).map(|d| d.as_bytes().to_vec()),
        after: after.filter(|a| !a.is_empty()).map(|a| a.as_bytes().to_vec()),
        max_keys: max,
    };
    let page = api.store.list_objects(bucket, &params)?;
    let last = page.last_key().map(|k| String::from_utf8_lossy(k).into_owned());
    let mut out = Page { objects: Vec::new(), prefixes: Vec::new(), last, truncated: page.is_truncated };
    for e in page.entries {
        match e {
            Entry::Object(k, rec) => out.objects.push((String::from_utf8_lossy(&k).into_owned(), rec)),
            Entry::CommonPrefix(p) => out.prefixes.push(String::from_utf8_lossy(&p).into_owned()),
        }
    }
    Ok(out)
}

fn object(api: &S3Api, enc: &Encoder, key: &str, rec: &ObjectRecord, with_owner: bool) -> Object {
    Object {
        key: Some(enc.enc(key)),
        e_tag: Some(etag(&rec.etag)),
        last_modified: Some(ts(rec.last_modified)),
        size: Some(i64::try_from(rec.size).unwrap_or(i64::MAX)),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        owner: with_owner.then(|| api.owner(&rec.owner)),
        checksum_algorithm: rec.checksums.first().map(|c| vec![ChecksumAlgorithm::from(c.algorithm.clone())]),
        ..Default::default()
    }
}

fn prefixes(enc: &Encoder, list: &[String]) -> Vec<CommonPrefix> {
    list.iter().map(|p| CommonPrefix { prefix: Some(enc.enc(p)) }).collect()
}

pub async fn list_objects(api: &S3Api, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
    let i = req.input;
    let enc = Encoder::new(i.encoding_type.as_ref())?;
    let max = util::page_size(i.max_keys, "max-keys")?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let page = run(api, &i.bucket, &prefix, i.delimiter.as_deref(), i.marker.as_deref(), max)?;
    // AWS returns NextMarker only when a delimiter is given; clients use the last key otherwise.
    let next_marker = (page.truncated && i.delimiter.is_some()).then(|| enc.opt(page.last.as_deref())).flatten();
    let out = ListObjectsOutput {
        name: Some(i.bucket),
        prefix: Some(enc.enc(&prefix)),
        marker: Some(enc.opt(i.marker.as_deref()).unwrap_or_default()),
        max_keys: Some(max as i32),
        is_truncated: Some(page.truncated),
        contents: Some(page.objects.iter().map(|(k, r)| object(api, &enc, k, r, true)).collect()),
        common_prefixes: Some(prefixes(&enc, &page.prefixes)),
        delimiter: enc.opt(i.delimiter.as_deref()),
        next_marker,
        encoding_type: i.encoding_type,
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

pub async fn list_objects_v2(
    api: &S3Api,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let i = req.input;
    let enc = Encoder::new(i.encoding_type.as_ref())?;
    let max = util::page_size(i.max_keys, "max-keys")?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let after = match i.continuation_token.as_deref() {
        Some(t) => Some(
            TOKEN
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| util::invalid_argument("The continuation token provided is incorrect"))?,
        ),
        None => i.start_after.clone(),
    };
    let page = run(api, &i.bucket, &prefix, i.delimiter.as_deref(), after.as_deref(), max)?;
    let next = if page.truncated { page.last.as_ref().map(|l| TOKEN.encode(l)) } else { None };
    let with_owner = i.fetch_owner.unwrap_or(false);
    let count = page.objects.len() + page.prefixes.len();
    let out = ListObjectsV2Output {
        name: Some(i.bucket),
        prefix: Some(enc.enc(&prefix)),
        max_keys: Some(max as i32),
        key_count: Some(count as i32),
        continuation_token: i.continuation_token,
        is_truncated: Some(page.truncated),
        next_continuation_token: next,
        contents: Some(page.objects.iter().map(|(k, r)| object(api, &enc, k, r, with_owner)).collect()),
        common_prefixes: Some(prefixes(&enc, &page.prefixes)),
        delimiter: enc.opt(i.delimiter.as_deref()),
        encoding_type: i.encoding_type,
        start_after: enc.opt(i.start_after.as_deref()),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

/// Buckets are unversioned: every object is its only version, with VersionId "null".
pub async fn list_object_versions(
    api: &S3Api,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let i = req.input;
    let enc = Encoder::new(i.encoding_type.as_ref())?;
    let max = util::page_size(i.max_keys, "max-keys")?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let page = run(api, &i.bucket, &prefix, i.delimiter.as_deref(), i.key_marker.as_deref(), max)?;
    let versions = page
        .objects
        .iter()
        .map(|(k, r)| ObjectVersion {
            key: Some(enc.enc(k)),
            e_tag: Some(etag(&r.etag)),
            is_latest: Some(true),
            last_modified: Some(ts(r.last_modified)),
            owner: Some(api.owner(&r.owner)),
            size: Some(i64::try_from(r.size).unwrap_or(i64::MAX)),
            storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
            version_id: Some("null".into()),
            ..Default::default()
        })
        .collect();
    let out = ListObjectVersionsOutput {
        name: Some(i.bucket),
        prefix: Some(enc.enc(&prefix)),
        key_marker: Some(enc.opt(i.key_marker.as_deref()).unwrap_or_default()),
        version_id_marker: Some(i.version_id_marker.unwrap_or_default()),
        max_keys: Some(max as i32),
        is_truncated: Some(page.truncated),
        next_key_marker: page.truncated.then(|| enc.opt(page.last.as_deref())).flatten(),
        next_version_id_marker: page.truncated.then(|| "null".to_owned()),
        versions: Some(versions),
        common_prefixes: Some(prefixes(&enc, &page.prefixes)),
        delimiter: enc.opt(i.delimiter.as_deref()),
        encoding_type: i.encoding_type,
        ..Default::default()
    };
    Ok(S3Response::new(out))
}
