//! Multipart upload basics (issue 4 adds the rest).

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::*;
use crate::{assert_s3_err, both_backends};

both_backends!(
    small_parts_entity_too_small,
    five_mib_parts_etag_and_ranges,
    abort_then_no_such_upload,
    list_parts_paging,
    list_multipart_uploads_basic,
    overwrite_frees_part_files,
    delete_bucket_with_ongoing_upload,
);

const MIB: usize = 1024 * 1024;

pub(crate) async fn create(c: &Client, bucket: &str, key: &str) -> String {
    c.create_multipart_upload().bucket(bucket).key(key).send().await.unwrap().upload_id().expect("UploadId").to_owned()
}

pub(crate) async fn upload(c: &Client, bucket: &str, key: &str, id: &str, n: i32, body: &[u8]) -> String {
    c.upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"))
        .e_tag()
        .expect("part ETag")
        .to_owned()
}

fn completed(parts: &[(i32, String)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(parts.iter().map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build()).collect()))
        .build()
}

async fn small_parts_entity_too_small(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    let id = create(&c, "mpu", "small").await;
    let p1 = data(100, 1);
    let p2 = data(100, 2);
    let e1 = upload(&c, "mpu", "small", &id, 1, &p1).await;
    let e2 = upload(&c, "mpu", "small", &id, 2, &p2).await;
    assert_eq!(e1, quoted_md5(&p1), "a part's ETag is its MD5");
    assert_s3_err!(
        c.complete_multipart_upload()
            .bucket("mpu")
            .key("small")
            .upload_id(&id)
            .multipart_upload(completed(&[(1, e1.clone()), (2, e2.clone())]))
            .send()
            .await,
        400,
        "EntityTooSmall"
    );
    assert_s3_err!(c.get_object().bucket("mpu").key("small").send().await, 404, "NoSuchKey");
    // The upload is still there, and completing with only the (last) small part works.
    let parts = c.list_parts().bucket("mpu").key("small").upload_id(&id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 2);
    let out = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, e1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(multipart_etag(&[&p1]).as_str()));
    assert_eq!(get_bytes(&c, "mpu", "small").await, p1);
}

async fn five_mib_parts_etag_and_ranges(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    let parts: Vec<Vec<u8>> = vec![data(5 * MIB, 21), data(5 * MIB, 22), data(MIB + 3, 23)];
    let id = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .content_type("video/mp4")
        .metadata("origin", "mpu")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let e = upload(&c, "mpu", "big", &id, n, p).await;
        assert_eq!(e, quoted_md5(p));
        done.push((n, e));
    }
    let out = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();
    let want_etag = multipart_etag(&[&parts[0], &parts[1], &parts[2]]);
    assert_eq!(out.e_tag(), Some(want_etag.as_str()));
    assert!(want_etag.ends_with("-3\""));
    assert_eq!(out.bucket(), Some("mpu"));
    assert_eq!(out.key(), Some("big"));

    let whole: Vec<u8> = parts.concat();
    let total = whole.len() as u64;
    let got = c.get_object().bucket("mpu").key("big").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(want_etag.as_str()));
    assert_eq!(got.content_length(), Some(total as i64));
    assert_eq!(got.content_type(), Some("video/mp4"));
    assert_eq!(got.metadata().and_then(|m| m.get("origin")).map(String::as_str), Some("mpu"));
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert!(bytes.as_ref() == whole.as_slice(), "whole object differs");

    let b1 = 5 * MIB as u64;
    let b2 = 10 * MIB as u64;
    for (a, b) in
        [(b1 - 3, b1 + 2), (b1 - 1, b1), (b1, b1), (b2 - 10, b2 + 10), (100, b2 + 100), (total - 5, total - 1)]
    {
        let out = c.get_object().bucket("mpu").key("big").range(format!("bytes={a}-{b}")).send().await.unwrap();
        assert_eq!(out.content_range(), Some(format!("bytes {a}-{b}/{total}").as_str()));
        let got = out.body.collect().await.unwrap().into_bytes();
        assert!(got.as_ref() == &whole[a as usize..=b as usize], "range {a}-{b} differs");
    }
    let out = c.get_object().bucket("mpu").key("big").range("bytes=-4").send().await.unwrap();
    let got = out.body.collect().await.unwrap().into_bytes();
    assert!(got.as_ref() == &whole[whole.len() - 4..]);

    // partNumber reads one part.
    let out = c.get_object().bucket("mpu").key("big").part_number(2).send().await.unwrap();
    assert_eq!(out.parts_count(), Some(3));
    assert_eq!(out.content_length(), Some(5 * MIB as i64));
    let got = out.body.collect().await.unwrap().into_bytes();
    assert!(got.as_ref() == parts[1].as_slice());

    let head = c.head_object().bucket("mpu").key("big").send().await.unwrap();
    assert_eq!(head.e_tag(), Some(want_etag.as_str()));
    assert_eq!(head.content_length(), Some(total as i64));

    let list = c.list_objects_v2().bucket("mpu").send().await.unwrap();
    assert_eq!(list.contents().len(), 1);
    assert_eq!(list.contents()[0].e_tag(), Some(want_etag.as_str()));
    assert_eq!(list.contents()[0].size(), Some(total as i64));

    // The upload is gone after completion.
    assert_s3_err!(c.list_parts().bucket("mpu").key("big").upload_id(&id).send().await, 404, "NoSuchUpload");
    let ups = c.list_multipart_uploads().bucket("mpu").send().await.unwrap();
    assert!(ups.uploads().is_empty());
}

