//! Object attributes, user metadata, digests and key names.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest, Md5};

use aws_sdk_s3::primitives::{ByteStream, DateTime};

use crate::common::*;
use crate::{assert_s3_err, both_backends};

both_backends!(
    attributes_round_trip,
    metadata_too_large,
    content_md5_bad_and_invalid,
    key_too_long,
    special_keys_round_trip,
);

async fn attributes_round_trip(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "attrs").await;
    for (key, size) in [("small", 10usize), ("large", 9000)] {
        let body = data(size, 4);
        c.put_object()
            .bucket("attrs")
            .key(key)
            .body(ByteStream::from(body.clone()))
            .content_type("text/html; charset=utf-8")
            .content_encoding("gzip")
            .content_disposition("attachment; filename=\"report.html\"")
            .content_language("de-DE")
            .cache_control("no-cache, max-age=0")
            .expires(DateTime::from_secs(1_900_000_000))
            .metadata("Author", "Jane Doe")
            .metadata("project-id", "42")
            .metadata("empty", "")
            .send()
            .await
            .unwrap();
        let check = |ct: Option<&str>,
                     ce: Option<&str>,
                     cd: Option<&str>,
                     cl: Option<&str>,
                     cc: Option<&str>,
                     ex: Option<&str>,
                     meta: Option<&std::collections::HashMap<String, String>>| {
            assert_eq!(ct, Some("text/html; charset=utf-8"), "{key}");
            assert_eq!(ce, Some("gzip"), "{key}");
            assert_eq!(cd, Some("attachment; filename=\"report.html\""), "{key}");
            assert_eq!(cl, Some("de-DE"), "{key}");
            assert_eq!(cc, Some("no-cache, max-age=0"), "{key}");
            assert_eq!(ex, Some("Sun, 17 Mar 2030 17:46:40 GMT"), "{key}");
            let meta = meta.cloned().unwrap_or_default();
            // Names are case-insensitive and come back lower-cased.
            assert_eq!(meta.get("author").map(String::as_str), Some("Jane Doe"), "{meta:?}");
            assert_eq!(meta.get("project-id").map(String::as_str), Some("42"));
            assert_eq!(meta.get("empty").map(String::as_str), Some(""));
            assert_eq!(meta.len(), 3, "{meta:?}");
        };
        let out = c.get_object().bucket("attrs").key(key).send().await.unwrap();
        check(
            out.content_type(),
            out.content_encoding(),
            out.content_disposition(),
            out.content_language(),
            out.cache_control(),
            out.expires_string(),
            out.metadata(),
        );
        let got = out.body.collect().await.unwrap().into_bytes();
        assert!(got.as_ref() == body.as_slice());
        let h = c.head_object().bucket("attrs").key(key).send().await.unwrap();
        check(
            h.content_type(),
            h.content_encoding(),
            h.content_disposition(),
            h.content_language(),
            h.cache_control(),
            h.expires_string(),
            h.metadata(),
        );
    }
    // On the wire: x-amz-meta-* headers.
    let url = presign_get(&c, "attrs", "small", std::time::Duration::from_secs(60)).await;
    let resp = http().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-amz-meta-author"], "Jane Doe");
    assert_eq!(resp.headers()["content-language"], "de-DE");
}

async fn metadata_too_large(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "meta").await;
    assert_s3_err!(
        c.put_object()
            .bucket("meta")
            .key("big-meta")
            .metadata("m", "x".repeat(2100))
            .body(ByteStream::from_static(b"data"))
            .send()
            .await,
        400,
        "MetadataTooLarge"
    );
    assert_s3_err!(
        c.put_object()
            .bucket("meta")
            .key("many-meta")
            .metadata("a", "x".repeat(1100))
            .metadata("b", "y".repeat(1100))
            .body(ByteStream::from_static(b"data"))
            .send()
            .await,
        400,
        "MetadataTooLarge"
    );
    assert_s3_err!(c.get_object().bucket("meta").key("big-meta").send().await, 404, "NoSuchKey");
    // Just under 2 KiB is fine.
    c.put_object()
        .bucket("meta")
        .key("ok-meta")
        .metadata("m", "x".repeat(1900))
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    let h = c.head_object().bucket("meta").key("ok-meta").send().await.unwrap();
    assert_eq!(h.metadata().and_then(|m| m.get("m")).map(String::len), Some(1900));
}

fn md5_b64(data: &[u8]) -> String {
    B64.encode(Md5::digest(data))
}

