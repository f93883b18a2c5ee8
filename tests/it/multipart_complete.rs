//! CompleteMultipartUpload's validation and retries, UploadPartCopy, unused parts, a 100 MiB
//! upload read back across part boundaries, and SIGKILL during UploadPart and Complete.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::*;
use crate::multipart::{create, upload};
use crate::ops::{Bin, bin_args};
use crate::{assert_s3_err, both_backends};

both_backends!(
    complete_validation_errors,
    complete_twice_is_idempotent,
    unnamed_parts_are_deleted,
    upload_part_copy_ranges_and_conditions,
    hundred_mib_upload_ranges_across_parts,
);

const MIB: usize = 1024 * 1024;

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts.iter().map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build()).collect(),
        ))
        .build()
}

async fn complete(c: &Client, key: &str, id: &str, parts: &[(i32, &str)]) -> Result<String, Failure> {
    match c
        .complete_multipart_upload()
        .bucket("mpu")
        .key(key)
        .upload_id(id)
        .multipart_upload(completed(parts))
        .send()
        .await
    {
        Ok(out) => Ok(out.e_tag().unwrap().to_owned()),
        Err(e) => Err(failure::<_, ()>(Err(e))),
    }
}

fn code(r: Result<String, Failure>) -> (u16, String) {
    let f = r.expect_err("Complete must fail");
    (f.status, f.code.unwrap_or_default())
}

async fn complete_validation_errors(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    let id = create(&c, "mpu", "k").await;
    let (p1, p2) = (data(5 * MIB, 1), data(100, 2));
    let e1 = upload(&c, "mpu", "k", &id, 1, &p1).await;
    let e2 = upload(&c, "mpu", "k", &id, 2, &p2).await;
    let wrong = quoted_md5(b"not this part");

    assert_eq!(code(complete(&c, "k", &id, &[(1, &e1), (3, &e2)]).await), (400, "InvalidPart".into()), "unknown part");
    assert_eq!(code(complete(&c, "k", &id, &[(1, &e1), (2, &wrong)]).await), (400, "InvalidPart".into()), "ETag");
    assert_eq!(code(complete(&c, "k", &id, &[(2, &e2), (1, &e1)]).await), (400, "InvalidPartOrder".into()));
    assert_eq!(code(complete(&c, "k", &id, &[(1, &e1), (1, &e1)]).await), (400, "InvalidPartOrder".into()));
    assert_eq!(code(complete(&c, "k", &id, &[]).await), (400, "MalformedXML".into()), "no parts");
    assert_eq!(code(complete(&c, "k", "no-such-upload-id", &[(1, &e1)]).await), (404, "NoSuchUpload".into()));
    // ETags are accepted with or without quotes, as AWS does.
    let bare1 = e1.trim_matches('"').to_owned();
    // None of the failures consumed the upload.
    let etag = complete(&c, "k", &id, &[(1, &bare1), (2, &e2)]).await.unwrap();
    assert_eq!(etag, multipart_etag(&[&p1, &p2]));
    assert_eq!(get_bytes(&c, "mpu", "k").await, [p1, p2].concat());

    // A raw body that is not XML.
    let url = s.presigned("POST", "/mpu/k2", &[("uploadId", &create(&c, "mpu", "k2").await)]);
    let r = http().post(&url).body("<CompleteMultipartUpload><Part>").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().await.unwrap();
    assert_eq!(xml_tag(&text, "Code").as_deref(), Some("MalformedXML"), "{text}");
}

/// A client that retries a Complete whose answer it lost gets the same object back.
async fn complete_twice_is_idempotent(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    let id = create(&c, "mpu", "k").await;
    let (p1, p2) = (data(5 * MIB, 3), data(77, 4));
    let e1 = upload(&c, "mpu", "k", &id, 1, &p1).await;
    let e2 = upload(&c, "mpu", "k", &id, 2, &p2).await;
    let first = complete(&c, "k", &id, &[(1, &e1), (2, &e2)]).await.unwrap();
    let second = complete(&c, "k", &id, &[(1, &e1), (2, &e2)]).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(get_bytes(&c, "mpu", "k").await, [p1, p2].concat());
    // The upload itself is finished.
    assert_s3_err!(c.list_parts().bucket("mpu").key("k").upload_id(&id).send().await, 404, "NoSuchUpload");
    assert_s3_err!(
        c.upload_part()
            .bucket("mpu")
            .key("k")
            .upload_id(&id)
            .part_number(3)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        404,
        "NoSuchUpload"
    );
}

