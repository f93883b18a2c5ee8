//! Service and bucket handlers.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::S3Api;
use super::util::{self, ts};

fn caller_or_denied<T>(api: &S3Api, req: &S3Request<T>) -> S3Result<super::Identity> {
    api.caller(req).ok_or_else(|| S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied"))
}

pub async fn list_buckets(api: &S3Api, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
    let me = caller_or_denied(api, &req)?;
    let prefix = req.input.prefix.unwrap_or_default();
    let buckets = api
        .store
        .list_buckets()?
        .into_iter()
        .filter(|b| b.owner == me.canonical_id && b.name.starts_with(&prefix))
        .map(|b| Bucket { name: Some(b.name), creation_date: Some(ts(b.created)), bucket_region: None })
        .collect();
    let out = ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(Owner { id: Some(me.canonical_id), display_name: Some(me.display_name) }),
        ..Default::default()
    };
    Ok(S3Response::new(out))
}

pub async fn create_bucket(api: &S3Api, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
    let me = caller_or_denied(api, &req)?;
    let i = req.input;
    let acl = util::canned_acl(i.acl.as_ref().map(|a| a.as_str()))?;
    // CloudServer accepts any configured location; we store what the client asked for and
    // report it back from GetBucketLocation.
    let location = i
        .create_bucket_configuration
        .and_then(|c| c.location_constraint)
        .map(|l| l.as_str().to_owned())
        .unwrap_or_default();
    api.store.create_bucket(&i.bucket, &me.canonical_id, &location, acl).await?;
    let out = CreateBucketOutput { location: Some(format!("/{}", i.bucket)) };
    Ok(S3Response::new(out))
}

pub async fn head_bucket(api: &S3Api, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
    let b = api.store.get_bucket(&req.input.bucket)?;
    let region = if b.location.is_empty() { api.opts.region.clone() } else { b.location.clone() };
    Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(region), ..Default::default() }))
}

pub async fn delete_bucket(api: &S3Api, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
    api.store.delete_bucket(&req.input.bucket).await?;
    Ok(S3Response::with_status(DeleteBucketOutput::default(), http::StatusCode::NO_CONTENT))
}

pub async fn get_bucket_location(
    api: &S3Api,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let b = api.store.get_bucket(&req.input.bucket)?;
    // us-east-1 is reported as an empty constraint, as AWS does.
    let loc = (!b.location.is_empty() && b.location != "us-east-1")
        .then(|| BucketLocationConstraint::from(b.location.clone()));
    Ok(S3Response::new(GetBucketLocationOutput { location_constraint: loc }))
}

pub async fn get_bucket_versioning(
    api: &S3Api,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    api.store.get_bucket(&req.input.bucket)?;
    // Buckets are never versioned: an unversioned bucket has no Status element.
    Ok(S3Response::new(GetBucketVersioningOutput::default()))
}
