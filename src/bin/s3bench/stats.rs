//! Latency summaries and per-process CPU / memory readings from /proc.

use std::collections::BTreeMap;
use std::time::Duration;

/// What the workers of one measured phase recorded.
#[derive(Debug, Default)]
pub struct Samples {
    /// Latency of each successful operation, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// Payload bytes moved by successful operations.
    pub bytes: u64,
    /// Failed operations by kind.
    pub errors: BTreeMap<String, u64>,
    /// The first few error messages, for the report.
    pub error_samples: Vec<String>,
    /// Named side measurements (e.g. CompleteMultipartUpload latency), in nanoseconds.
    pub extra_ns: BTreeMap<String, Vec<u64>>,
}

impl Samples {
    pub fn merge(&mut self, other: Samples) {
        self.latencies_ns.extend(other.latencies_ns);
        self.bytes += other.bytes;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for e in other.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(e);
            }
        }
        for (k, v) in other.extra_ns {
            self.extra_ns.entry(k).or_default().extend(v);
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn record_error(&mut self, kind: String, msg: String) {
        *self.errors.entry(kind).or_default() += 1;
        if self.error_samples.len() < 5 {
            self.error_samples.push(msg);
        }
    }
}

/// p50/p90/p99/max of a set of latencies, in milliseconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(ns: &mut [u64]) -> Option<Self> {
        if ns.is_empty() {
            return None;
        }
        ns.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len());
            ns[rank - 1] as f64 / 1e6
        };
        Some(Percentiles { p50: at(0.50), p90: at(0.90), p99: at(0.99), max: ns[ns.len() - 1] as f64 / 1e6 })
    }
}

/// CPU time and memory of a process at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// utime + stime, all threads.
    pub cpu: Duration,
    /// VmHWM: peak resident set since the process started, in KiB.
    pub hwm_kib: u64,
    /// VmRSS now, in KiB.
    pub rss_kib: u64,
}

/// Linux reports utime/stime in USER_HZ ticks, which is 100 on every Linux ABI.
const USER_HZ: u64 = 100;

/// Reads /proc/PID/stat and /proc/PID/status (`pid` = "self" for this process).
pub fn proc_sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the full line (utime, stime) are 11 and 12 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        cpu: Duration::from_millis((utime + stime) * 1000 / USER_HZ),
        hwm_kib: kib("VmHWM:"),
        rss_kib: kib("VmRSS:"),
    })
}

/// CPU time all processes of the machine have used so far (user+nice+system+irq+softirq+steal
/// from /proc/stat): what the server and this client did not use of it was someone else's.
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0);
    Some(Duration::from_millis(busy * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_proc() {
        let mut v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        let p = Percentiles::of(&mut v).unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        let s = proc_sample("self").unwrap();
        assert!(s.hwm_kib > 0 && s.rss_kib > 0);
    }
}
