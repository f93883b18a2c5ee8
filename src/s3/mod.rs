//! The S3 protocol adapter: the only code that knows s3s. Each `impl S3` method is a one-liner
//! into the handler module of its resource family; handlers parse the input, call one `Store`
//! method and build the output.

mod access;
mod acl;
mod auth;
mod bucket;
pub mod conditional;
pub mod error;
mod host;
mod list;
mod multipart;
mod object;
mod util;

use std::collections::HashMap;
use std::sync::Arc;

use s3s::dto::*;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::config::Account;
use crate::store::Store;

pub use host::Hosts;

/// The identity a request acts as.
#[derive(Debug, Clone)]
pub struct Identity {
    pub canonical_id: String,
    pub display_name: String,
}

/// Accounts by access key.
#[derive(Debug, Default)]
pub struct Accounts {
    by_key: HashMap<String, (String, Identity)>,
}

impl Accounts {
    pub fn new(accounts: &[Account]) -> Self {
        let mut by_key = HashMap::new();
        for a in accounts {
            let id = Identity { canonical_id: a.canonical_id.clone(), display_name: a.name.clone() };
            for (access, secret) in &a.keys {
                by_key.insert(access.clone(), (secret.clone(), id.clone()));
            }
        }
        Accounts { by_key }
    }

    pub fn secret(&self, access_key: &str) -> Option<&str> {
        self.by_key.get(access_key).map(|(s, _)| s.as_str())
    }

    pub fn identity(&self, access_key: &str) -> Option<&Identity> {
        self.by_key.get(access_key).map(|(_, i)| i)
    }

    pub fn display_name(&self, canonical_id: &str) -> Option<String> {
        self.by_key.values().find(|(_, i)| i.canonical_id == canonical_id).map(|(_, i)| i.display_name.clone())
    }
}

/// Options of the S3 layer that come from configuration.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    pub region: String,
    pub presign_max_expiry_secs: u64,
}

pub struct S3Api {
    store: Arc<Store>,
    accounts: Arc<Accounts>,
    opts: ApiOptions,
}

impl S3Api {
    fn caller<T>(&self, req: &S3Request<T>) -> Option<Identity> {
        req.credentials.as_ref().and_then(|c| self.accounts.identity(&c.access_key)).cloned()
    }

    /// The owner (canonical id) of what a request creates: the caller, or for an anonymous write
    /// into a public-read-write bucket, the bucket's owner.
    fn new_owner(&self, caller: Option<Identity>, bucket: &str) -> S3Result<String> {
        match caller {
            Some(c) => Ok(c.canonical_id),
            None => Ok(self.store.get_bucket(bucket)?.owner.clone()),
        }
    }

    fn owner(&self, canonical_id: &str) -> Owner {
        Owner { id: Some(canonical_id.to_owned()), display_name: self.accounts.display_name(canonical_id) }
    }
}

/// Limits on what s3s buffers: XML request bodies (a 10,000-part CompleteMultipartUpload or a
/// 1,000-key DeleteObjects is well under 4 MiB) and POST-object uploads, which s3s 0.14.1
/// holds in memory.
fn s3_config() -> s3s::config::S3Config {
    let mut c = s3s::config::S3Config::default();
    c.xml_max_body_size = 4 * 1024 * 1024;
    c.post_object_max_file_size = 64 * 1024 * 1024;
    c
}

/// Builds the s3s service: our handlers, auth, access rules and host parsing.
pub fn build_service(store: Arc<Store>, accounts: Arc<Accounts>, hosts: Hosts, opts: ApiOptions) -> S3Service {
    let api = S3Api { store: store.clone(), accounts: accounts.clone(), opts: opts.clone() };
    let mut b = S3ServiceBuilder::new(api);
    // Without an auth provider s3s answers 501 to every signed request.
    b.set_auth(auth::Auth::new(accounts.clone()));
    b.set_access(access::Access::new(store, accounts, opts));
    b.set_host(hosts);
    b.set_config(std::sync::Arc::new(s3s::config::StaticConfigProvider::new(std::sync::Arc::new(s3_config()))));
    b.build()
}

#[async_trait::async_trait]
impl S3 for S3Api {
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        bucket::list_buckets(self, req).await
    }
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        bucket::create_bucket(self, req).await
    }
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        bucket::head_bucket(self, req).await
    }
    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        bucket::delete_bucket(self, req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        bucket::get_bucket_location(self, req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        bucket::get_bucket_versioning(self, req).await
    }
    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        acl::get_bucket_acl(self, req).await
    }
    async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
        acl::put_bucket_acl(self, req).await
    }
    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        acl::get_object_acl(self, req).await
    }
    async fn put_object_acl(&self, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
        acl::put_object_acl(self, req).await
    }
    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        list::list_objects(self, req).await
    }
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        list::list_objects_v2(self, req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        list::list_object_versions(self, req).await
    }
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        object::put_object(self, req).await
    }
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        object::get_object(self, req).await
    }
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        object::head_object(self, req).await
    }
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        object::delete_object(self, req).await
    }
    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        object::delete_objects(self, req).await
    }
    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        object::copy_object(self, req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create_multipart_upload(self, req).await
    }
    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart::upload_part_copy(self, req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete_multipart_upload(self, req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort_multipart_upload(self, req).await
    }
    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_multipart_uploads(self, req).await
    }
}
