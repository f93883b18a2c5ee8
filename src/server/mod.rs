//! The network side: listeners, connections, request ids, error-body completion, access logs,
//! the CloudServer health route, and graceful shutdown.

pub mod access_log;
mod admin;
mod first_byte;
mod http_layer;
pub mod metrics;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Backend, Settings};
use crate::s3::{Accounts, ApiOptions, Hosts, build_service};
use crate::store::{Limits, Store, StoreError};

use first_byte::FirstByteDeadline;
pub use http_layer::App;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// How long in-flight requests may run after a shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
/// A request head must arrive within this time (slowloris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Server {
    pub s3_addrs: Vec<SocketAddr>,
    pub admin_addrs: Vec<SocketAddr>,
    pub store: Arc<Store>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

pub fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    let limits = Limits {
        // MPU_TESTING lets tests use small parts, as CloudServer does.
        min_part_size: if settings.mpu_testing { 0 } else { Limits::default().min_part_size },
        ..Limits::default()
    };
    let data = (settings.data_backend == Backend::File).then_some(settings.data_path.as_path());
    let meta = (settings.metadata_backend == Backend::File).then_some(settings.metadata_path.as_path());
    Store::open(data, meta, limits)
}

impl Server {
    /// Opens the store, sweeps leftovers, binds every listener and starts serving.
    pub async fn start(settings: &Settings) -> Result<Server, StartError> {
        let store = Arc::new(open_store(settings)?);
        let swept = store.sweep().await?;
        if swept.temp_removed + swept.orphans_removed + swept.relocated > 0 {
            tracing::info!(
                temp_removed = swept.temp_removed,
                orphans_removed = swept.orphans_removed,
                relocated = swept.relocated,
                "start-up sweep: leftovers removed, small bodies moved out of mostly-dead log segments"
            );
        }
        Self::start_with_store(settings, store).await
    }

    pub async fn start_with_store(settings: &Settings, store: Arc<Store>) -> Result<Server, StartError> {
        let accounts = Arc::new(Accounts::new(&settings.accounts));
        let opts =
            ApiOptions { region: settings.region.clone(), presign_max_expiry_secs: settings.presign_max_expiry_secs };
        let s3 = build_service(store.clone(), accounts, Hosts::new(&settings.rest_endpoints), opts);
        let metrics = Arc::new(metrics::Metrics::new());
        let app = Arc::new(App::new(s3, store.clone(), metrics.clone()));
        let tls = settings.tls.as_ref().map(tls::acceptor).transpose()?;
        let (tx, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut s3_addrs = Vec::new();
        for addr in &settings.listen {
            let (l, local) = bind(*addr).await?;
            s3_addrs.push(local);
            let (app, tls) = (app.clone(), tls.clone());
            let plain = tls.is_none();
            tasks.spawn(accept_loop(
                l,
                rx.clone(),
                move |conn| {
                    let app = app.clone();
                    with_tls(tls.clone(), conn, move |io, shutdown| serve_s3(app, io, shutdown))
                },
                plain,
            ));
        }
        let mut admin_addrs = Vec::new();
        let admin = Arc::new(admin::Admin::new(store.clone(), metrics));
        for addr in &settings.metrics_listen {
            let (l, local) = bind(*addr).await?;
            admin_addrs.push(local);
            let (admin, tls) = (admin.clone(), tls.clone());
            let plain = tls.is_none();
            tasks.spawn(accept_loop(
                l,
                rx.clone(),
                move |conn| {
                    let admin = admin.clone();
                    with_tls(tls.clone(), conn, move |io, shutdown| admin::serve(admin, io, shutdown))
                },
                plain,
            ));
        }
        Ok(Server { s3_addrs, admin_addrs, store, shutdown: tx, tasks })
    }

    /// Stops accepting, lets in-flight requests finish (bounded), and flushes the store.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let Err(e) = self.store.flush().await {
            tracing::error!(error = %e, "final metadata flush failed");
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let err = |source| StartError::Bind { addr, source };
    let l = TcpListener::bind(addr).await.map_err(err)?;
    let local = l.local_addr().map_err(err)?;
    Ok((l, local))
}

type ConnFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Connections served at once per listener before new ones are shed with 503 SlowDown
/// (env `S3_MAX_CONNECTIONS` overrides).
const DEFAULT_MAX_CONNECTIONS: usize = 4096;

fn max_connections() -> usize {
    std::env::var("S3_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_CONNECTIONS)
}

/// Answers a connection over the cap with S3's SlowDown, so clients back off and retry instead
/// of the server falling over.
async fn shed(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"#;
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

async fn accept_loop<F>(listener: TcpListener, mut shutdown: watch::Receiver<bool>, serve: F, plain: bool)
where
    F: Fn((TcpStream, watch::Receiver<bool>)) -> ConnFuture,
{
    let cap = max_connections();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                Ok((stream, _peer)) => {
                    // Without TCP_NODELAY a small response waits ~40 ms for the client's delayed ACK.
                    let _ = stream.set_nodelay(true);
                    if conns.len() >= cap {
                        tracing::warn!(cap, "connection limit reached: shedding with 503 SlowDown");
                        if plain {
                            tokio::spawn(shed(stream));
                        }
                        continue;
                    }
                    conns.spawn(serve((stream, shutdown.clone())));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_DEADLINE, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("in-flight requests did not finish before the shutdown deadline");
        conns.abort_all();
    }
}

pub(crate) fn builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    // max_buf_size bounds the request head (AWS allows 8 KiB of headers; hyper answers 431).
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true)
        .max_buf_size(64 * 1024);
    b
}

/// A connection's byte stream, plain or TLS.
pub(crate) trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Io for T {}

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn with_tls<F>(
    tls: Option<tokio_rustls::TlsAcceptor>,
    (stream, shutdown): (TcpStream, watch::Receiver<bool>),
    serve: F,
) -> ConnFuture
where
    F: FnOnce(Box<dyn Io>, watch::Receiver<bool>) -> ConnFuture + Send + 'static,
{
    Box::pin(async move {
        match tls {
            None => serve(Box::new(FirstByteDeadline::new(stream, HEADER_READ_TIMEOUT)), shutdown).await,
            Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    serve(Box::new(FirstByteDeadline::new(tls_stream, HEADER_READ_TIMEOUT)), shutdown).await
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            },
        }
    })
}

fn serve_s3(app: Arc<App>, io: Box<dyn Io>, mut shutdown: watch::Receiver<bool>) -> ConnFuture {
    Box::pin(async move {
        let svc = hyper::service::service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, std::convert::Infallible>(app.handle(req, None).await) }
        });
        let b = builder();
        let conn = b.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        tokio::select! {
            res = conn.as_mut() => { if let Err(e) = res { tracing::debug!(error = %e, "connection ended with error"); } }
            _ = shutdown.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    })
}
