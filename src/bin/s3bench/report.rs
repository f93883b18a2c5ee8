//! Report mode: medians of repeated runs side by side, ratios to the peer, the issue's targets,
//! and an SVG chart (drawn here, no plotting library).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::Record;
use crate::workloads::ALL;

pub const OURS: &str = "ours";
pub const MEM: &str = "mem";
pub const PEER: &str = "s3s-fs";
const LABELS: [&str; 3] = [OURS, PEER, MEM];

const BEGIN: &str = "<!-- results:begin -->";
const END: &str = "<!-- results:end -->";

/// Medians over the repetitions of one (workload, server).
#[derive(Debug, Default, Clone)]
pub struct Med {
    pub runs: usize,
    /// Runs that produced no result (failed, timed out, setup failed).
    pub failed: usize,
    pub errors: u64,
    pub ops_per_s: Option<f64>,
    pub mib_per_s: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub cpu_ms: Option<f64>,
    pub rss: Option<f64>,
    pub complete_p50: Option<f64>,
    pub complete_max: Option<f64>,
    /// Cores other processes kept busy while measuring.
    pub other: Option<f64>,
    pub statuses: Vec<String>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

pub fn medians(recs: &[Record]) -> BTreeMap<(String, String), Med> {
    let mut groups: BTreeMap<(String, String), Vec<&Record>> = BTreeMap::new();
    for r in recs {
        groups.entry((r.workload.clone(), r.label.clone())).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(k, rs)| {
            let good: Vec<&&Record> = rs.iter().filter(|r| r.ops > 0 && r.status != "failed").collect();
            let m = |f: fn(&Record) -> Option<f64>| median(good.iter().filter_map(|r| f(r)).collect());
            let med = Med {
                runs: rs.len(),
                failed: rs.len() - good.len(),
                errors: rs.iter().map(|r| r.errors).sum(),
                ops_per_s: m(|r| Some(r.ops_per_s)),
                mib_per_s: m(|r| Some(r.mib_per_s)),
                p50: m(|r| r.p50_ms),
                p99: m(|r| r.p99_ms),
                cpu_ms: m(|r| r.server_cpu_ms_per_op),
                rss: m(|r| r.server_peak_rss_mib),
                complete_p50: m(|r| r.complete_p50_ms),
                complete_max: m(|r| r.complete_max_ms),
                other: m(|r| r.other_cores),
                statuses: rs.iter().map(|r| r.status.clone()).collect(),
            };
            (k, med)
        })
        .collect()
}

type Meds = BTreeMap<(String, String), Med>;

fn get<'a>(m: &'a Meds, w: &str, l: &str) -> Option<&'a Med> {
    m.get(&(w.to_owned(), l.to_owned()))
}

/// ours / peer throughput.
fn ratio(m: &Meds, w: &str, label: &str) -> Option<f64> {
    let a = get(m, w, label)?.ops_per_s?;
    let b = get(m, w, PEER)?.ops_per_s?;
    (b > 0.0).then_some(a / b)
}

fn f(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 1000.0 => format!("{v:.0}"),
        Some(v) if v >= 100.0 => format!("{v:.1}"),
        Some(v) if v >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.3}"),
    }
}

fn x(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.2}×"))
}

/// A cell: the value, or why there is none.
fn cell(m: Option<&Med>, v: impl Fn(&Med) -> Option<f64>) -> String {
    match m {
        None => "not run".into(),
        Some(med) => {
            let mut s = f(v(med));
            if med.failed > 0 {
                let why = med.statuses.iter().find(|s| *s != "ok" && *s != "errors");
                let _ = write!(s, " ({}/{} {})", med.failed, med.runs, why.map_or("failed", |s| s));
            }
            s
        }
    }
}