async fn unnamed_parts_are_deleted(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    let id = create(&c, "mpu", "k").await;
    let (p1, p2, p3) = (data(5 * MIB, 5), data(5 * MIB, 6), data(1000, 7));
    let e1 = upload(&c, "mpu", "k", &id, 1, &p1).await;
    let _e2 = upload(&c, "mpu", "k", &id, 2, &p2).await;
    let e3 = upload(&c, "mpu", "k", &id, 3, &p3).await;
    let etag = complete(&c, "k", &id, &[(1, &e1), (3, &e3)]).await.unwrap();
    assert_eq!(etag, multipart_etag(&[&p1, &p3]));
    assert_eq!(get_bytes(&c, "mpu", "k").await, [p1, p3].concat());
    if backend == "file" {
        assert_eq!(count_data_files(&s.data_dir()), (2, 0), "part 2's file is deleted; parts 1 and 3 stay in place");
    }
    c.delete_object().bucket("mpu").key("k").send().await.unwrap();
    if backend == "file" {
        assert_eq!(count_data_files(&s.data_dir()), (0, 0), "deleting the object frees its parts");
    }
}

async fn upload_part_copy_ranges_and_conditions(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    create_bucket(&c, "src").await;
    let src = data(7 * MIB + 11, 8);
    let src_etag = put(&c, "src", "dir/source object", &src).await;
    let id = create(&c, "mpu", "copied").await;
    let copy = |n: i32, range: Option<String>| {
        c.upload_part_copy()
            .bucket("mpu")
            .key("copied")
            .upload_id(&id)
            .part_number(n)
            .copy_source("src/dir/source%20object")
            .set_copy_source_range(range)
    };
    let first = 5 * MIB;
    let r1 = copy(1, Some(format!("bytes=0-{}", first - 1))).send().await.unwrap();
    let e1 = r1.copy_part_result().and_then(|r| r.e_tag()).unwrap().to_owned();
    assert_eq!(e1, quoted_md5(&src[..first]));
    let r2 =
        copy(2, Some(format!("bytes={first}-{}", src.len() - 1))).copy_source_if_match(&src_etag).send().await.unwrap();
    let e2 = r2.copy_part_result().and_then(|r| r.e_tag()).unwrap().to_owned();
    assert_eq!(e2, quoted_md5(&src[first..]));
    // A whole-object copy as a third part, then replaced by an ordinary upload of part 3.
    let r3 = copy(3, None).send().await.unwrap();
    assert_eq!(r3.copy_part_result().and_then(|r| r.e_tag()), Some(src_etag.as_str()));

    // Conditionals on the source.
    assert_s3_err!(copy(4, None).copy_source_if_match("\"0000\"").send().await, 412, "PreconditionFailed");
    assert_s3_err!(copy(4, None).copy_source_if_none_match(&src_etag).send().await, 412, "PreconditionFailed");
    // A range past the end of the source, and a missing source.
    let past = format!("bytes={}-{}", src.len(), src.len() + 10);
    let f = failure(copy(4, Some(past)).send().await);
    assert!(
        matches!((f.status, f.code.as_deref()), (416, Some("InvalidRange")) | (400, Some("InvalidArgument"))),
        "{f:?}"
    );
    let missing = c
        .upload_part_copy()
        .bucket("mpu")
        .key("copied")
        .upload_id(&id)
        .part_number(4)
        .copy_source("src/nope")
        .send()
        .await;
    assert_s3_err!(missing, 404, "NoSuchKey");

    let etag = complete(&c, "copied", &id, &[(1, &e1), (2, &e2)]).await.unwrap();
    assert_eq!(etag, multipart_etag(&[&src[..first], &src[first..]]));
    assert_eq!(get_bytes(&c, "mpu", "copied").await, src);
    // The source is untouched.
    assert_eq!(get_bytes(&c, "src", "dir/source object").await, src);
}

