//! Signatures, presigned URLs, anonymous requests, request ids, error bodies, virtual hosts.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectCannedAcl;

use crate::common::*;
use crate::{assert_s3_err, both_backends};

both_backends!(
    wrong_secret_signature_mismatch,
    unknown_access_key,
    presigned_get_and_put,
    presigned_expired,
    anonymous_denied,
    request_id_and_error_body,
    virtual_hosted_style,
);

async fn wrong_secret_signature_mismatch(backend: &'static str) {
    let s = TestServer::start(backend).await;
    create_bucket(&s.client(), "sig").await;
    put(&s.client(), "sig", "k", b"v").await;
    let bad = s.client_with(AK1, "wrongSecret");
    assert_s3_err!(bad.list_buckets().send().await, 403, "SignatureDoesNotMatch");
    assert_s3_err!(bad.get_object().bucket("sig").key("k").send().await, 403, "SignatureDoesNotMatch");
    assert_s3_err!(bad.list_objects_v2().bucket("sig").send().await, 403, "SignatureDoesNotMatch");
    assert_s3_err!(
        bad.put_object().bucket("sig").key("k").body(ByteStream::from_static(b"forged")).send().await,
        403,
        "SignatureDoesNotMatch"
    );
    assert_eq!(failure(bad.head_object().bucket("sig").key("k").send().await).status, 403);
    assert_eq!(get_bytes(&s.client(), "sig", "k").await, b"v");
}

async fn unknown_access_key(backend: &'static str) {
    let s = TestServer::start(backend).await;
    create_bucket(&s.client(), "akey").await;
    let bad = s.client_with("noSuchKey", "whatever");
    assert_s3_err!(bad.list_buckets().send().await, 403, "InvalidAccessKeyId");
    assert_s3_err!(bad.get_object().bucket("akey").key("k").send().await, 403, "InvalidAccessKeyId");
    assert_s3_err!(bad.create_bucket().bucket("newbucket").send().await, 403, "InvalidAccessKeyId");
    assert_eq!(
        failure(s.client().head_bucket().bucket("newbucket").send().await).status,
        404,
        "the refused CreateBucket must not create the bucket"
    );
}

