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

use crate::s3::error::enrich_error_body;
use crate::store::Store;

pub struct App {
    s3: S3Service,
    store: Arc<Store>,
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
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{msg}</Message></Error>"
    );
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// S3 serves the whole object when a Range header is malformed, reversed or asks for several
/// ranges; s3s 0.14.1 answers 400 instead, so such headers are dropped before it sees them.
fn drop_unusable_range(headers: &mut http::HeaderMap) {
    let usable = headers
        .get(http::header::RANGE)
        .map(|v| v.to_str().map(single_byte_range).unwrap_or(false));
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

impl App {
    pub fn new(s3: S3Service, store: Arc<Store>) -> Self {
        App { s3, store }
    }

    pub async fn handle(
        &self,
        mut req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Response<Body> {
        drop_unusable_range(req.headers_mut());
        let start = Instant::now();
        let id = request_id();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let mut resp =
            if path == "/_/healthcheck" && (method == Method::GET || method == Method::HEAD) {
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
            resp.headers_mut()
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert("x-amz-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&host_id()) {
            h.insert("x-amz-id-2", v);
        }
        h.entry(http::header::SERVER)
            .or_insert(HeaderValue::from_static("s3server"));
        tracing::info!(
            target: "access",
            request_id = %id,
            method = %method,
            path = %path,
            status = status.as_u16(),
            elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
            client = ?peer,
        );
        resp
    }

    async fn healthcheck(&self) -> Response<Body> {
        match self.store.check_writable().await {
            Ok(()) => {
                let mut r = Response::new(Body::from("{}".to_owned()));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }
            Err(e) => {
                tracing::warn!(error = %e, "health check failed");
                xml_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The store is not writable",
                )
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