async fn abort_then_no_such_upload(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    let id = create(&c, "mpu", "aborted").await;
    let e1 = upload(&c, "mpu", "aborted", &id, 1, &data(6000, 3)).await;
    c.abort_multipart_upload().bucket("mpu").key("aborted").upload_id(&id).send().await.unwrap();
    assert_s3_err!(
        c.upload_part()
            .bucket("mpu")
            .key("aborted")
            .upload_id(&id)
            .part_number(2)
            .body(ByteStream::from_static(b"late"))
            .send()
            .await,
        404,
        "NoSuchUpload"
    );
    assert_s3_err!(c.list_parts().bucket("mpu").key("aborted").upload_id(&id).send().await, 404, "NoSuchUpload");
    assert_s3_err!(
        c.complete_multipart_upload()
            .bucket("mpu")
            .key("aborted")
            .upload_id(&id)
            .multipart_upload(completed(&[(1, e1)]))
            .send()
            .await,
        404,
        "NoSuchUpload"
    );
    assert_s3_err!(
        c.abort_multipart_upload().bucket("mpu").key("aborted").upload_id(&id).send().await,
        404,
        "NoSuchUpload"
    );
    assert_s3_err!(
        c.list_parts().bucket("mpu").key("aborted").upload_id("no-such-upload-id").send().await,
        404,
        "NoSuchUpload"
    );
    assert_s3_err!(c.get_object().bucket("mpu").key("aborted").send().await, 404, "NoSuchKey");
    let ups = c.list_multipart_uploads().bucket("mpu").send().await.unwrap();
    assert!(ups.uploads().is_empty());
    if backend == "file" {
        let (files, tmp) = count_data_files(&s.data_dir());
        assert_eq!((files, tmp), (0, 0), "abort frees the part files");
    }
    // An upload with parts blocks nothing: the bucket can be deleted after the abort.
    c.delete_bucket().bucket("mpu").send().await.unwrap();
}

async fn list_parts_paging(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    let id = create(&c, "mpu", "parts").await;
    let bodies: Vec<Vec<u8>> = (1..=3).map(|n| data(1000 * n, n as u64)).collect();
    let mut etags = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        etags.push(upload(&c, "mpu", "parts", &id, i as i32 + 1, b).await);
    }
    // Re-uploading a part number replaces it.
    let replaced = data(1500, 77);
    etags[1] = upload(&c, "mpu", "parts", &id, 2, &replaced).await;

    let out = c.list_parts().bucket("mpu").key("parts").upload_id(&id).send().await.unwrap();
    assert_eq!(out.bucket(), Some("mpu"));
    assert_eq!(out.key(), Some("parts"));
    assert_eq!(out.upload_id(), Some(id.as_str()));
    assert_eq!(out.is_truncated(), Some(false));
    assert_eq!(out.initiator().and_then(|i| i.id()), Some(ID1));
    assert_eq!(out.owner().and_then(|o| o.id()), Some(ID1));
    let got: Vec<(i32, i64, String)> = out
        .parts()
        .iter()
        .map(|p| (p.part_number().unwrap(), p.size().unwrap(), p.e_tag().unwrap().to_owned()))
        .collect();
    assert_eq!(
        got,
        vec![(1, 1000, quoted_md5(&bodies[0])), (2, 1500, quoted_md5(&replaced)), (3, 3000, quoted_md5(&bodies[2])),]
    );
    assert!(out.parts().iter().all(|p| p.last_modified().is_some()));

    let out = c.list_parts().bucket("mpu").key("parts").upload_id(&id).max_parts(2).send().await.unwrap();
    assert_eq!(out.parts().len(), 2);
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_part_number_marker(), Some("2"));
    assert_eq!(out.max_parts(), Some(2));
    let out = c.list_parts().bucket("mpu").key("parts").upload_id(&id).part_number_marker("2").send().await.unwrap();
    let nums: Vec<i32> = out.parts().iter().filter_map(|p| p.part_number()).collect();
    assert_eq!(nums, [3]);
    assert_eq!(out.is_truncated(), Some(false));
}

