//! Authorisation: one table that classes every operation, the ownership / ACL rules, and the
//! request hardening s3s 0.14.1 lacks (each a small named function, to delete on upgrade).

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::{Accounts, ApiOptions};
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Needs any authenticated caller (ListBuckets, CreateBucket).
    Authenticated,
    /// Reads a bucket's listing: the owner, or anyone under a public-read ACL.
    BucketRead,
    /// Writes objects into a bucket: the owner, or anyone under public-read-write.
    BucketWrite,
    /// Reads one object: the bucket owner, or anyone when the object is public-read.
    ObjectRead,
    /// Bucket configuration and ACLs: the owner only.
    Owner,
}

pub fn classify(op: &str) -> Class {
    match op {
        "ListBuckets" | "CreateBucket" => Class::Authenticated,
        "ListObjects" | "ListObjectsV2" | "ListObjectVersions" | "HeadBucket" | "ListMultipartUploads" => {
            Class::BucketRead
        }
        "GetObject" | "HeadObject" => Class::ObjectRead,
        "PutObject"
        | "DeleteObject"
        | "DeleteObjects"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "ListParts"
        | "PostObject" => Class::BucketWrite,
        _ => Class::Owner,
    }
}

pub struct Access {
    store: Arc<Store>,
    accounts: Arc<Accounts>,
    opts: ApiOptions,
}

impl Access {
    pub fn new(store: Arc<Store>, accounts: Arc<Accounts>, opts: ApiOptions) -> Self {
        Access { store, accounts, opts }
    }
}

fn denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}

/// s3s 0.14.1 accepts `x-amz-*` headers that a SigV4 request did not sign; AWS rejects them,
/// since an intermediary could otherwise add e.g. `x-amz-acl` or `x-amz-copy-source`.
pub fn check_unsigned_amz_headers(cx: &S3AccessContext<'_>) -> S3Result<()> {
    let headers = cx.headers();
    let signed: Option<String> = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("AWS4-HMAC-SHA256"))
        .and_then(|v| v.split_once("SignedHeaders=").map(|(_, rest)| rest.split(',').next().unwrap_or("").to_owned()))
        .or_else(|| query_param(cx.uri().query().unwrap_or(""), "X-Amz-SignedHeaders"));
    let Some(signed) = signed else { return Ok(()) };
    for name in headers.keys() {
        let n = name.as_str();
        if n.starts_with("x-amz-")
            && n != "x-amz-content-sha256"
            && !signed.split(';').any(|s| s.trim().eq_ignore_ascii_case(n))
        {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                format!("There were headers present in the request which were not signed: {n}"),
            ));
        }
    }
    Ok(())
}

/// s3s 0.14.1 does not cap presigned URL lifetimes; AWS refuses more than 7 days.
pub fn check_presign_expiry(cx: &S3AccessContext<'_>, max_secs: u64) -> S3Result<()> {
    let Some(expires) = query_param(cx.uri().query().unwrap_or(""), "X-Amz-Expires") else {
        return Ok(());
    };
    match expires.parse::<u64>() {
        Ok(n) if n <= max_secs => Ok(()),
        Ok(_) => Err(S3Error::with_message(
            S3ErrorCode::AuthorizationQueryParametersError,
            format!("X-Amz-Expires must be less than a week (in seconds) that is {max_secs}"),
        )),
        Err(_) => Err(S3Error::with_message(
            S3ErrorCode::AuthorizationQueryParametersError,
            "X-Amz-Expires should be a number",
        )),
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        check_unsigned_amz_headers(cx)?;
        check_presign_expiry(cx, self.opts.presign_max_expiry_secs)?;

        let caller =
            cx.credentials().and_then(|c| self.accounts.identity(&c.access_key)).map(|i| i.canonical_id.as_str());
        let class = classify(cx.s3_op().name());
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.as_ref()), None),
            S3Path::Object { bucket, key } => (Some(bucket.as_ref()), Some(key.as_ref())),
        };
        let Some(bucket) = bucket else {
            return if caller.is_some() { Ok(()) } else { Err(denied()) };
        };
        if class == Class::Authenticated {
            return if caller.is_some() { Ok(()) } else { Err(denied()) };
        }
        let rec = match self.store.get_bucket(bucket) {
            Ok(rec) => rec,
            // A missing bucket is reported by the handler as NoSuchBucket.
            Err(_) => {
                return if caller.is_some() { Ok(()) } else { Err(denied()) };
            }
        };
        if caller == Some(rec.owner.as_str()) {
            return Ok(());
        }
        let allowed = match class {
            Class::BucketRead => rec.acl.public_read(),
            Class::BucketWrite => rec.acl.public_write(),
            Class::ObjectRead => match key.map(|k| self.store.head_object(bucket, k)) {
                Some(Ok(obj)) => obj.acl.public_read(),
                // Listing rights reveal absence (NoSuchKey); without them it is AccessDenied.
                _ => rec.acl.public_read(),
            },
            Class::Owner | Class::Authenticated => false,
        };
        if allowed { Ok(()) } else { Err(denied()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify("ListBuckets"), Class::Authenticated);
        assert_eq!(classify("GetObject"), Class::ObjectRead);
        assert_eq!(classify("PutObject"), Class::BucketWrite);
        assert_eq!(classify("ListObjectsV2"), Class::BucketRead);
        assert_eq!(classify("PutBucketAcl"), Class::Owner);
        assert_eq!(classify("DeleteBucket"), Class::Owner);
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("a=1&X-Amz-Expires=604800", "X-Amz-Expires").as_deref(), Some("604800"));
        assert_eq!(
            query_param("X-Amz-SignedHeaders=host%3Bx-amz-acl", "X-Amz-SignedHeaders").as_deref(),
            Some("host;x-amz-acl")
        );
        assert_eq!(query_param("b", "a"), None);
    }
}
