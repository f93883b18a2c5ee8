//! PutObject, GetObject, HeadObject, DeleteObject(s), CopyObject.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, MetadataDirective, ObjectIdentifier};

use aws_sdk_s3::operation::RequestId;

use crate::common::*;
use crate::{assert_s3_err, both_backends};

both_backends!(
    put_get_head_roundtrip,
    delete_object_204_also_missing,
    delete_objects_quiet_and_verbose,
    delete_objects_over_1000_malformed,
    copy_object_copy_directive_keeps_metadata,
    copy_object_replace_directive,
    copy_object_source_conditions,
    copy_object_onto_itself,
    copy_object_cross_bucket,
    copy_object_encoded_source_keys,
    conditional_put,
    conditional_put_if_match_missing_key,
    delete_objects_special_keys,
    get_survives_concurrent_overwrite_and_delete,
    concurrent_overwrites_same_key,
);

async fn put_get_head_roundtrip(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "rtb").await;
    // Sizes around the inline threshold and one spanning several read chunks.
    for (i, size) in [0usize, 1, 4095, 4096, 4097, 100_000, 1_500_000].into_iter().enumerate() {
        let body = data(size, i as u64);
        let key = format!("obj-{size}");
        let out = c.put_object().bucket("rtb").key(&key).body(ByteStream::from(body.clone())).send().await.unwrap();
        assert!(out.request_id().is_some_and(|id| !id.is_empty()), "x-amz-request-id");
        let etag = out.e_tag().unwrap().to_owned();
        assert_eq!(etag, quoted_md5(&body), "ETag of {size} bytes");

        let out = c.get_object().bucket("rtb").key(&key).send().await.unwrap();
        assert_eq!(out.e_tag(), Some(etag.as_str()));
        assert_eq!(out.content_length(), Some(size as i64));
        assert!(out.last_modified().is_some());
        assert_eq!(out.content_type(), Some("application/octet-stream"));
        let got = out.body.collect().await.unwrap().into_bytes();
        assert!(got.as_ref() == body.as_slice(), "{size} bytes differ");

        let head = c.head_object().bucket("rtb").key(&key).send().await.unwrap();
        assert_eq!(head.e_tag(), Some(etag.as_str()));
        assert_eq!(head.content_length(), Some(size as i64));
    }
    // Overwrite replaces bytes and ETag.
    let e = put(&c, "rtb", "obj-1", b"replaced").await;
    assert_eq!(e, quoted_md5(b"replaced"));
    assert_eq!(get_bytes(&c, "rtb", "obj-1").await, b"replaced");

    assert_s3_err!(c.get_object().bucket("rtb").key("missing").send().await, 404, "NoSuchKey");
    assert_eq!(failure(c.head_object().bucket("rtb").key("missing").send().await).status, 404);
    assert_s3_err!(
        c.put_object().bucket("no-bucket").key("k").body(ByteStream::from_static(b"x")).send().await,
        404,
        "NoSuchBucket"
    );
    assert_data_files_match(&s).await;
}

async fn delete_object_204_also_missing(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "del").await;
    put(&c, "del", "small", b"abc").await;
    put(&c, "del", "large", &data(10_000, 1)).await;
    let h = http();
    for key in ["small", "large", "small", "never-existed"] {
        let req = c
            .delete_object()
            .bucket("del")
            .key(key)
            .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
            .await
            .unwrap();
        let resp = h.delete(req.uri()).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 204, "DELETE {key}");
    }
    // The SDK call succeeds on a missing key too.
    c.delete_object().bucket("del").key("nothing").send().await.unwrap();
    for key in ["small", "large"] {
        assert_s3_err!(c.get_object().bucket("del").key(key).send().await, 404, "NoSuchKey");
    }
    let out = c.list_objects_v2().bucket("del").send().await.unwrap();
    assert_eq!(out.key_count(), Some(0));
    assert_s3_err!(c.delete_object().bucket("no-bucket").key("k").send().await, 404, "NoSuchBucket");
    assert_data_files_match(&s).await;
}

fn ids(keys: &[&str]) -> Delete {
    Delete::builder()
        .set_objects(Some(keys.iter().map(|k| ObjectIdentifier::builder().key(*k).build().unwrap()).collect()))
        .build()
        .unwrap()
}

