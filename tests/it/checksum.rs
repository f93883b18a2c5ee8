//! Flexible checksums (issue 4): every algorithm in a header and in an aws-chunked trailer (the
//! SDK's default streaming path), verification before anything is stored, and the values
//! returned by GET/HEAD with `x-amz-checksum-mode: ENABLED`, ListParts and Complete.
//! Expected values come from the SDK's own checksum implementation.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};

use crate::common::*;
use crate::{assert_s3_err, both_backends};

both_backends!(
    sdk_default_put_has_crc32,
    every_algorithm_in_a_header,
    every_algorithm_in_a_trailer_from_a_streaming_body,
    wrong_checksum_is_rejected_and_nothing_stored,
    multipart_composite_checksums,
    multipart_full_object_crc,
);

const ALGOS: [ChecksumAlgorithm; 5] = [
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Crc32C,
    ChecksumAlgorithm::Crc64Nvme,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Sha256,
];

fn sdk_impl(algo: &ChecksumAlgorithm) -> Box<dyn aws_smithy_checksums::http::HttpChecksum> {
    algo.as_str().parse::<aws_smithy_checksums::ChecksumAlgorithm>().expect("known algorithm").into_impl()
}

/// Base64 of `algo` over `data`, as the SDK computes it.
fn b64(algo: &ChecksumAlgorithm, data: &[u8]) -> String {
    let mut h = sdk_impl(algo);
    h.update(data);
    h.header_value().to_str().unwrap().to_owned()
}

fn raw(algo: &ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    let mut h = sdk_impl(algo);
    h.update(data);
    h.finalize().to_vec()
}

/// The checksum of this algorithm in a GetObject/HeadObject/PutObject-like output.
macro_rules! field {
    ($out:expr, $algo:expr) => {
        match $algo {
            ChecksumAlgorithm::Crc32 => $out.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => $out.checksum_crc32_c(),
            ChecksumAlgorithm::Crc64Nvme => $out.checksum_crc64_nvme(),
            ChecksumAlgorithm::Sha1 => $out.checksum_sha1(),
            ChecksumAlgorithm::Sha256 => $out.checksum_sha256(),
            other => panic!("unexpected algorithm {other:?}"),
        }
        .map(str::to_owned)
    };
}

