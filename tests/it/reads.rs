//! Ranged and conditional reads, response header overrides.

use std::time::Duration;

use aws_sdk_s3::primitives::DateTime;

use crate::common::*;
use crate::{assert_s3_err, both_backends};

both_backends!(
    range_reads,
    range_not_satisfiable,
    conditional_get_and_head,
    conditional_precedence,
    response_header_overrides,
);

async fn range_reads(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "rng").await;
    for (key, size) in [("small", 1000usize), ("large", 700_000)] {
        let body = data(size, 5);
        put(&c, "rng", key, &body).await;
        let n = size as u64;
        let cases: Vec<(String, u64, u64)> = vec![
            ("bytes=0-9".into(), 0, 9),
            ("bytes=10-19".into(), 10, 19),
            (format!("bytes={}-", n - 7), n - 7, n - 1),
            ("bytes=-5".into(), n - 5, n - 1),
            // A last byte past the end is clamped.
            (format!("bytes=100-{}", n + 1000), 100, n - 1),
            // A suffix longer than the object is the whole object.
            (format!("bytes=-{}", n + 10), 0, n - 1),
            ("bytes=0-0".into(), 0, 0),
        ];
        for (spec, a, b) in cases {
            let out = c
                .get_object()
                .bucket("rng")
                .key(key)
                .range(&spec)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key} {spec}: {e:?}"));
            assert_eq!(out.content_range(), Some(format!("bytes {a}-{b}/{n}").as_str()), "{key} {spec}");
            assert_eq!(out.content_length(), Some((b - a + 1) as i64), "{key} {spec}");
            assert_eq!(out.accept_ranges(), Some("bytes"));
            let got = out.body.collect().await.unwrap().into_bytes();
            assert!(got.as_ref() == &body[a as usize..=b as usize], "{key} {spec}: wrong bytes");
        }
        // The wire status is 206 with Content-Range.
        let url = presign_get(&c, "rng", key, Duration::from_secs(300)).await;
        let resp = http().get(&url).header("range", "bytes=2-5").send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 206);
        assert!(resp.headers().contains_key("x-amz-request-id"));
        assert_eq!(resp.headers()["content-range"].to_str().unwrap(), format!("bytes 2-5/{n}"));
        assert_eq!(resp.bytes().await.unwrap().as_ref(), &body[2..6]);
        // Without Range: 200 and no Content-Range.
        let resp = http().get(&url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.headers().get("content-range").is_none());

        // HEAD with a range reports the partial length.
        let head = c.head_object().bucket("rng").key(key).range("bytes=0-99").send().await.unwrap();
        assert_eq!(head.content_length(), Some(100));
        assert_eq!(head.content_range(), Some(format!("bytes 0-99/{n}").as_str()));
    }
}

async fn range_not_satisfiable(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "rng").await;
    put(&c, "rng", "k", &data(100, 1)).await;
    put(&c, "rng", "empty", b"").await;
    for spec in ["bytes=100-", "bytes=200-300"] {
        assert_s3_err!(c.get_object().bucket("rng").key("k").range(spec).send().await, 416, "InvalidRange");
    }
    assert_s3_err!(c.get_object().bucket("rng").key("empty").range("bytes=0-0").send().await, 416, "InvalidRange");
    let url = presign_get(&c, "rng", "k", Duration::from_secs(300)).await;
    let resp = http().get(&url).header("range", "bytes=500-600").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 416);
    assert_eq!(resp.headers().get("content-range").map(|v| v.to_str().unwrap()), Some("bytes */100"));
    let body = resp.text().await.unwrap();
    assert_eq!(xml_tag(&body, "Code").as_deref(), Some("InvalidRange"), "{body}");
    // An unparseable Range header is ignored: the whole object is returned.
    let resp = http().get(&url).header("range", "pages=1-2").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().len(), 100);
}

const OTHER: &str = "\"0123456789abcdef0123456789abcdef\"";

fn past() -> DateTime {
    DateTime::from_secs(1_000_000_000)
}

fn future() -> DateTime {
    DateTime::from_secs(4_000_000_000)
}

