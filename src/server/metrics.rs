//! Prometheus metrics under CloudServer's names, with the `prometheus` crate (no hand-written
//! exposition format).

use std::time::Duration;

use http::Method;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    active: IntGauge,
    bytes_in: IntCounterVec,
    bytes_out: IntCounterVec,
    store: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("s3_cloudserver_http_requests_total", "Total number of HTTP requests"),
            &["method", "action", "code"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("s3_cloudserver_http_request_duration_seconds", "Duration of HTTP requests in seconds")
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ]),
            &["method", "action", "code"],
        )
        .expect("valid metric");
        let active = IntGauge::new("s3_cloudserver_http_active_requests", "Number of HTTP requests being served")
            .expect("valid metric");
        let bytes_in = IntCounterVec::new(
            Opts::new("s3_cloudserver_http_request_size_bytes_total", "Bytes received in request bodies"),
            &["action"],
        )
        .expect("valid metric");
        let bytes_out = IntCounterVec::new(
            Opts::new("s3_cloudserver_http_response_size_bytes_total", "Bytes sent in response bodies"),
            &["action"],
        )
        .expect("valid metric");
        let store = IntGaugeVec::new(Opts::new("s3_cloudserver_store", "Contents of the store"), &["kind"])
            .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(active.clone()),
            Box::new(bytes_in.clone()),
            Box::new(bytes_out.clone()),
            Box::new(store.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Metrics { registry, requests, duration, active, bytes_in, bytes_out, store }
    }

    pub fn started(&self) {
        self.active.inc();
    }

    pub fn finished(&self, method: &Method, action: &str, code: u16, elapsed: Duration, bytes_in: u64, bytes_out: u64) {
        self.active.dec();
        let code = code.to_string();
        let labels = [method.as_str(), action, code.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
        self.bytes_in.with_label_values(&[action]).inc_by(bytes_in);
        self.bytes_out.with_label_values(&[action]).inc_by(bytes_out);
    }

    pub fn render(&self, store: Option<(u64, u64, u64)>) -> String {
        if let Some((buckets, objects, bytes)) = store {
            self.store.with_label_values(&["buckets"]).set(i64::try_from(buckets).unwrap_or(i64::MAX));
            self.store.with_label_values(&["objects"]).set(i64::try_from(objects).unwrap_or(i64::MAX));
            self.store.with_label_values(&["bytes"]).set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The S3 action of a request, from its method, path and query (for metrics and logs; s3s does
/// not expose the operation it routed to).
pub fn action_of(method: &Method, path: &str, query: Option<&str>, copy_source: bool) -> &'static str {
    let q = query.unwrap_or("");
    let has = |name: &str| q.split('&').any(|p| p == name || p.starts_with(&format!("{name}=")));
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = match trimmed.split_once('/') {
        Some((b, k)) => (!b.is_empty(), !k.is_empty()),
        None => (!trimmed.is_empty(), false),
    };
    match (method.as_str(), bucket, key) {
        ("GET", false, _) => "ListBuckets",
        ("GET", true, false) if has("uploads") => "ListMultipartUploads",
        ("GET", true, false) if has("acl") => "GetBucketAcl",
        ("GET", true, false) if has("location") => "GetBucketLocation",
        ("GET", true, false) if has("versions") => "ListObjectVersions",
        ("GET", true, false) if has("versioning") => "GetBucketVersioning",
        ("GET", true, false) if has("list-type") => "ListObjectsV2",
        ("GET", true, false) => "ListObjects",
        ("HEAD", true, false) => "HeadBucket",
        ("PUT", true, false) if has("acl") => "PutBucketAcl",
        ("PUT", true, false) => "CreateBucket",
        ("DELETE", true, false) => "DeleteBucket",
        ("POST", true, false) if has("delete") => "DeleteObjects",
        ("GET", true, true) if has("uploadId") => "ListParts",
        ("GET", true, true) if has("acl") => "GetObjectAcl",
        ("GET", true, true) => "GetObject",
        ("HEAD", true, true) => "HeadObject",
        ("PUT", true, true) if has("partNumber") && copy_source => "UploadPartCopy",
        ("PUT", true, true) if has("partNumber") => "UploadPart",
        ("PUT", true, true) if has("acl") => "PutObjectAcl",
        ("PUT", true, true) if copy_source => "CopyObject",
        ("PUT", true, true) => "PutObject",
        ("POST", true, true) if has("uploads") => "CreateMultipartUpload",
        ("POST", true, true) if has("uploadId") => "CompleteMultipartUpload",
        ("DELETE", true, true) if has("uploadId") => "AbortMultipartUpload",
        ("DELETE", true, true) => "DeleteObject",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert_eq!(action_of(&Method::GET, "/", None, false), "ListBuckets");
        assert_eq!(action_of(&Method::GET, "/b", Some("list-type=2&prefix=a"), false), "ListObjectsV2");
        assert_eq!(action_of(&Method::PUT, "/b/k", Some("partNumber=1&uploadId=x"), true), "UploadPartCopy");
        assert_eq!(action_of(&Method::PUT, "/b/k", None, false), "PutObject");
        assert_eq!(action_of(&Method::POST, "/b/k", Some("uploads"), false), "CreateMultipartUpload");
        assert_eq!(action_of(&Method::DELETE, "/b/k/", None, false), "DeleteObject");
    }

    #[test]
    fn counters_render() {
        let m = Metrics::new();
        m.started();
        m.finished(&Method::GET, "GetObject", 200, Duration::from_millis(3), 0, 10);
        let text = m.render(Some((1, 2, 3)));
        assert!(text.contains(r#"s3_cloudserver_http_requests_total{action="GetObject",code="200",method="GET"} 1"#));
        assert!(text.contains(r#"s3_cloudserver_store{kind="objects"} 2"#));
        assert!(text.contains("s3_cloudserver_http_active_requests 0"));
    }
}