/// Target rows: (what, measured, met?).
fn targets(m: &Meds) -> Vec<(String, String, Option<bool>)> {
    let mut out = Vec::new();
    let mut ratio_target = |what: &str, w: &str, min: f64| {
        let r = ratio(m, w, OURS);
        let peer_failed = get(m, w, PEER).is_none_or(|p| p.ops_per_s.is_none());
        let measured = match (r, peer_failed) {
            (Some(r), _) => format!("{r:.2}×"),
            (None, true) => "s3s-fs produced no result".into(),
            (None, false) => "ours produced no result".into(),
        };
        out.push((what.to_owned(), measured, r.map(|r| r >= min)));
    };
    ratio_target("PUT 4 KiB c=64 ≥ 2.5× s3s-fs", "put-4k-c64", 2.5);
    ratio_target("GET 4 KiB c=64 ≥ 5×", "get-4k-c64", 5.0);
    ratio_target("PUT 1 MiB c=16 ≥ 2×", "put-1m-c16", 2.0);
    ratio_target("GET 1 MiB c=16 ≥ 5×", "get-1m-c16", 5.0);
    ratio_target("GET 64 MiB ≥ 5×", "get-64m", 5.0);
    ratio_target("1 GiB multipart upload ≥ 3×", "mpu-1g", 3.0);

    let g = get(m, "get-4k-c1", OURS);
    let (p50, p99) = (g.and_then(|g| g.p50), g.and_then(|g| g.p99));
    out.push((
        "GET 4 KiB c=1 p50 ≤ 0.5 ms, p99 ≤ 2 ms".into(),
        format!("p50 {} ms, p99 {} ms", f(p50), f(p99)),
        p50.zip(p99).map(|(a, b)| a <= 0.5 && b <= 2.0),
    ));
    let r = ratio(m, "mix-4k-c16", OURS);
    let errs = get(m, "mix-4k-c16", OURS).map(|g| g.errors);
    out.push((
        "70/30 GET/PUT mix c=16 ≥ 3×, zero errors".into(),
        format!("{}, {} errors", x(r), errs.map_or("—".into(), |e| e.to_string())),
        r.zip(errs).map(|(r, e)| r >= 3.0 && e == 0),
    ));
    let c = get(m, "mpu-1g", OURS);
    let (cp, cm) = (c.and_then(|c| c.complete_p50), c.and_then(|c| c.complete_max));
    out.push((
        "CompleteMultipartUpload (64 parts) < 50 ms".into(),
        format!("median {} ms, worst {} ms", f(cp), f(cm)),
        cm.map(|v| v < 50.0),
    ));
    let time_ratio = |w: &str| {
        let a = get(m, w, OURS)?.p50?;
        let b = get(m, w, PEER)?.p50?;
        Some(a / b)
    };
    let t = time_ratio("list-10k");
    out.push((
        "LIST 10,000 keys (pages of 1,000) ≤ 0.05× s3s-fs time".into(),
        t.map_or("—".into(), |t| format!("{t:.3}× the time")),
        t.map(|t| t <= 0.05),
    ));
    let t = time_ratio("list-delim");
    out.push((
        "delimiter LIST (100 prefixes) ≤ 1× s3s-fs time".into(),
        t.map_or("—".into(), |t| format!("{t:.3}× the time")),
        t.map(|t| t <= 1.0),
    ));
    let peak = ALL.iter().filter_map(|w| get(m, w, OURS)?.rss.map(|r| (r, *w))).max_by(|a, b| a.0.total_cmp(&b.0));
    out.push((
        "server peak RSS ≤ 64 MiB (file backend, any workload)".into(),
        peak.map_or("—".into(), |(r, w)| format!("{r:.1} MiB ({w})")),
        peak.map(|(r, _)| r <= 64.0),
    ));
    out
}

