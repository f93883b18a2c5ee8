//! The admin listener (CloudServer's metricsPort, 8002): liveness, readiness and metrics.

use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use s3s::Body;
use tokio::sync::watch;

use super::metrics::Metrics;
use crate::store::Store;

pub struct Admin {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
}

const JSON: &str = "application/json";

impl Admin {
    pub fn new(store: Arc<Store>, metrics: Arc<Metrics>) -> Self {
        Admin { store, metrics }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let (status, body, ctype) = match req.uri().path() {
            "/live" => (StatusCode::OK, r#"{"status":"ok"}"#.to_owned(), JSON),
            // Ready only when the store is open and accepts writes.
            "/ready" | "/_/healthcheck" => match self.store.check_writable().await {
                Ok(()) => (StatusCode::OK, r#"{"status":"ready"}"#.to_owned(), JSON),
                Err(e) => {
                    let reason = serde_json::Value::String(e.to_string());
                    (StatusCode::SERVICE_UNAVAILABLE, format!(r#"{{"status":"unavailable","reason":{reason}}}"#), JSON)
                }
            },
            "/metrics" => {
                let store = self.store.stats().map_err(|e| tracing::warn!(error = %e, "store stats failed")).ok();
                (StatusCode::OK, self.metrics.render(store), "text/plain; version=0.0.4; charset=utf-8")
            }
            _ => (StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.to_owned(), JSON),
        };
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = status;
        r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        r
    }
}

pub fn serve(admin: Arc<Admin>, io: Box<dyn super::Io>, mut shutdown: watch::Receiver<bool>) -> super::ConnFuture {
    Box::pin(async move {
        let svc = hyper::service::service_fn(move |req| {
            let admin = admin.clone();
            async move { Ok::<_, std::convert::Infallible>(admin.handle(req).await) }
        });
        let b = super::builder();
        let conn = b.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = shutdown.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    })
}