async fn delete_objects_quiet_and_verbose(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "multi").await;
    for k in ["a", "b", "c", "d", "e"] {
        put(&c, "multi", k, k.as_bytes()).await;
    }
    let out = c.delete_objects().bucket("multi").delete(ids(&["a", "b", "missing"])).send().await.unwrap();
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    // A missing key counts as deleted, as in S3.
    assert_eq!(deleted, ["a", "b", "missing"]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());

    let mut quiet = ids(&["c", "d"]);
    quiet.quiet = Some(true);
    let out = c.delete_objects().bucket("multi").delete(quiet).send().await.unwrap();
    assert!(out.deleted().is_empty(), "quiet mode lists nothing: {:?}", out.deleted());
    assert!(out.errors().is_empty());

    let out = c.list_objects_v2().bucket("multi").send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["e"]);
    assert_s3_err!(c.delete_objects().bucket("no-bucket").delete(ids(&["x"])).send().await, 404, "NoSuchBucket");
}

async fn delete_objects_over_1000_malformed(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "many").await;
    put(&c, "many", "k-0", b"x").await;
    let keys: Vec<String> = (0..1001).map(|i| format!("k-{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert_s3_err!(c.delete_objects().bucket("many").delete(ids(&refs)).send().await, 400, "MalformedXML");
    // Nothing was deleted.
    assert_eq!(get_bytes(&c, "many", "k-0").await, b"x");
    // Exactly 1000 is accepted.
    let out = c.delete_objects().bucket("many").delete(ids(&refs[..1000])).send().await.unwrap();
    assert_eq!(out.deleted().len(), 1000);
    assert_s3_err!(c.get_object().bucket("many").key("k-0").send().await, 404, "NoSuchKey");
}

async fn put_with_attrs(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .content_type("text/x-original")
        .cache_control("max-age=60")
        .content_disposition("inline")
        .metadata("color", "blue")
        .metadata("shape", "round")
        .send()
        .await
        .unwrap();
}

async fn copy_object_copy_directive_keeps_metadata(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cpb").await;
    for (src, size) in [("src-small", 100usize), ("src-large", 50_000)] {
        let body = data(size, 7);
        put_with_attrs(&c, "cpb", src, &body).await;
        let dst = format!("{src}-copy");
        // Default directive is COPY; new metadata in the request is ignored.
        let out = c
            .copy_object()
            .bucket("cpb")
            .key(&dst)
            .copy_source(format!("cpb/{src}"))
            .metadata("ignored", "yes")
            .send()
            .await
            .unwrap();
        let r = out.copy_object_result().unwrap();
        assert_eq!(r.e_tag(), Some(quoted_md5(&body).as_str()));
        assert!(r.last_modified().is_some());

        let got = c.get_object().bucket("cpb").key(&dst).send().await.unwrap();
        assert_eq!(got.content_type(), Some("text/x-original"));
        assert_eq!(got.cache_control(), Some("max-age=60"));
        assert_eq!(got.content_disposition(), Some("inline"));
        let meta = got.metadata().cloned().unwrap_or_default();
        assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
        assert_eq!(meta.get("shape").map(String::as_str), Some("round"));
        assert!(!meta.contains_key("ignored"), "{meta:?}");
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert!(bytes.as_ref() == body.as_slice());

        // Explicit COPY behaves the same.
        c.copy_object()
            .bucket("cpb")
            .key(format!("{dst}2"))
            .copy_source(format!("cpb/{src}"))
            .metadata_directive(MetadataDirective::Copy)
            .send()
            .await
            .unwrap();
        let head = c.head_object().bucket("cpb").key(format!("{dst}2")).send().await.unwrap();
        assert_eq!(head.metadata().and_then(|m| m.get("color")).map(String::as_str), Some("blue"));
    }
    assert_s3_err!(c.copy_object().bucket("cpb").key("x").copy_source("cpb/missing").send().await, 404, "NoSuchKey");
    assert_data_files_match(&s).await;
}

async fn copy_object_replace_directive(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cpb").await;
    let body = data(6000, 3);
    put_with_attrs(&c, "cpb", "src", &body).await;
    c.copy_object()
        .bucket("cpb")
        .key("dst")
        .copy_source("cpb/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/json")
        .metadata("fresh", "1")
        .send()
        .await
        .unwrap();
    let got = c.get_object().bucket("cpb").key("dst").send().await.unwrap();
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(got.cache_control(), None, "REPLACE drops the old Cache-Control");
    assert_eq!(got.content_disposition(), None);
    let meta = got.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.len(), 1, "{meta:?}");
    assert_eq!(meta.get("fresh").map(String::as_str), Some("1"));
    assert_eq!(got.e_tag(), Some(quoted_md5(&body).as_str()));
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert!(bytes.as_ref() == body.as_slice());
    // The source is unchanged.
    let src = c.head_object().bucket("cpb").key("src").send().await.unwrap();
    assert_eq!(src.content_type(), Some("text/x-original"));
    assert_eq!(src.metadata().and_then(|m| m.get("color")).map(String::as_str), Some("blue"));
    assert_data_files_match(&s).await;
}