async fn presigned_get_and_put(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "pre").await;
    let body = data(30_000, 12);
    put(&c, "pre", "dir/obj name", &body).await;
    let h = http();

    let url = presign_get(&c, "pre", "dir/obj name", Duration::from_secs(600)).await;
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let resp = h.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), quoted_md5(&body));
    assert!(resp.headers().contains_key("x-amz-request-id"));
    assert!(resp.bytes().await.unwrap().as_ref() == body.as_slice());

    // A tampered URL (another key) fails the signature check.
    let tampered = url.replace("obj%20name", "other");
    assert_ne!(tampered, url);
    let resp = h.get(&tampered).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let text = resp.text().await.unwrap();
    assert_eq!(xml_tag(&text, "Code").as_deref(), Some("SignatureDoesNotMatch"), "{text}");

    // An x-amz-* header that the URL did not sign is refused.
    let resp = h.get(&url).header("x-amz-acl", "public-read").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let text = resp.text().await.unwrap();
    assert_eq!(xml_tag(&text, "Code").as_deref(), Some("AccessDenied"), "{text}");

    // Presigned PUT.
    let req = c
        .put_object()
        .bucket("pre")
        .key("uploaded")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(600)).unwrap())
        .await
        .unwrap();
    let mut rb = h.put(req.uri()).body(b"via presigned put".to_vec());
    for (k, v) in req.headers() {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text().await);
    assert_eq!(get_bytes(&c, "pre", "uploaded").await, b"via presigned put");

    // The maximum lifetime (7 days) is accepted.
    let url = presign_get(&c, "pre", "uploaded", Duration::from_secs(7 * 24 * 3600)).await;
    assert_eq!(h.get(&url).send().await.unwrap().status().as_u16(), 200);
    // A correctly signed URL valid for more than 7 days is refused.
    let host = s.addr.to_string();
    let pq = presign_raw(&host, "GET", "/pre/uploaded", &[], AK1, SK1, 7 * 24 * 3600 + 1);
    let resp = h.get(format!("http://{host}{pq}")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let text = resp.text().await.unwrap();
    assert_eq!(xml_tag(&text, "Code").as_deref(), Some("AuthorizationQueryParametersError"), "{text}");
    // Our signer agrees with the server: the same URL within limits works.
    let pq = presign_raw(&host, "GET", "/pre/uploaded", &[], AK1, SK1, 60);
    let resp = h.get(format!("http://{host}{pq}")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

async fn presigned_expired(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "exp").await;
    put(&c, "exp", "k", b"v").await;
    // Signed an hour ago for 60 seconds: long expired.
    let cfg = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(3600))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let req = c.get_object().bucket("exp").key("k").presigned(cfg).await.unwrap();
    let resp = http().get(req.uri()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let text = resp.text().await.unwrap();
    assert_eq!(xml_tag(&text, "Code").as_deref(), Some("AccessDenied"), "{text}");
    assert!(xml_tag(&text, "Message").is_some_and(|m| m.contains("expired")), "{text}");
}

async fn anonymous_denied(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "anon").await;
    put(&c, "anon", "k", b"v").await;
    let h = http();
    for (method, path) in [
        ("GET", "/"),
        ("PUT", "/anon-new-bucket"),
        ("GET", "/anon"),
        ("GET", "/anon/k"),
        ("HEAD", "/anon/k"),
        ("PUT", "/anon/k2"),
        ("DELETE", "/anon/k"),
        ("DELETE", "/anon"),
        ("GET", "/anon?acl"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = h.request(m, s.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{method} {path}");
        if method != "HEAD" {
            let text = resp.text().await.unwrap();
            assert_eq!(xml_tag(&text, "Code").as_deref(), Some("AccessDenied"), "{method} {path}: {text}");
        }
    }
    let out = c.list_buckets().send().await.unwrap();
    assert_eq!(out.buckets().len(), 1);
    assert_eq!(get_bytes(&c, "anon", "k").await, b"v");
}

async fn request_id_and_error_body(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "rid").await;
    c.put_object()
        .bucket("rid")
        .key("pub")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"p"))
        .send()
        .await
        .unwrap();
    let h = http();
    let mut ids = std::collections::HashSet::new();

    // Success, anonymous.
    let resp = h.get(s.url("/rid/pub")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let id = resp.headers()["x-amz-request-id"].to_str().unwrap().to_owned();
    assert!(!id.is_empty());
    ids.insert(id);

    // Success, presigned.
    let url = presign_get(&c, "rid", "pub", Duration::from_secs(60)).await;
    let resp = h.get(&url).send().await.unwrap();
    ids.insert(resp.headers()["x-amz-request-id"].to_str().unwrap().to_owned());

    // Errors: the body has Code, Message, Resource and RequestId matching the header.
    let missing_url = presign_get(&c, "rid", "missing", Duration::from_secs(60)).await;
    let no_bucket_url = presign_get(&c, "nobucket", "k", Duration::from_secs(60)).await;
    for (url, status, code, resource) in [
        (missing_url.as_str(), 404, "NoSuchKey", "/rid/missing"),
        (no_bucket_url.as_str(), 404, "NoSuchBucket", "/nobucket/k"),
        (&s.url("/rid/secret"), 403, "AccessDenied", "/rid/secret"),
        (&s.url("/"), 403, "AccessDenied", "/"),
    ] {
        let resp = h.get(url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{url}");
        let id = resp
            .headers()
            .get("x-amz-request-id")
            .unwrap_or_else(|| panic!("{url}: no x-amz-request-id"))
            .to_str()
            .unwrap()
            .to_owned();
        let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        assert!(ct.as_deref().is_some_and(|t| t.contains("xml")), "{url}: {ct:?}");
        let text = resp.text().await.unwrap();
        assert!(text.contains("<Error>"), "{text}");
        assert_eq!(xml_tag(&text, "Code").as_deref(), Some(code), "{text}");
        assert!(xml_tag(&text, "Message").is_some_and(|m| !m.is_empty()), "{text}");
        assert_eq!(xml_tag(&text, "Resource").as_deref(), Some(resource), "{text}");
        assert_eq!(xml_tag(&text, "RequestId").as_deref(), Some(id.as_str()), "{text}");
        ids.insert(id);
    }
    // HEAD errors carry the header too.
    let resp = h.head(s.url("/rid/missing")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.headers().contains_key("x-amz-request-id"));
    // Each response has its own id.
    assert_eq!(ids.len(), 6, "{ids:?}");
}

async fn virtual_hosted_style(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "vhost").await;
    let body = data(9000, 13);
    c.put_object()
        .bucket("vhost")
        .key("dir/public obj")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    put(&c, "vhost", "private", b"private bytes").await;
    let port = s.addr.port();
    let host = format!("vhost.localhost:{port}");
    let h = http();

    // Unsigned GET of a public-read object, bucket in the Host header.
    let resp = h.get(s.url("/dir/public%20obj")).header("host", &host).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.bytes().await.unwrap().as_ref() == body.as_slice());

    // A URL presigned for virtual-hosted addressing, sent to 127.0.0.1 with its Host header.
    let vc = client_for(&format!("http://localhost:{port}"), AK1, SK1, false);
    for (key, want) in [("private", b"private bytes".to_vec()), ("dir/public obj", body.clone())] {
        let url = presign_get(&vc, "vhost", key, Duration::from_secs(300)).await;
        let parsed = reqwest::Url::parse(&url).unwrap();
        assert_eq!(parsed.host_str(), Some("vhost.localhost"), "{url}");
        let direct = format!("http://127.0.0.1:{port}{}?{}", parsed.path(), parsed.query().unwrap());
        let resp = h.get(&direct).header("host", &host).send().await.unwrap();
        let status = resp.status().as_u16();
        let got = resp.bytes().await.unwrap();
        assert_eq!(status, 200, "{key}: {}", String::from_utf8_lossy(&got));
        assert!(got.as_ref() == want.as_slice(), "{key}");
    }

    // A virtual-hosted listing (signed) names the bucket from the Host header.
    let pq = presign_raw(&host, "GET", "/", &[("list-type", "2")], AK1, SK1, 300);
    let direct = format!("http://127.0.0.1:{port}{pq}");
    let resp = h.get(&direct).header("host", &host).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(xml_tag(&text, "Name").as_deref(), Some("vhost"), "{text}");
    assert!(text.contains("<Key>private</Key>"), "{text}");

    // Unsigned access to the private object through the virtual host is still denied.
    let resp = h.get(s.url("/private")).header("host", &host).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    // A dotted bucket name under the endpoint.
    create_bucket(&c, "v.host").await;
    c.put_object()
        .bucket("v.host")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"dotted"))
        .send()
        .await
        .unwrap();
    let resp = h.get(s.url("/k")).header("host", format!("v.host.localhost:{port}")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"dotted");
    // A Host that is just the endpoint is path-style.
    let resp =
        h.get(s.url("/vhost/dir/public%20obj")).header("host", format!("localhost:{port}")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}
