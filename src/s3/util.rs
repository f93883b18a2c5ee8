//! Small conversions shared by the handlers: timestamps, ETags, attributes, ACLs, bodies.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt;
use http::HeaderMap;
use s3s::dto::{ETag, StreamingBlob, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result, TrailingHeaders};

use crate::store::ingest_api::{ChecksumAlgorithm, Expect};
use crate::store::types::{Acl, Checksum, ObjectAttrs};
use crate::store::{BodyStream, PutCond};

pub fn ts(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub fn etag(bare: &str) -> ETag {
    ETag::Strong(bare.to_owned())
}

pub fn http_date(t: &Timestamp) -> String {
    let odt: time::OffsetDateTime = t.clone().into();
    let st = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(odt.unix_timestamp()).unwrap_or(0));
    httpdate::fmt_http_date(st)
}

pub fn parse_http_date(s: &str) -> Option<Timestamp> {
    let st = httpdate::parse_http_date(s).ok()?;
    Some(Timestamp::from(st))
}

pub fn invalid_argument(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.into())
}

pub fn invalid_request(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg.into())
}

/// AWS caps user metadata (names + values) at 2 KiB.
pub const MAX_USER_METADATA: usize = 2048;

pub fn user_metadata(meta: Option<HashMap<String, String>>) -> S3Result<Vec<(String, String)>> {
    let mut pairs: Vec<(String, String)> =
        meta.unwrap_or_default().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    pairs.sort();
    let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_USER_METADATA {
        return Err(S3Error::with_message(
            S3ErrorCode::MetadataTooLarge,
            format!(
                "Your metadata headers exceed the maximum allowed metadata size ({size} > {MAX_USER_METADATA} bytes)."
            ),
        ));
    }
    Ok(pairs)
}

pub fn metadata_map(pairs: &[(String, String)]) -> Option<HashMap<String, String>> {
    if pairs.is_empty() { None } else { Some(pairs.iter().cloned().collect()) }
}

#[allow(clippy::too_many_arguments)]
pub fn attrs(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
    website_redirect: Option<String>,
    metadata: Option<HashMap<String, String>>,
) -> S3Result<ObjectAttrs> {
    // aws-chunked is a transfer detail: it must not be stored as the object's encoding.
    let content_encoding = content_encoding.and_then(|e| {
        let kept: Vec<&str> =
            e.split(',').map(str::trim).filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("aws-chunked")).collect();
        if kept.is_empty() { None } else { Some(kept.join(",")) }
    });
    Ok(ObjectAttrs {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires: expires.as_ref().map(http_date),
        website_redirect,
        user: user_metadata(metadata)?,
        tags: Vec::new(),
    })
}

/// Only STANDARD is stored; other classes are refused rather than silently downgraded.
pub fn check_storage_class(class: Option<&str>) -> S3Result<()> {
    match class {
        None | Some("STANDARD") => Ok(()),
        Some(other) => Err(S3Error::with_message(
            S3ErrorCode::InvalidStorageClass,
            format!("The storage class you specified is not valid: {other}"),
        )),
    }
}

pub fn canned_acl(name: Option<&str>) -> S3Result<Acl> {
    match name {
        None => Ok(Acl::canned("private")),
        Some(
            n @ ("private"
            | "public-read"
            | "public-read-write"
            | "authenticated-read"
            | "bucket-owner-read"
            | "bucket-owner-full-control"
            | "aws-exec-read"
            | "log-delivery-write"),
        ) => Ok(Acl::canned(n)),
        Some(other) => Err(invalid_argument(format!("Invalid canned ACL: {other}"))),
    }
}

pub fn content_md5(value: Option<&str>) -> S3Result<Option<[u8; 16]>> {
    let Some(v) = value else { return Ok(None) };
    let bytes = B64.decode(v.trim()).ok().and_then(|b| <[u8; 16]>::try_from(b).ok()).ok_or_else(|| {
        S3Error::with_message(S3ErrorCode::InvalidDigest, "The Content-MD5 you specified is not valid.")
    })?;
    Ok(Some(bytes))
}

pub fn body(blob: Option<StreamingBlob>) -> BodyStream {
    match blob {
        Some(b) => Box::pin(b.map(|r| r)),
        None => Box::pin(futures::stream::empty()),
    }
}

