//! `s3bench`: an S3 load generator with verified reads, and the report writer for
//! `bench/compare.sh`.
//!
//! ```text
//! s3bench --endpoint http://127.0.0.1:8000 --access-key K --secret-key S [--server-pid PID] WORKLOAD...
//! s3bench --report results.jsonl --markdown BENCHMARKS.md --svg bench/chart.svg
//! ```

mod body;
mod client;
mod report;
mod runner;
mod sign;
mod stats;
mod workloads;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::client::S3;
use crate::runner::run_phase;
use crate::stats::{Percentiles, proc_sample};
use crate::workloads::{ALL, Ctx, Sizes};

#[derive(Parser, Debug)]
#[command(
    name = "s3bench",
    about = "S3 benchmark: closed-loop workers, SigV4, verified reads, server CPU/RSS from /proc",
    after_help = "Workloads: all, smoke (all, tiny and short), or any of:\n  put-4k-c1 put-4k-c16 \
        put-4k-c64 get-4k-c1 get-4k-c16 get-4k-c64 mix-4k-c16\n  put-1m-c16 get-1m-c16 put-64m \
        get-64m mpu-1g get-1g list-10k list-delim list-prefix"
)]
struct Args {
    /// S3 endpoint, e.g. http://127.0.0.1:8000 (path-style requests are sent to it).
    #[arg(long, required_unless_present = "report")]
    endpoint: Option<String>,
    #[arg(long, default_value = "accessKey1")]
    access_key: String,
    #[arg(long, default_value = "verySecretKey1")]
    secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Pid of the server: reports its CPU time per operation and its peak RSS (VmHWM).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Measured seconds of each timed workload.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds before each timed workload (not measured).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Operations of each counted workload (mpu-1g, get-1g).
    #[arg(long, default_value_t = 3)]
    count: u64,
    /// Per-request timeout in seconds (plus 1 s per 10 MiB of payload).
    #[arg(long, default_value_t = 30.0)]
    request_timeout: f64,
    /// Overall limit for one workload, setup included; what ran by then is reported.
    #[arg(long, default_value_t = 300.0)]
    workload_timeout: f64,
    /// Client runtime threads (1: a single-threaded runtime, cheapest on a small machine).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Tiny objects and ~1 s per workload: keeps the tool working in CI.
    #[arg(long)]
    smoke: bool,
    /// Buckets are named PREFIX-put, PREFIX-list, ...
    #[arg(long, default_value = "s3bench")]
    bucket_prefix: String,
    /// Append one JSON line per workload to this file ("-" for stdout; the table then goes
    /// to stderr).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Name of the server in the JSON lines (e.g. ours, mem, s3s-fs).
    #[arg(long, default_value = "server")]
    label: String,
    /// Repetition number recorded in the JSON lines.
    #[arg(long, default_value_t = 1)]
    rep: u32,
    /// Report mode: read JSON lines written by runs and write the comparison.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Report mode: the Markdown file to write (the part between the results markers is
    /// replaced if the file has them).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Report mode: the SVG chart to write.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Report mode: a file of Markdown lines about the machine, put in the report as is.
    #[arg(long)]
    machine: Option<PathBuf>,
    #[arg(value_name = "WORKLOAD")]
    workloads: Vec<String>,
}

/// One workload's result: a JSON line and a table row.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Record {
    pub label: String,
    pub rep: u32,
    pub workload: String,
    /// ok | errors | timeout | failed | setup-failed
    pub status: String,
    pub object_size: u64,
    pub concurrency: usize,
    pub ops: u64,
    pub errors: u64,
    pub error_kinds: std::collections::BTreeMap<String, u64>,
    pub error_samples: Vec<String>,
    pub seconds: f64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub server_cpu_ms_per_op: Option<f64>,
    /// Server CPU seconds per wall second while measuring (cores busy).
    pub server_cores: Option<f64>,
    pub server_peak_rss_mib: Option<f64>,
    /// Server RSS at the end of the measurement.
    pub server_rss_mib: Option<f64>,
    pub client_cpu_ms_per_op: Option<f64>,
    /// Cores busy with other processes while measuring (neither the server nor this client):
    /// a run with a high value shared the machine and is less trustworthy.
    pub other_cores: Option<f64>,
    /// CompleteMultipartUpload latency (mpu-1g).
    pub complete_p50_ms: Option<f64>,
    pub complete_max_ms: Option<f64>,
    pub smoke: bool,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