fn markdown(recs: &[Record], m: &Meds, svg_rel: Option<&str>, machine: &str) -> String {
    let reps = recs.iter().map(|r| r.rep).max().unwrap_or(0);
    let smoke = recs.iter().any(|r| r.smoke);
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}");
    let _ = writeln!(
        s,
        "_Generated by `s3bench --report` from {} runs ({} repetitions per server, interleaved{})._\n",
        recs.len(),
        reps,
        if smoke { ", **smoke sizes**" } else { "" }
    );
    if !machine.trim().is_empty() {
        let _ = writeln!(s, "{}\n", machine.trim());
    }
    if let Some(svg) = svg_rel {
        let _ = writeln!(s, "![throughput relative to s3s-fs]({svg})\n");
    }
    let _ = writeln!(s, "### Targets\n\n| target | measured | |\n|---|---|---|");
    for (what, measured, ok) in targets(m) {
        let verdict = match ok {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "no data",
        };
        let _ = writeln!(s, "| {what} | {measured} | {verdict} |");
    }
    let _ = writeln!(
        s,
        "\n### Throughput (medians)\n\n\
         | workload | ours ops/s | s3s-fs ops/s | ours ÷ s3s-fs | mem ops/s | mem ÷ s3s-fs | ours MiB/s | s3s-fs MiB/s | mem MiB/s |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for w in ALL {
        let g = |l: &str| get(m, w, l);
        if LABELS.iter().all(|l| g(l).is_none()) {
            continue;
        }
        let _ = writeln!(
            s,
            "| {w} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(g(OURS), |m| m.ops_per_s),
            cell(g(PEER), |m| m.ops_per_s),
            x(ratio(m, w, OURS)),
            cell(g(MEM), |m| m.ops_per_s),
            x(ratio(m, w, MEM)),
            f(g(OURS).and_then(|m| m.mib_per_s)),
            f(g(PEER).and_then(|m| m.mib_per_s)),
            f(g(MEM).and_then(|m| m.mib_per_s)),
        );
    }
    let _ = writeln!(
        s,
        "\n### Latency (medians of each run's p50 / p99, ms)\n\n\
         | workload | ours p50 | ours p99 | s3s-fs p50 | s3s-fs p99 | mem p50 | mem p99 |\n\
         |---|--:|--:|--:|--:|--:|--:|"
    );
    for w in ALL {
        let g = |l: &str| get(m, w, l);
        if LABELS.iter().all(|l| g(l).is_none()) {
            continue;
        }
        let p = |l: &str, f2: fn(&Med) -> Option<f64>| f(g(l).and_then(f2));
        let _ = writeln!(
            s,
            "| {w} | {} | {} | {} | {} | {} | {} |",
            p(OURS, |m| m.p50),
            p(OURS, |m| m.p99),
            p(PEER, |m| m.p50),
            p(PEER, |m| m.p99),
            p(MEM, |m| m.p50),
            p(MEM, |m| m.p99),
        );
    }
    let _ = writeln!(
        s,
        "\n### Server cost (medians): CPU ms per operation, peak RSS MiB, errors (all runs), \
         cores busy with other processes (ours / s3s-fs / mem)\n\n\
         | workload | ours CPU | s3s-fs CPU | mem CPU | ours RSS | s3s-fs RSS | mem RSS | errors ours / s3s-fs / mem | other load |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for w in ALL {
        let g = |l: &str| get(m, w, l);
        if LABELS.iter().all(|l| g(l).is_none()) {
            continue;
        }
        let p = |l: &str, f2: fn(&Med) -> Option<f64>| f(g(l).and_then(f2));
        let e = |l: &str| g(l).map_or("—".into(), |m| m.errors.to_string());
        let o = |l: &str| g(l).and_then(|m| m.other).map_or("—".into(), |v| format!("{v:.2}"));
        let _ = writeln!(
            s,
            "| {w} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} / {} / {} |",
            p(OURS, |m| m.cpu_ms),
            p(PEER, |m| m.cpu_ms),
            p(MEM, |m| m.cpu_ms),
            p(OURS, |m| m.rss),
            p(PEER, |m| m.rss),
            p(MEM, |m| m.rss),
            e(OURS),
            e(PEER),
            e(MEM),
            o(OURS),
            o(PEER),
            o(MEM),
        );
    }
    let samples: Vec<String> = recs
        .iter()
        .filter(|r| !r.error_samples.is_empty())
        .map(|r| format!("- {} {} rep {} ({}): {}", r.label, r.workload, r.rep, r.status, r.error_samples[0]))
        .take(20)
        .collect();
    if !samples.is_empty() {
        let _ = writeln!(s, "\n<details><summary>First error of each run that had one</summary>\n");
        for l in samples {
            let _ = writeln!(s, "{}", l.replace('|', "\\|"));
        }
        let _ = writeln!(s, "\n</details>");
    }
    let _ = writeln!(s, "\n{END}");
    s
}

