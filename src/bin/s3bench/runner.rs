//! Closed-loop load: N workers each run one operation at a time until a time or count limit,
//! recording the latency of every operation. A hard deadline bounds the whole phase: an
//! operation still running then is cut off and counted as a timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::body::Rng;
use crate::client::{BenchError, Res};
use crate::stats::Samples;

/// When a phase ends.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// Start no operation after this long.
    Time(Duration),
    /// Run this many operations in total, across workers.
    Count(u64),
}

impl Limit {
    pub fn is_empty(&self) -> bool {
        match self {
            Limit::Time(d) => d.is_zero(),
            Limit::Count(n) => *n == 0,
        }
    }
}

/// What a successful operation reports.
#[derive(Debug, Default)]
pub struct OpOk {
    pub bytes: u64,
    /// A named sub-step's latency (e.g. "complete" for CompleteMultipartUpload).
    pub extra: Option<(&'static str, Duration)>,
}

impl OpOk {
    pub fn bytes(bytes: u64) -> Self {
        OpOk { bytes, extra: None }
    }
}

/// One operation: given the worker index and a fresh random number, do one request (or one
/// logical operation made of several).
pub type OpFn = Arc<dyn Fn(usize, u64) -> BoxFuture<'static, Res<OpOk>> + Send + Sync>;

/// Past this many failed operations a phase gives up: the server is evidently not working.
const MAX_ERRORS: u64 = 1000;

pub struct PhaseResult {
    pub samples: Samples,
    /// From the phase's start to the end of its last operation.
    pub elapsed: Duration,
    /// The hard deadline cut the phase short.
    pub timed_out: bool,
    /// The phase stopped early after too many errors.
    pub aborted: bool,
}

pub async fn run_phase(concurrency: usize, limit: Limit, deadline: Instant, seed: u64, op: OpFn) -> PhaseResult {
    let start = Instant::now();
    let tickets = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let (tickets, errors, stop, timed_out, op) =
            (tickets.clone(), errors.clone(), stop.clone(), timed_out.clone(), op.clone());
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed.wrapping_mul(1000).wrapping_add(w as u64));
            let mut s = Samples::default();
            let mut last = start;
            loop {
                let more = match limit {
                    Limit::Time(d) => start.elapsed() < d,
                    Limit::Count(n) => tickets.fetch_add(1, Ordering::Relaxed) < n,
                };
                if !more || stop.load(Ordering::Relaxed) {
                    break;
                }
                if Instant::now() >= deadline {
                    timed_out.store(true, Ordering::Relaxed);
                    break;
                }
                let t0 = Instant::now();
                let fut = op(w, rng.next_u64());
                let r = tokio::select! {
                    r = fut => r,
                    _ = tokio::time::sleep_until(deadline.into()) => {
                        timed_out.store(true, Ordering::Relaxed);
                        Err(BenchError::Timeout)
                    }
                };
                let lat = t0.elapsed();
                last = Instant::now();
                match r {
                    Ok(ok) => {
                        s.latencies_ns.push(lat.as_nanos() as u64);
                        s.bytes += ok.bytes;
                        if let Some((name, d)) = ok.extra {
                            s.extra_ns.entry(name.to_owned()).or_default().push(d.as_nanos() as u64);
                        }
                    }
                    Err(e) => {
                        s.record_error(e.kind(), e.to_string());
                        if errors.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_ERRORS {
                            stop.store(true, Ordering::Relaxed);
                        }
                        if matches!(e, BenchError::Transport(_)) {
                            // Do not spin on a refused connection.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
            (s, last)
        }));
    }
    let mut samples = Samples::default();
    let mut end = start;
    for h in handles {
        match h.await {
            Ok((s, last)) => {
                samples.merge(s);
                end = end.max(last);
            }
            Err(e) => samples.record_error("panic".into(), e.to_string()),
        }
    }
    PhaseResult {
        samples,
        elapsed: end - start,
        timed_out: timed_out.load(Ordering::Relaxed),
        aborted: stop.load(Ordering::Relaxed),
    }
}

/// Runs `f(i)` for i in 0..n with `concurrency` at a time (setup work: preloading objects).
/// Stops at the first error.
pub async fn for_each_concurrent<F, Fut>(n: usize, concurrency: usize, f: F) -> Res<()>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Res<()>>,
{
    use futures::StreamExt;
    let mut stream = futures::stream::iter(0..n).map(f).buffer_unordered(concurrency.max(1));
    while let Some(r) = stream.next().await {
        r?;
    }
    Ok(())
}