async fn get_with_checksum(c: &Client, bucket: &str, key: &str, algo: &ChecksumAlgorithm) -> (Vec<u8>, Option<String>) {
    let out = c.get_object().bucket(bucket).key(key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    let sum = field!(out, algo);
    (out.body.collect().await.unwrap().into_bytes().to_vec(), sum)
}

async fn head_checksum(c: &Client, bucket: &str, key: &str, algo: &ChecksumAlgorithm) -> Option<String> {
    let out = c.head_object().bucket(bucket).key(key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    field!(out, algo)
}

type Headers = Vec<(String, String)>;

/// Records the checksum-related headers of every request the SDK sends.
#[derive(Debug, Default, Clone)]
struct CaptureHeaders(Arc<Mutex<Vec<Headers>>>);

impl Intercept for CaptureHeaders {
    fn name(&self) -> &'static str {
        "CaptureHeaders"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let h = ctx.request().headers();
        let kept = h
            .iter()
            .filter(|(n, _)| n.starts_with("x-amz-checksum") || *n == "x-amz-trailer" || *n == "x-amz-content-sha256")
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        self.0.lock().unwrap().push(kept);
        Ok(())
    }
}

impl CaptureHeaders {
    fn last(&self) -> Headers {
        self.0.lock().unwrap().last().cloned().unwrap_or_default()
    }
}

fn capturing_client(s: &TestServer) -> (Client, CaptureHeaders) {
    let cap = CaptureHeaders::default();
    let conf = s.client().config().to_builder().interceptor(cap.clone()).build();
    (Client::from_conf(conf), cap)
}

/// With no checksum setting at all, the SDK sends CRC32; the server keeps and returns it.
async fn sdk_default_put_has_crc32(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let (c, cap) = capturing_client(&s);
    create_bucket(&c, "cks").await;
    let body = data(100_000, 1);
    let out = c.put_object().bucket("cks").key("k").body(ByteStream::from(body.clone())).send().await.unwrap();
    let sent = cap.last();
    assert!(
        sent.iter().any(|(n, _)| n == "x-amz-checksum-crc32" || n == "x-amz-trailer"),
        "the SDK sends a CRC32 by default: {sent:?}"
    );
    let want = b64(&ChecksumAlgorithm::Crc32, &body);
    assert_eq!(out.checksum_crc32(), Some(want.as_str()));
    let (got, sum) = get_with_checksum(&c, "cks", "k", &ChecksumAlgorithm::Crc32).await;
    assert_eq!(got, body);
    assert_eq!(sum.as_deref(), Some(want.as_str()));
    // Without checksum mode, no checksum header.
    let plain = c.head_object().bucket("cks").key("k").send().await.unwrap();
    assert_eq!(plain.checksum_crc32(), None);
}

async fn every_algorithm_in_a_header(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cks").await;
    for (i, algo) in ALGOS.iter().enumerate() {
        // 0 bytes, one inline-sized object and one file-backed object.
        for (j, len) in [0usize, 3000, 300_000].into_iter().enumerate() {
            let body = data(len, (i * 10 + j) as u64);
            let key = format!("{}-{len}", algo.as_str());
            let want = b64(algo, &body);
            let req = c.put_object().bucket("cks").key(&key).body(ByteStream::from(body.clone()));
            let req = match algo {
                ChecksumAlgorithm::Crc32 => req.checksum_crc32(&want),
                ChecksumAlgorithm::Crc32C => req.checksum_crc32_c(&want),
                ChecksumAlgorithm::Crc64Nvme => req.checksum_crc64_nvme(&want),
                ChecksumAlgorithm::Sha1 => req.checksum_sha1(&want),
                _ => req.checksum_sha256(&want),
            };
            let out = req.send().await.unwrap_or_else(|e| panic!("{key}: {:?}", e.into_service_error()));
            assert_eq!(field!(out, algo).as_deref(), Some(want.as_str()), "{key}: PUT echoes the checksum");
            assert_eq!(out.e_tag(), Some(quoted_md5(&body).as_str()));
            let (got, sum) = get_with_checksum(&c, "cks", &key, algo).await;
            assert_eq!(got, body, "{key}");
            assert_eq!(sum.as_deref(), Some(want.as_str()), "{key}: GET returns it");
            assert_eq!(head_checksum(&c, "cks", &key, algo).await.as_deref(), Some(want.as_str()), "{key}: HEAD");
        }
    }
}

/// A body from a file is a streaming body: the SDK sends it aws-chunked with the checksum in a
/// trailer (`x-amz-trailer`), which the server verifies after the last chunk.
async fn every_algorithm_in_a_trailer_from_a_streaming_body(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let (c, cap) = capturing_client(&s);
    create_bucket(&c, "cks").await;
    let dir = tempfile::tempdir().unwrap();
    for (i, algo) in ALGOS.iter().enumerate() {
        for len in [10usize, 2_500_000] {
            let body = data(len, 100 + i as u64);
            let path = dir.path().join(format!("{}-{len}", algo.as_str()));
            std::fs::write(&path, &body).unwrap();
            let key = format!("t-{}-{len}", algo.as_str());
            let out = c
                .put_object()
                .bucket("cks")
                .key(&key)
                .checksum_algorithm(algo.clone())
                .body(ByteStream::from_path(&path).await.unwrap())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key}: {:?}", e.into_service_error()));
            let sent = cap.last();
            let trailer = format!("x-amz-checksum-{}", algo.as_str().to_ascii_lowercase());
            assert!(
                sent.iter().any(|(n, v)| n == "x-amz-trailer" && v.eq_ignore_ascii_case(&trailer)),
                "{key}: the SDK sent the checksum as a trailer: {sent:?}"
            );
            let want = b64(algo, &body);
            assert_eq!(field!(out, algo).as_deref(), Some(want.as_str()), "{key}");
            let (got, sum) = get_with_checksum(&c, "cks", &key, algo).await;
            assert_eq!(got, body, "{key}");
            assert_eq!(sum.as_deref(), Some(want.as_str()), "{key}");
        }
    }
}

