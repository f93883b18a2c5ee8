//! Service and bucket operations.

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::common::*;
use crate::{assert_s3_err, both_backends};

both_backends!(
    list_buckets_only_callers,
    create_bucket_invalid_names,
    create_bucket_already_owned_or_exists,
    head_bucket_missing,
    delete_bucket_not_empty_then_gone,
    bucket_location_us_east_1,
    bucket_versioning_unset,
    list_object_versions_unversioned,
);

async fn list_buckets_only_callers(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let (c1, c2) = (s.client(), s.client2());
    create_bucket(&c1, "one-a").await;
    create_bucket(&c1, "one-b").await;
    create_bucket(&c2, "two-a").await;

    let out = c1.list_buckets().send().await.unwrap();
    let names: Vec<&str> = out.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["one-a", "one-b"]);
    assert!(out.buckets().iter().all(|b| b.creation_date().is_some()));
    let owner = out.owner().expect("ListBuckets has an Owner");
    assert_eq!(owner.id(), Some(ID1));
    assert_eq!(owner.display_name(), Some(NAME1));

    let out = c2.list_buckets().send().await.unwrap();
    let names: Vec<&str> = out.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["two-a"], "account 2 must not see account 1's buckets");
    assert_eq!(out.owner().and_then(|o| o.id()), Some(ID2));
}

async fn create_bucket_invalid_names(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    for name in ["AB", "a", "-abc", "ab", "abc-", "a_b_c", "192.168.5.4", "ab..cd", &"x".repeat(64)] {
        let res = c.create_bucket().bucket(name).send().await;
        let f = failure(res);
        assert_eq!((f.status, f.code.as_deref()), (400, Some("InvalidBucketName")), "bucket name {name:?}: {f:?}");
    }
    // Valid edge cases are accepted.
    for name in ["abc", "a.b-c", &"y".repeat(63)] {
        create_bucket(&c, name).await;
    }
    let out = c.list_buckets().send().await.unwrap();
    assert_eq!(out.buckets().len(), 3);
}

async fn create_bucket_already_owned_or_exists(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let (c1, c2) = (s.client(), s.client2());
    create_bucket(&c1, "taken").await;
    assert_s3_err!(c1.create_bucket().bucket("taken").send().await, 409, "BucketAlreadyOwnedByYou");
    assert_s3_err!(c2.create_bucket().bucket("taken").send().await, 409, "BucketAlreadyExists");
    // The bucket still belongs to account 1.
    let out = c1.get_bucket_acl().bucket("taken").send().await.unwrap();
    assert_eq!(out.owner().and_then(|o| o.id()), Some(ID1));
}

async fn head_bucket_missing(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    let f = failure(c.head_bucket().bucket("nope").send().await);
    assert_eq!(f.status, 404, "{f:?}");
    create_bucket(&c, "here").await;
    let out = c.head_bucket().bucket("here").send().await.unwrap();
    assert_eq!(out.bucket_region(), Some("us-east-1"));
    // A bucket-level operation names the missing bucket.
    assert_s3_err!(c.list_objects_v2().bucket("nope").send().await, 404, "NoSuchBucket");
}

async fn delete_bucket_not_empty_then_gone(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "full").await;
    put(&c, "full", "k", b"v").await;
    assert_s3_err!(c.delete_bucket().bucket("full").send().await, 409, "BucketNotEmpty");
    c.delete_object().bucket("full").key("k").send().await.unwrap();

    // 204 on success, checked on the wire.
    let url = s.presigned("DELETE", "/full", &[]);
    let resp = http().delete(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204);

    assert_s3_err!(c.delete_bucket().bucket("full").send().await, 404, "NoSuchBucket");
    assert_eq!(failure(c.head_bucket().bucket("full").send().await).status, 404);
    let out = c.list_buckets().send().await.unwrap();
    assert!(out.buckets().is_empty());
    // The name is free again.
    create_bucket(&s.client2(), "full").await;
}

async fn bucket_location_us_east_1(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "loc").await;
    let out = c.get_bucket_location().bucket("loc").send().await.unwrap();
    // us-east-1 is an empty LocationConstraint.
    let lc = out.location_constraint().map(|l| l.as_str().to_owned());
    assert!(lc.as_deref().is_none_or(str::is_empty), "expected an empty constraint, got {lc:?}");

    // Raw body: <LocationConstraint .../> with no text.
    let url = s.presigned("GET", "/loc", &[("location", "")]);
    let resp = http().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains("LocationConstraint"), "{body}");
    assert!(!body.contains("us-east-1"), "{body}");

    // A bucket created with another constraint reports it.
    c.create_bucket()
        .bucket("loc-eu")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuWest1).build(),
        )
        .send()
        .await
        .unwrap();
    let out = c.get_bucket_location().bucket("loc-eu").send().await.unwrap();
    assert_eq!(out.location_constraint().map(|l| l.as_str()), Some("eu-west-1"));
    assert_s3_err!(c.get_bucket_location().bucket("missing").send().await, 404, "NoSuchBucket");
}

async fn bucket_versioning_unset(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "ver").await;
    let out = c.get_bucket_versioning().bucket("ver").send().await.unwrap();
    assert!(out.status().is_none(), "status: {:?}", out.status());
    assert!(out.mfa_delete().is_none());
    assert_s3_err!(c.get_bucket_versioning().bucket("missing").send().await, 404, "NoSuchBucket");
}

async fn list_object_versions_unversioned(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "vers").await;
    let e1 = put(&c, "vers", "a", b"one").await;
    let e2 = put(&c, "vers", "b/c", b"two").await;
    let out = c.list_object_versions().bucket("vers").send().await.unwrap();
    let v = out.versions();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].key(), Some("a"));
    assert_eq!(v[1].key(), Some("b/c"));
    for (ver, etag, size) in [(&v[0], &e1, 3), (&v[1], &e2, 3)] {
        assert_eq!(ver.version_id(), Some("null"));
        assert_eq!(ver.is_latest(), Some(true));
        assert_eq!(ver.e_tag(), Some(etag.as_str()));
        assert_eq!(ver.size(), Some(size));
        assert_eq!(ver.owner().and_then(|o| o.id()), Some(ID1));
    }
    assert!(out.delete_markers().is_empty());
    assert_eq!(out.is_truncated(), Some(false));

    // Paging by key marker.
    let out = c.list_object_versions().bucket("vers").max_keys(1).send().await.unwrap();
    assert_eq!(out.versions().len(), 1);
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_key_marker(), Some("a"));
    assert_eq!(out.next_version_id_marker(), Some("null"));
    let out = c.list_object_versions().bucket("vers").key_marker("a").send().await.unwrap();
    let keys: Vec<&str> = out.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(keys, ["b/c"]);
    assert_eq!(out.is_truncated(), Some(false));

    let out = c.list_object_versions().bucket("vers").delimiter("/").send().await.unwrap();
    assert_eq!(out.versions().len(), 1);
    let cps: Vec<_> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(cps, ["b/"]);
}
