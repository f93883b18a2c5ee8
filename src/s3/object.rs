//! Object handlers: PutObject, GetObject, HeadObject, DeleteObject(s), CopyObject.

use std::ops::Range;

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::conditional::{Conditions, Outcome};
use super::util::{self, etag, ts};
use super::{Identity, S3Api};
use crate::store::types::{DataRef, ObjectRecord};
use crate::store::{PutCond, PutRequest, StoreError};

pub async fn put_object(api: &S3Api, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    util::require_length(&req.headers)?;
    let caller = api.caller(&req);
    let i = req.input;
    util::check_storage_class(i.storage_class.as_ref().map(|s| s.as_str()))?;
    // Refuse an oversized body before reading any of it.
    if i.content_length.is_some_and(|n| n > 0 && n as u64 > api.store.limits.max_object_size) {
        return Err(crate::store::StoreError::EntityTooLarge.into());
    }
    let expect = util::expect(
        &req.headers,
        i.content_length,
        i.content_md5.as_deref(),
        i.checksum_algorithm.as_ref().map(|a| a.as_str()),
        req.trailing_headers,
    )?;
    let attrs = util::object_attrs!(i)?;
    let cond =
        util::put_cond(util::raw_header(&req.headers, "if-match"), util::raw_header(&req.headers, "if-none-match"));
    let acl = util::canned_acl(i.acl.as_ref().map(|a| a.as_str()))?;
    let owner = api.new_owner(caller, &i.bucket)?;
    let put = PutRequest { bucket: i.bucket, key: i.key, owner, attrs, acl, expect, cond };
    let rec = api.store.put_object(put, util::body(i.body)).await?;
    let mut out = PutObjectOutput { e_tag: Some(etag(&rec.etag)), ..Default::default() };
    set_put_checksums(&mut out, &rec);
    Ok(S3Response::new(out))
}

fn set_put_checksums(out: &mut PutObjectOutput, rec: &ObjectRecord) {
    util::set_checksums!(out, &rec.checksums);
    if !rec.checksums.is_empty() {
        out.checksum_type = Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT));
    }
}

/// Evaluates GET/HEAD preconditions: 304 carries the validators, 412 is PreconditionFailed.
fn check_conditions(headers: &http::HeaderMap, rec: &ObjectRecord) -> S3Result<()> {
    let conds = Conditions::from_headers(headers, "");
    match conds.evaluate(&rec.etag, rec.last_modified, true) {
        Outcome::Proceed => Ok(()),
        Outcome::PreconditionFailed => Err(StoreError::PreconditionFailed.into()),
        Outcome::NotModified => {
            let mut err = S3Error::new(S3ErrorCode::NotModified);
            err.set_status_code(http::StatusCode::NOT_MODIFIED);
            let mut h = http::HeaderMap::new();
            if let Ok(v) = format!("\"{}\"", rec.etag).parse() {
                h.insert(http::header::ETAG, v);
            }
            if let Ok(v) = util::http_date(&ts(rec.last_modified)).parse() {
                h.insert(http::header::LAST_MODIFIED, v);
            }
            err.set_headers(h);
            Err(err)
        }
    }
}

/// The byte range to serve for a Range header or a partNumber, with the part count to report.
fn select_range(
    rec: &ObjectRecord,
    range: Option<&s3s::dto::Range>,
    part: Option<i32>,
) -> S3Result<(Range<u64>, bool)> {
    if let Some(n) = part {
        let bad_part = || {
            super::error::custom(
                "InvalidPartNumber",
                http::StatusCode::RANGE_NOT_SATISFIABLE,
                "The requested partnumber is not satisfiable",
            )
        };
        if range.is_some() {
            return Err(util::invalid_request("Cannot specify both Range header and partNumber query parameter"));
        }
        let n = usize::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(bad_part)?;
        return match &rec.data {
            DataRef::Parts(parts) => {
                let p = parts.get(n - 1).ok_or_else(bad_part)?;
                let start: u64 = parts[..n - 1].iter().map(|p| p.size).sum();
                Ok((start..start + p.size, true))
            }
            _ if n == 1 => Ok((0..rec.size, true)),
            _ => Err(bad_part()),
        };
    }
    match range {
        None => Ok((0..rec.size, false)),
        Some(r) => match r.check(rec.size) {
            Ok(r) => Ok((r, true)),
            Err(_) => {
                let mut err =
                    S3Error::with_message(S3ErrorCode::InvalidRange, "The requested range is not satisfiable");
                let mut h = http::HeaderMap::new();
                if let Ok(v) = format!("bytes */{}", rec.size).parse() {
                    h.insert(http::header::CONTENT_RANGE, v);
                }
                err.set_headers(h);
                Err(err)
            }
        },
    }
}