async fn wrong_checksum_is_rejected_and_nothing_stored(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cks").await;
    put(&c, "cks", "old", b"old body").await;
    for (i, algo) in ALGOS.iter().enumerate() {
        for len in [1000usize, 200_000] {
            let body = data(len, 200 + i as u64);
            // The checksum of other bytes: well-formed, wrong.
            let wrong = b64(algo, b"something else");
            for key in [format!("bad-{}-{len}", algo.as_str()), "old".to_string()] {
                let req = c.put_object().bucket("cks").key(&key).body(ByteStream::from(body.clone()));
                let req = match algo {
                    ChecksumAlgorithm::Crc32 => req.checksum_crc32(&wrong),
                    ChecksumAlgorithm::Crc32C => req.checksum_crc32_c(&wrong),
                    ChecksumAlgorithm::Crc64Nvme => req.checksum_crc64_nvme(&wrong),
                    ChecksumAlgorithm::Sha1 => req.checksum_sha1(&wrong),
                    _ => req.checksum_sha256(&wrong),
                };
                let f = failure(req.send().await);
                assert_eq!(f.status, 400, "{key}: {f:?}");
                assert!(
                    matches!(f.code.as_deref(), Some("BadDigest") | Some("XAmzContentChecksumMismatch")),
                    "{key}: {f:?}"
                );
            }
            let key = format!("bad-{}-{len}", algo.as_str());
            assert_s3_err!(c.get_object().bucket("cks").key(&key).send().await, 404, "NoSuchKey");
            assert_eq!(get_bytes(&c, "cks", "old").await, b"old body", "a failed overwrite keeps the old object");
        }
    }
    // A checksum that is not even valid base64 of the right length.
    let res =
        c.put_object().bucket("cks").key("junk").checksum_sha256("not-base64!").body(ByteStream::from_static(b"x"));
    let f = failure(res.send().await);
    assert_eq!(f.status, 400, "{f:?}");
    assert_data_files_match(&s).await;
}

const MIB: usize = 1024 * 1024;

async fn upload_parts(
    c: &Client,
    key: &str,
    id: &str,
    algo: &ChecksumAlgorithm,
    parts: &[Vec<u8>],
) -> Vec<(i32, String, String)> {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket("cks")
            .key(key)
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(algo.clone())
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {n}: {:?}", e.into_service_error()));
        let sum = field!(r, algo).expect("UploadPart returns the part checksum");
        assert_eq!(sum, b64(algo, p), "part {n}");
        out.push((n, r.e_tag().unwrap().to_owned(), sum));
    }
    out
}

fn completed(algo: &ChecksumAlgorithm, parts: &[(i32, String, String)]) -> CompletedMultipartUpload {
    let parts = parts
        .iter()
        .map(|(n, e, sum)| {
            let b = CompletedPart::builder().part_number(*n).e_tag(e);
            match algo {
                ChecksumAlgorithm::Crc32 => b.checksum_crc32(sum),
                ChecksumAlgorithm::Crc32C => b.checksum_crc32_c(sum),
                ChecksumAlgorithm::Crc64Nvme => b.checksum_crc64_nvme(sum),
                ChecksumAlgorithm::Sha1 => b.checksum_sha1(sum),
                _ => b.checksum_sha256(sum),
            }
            .build()
        })
        .collect();
    CompletedMultipartUpload::builder().set_parts(Some(parts)).build()
}