async fn run_one(ctx: &Arc<Ctx>, args: &Args, name: &str) -> Record {
    let spec = workloads::spec(name, &ctx.sizes).expect("workload names are checked");
    let mut rec = Record {
        label: args.label.clone(),
        rep: args.rep,
        workload: name.to_owned(),
        object_size: spec.size,
        concurrency: spec.concurrency,
        smoke: args.smoke,
        ..Record::default()
    };
    let deadline = Instant::now() + secs(args.workload_timeout);
    let op = match tokio::time::timeout_at(deadline.into(), workloads::setup(ctx, &spec)).await {
        Ok(Ok(op)) => op,
        Ok(Err(e)) => {
            rec.status = "setup-failed".into();
            rec.error_samples.push(format!("setup: {e}"));
            return rec;
        }
        Err(_) => {
            rec.status = "setup-failed".into();
            rec.error_samples.push("setup: workload timeout".into());
            return rec;
        }
    };
    let (warm, measure) = workloads::limits(&spec, secs(args.warmup), secs(args.duration), args.count);
    let seed = body::fnv1a(name);
    if !warm.is_empty() {
        let w = run_phase(spec.concurrency, warm, deadline, seed, op.clone()).await;
        for e in w.samples.error_samples.iter().take(2) {
            rec.error_samples.push(format!("warm-up: {e}"));
        }
    }
    let pid = args.server_pid.map(|p| p.to_string());
    let srv0 = pid.as_deref().and_then(proc_sample);
    let cli0 = proc_sample("self");
    let busy0 = stats::machine_busy();
    let mut r = run_phase(spec.concurrency, measure, deadline, seed + 1, op).await;
    let srv1 = pid.as_deref().and_then(proc_sample);
    let cli1 = proc_sample("self");
    let busy1 = stats::machine_busy();

    let s = &mut r.samples;
    rec.ops = s.latencies_ns.len() as u64;
    rec.errors = s.error_count();
    rec.error_kinds = s.errors.clone();
    rec.error_samples.extend(s.error_samples.iter().cloned());
    rec.seconds = r.elapsed.as_secs_f64();
    if rec.seconds > 0.0 {
        rec.ops_per_s = rec.ops as f64 / rec.seconds;
        rec.mib_per_s = s.bytes as f64 / rec.seconds / 1048576.0;
    }
    if let Some(p) = Percentiles::of(&mut s.latencies_ns) {
        (rec.p50_ms, rec.p90_ms, rec.p99_ms, rec.max_ms) = (Some(p.p50), Some(p.p90), Some(p.p99), Some(p.max));
    }
    if let Some(c) = s.extra_ns.get_mut("complete").and_then(|v| Percentiles::of(v)) {
        (rec.complete_p50_ms, rec.complete_max_ms) = (Some(c.p50), Some(c.max));
    }
    let per_op = |a: Option<stats::ProcSample>, b: Option<stats::ProcSample>| {
        let (a, b) = (a?, b?);
        (rec.ops > 0).then(|| (b.cpu - a.cpu).as_secs_f64() * 1000.0 / rec.ops as f64)
    };
    rec.server_cpu_ms_per_op = per_op(srv0, srv1);
    rec.client_cpu_ms_per_op = per_op(cli0, cli1);
    if let (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)) = (srv0, srv1, cli0, cli1, busy0, busy1)
        && rec.seconds > 0.0
    {
        let own = (b.cpu - a.cpu) + (d.cpu - c.cpu);
        rec.other_cores = Some((f.saturating_sub(e).as_secs_f64() - own.as_secs_f64()).max(0.0) / rec.seconds);
    }
    if let (Some(a), Some(b)) = (srv0, srv1) {
        if rec.seconds > 0.0 {
            rec.server_cores = Some((b.cpu - a.cpu).as_secs_f64() / rec.seconds);
        }
        rec.server_peak_rss_mib = Some(b.hwm_kib as f64 / 1024.0);
        rec.server_rss_mib = Some(b.rss_kib as f64 / 1024.0);
    }
    rec.status = if r.timed_out {
        "timeout"
    } else if r.aborted || rec.ops == 0 {
        "failed"
    } else if rec.errors > 0 {
        "errors"
    } else {
        "ok"
    }
    .into();
    rec
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn table_header() -> String {
    format!(
        "{:<12} {:<8} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>5} {:>8} {:>7} {:>8} {:>5}",
        "workload",
        "status",
        "ops",
        "ops/s",
        "MiB/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errs",
        "srv ms/op",
        "srv MiB",
        "cli ms/op",
        "other"
    )
}