macro_rules! fill_object_headers {
    ($out:ident, $rec:expr, $range:expr, $partial:expr, $checksum_mode:expr) => {{
        let rec: &ObjectRecord = $rec;
        let range: &Range<u64> = $range;
        let a = &rec.attrs;
        $out.accept_ranges = Some("bytes".into());
        $out.content_length = Some(i64::try_from(range.end - range.start).unwrap_or(i64::MAX));
        if $partial {
            $out.content_range = Some(if range.end > range.start {
                format!("bytes {}-{}/{}", range.start, range.end - 1, rec.size)
            } else {
                format!("bytes */{}", rec.size)
            });
        }
        $out.e_tag = Some(etag(&rec.etag));
        $out.last_modified = Some(ts(rec.last_modified));
        $out.content_type = Some(a.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()));
        $out.content_encoding = a.content_encoding.clone();
        $out.content_disposition = a.content_disposition.clone();
        $out.content_language = a.content_language.clone();
        $out.cache_control = a.cache_control.clone();
        $out.expires = a.expires.as_deref().and_then(util::parse_http_date);
        $out.website_redirect_location = a.website_redirect.clone();
        $out.metadata = util::metadata_map(&a.user);
        $out.parts_count = rec.parts_count().and_then(|n| i32::try_from(n).ok());
        if $checksum_mode && !$partial {
            util::set_checksums!($out, &rec.checksums);
            if let Some(c) = rec.checksums.first() {
                $out.checksum_type = Some(ChecksumType::from(c.kind.clone()));
            }
        }
    }};
}

fn checksum_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
}

pub async fn get_object(api: &S3Api, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
    let i = &req.input;
    let headers = &req.headers;
    let (rec, range, stream) = api
        .store
        .open_object(&i.bucket, &i.key, |rec| -> S3Result<Range<u64>> {
            check_conditions(headers, rec)?;
            Ok(select_range(rec, i.range.as_ref(), i.part_number)?.0)
        })
        .await?;
    let partial = i.range.is_some() || i.part_number.is_some();
    let mut out = GetObjectOutput::default();
    fill_object_headers!(out, &rec, &range, partial, checksum_enabled(i.checksum_mode.as_ref()));
    out.body = Some(StreamingBlob::wrap(stream));
    Ok(S3Response::new(out))
}

pub async fn head_object(api: &S3Api, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
    let i = &req.input;
    let rec = api.store.head_object(&i.bucket, &i.key)?;
    check_conditions(&req.headers, &rec)?;
    let (range, partial) = select_range(&rec, i.range.as_ref(), i.part_number)?;
    let mut out = HeadObjectOutput::default();
    fill_object_headers!(out, &rec, &range, partial, checksum_enabled(i.checksum_mode.as_ref()));
    Ok(S3Response::new(out))
}

pub async fn delete_object(api: &S3Api, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
    let i = req.input;
    api.store.delete_object(&i.bucket, &i.key).await?;
    Ok(S3Response::with_status(DeleteObjectOutput::default(), http::StatusCode::NO_CONTENT))
}

/// AWS caps DeleteObjects at 1000 keys per request.
const MAX_DELETE_KEYS: usize = 1000;