/// Horizontal bars of throughput relative to the peer, on a log scale, with target ticks.
pub fn svg(m: &Meds) -> String {
    // (workload, ours ÷ peer, mem ÷ peer, target ratio)
    type Row<'a> = (&'a str, Option<f64>, Option<f64>, Option<f64>);
    let rows: Vec<Row> = ALL
        .iter()
        .map(|w| {
            let target = match *w {
                "put-4k-c64" => Some(2.5),
                "get-4k-c64" | "get-1m-c16" | "get-64m" => Some(5.0),
                "mix-4k-c16" | "mpu-1g" => Some(3.0),
                "put-1m-c16" => Some(2.0),
                "list-10k" => Some(20.0),
                "list-delim" => Some(1.0),
                _ => None,
            };
            (*w, ratio(m, w, OURS), ratio(m, w, MEM), target)
        })
        .collect();
    let (lo, hi) = (-3.0f64, 7.0f64); // log2 range: 1/8× .. 128×
    let (left, width, row_h, top) = (110.0, 620.0, 26.0, 40.0);
    let xpos = |r: f64| left + (r.log2().clamp(lo, hi) - lo) / (hi - lo) * width;
    let height = top + row_h * rows.len() as f64 + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="11">"#,
        w = left + width + 80.0
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="16" font-size="13" font-weight="bold">Throughput relative to s3s-fs 0.14.1 (log scale; median of runs)</text>
<rect x="{left}" y="24" width="10" height="8" fill="#2b6cb0"/><text x="{a}" y="32">ours (file)</text>
<rect x="{b}" y="24" width="10" height="8" fill="#a0aec0"/><text x="{c}" y="32">ours (--backend mem)</text>
<rect x="{d}" y="23" width="2" height="10" fill="#c53030"/><text x="{e}" y="32">target</text>"##,
        a = left + 14.0,
        b = left + 90.0,
        c = left + 104.0,
        d = left + 240.0,
        e = left + 246.0
    );
    for k in (lo as i32)..=(hi as i32) {
        let r = 2f64.powi(k);
        let xp = xpos(r);
        let label = if k < 0 { format!("1/{}", 1 << -k) } else { format!("{}", 1 << k) };
        let stroke = if k == 0 { "#333" } else { "#ddd" };
        let _ = writeln!(
            s,
            r##"<line x1="{xp:.1}" y1="{top}" x2="{xp:.1}" y2="{y2:.1}" stroke="{stroke}"/><text x="{xp:.1}" y="{ty:.1}" text-anchor="middle">{label}×</text>"##,
            y2 = height - 30.0,
            ty = height - 16.0
        );
    }
    for (i, (w, ours, mem, target)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let base = xpos(1.0);
        let _ =
            writeln!(s, r#"<text x="{tx}" y="{ty:.1}" text-anchor="end">{w}</text>"#, tx = left - 6.0, ty = y + 15.0);
        for (j, (v, color)) in [(ours, "#2b6cb0"), (mem, "#a0aec0")].iter().enumerate() {
            let yb = y + 3.0 + 10.0 * j as f64;
            match v {
                Some(v) => {
                    let xv = xpos(*v);
                    let (x0, x1) = (base.min(xv), base.max(xv));
                    let _ = writeln!(
                        s,
                        r##"<rect x="{x0:.1}" y="{yb:.1}" width="{bw:.1}" height="9" fill="{color}"/><text x="{lx:.1}" y="{ly:.1}" font-size="9">{v:.2}×</text>"##,
                        bw = (x1 - x0).max(1.0),
                        lx = x1 + 3.0,
                        ly = yb + 8.0
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        r##"<text x="{lx:.1}" y="{ly:.1}" font-size="9" fill="#888">no ratio</text>"##,
                        lx = base + 3.0,
                        ly = yb + 8.0
                    );
                }
            }
        }
        if let Some(t) = target {
            let _ = writeln!(
                s,
                r##"<rect x="{tx:.1}" y="{y:.1}" width="2" height="22" fill="#c53030"/>"##,
                tx = xpos(*t) - 1.0,
                y = y + 1.0
            );
        }
    }
    let _ = writeln!(s, "</svg>");
    s
}

pub fn write(input: &Path, md: Option<&Path>, svg_path: Option<&Path>, machine: Option<&Path>) -> Result<(), String> {
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let recs: Vec<Record> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", input.display()))?;
    let m = medians(&recs);
    if let Some(p) = svg_path {
        std::fs::write(p, svg(&m)).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let machine = match machine {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => String::new(),
    };
    // The chart's path as the Markdown file sees it.
    let rel = svg_path.map(|p| {
        let base = md.and_then(Path::parent).filter(|b| !b.as_os_str().is_empty());
        match base.and_then(|b| p.strip_prefix(b).ok()) {
            Some(r) => r.display().to_string(),
            None => p.display().to_string(),
        }
    });
    let block = markdown(&recs, &m, rel.as_deref(), &machine);
    match md {
        None => print!("{block}"),
        Some(p) => {
            let old = std::fs::read_to_string(p).unwrap_or_default();
            let new = match (old.find(BEGIN), old.find(END)) {
                (Some(a), Some(b)) if a < b => {
                    format!("{}{}{}", &old[..a], block.trim_end(), &old[b + END.len()..])
                }
                _ => format!("# Benchmarks\n\n{block}"),
            };
            std::fs::write(p, new).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    Ok(())
}