async fn copy_object_source_conditions(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cpb").await;
    let etag = put(&c, "cpb", "src", b"conditional").await;
    let copy = || c.copy_object().bucket("cpb").key("dst").copy_source("cpb/src");

    assert_s3_err!(
        copy().copy_source_if_match("\"0123456789abcdef0123456789abcdef\"").send().await,
        412,
        "PreconditionFailed"
    );
    assert_s3_err!(copy().copy_source_if_none_match(&etag).send().await, 412, "PreconditionFailed");
    // Nothing was written by the refused copies.
    assert_s3_err!(c.get_object().bucket("cpb").key("dst").send().await, 404, "NoSuchKey");
    copy().copy_source_if_match(&etag).send().await.unwrap();
    assert_eq!(get_bytes(&c, "cpb", "dst").await, b"conditional");
    copy().copy_source_if_none_match("\"0123456789abcdef0123456789abcdef\"").send().await.unwrap();
    // Dates: unmodified-since a date in the past fails, modified-since the future fails.
    let past = aws_sdk_s3::primitives::DateTime::from_secs(1_000_000_000);
    let future = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
    assert_s3_err!(copy().copy_source_if_unmodified_since(past).send().await, 412, "PreconditionFailed");
    assert_s3_err!(copy().copy_source_if_modified_since(future).send().await, 412, "PreconditionFailed");
    copy().copy_source_if_modified_since(past).send().await.unwrap();
    copy().copy_source_if_unmodified_since(future).send().await.unwrap();
}

async fn copy_object_onto_itself(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "self").await;
    let body = data(5000, 9);
    put_with_attrs(&c, "self", "k", &body).await;
    assert_s3_err!(c.copy_object().bucket("self").key("k").copy_source("self/k").send().await, 400, "InvalidRequest");
    let out = c
        .copy_object()
        .bucket("self")
        .key("k")
        .copy_source("self/k")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/plain")
        .metadata("v", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(out.copy_object_result().and_then(|r| r.e_tag()), Some(quoted_md5(&body).as_str()));
    let got = c.get_object().bucket("self").key("k").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    let meta = got.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.len(), 1, "{meta:?}");
    assert_eq!(meta.get("v").map(String::as_str), Some("2"));
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert!(bytes.as_ref() == body.as_slice());
    assert_data_files_match(&s).await;
}

async fn copy_object_cross_bucket(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let (c1, c2) = (s.client(), s.client2());
    create_bucket(&c1, "from").await;
    create_bucket(&c1, "dest").await;
    create_bucket(&c2, "other").await;
    let body = data(70_000, 11);
    put(&c1, "from", "dir/obj", &body).await;
    c1.copy_object().bucket("dest").key("copied").copy_source("from/dir/obj").send().await.unwrap();
    assert_eq!(get_bytes(&c1, "dest", "copied").await, body);
    // Source deletion does not affect the copy.
    c1.delete_object().bucket("from").key("dir/obj").send().await.unwrap();
    assert_eq!(get_bytes(&c1, "dest", "copied").await, body);

    // Account 2 may not read account 1's private object as a copy source.
    put(&c1, "from", "secret", b"s").await;
    assert_s3_err!(
        c2.copy_object().bucket("other").key("stolen").copy_source("from/secret").send().await,
        403,
        "AccessDenied"
    );
    // A public-read object may be copied by another account into its own bucket.
    c1.put_object()
        .bucket("from")
        .key("shared")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"shared bytes"))
        .send()
        .await
        .unwrap();
    c2.copy_object().bucket("other").key("mine-now").copy_source("from/shared").send().await.unwrap();
    assert_eq!(get_bytes(&c2, "other", "mine-now").await, b"shared bytes");
    let acl = c2.get_object_acl().bucket("other").key("mine-now").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(ID2), "the copy belongs to the copier");
    assert_s3_err!(
        c1.copy_object().bucket("no-bucket").key("x").copy_source("from/secret").send().await,
        404,
        "NoSuchBucket"
    );
    assert_data_files_match(&s).await;
}