pub async fn delete_objects(
    api: &S3Api,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let i = req.input;
    let objects = i.delete.objects;
    if objects.is_empty() || objects.len() > MAX_DELETE_KEYS {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    api.store.get_bucket(&i.bucket)?;
    let quiet = i.delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for obj in objects {
        match api.store.delete_object(&i.bucket, &obj.key).await {
            Ok(_) => {
                if !quiet {
                    deleted.push(DeletedObject { key: Some(obj.key), ..Default::default() });
                }
            }
            Err(e) => {
                let e = S3Error::from(e);
                errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(obj.key),
                    message: e.message().map(str::to_owned),
                    version_id: None,
                });
            }
        }
    }
    let out = DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), ..Default::default() };
    Ok(S3Response::new(out))
}

/// Resolves `x-amz-copy-source` and checks the caller may read it.
pub(crate) fn copy_source(api: &S3Api, src: &CopySource, caller: Option<&Identity>) -> S3Result<(String, String)> {
    let CopySource::Bucket { bucket, key, .. } = src else {
        return Err(S3Error::with_message(S3ErrorCode::NotImplemented, "Access point copy sources are not supported"));
    };
    let b = api.store.get_bucket(bucket)?;
    let rec = api.store.head_object(bucket, key)?;
    let owner = caller.is_some_and(|c| c.canonical_id == b.owner);
    if !owner && !rec.acl.public_read() {
        return Err(S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied"));
    }
    Ok((bucket.to_string(), key.to_string()))
}

pub(crate) fn check_copy_conditions(headers: &http::HeaderMap, rec: &ObjectRecord) -> S3Result<()> {
    let conds = Conditions::from_headers(headers, "x-amz-copy-source-");
    match conds.evaluate(&rec.etag, rec.last_modified, false) {
        Outcome::Proceed => Ok(()),
        _ => Err(StoreError::PreconditionFailed.into()),
    }
}

pub async fn copy_object(api: &S3Api, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
    let caller = api.caller(&req);
    let headers = req.headers;
    let i = req.input;
    util::check_storage_class(i.storage_class.as_ref().map(|s| s.as_str()))?;
    let (src_bucket, src_key) = copy_source(api, &i.copy_source, caller.as_ref())?;
    let replace = i.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    if let Some(d) = &i.metadata_directive
        && !matches!(d.as_str(), MetadataDirective::REPLACE | MetadataDirective::COPY)
    {
        return Err(util::invalid_argument("Unknown metadata directive."));
    }
    let acl = match i.acl.as_ref() {
        Some(a) => Some(util::canned_acl(Some(a.as_str()))?),
        None => None,
    };
    let new_attrs = if replace { Some(util::object_attrs!(i)?) } else { None };
    let owner = api.new_owner(caller, &i.bucket)?;
    api.store.get_bucket(&i.bucket)?;

    if src_bucket == i.bucket && src_key == i.key {
        let Some(attrs) = new_attrs else {
            return Err(util::invalid_request(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        };
        let src = api.store.head_object(&src_bucket, &src_key)?;
        check_copy_conditions(&headers, &src)?;
        let rec = api.store.replace_attrs(&i.bucket, &i.key, &src.etag, attrs, acl).await?;
        return Ok(S3Response::new(copy_output(&rec)));
    }

    let (src, _, stream) = api
        .store
        .open_object(&src_bucket, &src_key, |rec| -> S3Result<Range<u64>> {
            check_copy_conditions(&headers, rec)?;
            Ok(0..rec.size)
        })
        .await?;
    let attrs = new_attrs.unwrap_or_else(|| src.attrs.clone());
    let put = PutRequest {
        bucket: i.bucket,
        key: i.key,
        owner,
        attrs,
        acl: acl.unwrap_or_else(|| crate::store::types::Acl::canned("private")),
        expect: crate::store::ingest_api::Expect { content_length: Some(src.size), ..Default::default() },
        cond: PutCond::Any,
    };
    let body: crate::store::BodyStream =
        Box::pin(futures::StreamExt::map(stream, |r| r.map_err(|e| Box::new(e) as crate::store::BodyError)));
    let rec = api.store.put_object(put, body).await?;
    Ok(S3Response::new(copy_output(&rec)))
}

fn copy_output(rec: &ObjectRecord) -> CopyObjectOutput {
    CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(etag(&rec.etag)),
            last_modified: Some(ts(rec.last_modified)),
            ..Default::default()
        }),
        ..Default::default()
    }
}