/// The checksum a request announces: a value in an `x-amz-checksum-*` header, or an algorithm
/// whose value comes in the trailer (`x-amz-trailer`), or just the SDK's algorithm header.
pub fn checksum_expectation(
    headers: &HeaderMap,
    sdk_algorithm: Option<&str>,
) -> S3Result<Option<(ChecksumAlgorithm, Option<String>)>> {
    let mut found = None;
    for algo in ChecksumAlgorithm::ALL {
        if let Some(v) = headers.get(algo.header_name().as_str()) {
            if found.is_some() {
                return Err(invalid_request(
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            let v = v.to_str().map_err(|_| invalid_request("invalid checksum header"))?;
            found = Some((algo, Some(v.to_owned())));
        }
    }
    if found.is_some() {
        return Ok(found);
    }
    if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        let name = trailer.trim().to_ascii_lowercase();
        if let Some(algo) = ChecksumAlgorithm::ALL.into_iter().find(|a| a.header_name() == name) {
            return Ok(Some((algo, None)));
        }
    }
    match sdk_algorithm {
        Some(a) => match ChecksumAlgorithm::parse(a) {
            Some(algo) => Ok(Some((algo, None))),
            None => Err(invalid_request(format!("Checksum algorithm provided is unsupported: {a}"))),
        },
        None => Ok(None),
    }
}

pub fn trailer_reader(
    trailers: Option<TrailingHeaders>,
) -> Option<Box<dyn Fn(ChecksumAlgorithm) -> Option<String> + Send + Sync>> {
    let t = trailers?;
    Some(Box::new(move |algo: ChecksumAlgorithm| {
        t.read(|h| h.get(algo.header_name().as_str()).and_then(|v| v.to_str().ok()).map(str::to_owned)).flatten()
    }))
}

/// A PUT body needs a length: Content-Length, aws-chunked's decoded length, or chunked
/// transfer encoding. Without any of them S3 answers 411.
pub fn require_length(headers: &HeaderMap) -> S3Result<()> {
    let has = |n: &str| headers.contains_key(n);
    let chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if has("content-length") || has("x-amz-decoded-content-length") || chunked {
        Ok(())
    } else {
        Err(S3Error::with_message(
            S3ErrorCode::MissingContentLength,
            "You must provide the Content-Length HTTP header.",
        ))
    }
}

pub fn expect(
    headers: &HeaderMap,
    content_length: Option<i64>,
    md5: Option<&str>,
    sdk_algorithm: Option<&str>,
    trailers: Option<TrailingHeaders>,
) -> S3Result<Expect> {
    Ok(Expect {
        content_length: content_length.and_then(|n| u64::try_from(n).ok()),
        content_md5: content_md5(md5)?,
        checksum: checksum_expectation(headers, sdk_algorithm)?,
        trailer: trailer_reader(trailers),
    })
}

pub fn put_cond(if_match: Option<&str>, if_none_match: Option<&str>) -> PutCond {
    if if_none_match.is_some_and(|v| v.trim() == "*") {
        return PutCond::Absent;
    }
    match if_match {
        Some(v) => PutCond::EtagIs(v.trim().trim_start_matches("W/").trim_matches('"').to_owned()),
        None => PutCond::Any,
    }
}

/// Sets the five `checksum_*` fields of an output struct from stored checksums.
macro_rules! set_checksums {
    ($out:expr, $checksums:expr) => {{
        let c: &[$crate::store::types::Checksum] = $checksums;
        $out.checksum_crc32 = $crate::s3::util::checksum_of(c, "CRC32");
        $out.checksum_crc32c = $crate::s3::util::checksum_of(c, "CRC32C");
        $out.checksum_crc64nvme = $crate::s3::util::checksum_of(c, "CRC64NVME");
        $out.checksum_sha1 = $crate::s3::util::checksum_of(c, "SHA1");
        $out.checksum_sha256 = $crate::s3::util::checksum_of(c, "SHA256");
    }};
}
pub(crate) use set_checksums;

/// The stored attributes from an input that has the standard object header fields.
macro_rules! object_attrs {
    ($i:expr) => {
        $crate::s3::util::attrs(
            $i.content_type,
            $i.content_encoding,
            $i.content_disposition,
            $i.content_language,
            $i.cache_control,
            $i.expires,
            $i.website_redirect_location,
            $i.metadata,
        )
    };
}
pub(crate) use object_attrs;

/// A page-size parameter (max-keys, max-parts, max-uploads): default and cap 1000.
pub fn page_size(v: Option<i32>, name: &str) -> S3Result<usize> {
    match v {
        None => Ok(1000),
        Some(n) if n < 0 => Err(invalid_argument(format!("{name} must be non-negative"))),
        Some(n) => Ok(n.min(1000) as usize),
    }
}

/// The value of one checksum algorithm among those stored, for the output's checksum fields.
pub fn checksum_of(checksums: &[Checksum], algo: &str) -> Option<String> {
    checksums.iter().find(|c| c.algorithm == algo).map(|c| c.value.clone())
}

pub fn raw_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
