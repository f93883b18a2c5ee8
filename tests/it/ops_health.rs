//! Health and readiness codes, a metrics counter that moves with a request, and the JSON access
//! log of the real binary.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;

use super::{Bin, bin_args, http_once};
use crate::assert_s3_err;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_codes() {
    let s = TestServer::start("file").await;
    let admin = s.server.admin_addrs[0];

    let live = http_once(admin, "GET", "/live").await.unwrap();
    assert_eq!((live.status, live.text().as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(live.header("content-type"), Some("application/json"));
    let ready = http_once(admin, "GET", "/ready").await.unwrap();
    assert_eq!(ready.status, 200, "{}", ready.text());
    let v: serde_json::Value = serde_json::from_slice(&ready.body).expect("/ready answers JSON");
    assert_eq!(v["status"], "ready");
    let hc = http_once(s.addr, "GET", "/_/healthcheck").await.unwrap();
    assert_eq!(hc.status, 200, "{}", hc.text());
    let hc = http_once(s.addr, "HEAD", "/_/healthcheck").await.unwrap();
    assert_eq!(hc.status, 200);
    let missing = http_once(admin, "GET", "/nope").await.unwrap();
    assert_eq!(missing.status, 404);

    // The data directory stops accepting writes. Tests run as root, for whom `chmod 000` changes
    // nothing, so data/tmp (where the probe and every upload go) is replaced by a plain file.
    let tmp = s.data_dir().join("tmp");
    std::fs::remove_dir(&tmp).expect("data/tmp is empty at rest");
    std::fs::write(&tmp, b"not a directory").unwrap();

    let ready = http_once(admin, "GET", "/ready").await.unwrap();
    assert_eq!(ready.status, 503, "{}", ready.text());
    let v: serde_json::Value = serde_json::from_slice(&ready.body).expect("/ready answers JSON when failing");
    assert_eq!(v["status"], "unavailable");
    assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()), "{v}");
    let hc = http_once(s.addr, "GET", "/_/healthcheck").await.unwrap();
    assert_eq!(hc.status, 503, "{}", hc.text());
    assert_eq!(xml_tag(&hc.text(), "Code").as_deref(), Some("ServiceUnavailable"), "{}", hc.text());
    // Liveness does not depend on the disk.
    assert_eq!(http_once(admin, "GET", "/live").await.unwrap().status, 200);
    // An upload fails with an S3 error rather than hanging or dropping the connection.
    let c = s.client();
    create_bucket(&c, "hcb").await;
    let res = c.put_object().bucket("hcb").key("k").body(ByteStream::from(data(100_000, 1))).send().await;
    assert_s3_err!(res, 500, "InternalError");

    // Back to normal.
    std::fs::remove_file(&tmp).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    assert_eq!(http_once(admin, "GET", "/ready").await.unwrap().status, 200);
    assert_eq!(http_once(s.addr, "GET", "/_/healthcheck").await.unwrap().status, 200);
    put(&c, "hcb", "k", &data(100_000, 1)).await;
}

/// The value of one sample line `name{labels} value` in Prometheus text, 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().expect("a number"))
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_counter_moves_with_a_request() {
    let s = TestServer::start("file").await;
    let admin = s.server.admin_addrs[0];
    let c = s.client();
    create_bucket(&c, "mbk").await;
    let scrape = || async {
        let r = http_once(admin, "GET", "/metrics").await.unwrap();
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").is_some_and(|v| v.starts_with("text/plain")), "{r:?}");
        r.text()
    };
    const PUT_200: &str = r#"s3_cloudserver_http_requests_total{action="PutObject",code="200",method="PUT"}"#;
    const OBJECTS: &str = r#"s3_cloudserver_store{kind="objects"}"#;
    const BYTES: &str = r#"s3_cloudserver_store{kind="bytes"}"#;
    const BUCKETS: &str = r#"s3_cloudserver_store{kind="buckets"}"#;
    const IN: &str = r#"s3_cloudserver_http_request_size_bytes_total{action="PutObject"}"#;

    let before = scrape().await;
    let body = data(12_345, 5);
    put(&c, "mbk", "obj", &body).await;
    let after = scrape().await;
    assert_eq!(sample(&after, PUT_200) - sample(&before, PUT_200), 1.0, "{after}");
    assert_eq!(sample(&after, OBJECTS) - sample(&before, OBJECTS), 1.0, "{after}");
    assert_eq!(sample(&after, BYTES) - sample(&before, BYTES), body.len() as f64, "{after}");
    assert_eq!(sample(&after, BUCKETS), 1.0, "{after}");
    assert_eq!(sample(&after, IN) - sample(&before, IN), body.len() as f64, "{after}");
    assert_eq!(sample(&after, "s3_cloudserver_http_active_requests"), 0.0, "{after}");
    let count = r#"s3_cloudserver_http_request_duration_seconds_count{action="PutObject",code="200",method="PUT"}"#;
    assert_eq!(sample(&after, count) - sample(&before, count), 1.0, "{after}");

    // An error response is counted under its own code.
    const GET_404: &str = r#"s3_cloudserver_http_requests_total{action="GetObject",code="404",method="GET"}"#;
    assert_s3_err!(c.get_object().bucket("mbk").key("missing").send().await, 404, "NoSuchKey");
    let last = scrape().await;
    assert_eq!(sample(&last, GET_404) - sample(&after, GET_404), 1.0, "{last}");
    assert_eq!(sample(&last, PUT_200), sample(&after, PUT_200), "scrapes do not count as S3 requests");
}

