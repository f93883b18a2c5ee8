//! Multipart upload handlers.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::S3Api;
use super::object::{check_copy_conditions, copy_source};
use super::util::{self, etag, ts};
use crate::store::ingest_api::{ChecksumAlgorithm as Algo, Expect};
use crate::store::{BodyError, BodyStream, CompletePart};

const MAX_PART_NUMBER: i32 = 10_000;

fn part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n as u32)
    } else {
        Err(util::invalid_argument("Part number must be an integer between 1 and 10000, inclusive"))
    }
}

fn malformed() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

pub async fn create_multipart_upload(
    api: &S3Api,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let caller = api.caller(&req);
    let i = req.input;
    util::check_storage_class(i.storage_class.as_ref().map(|s| s.as_str()))?;
    let attrs = util::object_attrs!(i)?;
    let acl = util::canned_acl(i.acl.as_ref().map(|a| a.as_str()))?;
    let algo = match i.checksum_algorithm.as_ref() {
        Some(a) => Some(Algo::parse(a.as_str()).ok_or_else(|| {
            util::invalid_request(format!("Checksum algorithm provided is unsupported: {}", a.as_str()))
        })?),
        None => None,
    };
    let ctype = i.checksum_type.as_ref().map(|t| t.as_str().to_owned());
    if ctype.as_deref() == Some("FULL_OBJECT") && algo.is_some_and(|a| !a.is_crc()) {
        return Err(util::invalid_request("The FULL_OBJECT checksum type is only supported with CRC algorithms"));
    }
    let owner = api.new_owner(caller, &i.bucket)?;
    let up = api
        .store
        .create_upload(&i.bucket, &i.key, &owner, attrs, acl, algo.map(|a| a.as_str().to_owned()), ctype.clone())
        .await?;
    let out = CreateMultipartUploadOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(up.upload_id),
        checksum_algorithm: algo.map(|a| ChecksumAlgorithm::from(a.as_str().to_owned())),
        checksum_type: algo.map(|_| ChecksumType::from(ctype.unwrap_or_else(|| "COMPOSITE".into()))),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

pub async fn upload_part(api: &S3Api, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
    util::require_length(&req.headers)?;
    let i = req.input;
    let n = part_number(i.part_number)?;
    let upload = api.store.get_upload(&i.bucket, &i.key, &i.upload_id)?;
    let mut expect = util::expect(
        &req.headers,
        i.content_length,
        i.content_md5.as_deref(),
        i.checksum_algorithm.as_ref().map(|a| a.as_str()),
        req.trailing_headers,
    )?;
    // Parts of an upload created with a checksum algorithm carry that checksum even when the
    // client sends none, so Complete can compose the object's checksum.
    if expect.checksum.is_none()
        && let Some(a) = upload.checksum_algorithm.as_deref().and_then(Algo::parse)
    {
        expect.checksum = Some((a, None));
    }
    let part = api.store.upload_part(&upload, n, util::body(i.body), &expect).await?;
    let mut out = UploadPartOutput { e_tag: Some(etag(&part.etag)), ..Default::default() };
    util::set_checksums!(out, &part.checksums);
    Ok(S3Response::new(out))
}

/// `bytes=first-last` (both inclusive, within the source).
fn copy_range(spec: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let bad = || {
        util::invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let (a, b) = spec.trim().strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(bad)?;
    let first: u64 = a.trim().parse().map_err(|_| bad())?;
    let last: u64 = b.trim().parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(S3Error::with_message(S3ErrorCode::InvalidRange, "The requested range is not satisfiable"));
    }
    Ok(first..last + 1)
}

pub async fn upload_part_copy(
    api: &S3Api,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let caller = api.caller(&req);
    let headers = req.headers;
    let i = req.input;
    let n = part_number(i.part_number)?;
    let upload = api.store.get_upload(&i.bucket, &i.key, &i.upload_id)?;
    let (src_bucket, src_key) = copy_source(api, &i.copy_source, caller.as_ref())?;
    let range_spec = i.copy_source_range.clone();
    let (_, range, stream) = api
        .store
        .open_object(&src_bucket, &src_key, |rec| -> S3Result<std::ops::Range<u64>> {
            check_copy_conditions(&headers, rec)?;
            match range_spec.as_deref() {
                Some(spec) => copy_range(spec, rec.size),
                None => Ok(0..rec.size),
            }
        })
        .await?;
    let expect = Expect {
        content_length: Some(range.end - range.start),
        checksum: upload.checksum_algorithm.as_deref().and_then(Algo::parse).map(|a| (a, None)),
        ..Default::default()
    };
    let body: BodyStream = Box::pin(futures::StreamExt::map(stream, |r| r.map_err(|e| Box::new(e) as BodyError)));
    let part = api.store.upload_part(&upload, n, body, &expect).await?;
    let mut result = CopyPartResult {
        e_tag: Some(etag(&part.etag)),
        last_modified: Some(ts(part.last_modified)),
        ..Default::default()
    };
    util::set_checksums!(result, &part.checksums);
    let out = UploadPartCopyOutput { copy_part_result: Some(result), ..Default::default() };
    Ok(S3Response::new(out))
}

pub async fn complete_multipart_upload(
    api: &S3Api,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let i = req.input;
    let parts = i.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
    if parts.is_empty() {
        return Err(malformed());
    }
    let mut requested = Vec::with_capacity(parts.len());
    for p in parts {
        let number = p.part_number.ok_or_else(malformed)?;
        let number = u32::try_from(number).map_err(|_| malformed())?;
        let etag = p.e_tag.map(|e| e.value().trim_matches('"').to_owned()).ok_or_else(malformed)?;
        let checksum =
            p.checksum_crc32.or(p.checksum_crc32c).or(p.checksum_crc64nvme).or(p.checksum_sha1).or(p.checksum_sha256);
        requested.push(CompletePart { number, etag, checksum });
    }
    let expected = [
        (Algo::Crc32, i.checksum_crc32),
        (Algo::Crc32c, i.checksum_crc32c),
        (Algo::Crc64Nvme, i.checksum_crc64nvme),
        (Algo::Sha1, i.checksum_sha1),
        (Algo::Sha256, i.checksum_sha256),
    ]
    .into_iter()
    .find_map(|(a, v)| v.map(|v| (a, v)));
    let rec = api.store.complete_upload(&i.bucket, &i.key, &i.upload_id, &requested, expected).await?;
    let mut out = CompleteMultipartUploadOutput {
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        e_tag: Some(etag(&rec.etag)),
        location: Some(format!("/{}/{}", i.bucket, i.key)),
        ..Default::default()
    };
    if let Some(c) = rec.checksums.first() {
        match c.algorithm.as_str() {
            "CRC32" => out.checksum_crc32 = Some(c.value.clone()),
            "CRC32C" => out.checksum_crc32c = Some(c.value.clone()),
            "CRC64NVME" => out.checksum_crc64nvme = Some(c.value.clone()),
            "SHA1" => out.checksum_sha1 = Some(c.value.clone()),
            "SHA256" => out.checksum_sha256 = Some(c.value.clone()),
            _ => {}
        }
        out.checksum_type = Some(ChecksumType::from(c.kind.clone()));
    }
    Ok(S3Response::new(out))
}

pub async fn abort_multipart_upload(
    api: &S3Api,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let i = req.input;
    api.store.abort_upload(&i.bucket, &i.key, &i.upload_id).await?;
    Ok(S3Response::with_status(AbortMultipartUploadOutput::default(), http::StatusCode::NO_CONTENT))
}

fn initiator(api: &S3Api, id: &str) -> (Initiator, Owner) {
    let owner = api.owner(id);
    (Initiator { id: owner.id.clone(), display_name: owner.display_name.clone() }, owner)
}

pub async fn list_parts(api: &S3Api, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let i = req.input;
    let upload = api.store.get_upload(&i.bucket, &i.key, &i.upload_id)?;
    let max = util::page_size(i.max_parts, "max-parts")?;
    let marker = u32::try_from(i.part_number_marker.unwrap_or(0).max(0)).unwrap_or(0);
    let (parts, truncated) = api.store.list_parts(&upload, marker, max)?;
    let next = parts.last().map(|p| p.number as i32);
    let (init, owner) = initiator(api, &upload.owner);
    let out = ListPartsOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(i.upload_id),
        part_number_marker: Some(marker as i32),
        next_part_number_marker: next,
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        initiator: Some(init),
        owner: Some(owner),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        checksum_algorithm: upload.checksum_algorithm.clone().map(ChecksumAlgorithm::from),
        checksum_type: upload
            .checksum_algorithm
            .as_ref()
            .map(|_| ChecksumType::from(upload.checksum_type.clone().unwrap_or_else(|| "COMPOSITE".into()))),
        parts: Some(
            parts
                .iter()
                .map(|p| {
                    let mut part = Part {
                        part_number: Some(p.number as i32),
                        e_tag: Some(etag(&p.etag)),
                        last_modified: Some(ts(p.last_modified)),
                        size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                        ..Default::default()
                    };
                    util::set_checksums!(part, &p.checksums);
                    part
                })
                .collect(),
        ),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

pub async fn list_multipart_uploads(
    api: &S3Api,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let i = req.input;
    let max = util::page_size(i.max_uploads, "max-uploads")?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let list = api.store.list_uploads(
        &i.bucket,
        &prefix,
        i.delimiter.as_deref(),
        i.key_marker.as_deref().filter(|k| !k.is_empty()),
        i.upload_id_marker.as_deref().filter(|k| !k.is_empty()),
        max,
    )?;
    let (next_key, next_id) = match list.uploads.last() {
        Some(u) if list.is_truncated => (Some(u.key.clone()), Some(u.upload_id.clone())),
        _ => (None, None),
    };
    let uploads = list
        .uploads
        .iter()
        .map(|u| {
            let (init, owner) = initiator(api, &u.owner);
            MultipartUpload {
                key: Some(u.key.clone()),
                upload_id: Some(u.upload_id.clone()),
                initiated: Some(ts(u.initiated)),
                initiator: Some(init),
                owner: Some(owner),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                checksum_algorithm: u.checksum_algorithm.clone().map(ChecksumAlgorithm::from),
                ..Default::default()
            }
        })
        .collect();
    let out = ListMultipartUploadsOutput {
        bucket: Some(i.bucket),
        prefix: Some(prefix),
        delimiter: i.delimiter,
        key_marker: Some(i.key_marker.unwrap_or_default()),
        upload_id_marker: Some(i.upload_id_marker.unwrap_or_default()),
        max_uploads: Some(max as i32),
        is_truncated: Some(list.is_truncated),
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        uploads: Some(uploads),
        common_prefixes: Some(list.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(p) }).collect()),
        encoding_type: i.encoding_type,
        ..Default::default()
    };
    Ok(S3Response::new(out))
}