/// 104 MiB in 13 parts of 8 MiB, four in flight (as the SDKs' transfer managers do), read back
/// whole and by ranges that straddle every part boundary.
async fn hundred_mib_upload_ranges_across_parts(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "mpu").await;
    let part = 8 * MIB;
    let n = 13;
    let whole = data(part * n, 9);
    let id = create(&c, "mpu", "big").await;
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (c, id, body, sem) = (c.clone(), id.clone(), whole[i * part..(i + 1) * part].to_vec(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            upload(&c, "mpu", "big", &id, i as i32 + 1, &body).await
        }));
    }
    let mut etags = Vec::new();
    for t in tasks {
        etags.push(t.await.unwrap());
    }
    let named: Vec<(i32, &str)> = etags.iter().enumerate().map(|(i, e)| (i as i32 + 1, e.as_str())).collect();
    let etag = complete(&c, "big", &id, &named).await.unwrap();
    let chunks: Vec<&[u8]> = whole.chunks(part).collect();
    assert_eq!(etag, multipart_etag(&chunks));

    let got = get_bytes(&c, "mpu", "big").await;
    assert!(got == whole, "whole object differs");
    for b in 1..n {
        let edge = b * part;
        let (a, z) = (edge - 1000, edge + 999);
        let out = c.get_object().bucket("mpu").key("big").range(format!("bytes={a}-{z}")).send().await.unwrap();
        assert_eq!(out.content_range(), Some(format!("bytes {a}-{z}/{}", whole.len()).as_str()));
        let got = out.body.collect().await.unwrap().into_bytes();
        assert!(got.as_ref() == &whole[a..=z], "range across boundary {b} differs");
    }
    // One range spanning three parts.
    let (a, z) = (part - 1, 3 * part);
    let out = c.get_object().bucket("mpu").key("big").range(format!("bytes={a}-{z}")).send().await.unwrap();
    let got = out.body.collect().await.unwrap().into_bytes();
    assert!(got.as_ref() == &whole[a..=z], "range over three parts differs");
    // partNumber on HEAD.
    let head = c.head_object().bucket("mpu").key("big").part_number(13).send().await.unwrap();
    assert_eq!(head.parts_count(), Some(13));
    assert_eq!(head.content_length(), Some(part as i64));
}

// ---- SIGKILL ----

/// Kills the server with SIGKILL `after` into a CompleteMultipartUpload, restarts it on the same
/// directories, and checks that exactly one of "upload open" and "object complete" holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_complete_leaves_upload_or_object() {
    let root = tempfile::tempdir().unwrap();
    let args = bin_args(root.path(), &[]);
    let parts: Vec<Vec<u8>> = (0..12).map(|i| data(5 * MIB, 20 + i)).collect();
    let whole = parts.concat();
    let chunks: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let want_etag = multipart_etag(&chunks);
    let (mut saw_open, mut saw_done) = (0, 0);
    for round in 0..6u64 {
        let key = format!("k{round}");
        let mut bin = Bin::spawn(&args, &[]);
        let c = client_for(&bin.endpoint(), AK1, SK1, true);
        if round == 0 {
            create_bucket(&c, "mpu").await;
        }
        let id = create(&c, "mpu", &key).await;
        let mut etags = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            etags.push(upload(&c, "mpu", &key, &id, i as i32 + 1, p).await);
        }
        let named: Vec<(i32, String)> = etags.iter().enumerate().map(|(i, e)| (i as i32 + 1, e.clone())).collect();
        let c2 = c.clone();
        let (key2, id2) = (key.clone(), id.clone());
        let completing = tokio::spawn(async move {
            let named: Vec<(i32, &str)> = named.iter().map(|(n, e)| (*n, e.as_str())).collect();
            // The kill usually cuts the connection: that is not a service error.
            let req = c2.complete_multipart_upload().bucket("mpu").key(&key2).upload_id(&id2);
            req.multipart_upload(completed(&named)).send().await.is_ok()
        });
        // From "before the request lands" to "well after it should be done".
        tokio::time::sleep(Duration::from_micros(round * round * 400)).await;
        bin.child.kill().unwrap();
        bin.child.wait().unwrap();
        let acknowledged = completing.await.unwrap();
        drop(bin);

        let bin = Bin::spawn(&args, &[]);
        let c = client_for(&bin.endpoint(), AK1, SK1, true);
        let open = c.list_parts().bucket("mpu").key(&key).upload_id(&id).send().await;
        let obj = c.get_object().bucket("mpu").key(&key).send().await;
        match (open, obj) {
            (Ok(lp), Err(e)) => {
                assert!(!acknowledged, "round {round}: an acknowledged Complete was lost");
                let code = e.into_service_error();
                assert!(code.is_no_such_key(), "round {round}: {code:?}");
                assert_eq!(lp.parts().len(), parts.len(), "round {round}: every part is still there");
                // The retry finishes it.
                let named: Vec<(i32, &str)> =
                    etags.iter().enumerate().map(|(i, e)| (i as i32 + 1, e.as_str())).collect();
                assert_eq!(complete(&c, &key, &id, &named).await.unwrap(), want_etag);
                saw_open += 1;
            }
            (Err(_), Ok(out)) => {
                assert_eq!(out.e_tag(), Some(want_etag.as_str()), "round {round}");
                let body = out.body.collect().await.unwrap().into_bytes();
                assert!(body.as_ref() == whole.as_slice(), "round {round}: object content differs");
                saw_done += 1;
            }
            (open, obj) => panic!("round {round}: upload {open:?} and object {:?} at once", obj.map(|o| o.e_tag)),
        }
        assert_eq!(get_bytes(&c, "mpu", &key).await.len(), whole.len());
        // Every data file belongs to a completed object's parts.
        let (files, tmp) = count_data_files(&root.path().join("data"));
        assert_eq!((files, tmp), (parts.len() * (round as usize + 1), 0), "round {round}: orphans or temp files");
    }
    eprintln!("SIGKILL during Complete: {saw_open} rounds left the upload open, {saw_done} the object");
}