async fn conditional_get_and_head(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cond").await;
    let body = data(5000, 2);
    let etag = put(&c, "cond", "k", &body).await;
    let get = || c.get_object().bucket("cond").key("k");
    let head = || c.head_object().bucket("cond").key("k");

    // If-Match
    let out = get().if_match(&etag).send().await.unwrap();
    assert_eq!(out.e_tag(), Some(etag.as_str()));
    get().if_match("*").send().await.unwrap();
    get().if_match(format!("{OTHER}, {etag}")).send().await.unwrap();
    assert_s3_err!(get().if_match(OTHER).send().await, 412, "PreconditionFailed");
    assert_eq!(failure(head().if_match(OTHER).send().await).status, 412);

    // If-None-Match
    assert_eq!(failure(get().if_none_match(&etag).send().await).status, 304);
    assert_eq!(failure(head().if_none_match(&etag).send().await).status, 304);
    assert_eq!(failure(get().if_none_match("*").send().await).status, 304);
    get().if_none_match(OTHER).send().await.unwrap();

    // If-Modified-Since
    assert_eq!(failure(get().if_modified_since(future()).send().await).status, 304);
    assert_eq!(failure(head().if_modified_since(future()).send().await).status, 304);
    get().if_modified_since(past()).send().await.unwrap();

    // If-Unmodified-Since
    assert_s3_err!(get().if_unmodified_since(past()).send().await, 412, "PreconditionFailed");
    assert_eq!(failure(head().if_unmodified_since(past()).send().await).status, 412);
    get().if_unmodified_since(future()).send().await.unwrap();

    // Exactly Last-Modified: not modified since then, and not modified after it either.
    let lm = head().send().await.unwrap().last_modified().cloned().unwrap();
    assert_eq!(failure(get().if_modified_since(lm).send().await).status, 304);
    get().if_unmodified_since(lm).send().await.unwrap();

    // 304 on the wire carries the ETag and no body.
    let url = presign_get(&c, "cond", "k", Duration::from_secs(300)).await;
    let resp = http().get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 304);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
    assert!(resp.headers().contains_key("x-amz-request-id"));
    assert!(resp.headers().contains_key("last-modified"));
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp = http().get(&url).header("if-match", OTHER).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 412);
    let text = resp.text().await.unwrap();
    assert_eq!(xml_tag(&text, "Code").as_deref(), Some("PreconditionFailed"));
}

/// RFC 7232 section 6 / the S3 documentation: If-Match true + If-Unmodified-Since false is 200;
/// If-None-Match false + If-Modified-Since true is 304; If-Match false wins over everything.
async fn conditional_precedence(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "prec").await;
    let etag = put(&c, "prec", "k", b"precedence").await;
    let get = || c.get_object().bucket("prec").key("k");

    get()
        .if_match(&etag)
        .if_unmodified_since(past())
        .send()
        .await
        .expect("If-Match holds, so If-Unmodified-Since is ignored");
    assert_eq!(
        failure(get().if_none_match(&etag).if_modified_since(past()).send().await).status,
        304,
        "If-None-Match fails: 304 although modified since"
    );
    get()
        .if_none_match(OTHER)
        .if_modified_since(future())
        .send()
        .await
        .expect("If-None-Match holds, so If-Modified-Since is ignored");
    assert_s3_err!(get().if_match(OTHER).if_none_match(&etag).send().await, 412, "PreconditionFailed");
    assert_s3_err!(get().if_match(OTHER).if_modified_since(future()).send().await, 412, "PreconditionFailed");
    assert_eq!(failure(get().if_match(&etag).if_none_match(&etag).send().await).status, 304);
    assert_s3_err!(
        get().if_unmodified_since(past()).if_modified_since(future()).send().await,
        412,
        "PreconditionFailed"
    );
}

async fn response_header_overrides(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "ovr").await;
    c.put_object()
        .bucket("ovr")
        .key("k")
        .content_type("image/png")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"png"))
        .send()
        .await
        .unwrap();
    let out = c
        .get_object()
        .bucket("ovr")
        .key("k")
        .response_content_type("text/plain")
        .response_content_disposition("attachment; filename=\"x.txt\"")
        .response_cache_control("no-store")
        .response_content_language("fr")
        .response_content_encoding("identity")
        .response_expires(DateTime::from_secs(2_000_000_000))
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_type(), Some("text/plain"));
    assert_eq!(out.content_disposition(), Some("attachment; filename=\"x.txt\""));
    assert_eq!(out.cache_control(), Some("no-store"));
    assert_eq!(out.content_language(), Some("fr"));
    assert_eq!(out.content_encoding(), Some("identity"));
    assert_eq!(out.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
    // The stored object is unchanged.
    let head = c.head_object().bucket("ovr").key("k").send().await.unwrap();
    assert_eq!(head.content_type(), Some("image/png"));
    assert_eq!(head.cache_control(), None);

    // A presigned URL may override response headers too.
    let req = c
        .get_object()
        .bucket("ovr")
        .key("k")
        .response_content_type("application/x-custom")
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let resp = http().get(req.uri()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"].to_str().unwrap(), "application/x-custom");
}