async fn content_md5_bad_and_invalid(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "md5").await;
    for (key, size) in [("small", 100usize), ("large", 20_000)] {
        let body = data(size, 8);
        // A well-formed digest of other bytes: BadDigest, and nothing is stored.
        assert_s3_err!(
            c.put_object()
                .bucket("md5")
                .key(key)
                .content_md5(md5_b64(b"something else"))
                .body(ByteStream::from(body.clone()))
                .send()
                .await,
            400,
            "BadDigest"
        );
        assert_s3_err!(c.get_object().bucket("md5").key(key).send().await, 404, "NoSuchKey");
        // Not base64 / not 16 bytes: InvalidDigest.
        for bad in ["not base64!!", "AAAA"] {
            assert_s3_err!(
                c.put_object()
                    .bucket("md5")
                    .key(key)
                    .content_md5(bad)
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await,
                400,
                "InvalidDigest"
            );
        }
        assert_s3_err!(c.get_object().bucket("md5").key(key).send().await, 404, "NoSuchKey");
        // The right digest is accepted.
        let out = c
            .put_object()
            .bucket("md5")
            .key(key)
            .content_md5(md5_b64(&body))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag(), Some(quoted_md5(&body).as_str()));
        // A failed overwrite leaves the previous object in place.
        assert_s3_err!(
            c.put_object()
                .bucket("md5")
                .key(key)
                .content_md5(md5_b64(b"nope"))
                .body(ByteStream::from(data(size, 99)))
                .send()
                .await,
            400,
            "BadDigest"
        );
        assert_eq!(get_bytes(&c, "md5", key).await, body);
    }
    if backend == "file" {
        // Refused uploads leave no data file behind: only "large" is file-backed.
        let (files, tmp) = count_data_files(&s.data_dir());
        assert_eq!((files, tmp), (1, 0));
    }
}

async fn key_too_long(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "keys").await;
    let long = "k".repeat(1025);
    assert_s3_err!(
        c.put_object().bucket("keys").key(&long).body(ByteStream::from_static(b"x")).send().await,
        400,
        "KeyTooLongError"
    );
    // 1024 bytes is the limit, counted in UTF-8 bytes.
    let max = "k".repeat(1024);
    put(&c, "keys", &max, b"max").await;
    assert_eq!(get_bytes(&c, "keys", &max).await, b"max");
    let multibyte = "é".repeat(513); // 1026 bytes
    assert_s3_err!(
        c.put_object().bucket("keys").key(&multibyte).body(ByteStream::from_static(b"x")).send().await,
        400,
        "KeyTooLongError"
    );
    let out = c.list_objects_v2().bucket("keys").send().await.unwrap();
    assert_eq!(out.key_count(), Some(1));
}

pub const SPECIAL_KEYS: &[&str] = &[
    "a/../b",
    "../up",
    "./dot",
    "..",
    "a//b",
    "/leading",
    "//double-leading",
    "trailing/",
    "ünïcödé/日本語/😀",
    "100%",
    "per%20cent",
    "with space",
    "a+b",
    "q?x=1&y=2",
    "hash#frag",
    "semi;colon",
    "tilde~star*paren()",
    "quote\"apos'",
    "back\\slash",
    "<xml>&amp;",
];

async fn special_keys_round_trip(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "special").await;
    for (i, key) in SPECIAL_KEYS.iter().enumerate() {
        let body = format!("body of {key} #{i}").into_bytes();
        let res = c.put_object().bucket("special").key(*key).body(ByteStream::from(body.clone())).send().await;
        if let Err(e) = res {
            panic!("put {key:?}: {:?}", e.into_service_error());
        }
    }
    for (i, key) in SPECIAL_KEYS.iter().enumerate() {
        let body = format!("body of {key} #{i}").into_bytes();
        let out = c
            .get_object()
            .bucket("special")
            .key(*key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key:?}: {:?}", e.into_service_error()));
        let got = out.body.collect().await.unwrap().into_bytes();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&body), "key {key:?}");
    }
    let out = c.list_objects_v2().bucket("special").send().await.unwrap();
    let mut listed: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
    let mut want: Vec<String> = SPECIAL_KEYS.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(listed, want, "listing must be sorted and exact");
    listed.clear();
    // The same through encoding-type=url, decoded as SDKs do.
    let out =
        c.list_objects_v2().bucket("special").encoding_type(aws_sdk_s3::types::EncodingType::Url).send().await.unwrap();
    let decoded: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(|k| percent_encoding::percent_decode_str(&k.replace('+', " ")).decode_utf8().unwrap().into_owned())
        .collect();
    assert_eq!(decoded, want, "url-encoded listing");
    // v1 lists them the same way.
    let out = c.list_objects().bucket("special").send().await.unwrap();
    let v1: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
    assert_eq!(v1, want);
    // Delete every key by name; the bucket is then empty.
    for key in SPECIAL_KEYS {
        c.delete_object().bucket("special").key(*key).send().await.unwrap_or_else(|e| panic!("delete {key:?}: {e:?}"));
    }
    let out = c.list_objects_v2().bucket("special").send().await.unwrap();
    assert_eq!(out.key_count(), Some(0), "{:?}", out.contents());
}