/// Kills the server in the middle of a large UploadPart: after the restart the part is either
/// absent or whole, and no temp file is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_upload_part_leaves_no_partial_part() {
    let root = tempfile::tempdir().unwrap();
    let args = bin_args(root.path(), &[]);
    let mut bin = Bin::spawn(&args, &[]);
    let c = client_for(&bin.endpoint(), AK1, SK1, true);
    create_bucket(&c, "mpu").await;
    let id = create(&c, "mpu", "k").await;
    let p1 = data(5 * MIB, 40);
    let e1 = upload(&c, "mpu", "k", &id, 1, &p1).await;
    let big = data(64 * MIB, 41);
    let (c2, id2, big2) = (c.clone(), id.clone(), big.clone());
    let uploading = tokio::spawn(async move { upload_result(&c2, &id2, 2, big2).await });
    // Kill once the part's temp file exists, i.e. mid-body.
    let data_dir = root.path().join("data");
    let started = crate::ops::poll_until_async(Duration::from_secs(30), || async {
        (crate::ops::tmp_count(&data_dir) > 0).then_some(())
    })
    .await;
    assert!(started.is_some(), "the part's temp file appears while it uploads");
    bin.child.kill().unwrap();
    bin.child.wait().unwrap();
    assert!(!uploading.await.unwrap(), "a killed UploadPart must not be acknowledged");
    drop(bin);

    let bin = Bin::spawn(&args, &[]);
    let c = client_for(&bin.endpoint(), AK1, SK1, true);
    let lp = c.list_parts().bucket("mpu").key("k").upload_id(&id).send().await.unwrap();
    let nums: Vec<i32> = lp.parts().iter().filter_map(|p| p.part_number()).collect();
    assert_eq!(nums, [1], "only the acknowledged part is listed");
    assert_eq!(count_data_files(&data_dir), (1, 0), "the half-written part is swept at start-up");
    // The upload goes on.
    let e2 = upload(&c, "mpu", "k", &id, 2, &big[..1000]).await;
    assert_eq!(complete(&c, "k", &id, &[(1, &e1), (2, &e2)]).await.unwrap(), multipart_etag(&[&p1, &big[..1000]]));
    assert_eq!(get_bytes(&c, "mpu", "k").await, [&p1[..], &big[..1000]].concat());
}

async fn upload_result(c: &Client, id: &str, n: i32, body: Vec<u8>) -> bool {
    c.upload_part()
        .bucket("mpu")
        .key("k")
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(body))
        .send()
        .await
        .is_ok()
}