async fn list_multipart_uploads_basic(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    let ida = create(&c, "mpu", "a").await;
    let idb1 = create(&c, "mpu", "b/1").await;
    let idb2 = create(&c, "mpu", "b/2").await;
    let idb1_again = create(&c, "mpu", "b/1").await;
    assert_ne!(idb1, idb1_again, "each upload has its own id");

    let out = c.list_multipart_uploads().bucket("mpu").send().await.unwrap();
    assert_eq!(out.bucket(), Some("mpu"));
    assert_eq!(out.is_truncated(), Some(false));
    let got: Vec<(String, String)> =
        out.uploads().iter().map(|u| (u.key().unwrap().to_owned(), u.upload_id().unwrap().to_owned())).collect();
    assert_eq!(got.len(), 4, "{got:?}");
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b/1", "b/1", "b/2"], "sorted by key");
    for id in [&ida, &idb1, &idb2, &idb1_again] {
        assert!(got.iter().any(|(_, i)| i == id), "{id} missing");
    }
    for u in out.uploads() {
        assert_eq!(u.initiator().and_then(|i| i.id()), Some(ID1));
        assert_eq!(u.owner().and_then(|o| o.id()), Some(ID1));
        assert!(u.initiated().is_some());
    }

    let out = c.list_multipart_uploads().bucket("mpu").prefix("b/").send().await.unwrap();
    assert_eq!(out.uploads().len(), 3);
    let out = c.list_multipart_uploads().bucket("mpu").delimiter("/").send().await.unwrap();
    let keys: Vec<&str> = out.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, ["a"]);
    let cps: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(cps, ["b/"]);

    let out = c.list_multipart_uploads().bucket("mpu").max_uploads(2).send().await.unwrap();
    assert_eq!(out.uploads().len(), 2);
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_key_marker(), Some("b/1"));
    assert!(out.next_upload_id_marker().is_some());

    c.abort_multipart_upload().bucket("mpu").key("a").upload_id(&ida).send().await.unwrap();
    let out = c.list_multipart_uploads().bucket("mpu").send().await.unwrap();
    assert_eq!(out.uploads().len(), 3);
    assert!(out.uploads().iter().all(|u| u.upload_id() != Some(ida.as_str())));
    assert_s3_err!(s.client2().list_multipart_uploads().bucket("mpu").send().await, 403, "AccessDenied");
}

async fn overwrite_frees_part_files(backend: &'static str) {
    let s = TestServer::start_with(Opts { backend, mpu_testing: true }).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    // MPU_TESTING: small non-last parts are accepted.
    let parts = [data(10_000, 1), data(20_000, 2), data(5, 3)];
    let id = create(&c, "mpu", "k").await;
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        done.push((i as i32 + 1, upload(&c, "mpu", "k", &id, i as i32 + 1, p).await));
    }
    // A part uploaded but left out of the completion is discarded.
    upload(&c, "mpu", "k", &id, 4, &data(7000, 4)).await;
    let out = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(multipart_etag(&[&parts[0], &parts[1], &parts[2]]).as_str()));
    assert_eq!(get_bytes(&c, "mpu", "k").await, parts.concat());
    // Overwriting with a small object leaves no data file behind.
    put(&c, "mpu", "k", b"small now").await;
    assert_eq!(get_bytes(&c, "mpu", "k").await, b"small now");
    assert_data_files_match(&s).await;
    // Deleting a multipart object frees its parts too.
    let id = create(&c, "mpu", "k2").await;
    let e = upload(&c, "mpu", "k2", &id, 1, &data(9000, 5)).await;
    c.complete_multipart_upload()
        .bucket("mpu")
        .key("k2")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, e)]))
        .send()
        .await
        .unwrap();
    c.delete_object().bucket("mpu").key("k2").send().await.unwrap();
    assert_data_files_match(&s).await;
}

/// AWS, and CloudServer since 2018 (scality/cloudserver#1592), delete a bucket that has only
/// in-progress multipart uploads, aborting them.
async fn delete_bucket_with_ongoing_upload(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu-del").await;
    let id = create(&c, "mpu-del", "pending").await;
    upload(&c, "mpu-del", "pending", &id, 1, &data(6000, 1)).await;
    let url = s.presigned("DELETE", "/mpu-del", &[]);
    let resp = http().delete(&url).send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 204, "DeleteBucket with an in-progress upload: {body}");
    assert_eq!(failure(c.head_bucket().bucket("mpu-del").send().await).status, 404);
    // The upload went with the bucket.
    create_bucket(&c, "mpu-del").await;
    let out = c.list_multipart_uploads().bucket("mpu-del").send().await.unwrap();
    assert!(out.uploads().is_empty(), "{:?}", out.uploads());
    assert_s3_err!(c.list_parts().bucket("mpu-del").key("pending").upload_id(&id).send().await, 404, "NoSuchUpload");
    if backend == "file" {
        assert_eq!(count_data_files(&s.data_dir()), (0, 0), "part files are freed");
    }
}