async fn copy_object_encoded_source_keys(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "enc-src").await;
    for (i, key) in ["dir/with space", "ünï/日本", "a+b", "per%cent", "q?x=1&y", "a//b"].iter().enumerate() {
        let body = data(100 + i * 3000, i as u64);
        put(&c, "enc-src", key, &body).await;
        // x-amz-copy-source is URL-encoded by the client.
        let dst = format!("copy-{i}");
        c.copy_object()
            .bucket("enc-src")
            .key(&dst)
            .copy_source(format!("enc-src/{}", uri_encode(key, true)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy from {key:?}: {:?}", e.into_service_error()));
        assert_eq!(get_bytes(&c, "enc-src", &dst).await, body, "{key:?}");
        // And to a destination key with the same characters.
        let dst2 = format!("{key} copy");
        c.copy_object()
            .bucket("enc-src")
            .key(&dst2)
            .copy_source(format!("/enc-src/{}", uri_encode(key, true)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy to {dst2:?}: {:?}", e.into_service_error()));
        assert_eq!(get_bytes(&c, "enc-src", &dst2).await, body, "{dst2:?}");
    }
}

async fn conditional_put(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cput").await;
    // If-None-Match: * creates only when absent.
    let e1 = c
        .put_object()
        .bucket("cput")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"first"))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    assert_s3_err!(
        c.put_object().bucket("cput").key("k").if_none_match("*").body(ByteStream::from_static(b"second")).send().await,
        412,
        "PreconditionFailed"
    );
    assert_eq!(get_bytes(&c, "cput", "k").await, b"first");
    // If-Match overwrites only the expected version.
    assert_s3_err!(
        c.put_object()
            .bucket("cput")
            .key("k")
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .body(ByteStream::from_static(b"third"))
            .send()
            .await,
        412,
        "PreconditionFailed"
    );
    assert_eq!(get_bytes(&c, "cput", "k").await, b"first");
    c.put_object().bucket("cput").key("k").if_match(&e1).body(ByteStream::from_static(b"fourth")).send().await.unwrap();
    assert_eq!(get_bytes(&c, "cput", "k").await, b"fourth");
    assert_data_files_match(&s).await;
}

async fn delete_objects_special_keys(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "dspecial").await;
    let keys = ["<xml>&amp;", "quote\"apos'", "ünï/日本語", "with space", "a+b", "/leading", "a//b"];
    for k in keys {
        put(&c, "dspecial", k, k.as_bytes()).await;
    }
    put(&c, "dspecial", "keep", b"keep").await;
    let out = c.delete_objects().bucket("dspecial").delete(ids(&keys)).send().await.unwrap();
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    let mut want = keys.to_vec();
    want.sort();
    assert_eq!(deleted, want, "Deleted echoes the exact keys");
    assert!(out.errors().is_empty());
    let out = c.list_objects_v2().bucket("dspecial").send().await.unwrap();
    let left: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(left, ["keep"]);
    assert_data_files_match(&s).await;
}

/// S3 user guide, "How to prevent overwrites if the object has changed": with If-Match and no
/// current object under the key, the write fails with 404 Not Found (NoSuchKey), not 412.
async fn conditional_put_if_match_missing_key(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cput").await;
    let e1 = put(&c, "cput", "k", b"first").await;
    // If-Match on a missing key: NoSuchKey (404), as S3 answers.
    assert_s3_err!(
        c.put_object().bucket("cput").key("absent").if_match(&e1).body(ByteStream::from_static(b"x")).send().await,
        404,
        "NoSuchKey"
    );
    assert_s3_err!(c.get_object().bucket("cput").key("absent").send().await, 404, "NoSuchKey");
}

/// A GET that has started keeps streaming the version it opened, even when the object is
/// overwritten and deleted meanwhile.
async fn get_survives_concurrent_overwrite_and_delete(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "race").await;
    let body = data(12 * 1024 * 1024, 31);
    put(&c, "race", "big", &body).await;
    let mut out = c.get_object().bucket("race").key("big").send().await.unwrap();
    let mut got = Vec::with_capacity(body.len());
    let first = out.body.next().await.expect("a first chunk").unwrap();
    got.extend_from_slice(&first);
    assert!(got.len() < body.len());
    put(&c, "race", "big", b"replacement").await;
    c.delete_object().bucket("race").key("big").send().await.unwrap();
    while let Some(chunk) = out.body.next().await {
        got.extend_from_slice(&chunk.expect("the body keeps streaming"));
    }
    assert_eq!(got.len(), body.len());
    assert!(got == body, "the GET returned a mix of versions");
    assert_s3_err!(c.get_object().bucket("race").key("big").send().await, 404, "NoSuchKey");
    assert_data_files_match(&s).await;
}

async fn concurrent_overwrites_same_key(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "race2").await;
    let bodies: Vec<Vec<u8>> = (0..12).map(|i| data(5000 + i * 1000, i as u64)).collect();
    let puts = bodies.iter().map(|b| {
        let c = c.clone();
        let b = b.clone();
        async move { c.put_object().bucket("race2").key("same").body(ByteStream::from(b)).send().await.unwrap() }
    });
    futures::future::join_all(puts).await;
    let got = get_bytes(&c, "race2", "same").await;
    assert!(bodies.contains(&got), "the result is one of the bodies written");
    let head = c.head_object().bucket("race2").key("same").send().await.unwrap();
    assert_eq!(head.e_tag(), Some(quoted_md5(&got).as_str()));
    // The losing writes leave no data files behind.
    assert_data_files_match(&s).await;
}
