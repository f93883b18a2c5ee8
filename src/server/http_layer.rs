//! The layer around s3s: request ids on every response, AWS's error fields, the CloudServer 7
//! health route on the S3 port, and one access-log line per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use s3s::Body;
use s3s::service::S3Service;

use super::access_log::{self, AccessLine};
use super::metrics::{Metrics, action_of};
use crate::s3::error::enrich_error_body;
use crate::store::Store;

pub struct App {
    s3: S3Service,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
}

fn request_id() -> String {
    use rand::Rng;
    let v: u64 = rand::thread_rng().r#gen();
    format!("{v:016X}")
}

fn host_id() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn xml_error(status: StatusCode, code: &str, msg: &str) -> Response<Body> {
    let body =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{msg}</Message></Error>");
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    r
}

/// S3 serves the whole object when a Range header is malformed, reversed or asks for several
/// ranges; s3s 0.14.1 answers 400 instead, so such headers are dropped before it sees them.
fn drop_unusable_range(headers: &mut http::HeaderMap) {
    let usable = headers.get(http::header::RANGE).map(|v| v.to_str().map(single_byte_range).unwrap_or(false));
    if usable == Some(false) {
        headers.remove(http::header::RANGE);
    }
}

fn single_byte_range(v: &str) -> bool {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return false;
    };
    let Some((a, b)) = spec.split_once('-') else {
        return false;
    };
    let num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (a.trim(), b.trim()) {
        ("", b) => num(b),
        (a, "") => num(a),
        (a, b) => num(a) && num(b) && a.parse::<u64>().ok() <= b.parse::<u64>().ok(),
    }
}

fn header_u64(h: &http::HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The access key id a request claims (never the signature or secret), for the access log.
fn access_key_of<B>(req: &Request<B>) -> Option<String> {
    if let Some(auth) = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some((_, rest)) = auth.split_once("Credential=") {
            return rest.split('/').next().map(str::to_owned);
        }
        if let Some(rest) = auth.strip_prefix("AWS ") {
            return rest.split(':').next().map(str::to_owned);
        }
    }
    let q = req.uri().query()?;
    q.split('&').find_map(|p| {
        let v = p.strip_prefix("X-Amz-Credential=").or_else(|| p.strip_prefix("AWSAccessKeyId="))?;
        let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned();
        v.split('/').next().map(str::to_owned)
    })
}

fn split_path(path: &str) -> (&str, &str) {
    let p = path.strip_prefix('/').unwrap_or(path);
    p.split_once('/').unwrap_or((p, ""))
}

impl App {
    pub fn new(s3: S3Service, store: Arc<Store>, metrics: Arc<Metrics>) -> Self {
        App { s3, store, metrics }
    }

    pub async fn handle(&self, mut req: Request<Incoming>, peer: Option<SocketAddr>) -> Response<Body> {
        drop_unusable_range(req.headers_mut());
        let start = Instant::now();
        let id = request_id();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let action = action_of(&method, &path, req.uri().query(), req.headers().contains_key("x-amz-copy-source"));
        let bytes_in = header_u64(req.headers(), "x-amz-decoded-content-length")
            .or_else(|| header_u64(req.headers(), "content-length"))
            .unwrap_or(0);
        let account = access_key_of(&req);
        self.metrics.started();
        let mut resp = if path == "/_/healthcheck" && (method == Method::GET || method == Method::HEAD) {
            self.healthcheck().await
        } else {
            match self.s3.call(req.map(Body::from)).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = ?e, "request failed inside the protocol layer");
                    xml_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "We encountered an internal error. Please try again.",
                    )
                }
            }
        };
        let status = resp.status();
        if (status.is_client_error() || status.is_server_error())
            && let Some(bytes) = resp.body().bytes()
            && let Some(new) = enrich_error_body(&bytes, &path, &id)
        {
            let len = new.len();
            *resp.body_mut() = Body::from(Bytes::from(new));
            resp.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert("x-amz-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&host_id()) {
            h.insert("x-amz-id-2", v);
        }
        h.entry(http::header::SERVER).or_insert(HeaderValue::from_static("s3server"));
        let elapsed = start.elapsed();
        let bytes_out = header_u64(resp.headers(), "content-length").unwrap_or(0);
        self.metrics.finished(&method, action, status.as_u16(), elapsed, bytes_in, bytes_out);
        let (bucket, key) = split_path(&path);
        let client = peer.map(|p| p.to_string()).unwrap_or_default();
        if access_log::installed() {
            access_log::write(&AccessLine {
                request_id: &id,
                method: method.as_str(),
                path: &path,
                action,
                status: status.as_u16(),
                bytes_in,
                bytes_out,
                elapsed_ms: elapsed.as_secs_f64() * 1000.0,
                account: account.as_deref().unwrap_or("-"),
                bucket,
                key,
                client: &client,
            });
        } else {
            tracing::info!(
                target: "access",
                request_id = %id,
                method = %method,
                path = %path,
                action,
                status = status.as_u16(),
                bytes_in,
                bytes_out,
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                account = account.as_deref().unwrap_or("-"),
                bucket,
                key,
                client = %client,
            );
        }
        resp
    }

    async fn healthcheck(&self) -> Response<Body> {
        match self.store.check_writable().await {
            Ok(()) => {
                let mut r = Response::new(Body::from("{}".to_owned()));
                r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
            Err(e) => {
                tracing::warn!(error = %e, "health check failed");
                xml_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The store is not writable")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_s3_would_ignore() {
        assert!(single_byte_range("bytes=0-9"));
        assert!(single_byte_range("bytes=5-"));
        assert!(single_byte_range("bytes=-5"));
        assert!(!single_byte_range("bytes=0-1,4-5"));
        assert!(!single_byte_range("bytes=9-3"));
        assert!(!single_byte_range("items=0-1"));
        assert!(!single_byte_range("bytes=abc"));
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RANGE, "bytes=0-1,3-4".parse().unwrap());
        drop_unusable_range(&mut h);
        assert!(h.get(http::header::RANGE).is_none());
    }
}