/// COMPOSITE: the checksum of the concatenated binary part checksums, then `-N`.
async fn multipart_composite_checksums(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cks").await;
    for (i, algo) in ALGOS.iter().enumerate() {
        let key = format!("mpu-{}", algo.as_str());
        let parts = vec![data(5 * MIB, 300 + i as u64), data(1234, 400 + i as u64)];
        let created = c
            .create_multipart_upload()
            .bucket("cks")
            .key(&key)
            .checksum_algorithm(algo.clone())
            .checksum_type(ChecksumType::Composite)
            .send()
            .await
            .unwrap();
        assert_eq!(created.checksum_algorithm(), Some(algo));
        let id = created.upload_id().unwrap();
        let up = upload_parts(&c, &key, id, algo, &parts).await;

        let listed = c.list_parts().bucket("cks").key(&key).upload_id(id).send().await.unwrap();
        let listed_sums: Vec<Option<String>> = listed.parts().iter().map(|p| field!(p, algo)).collect();
        let want_sums: Vec<Option<String>> = up.iter().map(|(_, _, s)| Some(s.clone())).collect();
        assert_eq!(listed_sums, want_sums, "{key}: ListParts shows each part's checksum");

        let done = c
            .complete_multipart_upload()
            .bucket("cks")
            .key(&key)
            .upload_id(id)
            .multipart_upload(completed(algo, &up))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {:?}", e.into_service_error()));
        let mut concat = Vec::new();
        for p in &parts {
            concat.extend_from_slice(&raw(algo, p));
        }
        let want = format!("{}-{}", b64(algo, &concat), parts.len());
        assert_eq!(field!(done, algo).as_deref(), Some(want.as_str()), "{key}: Complete");
        assert_eq!(head_checksum(&c, "cks", &key, algo).await.as_deref(), Some(want.as_str()), "{key}: HEAD");
        let (got, _) = get_with_checksum(&c, "cks", &key, algo).await;
        assert_eq!(got, parts.concat(), "{key}");
    }

    // A part checksum in Complete that differs from the uploaded one is rejected.
    let algo = ChecksumAlgorithm::Crc32;
    let id = c
        .create_multipart_upload()
        .bucket("cks")
        .key("mismatch")
        .checksum_algorithm(algo.clone())
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut up = upload_parts(&c, "mismatch", &id, &algo, &[data(100, 9)]).await;
    up[0].2 = b64(&algo, b"other");
    let res = c
        .complete_multipart_upload()
        .bucket("cks")
        .key("mismatch")
        .upload_id(&id)
        .multipart_upload(completed(&algo, &up));
    let f = failure(res.send().await);
    assert_eq!(f.status, 400, "{f:?}");
    assert!(matches!(f.code.as_deref(), Some("InvalidPart") | Some("BadDigest")), "{f:?}");
}

/// FULL_OBJECT for the CRC family: the CRC of the whole object, as if uploaded in one piece.
async fn multipart_full_object_crc(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "cks").await;
    for (i, algo) in ALGOS[..3].iter().enumerate() {
        let key = format!("full-{}", algo.as_str());
        let parts = vec![data(5 * MIB, 500 + i as u64), data(5 * MIB + 7, 600 + i as u64), data(99, 700)];
        let created = c
            .create_multipart_upload()
            .bucket("cks")
            .key(&key)
            .checksum_algorithm(algo.clone())
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .unwrap();
        let id = created.upload_id().unwrap();
        let up = upload_parts(&c, &key, id, algo, &parts).await;
        let whole = parts.concat();
        let want = b64(algo, &whole);
        let done = c
            .complete_multipart_upload()
            .bucket("cks")
            .key(&key)
            .upload_id(id)
            .multipart_upload(completed(algo, &up))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {:?}", e.into_service_error()));
        assert_eq!(field!(done, algo).as_deref(), Some(want.as_str()), "{key}: Complete");
        assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject), "{key}");
        let (got, sum) = get_with_checksum(&c, "cks", &key, algo).await;
        assert_eq!(got, whole, "{key}");
        assert_eq!(sum.as_deref(), Some(want.as_str()), "{key}: GET");
    }
}