fn table_row(r: &Record) -> String {
    format!(
        "{:<12} {:<8} {:>7} {:>9.1} {:>8.1} {:>8} {:>8} {:>8} {:>8} {:>5} {:>9} {:>7} {:>8} {:>5}",
        r.workload,
        r.status,
        r.ops,
        r.ops_per_s,
        r.mib_per_s,
        opt(r.p50_ms, 3),
        opt(r.p90_ms, 3),
        opt(r.p99_ms, 3),
        opt(r.max_ms, 3),
        r.errors,
        opt(r.server_cpu_ms_per_op, 3),
        opt(r.server_peak_rss_mib, 1),
        opt(r.client_cpu_ms_per_op, 3),
        opt(r.other_cores, 2)
    )
}

fn expand(names: &[String]) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for n in names {
        match n.as_str() {
            "all" | "smoke" => out.extend_from_slice(ALL),
            _ => match ALL.iter().find(|w| **w == n.as_str()) {
                Some(w) => out.push(*w),
                None => return Err(format!("unknown workload {n:?} (see --help)")),
            },
        }
    }
    if out.is_empty() {
        return Err("no workload given (see --help)".into());
    }
    Ok(out)
}

async fn bench(mut args: Args) -> Result<bool, String> {
    if args.workloads.iter().any(|w| w == "smoke") {
        args.smoke = true;
    }
    if args.smoke {
        args.duration = args.duration.min(1.0);
        args.warmup = args.warmup.min(0.2);
        args.count = args.count.min(1);
        args.workload_timeout = args.workload_timeout.min(60.0);
    }
    let names = expand(&args.workloads)?;
    let endpoint = args.endpoint.clone().unwrap_or_default();
    let s3 = S3::new(&endpoint, &args.access_key, &args.secret_key, &args.region, secs(args.request_timeout))?;
    let ctx = Arc::new(Ctx::new(s3, Sizes::new(args.smoke), args.bucket_prefix.clone()));
    let to_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));
    let mut json_file = match &args.json {
        Some(p) if !to_stdout => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("{}: {e}", p.display()))?,
        ),
        _ => None,
    };
    let table = |line: &str| {
        if to_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    table(&table_header());
    let mut all_ok = true;
    for name in names {
        let rec = run_one(&ctx, &args, name).await;
        table(&table_row(&rec));
        for e in rec.error_samples.iter().take(3) {
            table(&format!("    ! {e}"));
        }
        all_ok &= rec.status == "ok";
        let line = serde_json::to_string(&rec).map_err(|e| e.to_string())?;
        if to_stdout {
            println!("{line}");
        } else if let Some(f) = json_file.as_mut() {
            writeln!(f, "{line}").map_err(|e| e.to_string())?;
        }
    }
    Ok(all_ok)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(input) = &args.report {
        return match report::write(input, args.markdown.as_deref(), args.svg.as_deref(), args.machine.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("s3bench: {e}");
                ExitCode::from(2)
            }
        };
    }
    let rt = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads).enable_all().build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("s3bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(bench(args)) {
        Ok(true) => ExitCode::SUCCESS,
        // Some workload had errors or timed out: the results are written all the same.
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("s3bench: {e}");
            ExitCode::from(2)
        }
    }
}