/// Keeps every Authorization header the SDK sends.
#[derive(Debug, Default, Clone)]
struct CaptureAuth(Arc<Mutex<Vec<String>>>);

impl Intercept for CaptureAuth {
    fn name(&self) -> &'static str {
        "CaptureAuth"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        if let Some(a) = ctx.request().headers().get("authorization") {
            self.0.lock().unwrap().push(a.to_owned());
        }
        Ok(())
    }
}

fn signature_of(auth: &str) -> String {
    auth.split("Signature=").nth(1).expect("a SigV4 Authorization header").trim().to_owned()
}

/// Waits for the access-log line of the request with this id and parses it.
fn access_line(bin: &Bin, request_id: &str) -> serde_json::Value {
    let needle = format!("\"request_id\":\"{request_id}\"");
    let line = bin
        .wait_line(Duration::from_secs(10), |l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no access line for {request_id}; stderr:\n{}", bin.stderr()));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(v["target"], "access", "{line}");
    assert_eq!(v["level"], "INFO", "{line}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_access_log_line() {
    let root = tempfile::tempdir().unwrap();
    let bin = Bin::spawn(&bin_args(root.path(), &[]), &[]);
    let capture = CaptureAuth::default();
    let conf = client_for(&bin.endpoint(), AK1, SK1, true).config().to_builder().interceptor(capture.clone()).build();
    let c = aws_sdk_s3::Client::from_conf(conf);
    create_bucket(&c, "logs").await;

    let body = data(20_000, 9);
    let out =
        c.put_object().bucket("logs").key("dir/obj.bin").body(ByteStream::from(body.clone())).send().await.unwrap();
    let put_id = out.request_id().expect("x-amz-request-id").to_owned();
    let v = access_line(&bin, &put_id);
    assert_eq!(v["method"], "PUT", "{v}");
    assert_eq!(v["path"], "/logs/dir/obj.bin", "{v}");
    assert_eq!(v["action"], "PutObject", "{v}");
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["bucket"], "logs", "{v}");
    assert_eq!(v["key"], "dir/obj.bin", "{v}");
    assert_eq!(v["account"], AK1, "{v}");
    assert_eq!(v["bytes_in"], body.len() as u64, "{v}");
    assert!(v["bytes_out"].is_u64(), "{v}");
    assert!(v["elapsed_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{v}");
    assert!(v["timestamp"].is_string(), "{v}");

    let got = c.get_object().bucket("logs").key("dir/obj.bin").send().await.unwrap();
    let get_id = got.request_id().unwrap().to_owned();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), body.len());
    let v = access_line(&bin, &get_id);
    assert_eq!(
        (v["method"].as_str(), v["action"].as_str(), v["status"].as_u64()),
        (Some("GET"), Some("GetObject"), Some(200))
    );
    assert_eq!(v["bytes_out"], body.len() as u64, "{v}");
    assert_eq!(v["bytes_in"], 0, "{v}");

    // A refused signature: logged with its status and the key id it claimed, never the signature.
    let bad = client_for(&bin.endpoint(), AK1, "wrongSecretKey", true)
        .config()
        .to_builder()
        .interceptor(capture.clone())
        .build();
    let bad = aws_sdk_s3::Client::from_conf(bad);
    let err = bad.get_object().bucket("logs").key("dir/obj.bin").send().await.unwrap_err();
    let bad_id = err.raw_response().and_then(|r| r.headers().get("x-amz-request-id")).expect("request id").to_owned();
    let f = failure::<_, ()>(Err(err));
    assert_eq!((f.status, f.code.as_deref()), (403, Some("SignatureDoesNotMatch")));
    let v = access_line(&bin, &bad_id);
    assert_eq!((v["status"].as_u64(), v["account"].as_str()), (Some(403), Some(AK1)), "{v}");

    // Presigned: the signature is in the query string, which the log leaves out.
    let url = presign_get(&c, "logs", "dir/obj.bin", Duration::from_secs(60)).await;
    let presig = url.split("X-Amz-Signature=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let id = r.headers()["x-amz-request-id"].to_str().unwrap().to_owned();
    let v = access_line(&bin, &id);
    assert_eq!((v["path"].as_str(), v["account"].as_str()), (Some("/logs/dir/obj.bin"), Some(AK1)), "{v}");

    let mut secrets: Vec<String> = capture.0.lock().unwrap().iter().map(|a| signature_of(a)).collect();
    assert!(secrets.len() >= 4, "{secrets:?}");
    secrets.push(presig);
    secrets.push(SK1.to_owned());
    let lines = bin.lines();
    for line in &lines {
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "a secret or signature ({s}) is in the log: {line}");
        }
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "every stderr line is JSON: {line}");
    }
}
