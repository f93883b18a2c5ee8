//! The real `s3server` binary: start-up line, a round trip, and a SIGKILL crash test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::assert_s3_err;
use crate::common::*;

/// A running binary; killed (SIGKILL) on drop.
struct Proc {
    child: Child,
    addr: std::net::SocketAddr,
    stderr_tail: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts the binary on 127.0.0.1:0 and learns its port from the JSON start-up line on stderr.
fn spawn(data: &Path, meta: &Path) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3server"))
        .args(["--listen", "127.0.0.1:0", "--metrics-port", "0", "--backend", "file"])
        .arg("--data-path")
        .arg(data)
        .arg("--metadata-path")
        .arg(meta)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn s3server");
    let stderr = child.stderr.take().unwrap();
    let tail = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel::<String>();
    let tail2 = tail.clone();
    // Keep draining stderr so the server never blocks on a full pipe (it logs every request).
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent && line.contains("s3server listening on") {
                let _ = tx.send(line.clone());
                sent = true;
            }
            let mut t = tail2.lock().unwrap();
            t.push(line);
            if t.len() > 200 {
                t.remove(0);
            }
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            let status = child.wait();
            panic!("no start-up line from s3server ({status:?}); stderr:\n{}", tail.lock().unwrap().join("\n"));
        }
    };
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("start-up line is not JSON ({e}): {line}"));
    let listen = v["listen"].as_str().unwrap_or_else(|| panic!("no `listen` field: {line}"));
    let addr: std::net::SocketAddr =
        listen.split(',').next().unwrap().parse().unwrap_or_else(|e| panic!("bad listen address {listen:?}: {e}"));
    assert_ne!(addr.port(), 0, "the real port is reported");
    let msg = v["message"].as_str().or(v["fields"]["message"].as_str()).unwrap_or("");
    assert!(msg.contains(&addr.to_string()), "{line}");
    Proc { child, addr, stderr_tail: tail }
}

fn dirs(root: &Path) -> (PathBuf, PathBuf) {
    (root.join("data"), root.join("meta"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_put_get_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (data_dir, meta_dir) = dirs(tmp.path());
    let body = data(50_000, 1);
    {
        let p = spawn(&data_dir, &meta_dir);
        let c = client_for(&p.endpoint(), AK1, SK1, true);
        create_bucket(&c, "bin").await;
        assert_eq!(put(&c, "bin", "big", &body).await, quoted_md5(&body));
        put(&c, "bin", "small", b"tiny").await;
        assert_eq!(get_bytes(&c, "bin", "big").await, body);
        let h = http().get(format!("{}/_/healthcheck", p.endpoint())).send().await.unwrap();
        assert_eq!(h.status().as_u16(), 200);
        // Graceful stop (SIGTERM) exits 0.
        let pid = p.child.id().to_string();
        let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(st.success());
        let mut p = p;
        let status = p.child.wait().unwrap();
        assert!(status.success(), "exit {status:?}: {}", p.stderr_tail.lock().unwrap().join("\n"));
    }
    // Everything is there after a restart on the same directories.
    let p = spawn(&data_dir, &meta_dir);
    let c = client_for(&p.endpoint(), AK1, SK1, true);
    assert_eq!(get_bytes(&c, "bin", "big").await, body);
    assert_eq!(get_bytes(&c, "bin", "small").await, b"tiny");
    let out = c.list_buckets().send().await.unwrap();
    assert_eq!(out.buckets().len(), 1);
}

/// Rounds of concurrent small PUTs a log test makes at most to get bodies into the log.
const LOG_ROUNDS: usize = 20;

/// Bytes in the small-body log's segments (`<data>/log/*.log`).
fn log_bytes(data: &Path) -> u64 {
    std::fs::read_dir(data.join("log")).map_or(0, |rd| rd.map(|e| e.unwrap().metadata().unwrap().len()).sum())
}

fn segment_names(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_bodies_under_load_survive_a_kill_and_overwrites_free_them() {
    const N: usize = 64;
    let tmp = tempfile::tempdir().unwrap();
    let (data_dir, meta_dir) = dirs(tmp.path());
    let bodies: Vec<Vec<u8>> = (0..N).map(|i| data(1000 + 48 * i, i as u64)).collect();
    let first_run;
    let put_all = |c: aws_sdk_s3::Client, bodies: Vec<Vec<u8>>| async move {
        let keys: Vec<String> = (0..bodies.len()).map(|i| format!("k{i}")).collect();
        let puts = keys.iter().zip(&bodies).map(|(k, b)| put(&c, "small", k, b));
        for (etag, b) in futures::future::join_all(puts).await.iter().zip(&bodies) {
            assert_eq!(*etag, quoted_md5(b));
        }
    };
    {
        let p = spawn(&data_dir, &meta_dir);
        let c = client_for(&p.endpoint(), AK1, SK1, true);
        create_bucket(&c, "small").await;
        // 64 at once: most of them go to the log rather than into their records. A loaded
        // machine may let fewer arrive together; the last round decides where each body lives.
        let mut took = 0;
        for _ in 0..LOG_ROUNDS {
            let before = log_bytes(&data_dir);
            put_all(c.clone(), bodies.clone()).await;
            took = log_bytes(&data_dir).saturating_sub(before);
            if took > 16 * 1000 {
                break;
            }
        }
        assert!(took > 16 * 1000, "the log took the bodies: {took} bytes");
        for (i, b) in bodies.iter().enumerate() {
            assert_eq!(get_bytes(&c, "small", &format!("k{i}")).await, *b, "k{i}");
        }
        first_run = segment_names(&data_dir);
        // Proc's drop is a SIGKILL: no graceful flush.
    }
    let p = spawn(&data_dir, &meta_dir);
    let c = client_for(&p.endpoint(), AK1, SK1, true);
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(get_bytes(&c, "small", &format!("k{i}")).await, *b, "k{i} after the kill");
        let head = c.head_object().bucket("small").key(format!("k{i}")).send().await.unwrap();
        assert_eq!(head.content_length(), Some(b.len() as i64));
    }
    let range = c.get_object().bucket("small").key("k3").range("bytes=10-19").send().await.unwrap();
    assert_eq!(range.body.collect().await.unwrap().into_bytes().as_ref(), &bodies[3][10..20]);
    let before = log_bytes(&data_dir);
    // Every body overwritten, then the server restarted: the old segments are all dead.
    let newer: Vec<Vec<u8>> = (0..N).map(|i| data(2000 + 16 * i, 1000 + i as u64)).collect();
    put_all(c.clone(), newer.clone()).await;
    drop(p);
    let p = spawn(&data_dir, &meta_dir);
    let c = client_for(&p.endpoint(), AK1, SK1, true);
    for (i, b) in newer.iter().enumerate() {
        assert_eq!(get_bytes(&c, "small", &format!("k{i}")).await, *b, "k{i} overwritten");
    }
    let newer_total: u64 = newer.iter().map(|b| b.len() as u64).sum();
    let now = segment_names(&data_dir);
    assert!(first_run.iter().all(|n| !now.contains(n)), "the first run's segments, all dead, are swept: {now:?}");
    assert!(log_bytes(&data_dir) <= newer_total, "{} bytes left, before {before}", log_bytes(&data_dir));
    for i in 0..N {
        c.delete_object().bucket("small").key(format!("k{i}")).send().await.unwrap();
    }
    drop(p);
    let _p = spawn(&data_dir, &meta_dir);
    assert_eq!(log_bytes(&data_dir), 0, "nothing names any body: every segment is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_moves_the_few_live_bodies_out_of_mostly_dead_log_segments() {
    const N: usize = 64;
    let tmp = tempfile::tempdir().unwrap();
    let (data_dir, meta_dir) = dirs(tmp.path());
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let (first_run, keep) = {
        let p = spawn(&data_dir, &meta_dir);
        let c = client_for(&p.endpoint(), AK1, SK1, true);
        create_bucket(&c, "sparse").await;
        // Rounds of 64 new keys at once until the log holds 16 bodies (which went there, rather
        // than into their records, depends on how many PUTs the server sees together).
        let mut logged = Vec::new();
        for round in 0..LOG_ROUNDS {
            let new: Vec<Vec<u8>> = (0..N).map(|i| data(3000 + 16 * i, (round * N + i) as u64)).collect();
            let keys: Vec<String> = (bodies.len()..bodies.len() + N).map(|i| format!("k{i}")).collect();
            futures::future::join_all(keys.iter().zip(&new).map(|(k, b)| put(&c, "sparse", k, b))).await;
            bodies.extend(new);
            logged = logged_bodies(&data_dir, &bodies);
            if logged.len() >= 16 {
                break;
            }
        }
        assert!(logged.len() >= 16, "the log took the bodies: {logged:?}");
        // Keep two of the logged bodies: the segments are then mostly dead.
        let keep = [logged[0], logged[logged.len() - 1]];
        for i in (0..bodies.len()).filter(|i| !keep.contains(i)) {
            c.delete_object().bucket("sparse").key(format!("k{i}")).send().await.unwrap();
        }
        (segment_names(&data_dir), keep)
    };
    let kept_bytes: u64 = keep.iter().map(|&i| bodies[i].len() as u64).sum();
    assert!(log_bytes(&data_dir) > 4 * kept_bytes, "the segments are mostly dead before the restart");
    // The restart copies the two live bodies and drops the first run's segments.
    let p = spawn(&data_dir, &meta_dir);
    let c = client_for(&p.endpoint(), AK1, SK1, true);
    let moved = segment_names(&data_dir);
    assert!(first_run.iter().all(|n| !moved.contains(n)), "first run {first_run:?}, now {moved:?}");
    assert_eq!(log_bytes(&data_dir), kept_bytes, "only the live bodies are left: {moved:?}");
    assert_eq!(logged_bodies(&data_dir, &bodies), keep.to_vec());
    for &i in &keep {
        assert_eq!(get_bytes(&c, "sparse", &format!("k{i}")).await, bodies[i], "k{i}");
        let head = c.head_object().bucket("sparse").key(format!("k{i}")).send().await.unwrap();
        assert_eq!(head.e_tag(), Some(quoted_md5(&bodies[i]).as_str()));
    }
    let gone = (0..bodies.len()).find(|i| !keep.contains(i)).unwrap();
    let err = c.get_object().bucket("sparse").key(format!("k{gone}")).send().await.unwrap_err();
    assert_eq!(err.into_service_error().meta().code(), Some("NoSuchKey"));
    // A segment that is all live is left alone on the next start; overwrites free the moved bodies.
    drop(p);
    let p = spawn(&data_dir, &meta_dir);
    let c = client_for(&p.endpoint(), AK1, SK1, true);
    assert_eq!(segment_names(&data_dir), moved);
    for &i in &keep {
        assert_eq!(get_bytes(&c, "sparse", &format!("k{i}")).await, bodies[i], "k{i} after a second restart");
        put(&c, "sparse", &format!("k{i}"), b"inline now").await;
    }
    drop(p);
    let _p = spawn(&data_dir, &meta_dir);
    assert_eq!(log_bytes(&data_dir), 0, "nothing names the moved bodies any more");
}

/// Indices of the bodies found in the log's segments.
fn logged_bodies(data: &Path, bodies: &[Vec<u8>]) -> Vec<usize> {
    let mut all = Vec::new();
    for name in segment_names(data) {
        all.extend(std::fs::read(data.join("log").join(name)).unwrap());
    }
    (0..bodies.len()).filter(|&i| all.windows(bodies[i].len()).any(|w| w == bodies[i].as_slice())).collect()
}

/// The state of one key as the client saw it.
#[derive(Default, Clone)]
struct KeyState {
    /// Last acknowledged state: None = never written, Some(None) = deleted, Some(Some(b)) = b.
    acked: Option<Option<Vec<u8>>>,
    /// An operation sent but not answered when the server died: Some(None) = a delete.
    inflight: Option<Option<Vec<u8>>>,
}

const WORKERS: usize = 6;
const KEYS_PER_WORKER: usize = 6;
/// Operations per round; each round ends with a SIGKILL somewhere in its second half or so.
const ROUND_OPS: usize = 200;
const ROUNDS: usize = 3;

/// Runs PUT/overwrite/DELETE workers against `c` until the server dies or they are done,
/// SIGKILLs the server after `kill_after` acknowledgements, and returns how many were acked.
async fn workload_then_kill(
    proc: &mut Proc,
    c: &aws_sdk_s3::Client,
    states: &Arc<Mutex<HashMap<String, KeyState>>>,
    seed: u64,
    kill_after: usize,
) -> usize {
    let acked = Arc::new(AtomicUsize::new(0));
    // Workers signal after each acknowledgement and when they stop.
    let progress = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let c = c.clone();
        let states = states.clone();
        let acked = acked.clone();
        let progress = progress.clone();
        let mut rng = StdRng::seed_from_u64(seed ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9));
        tasks.push(tokio::spawn(async move {
            let _signal_end = NotifyOnDrop(progress.clone());
            // Each worker owns its keys, so per-key order is the order of acknowledgements.
            let keys: Vec<String> = (0..KEYS_PER_WORKER).map(|k| format!("w{w}/k{k}")).collect();
            for _ in 0..ROUND_OPS / WORKERS + 10 {
                let key = &keys[rng.gen_range(0..keys.len())];
                let op: Option<Vec<u8>> = if rng.gen_bool(0.2) {
                    None
                } else {
                    let size = match rng.gen_range(0..10) {
                        0 => 0,
                        1..=3 => rng.gen_range(1..=4096),
                        _ => rng.gen_range(4097..=300 * 1024),
                    };
                    Some(data(size, rng.r#gen()))
                };
                states.lock().unwrap().entry(key.clone()).or_default().inflight = Some(op.clone());
                let ok = match &op {
                    Some(body) => c
                        .put_object()
                        .bucket("crash")
                        .key(key)
                        .body(ByteStream::from(body.clone()))
                        .send()
                        .await
                        .map(|o| {
                            assert_eq!(o.e_tag(), Some(quoted_md5(body).as_str()), "{key}");
                        })
                        .is_ok(),
                    None => c.delete_object().bucket("crash").key(key).send().await.is_ok(),
                };
                if !ok {
                    // The server is gone; the in-flight operation may or may not have happened.
                    return;
                }
                let mut st = states.lock().unwrap();
                let e = st.get_mut(key).unwrap();
                e.acked = e.inflight.take();
                drop(st);
                acked.fetch_add(1, Ordering::SeqCst);
                progress.notify_one();
            }
        }));
    }
    // Kill while requests are in flight, after a number of acknowledgements.
    let mut killed_at = None;
    loop {
        let n = acked.load(Ordering::SeqCst);
        if n >= kill_after {
            proc.child.kill().expect("SIGKILL");
            killed_at = Some(n);
            break;
        }
        if tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        progress.notified().await;
    }
    for t in tasks {
        t.await.expect("worker panicked");
    }
    let _ = proc.child.wait();
    killed_at.expect("the server was killed before the workload finished")
}

/// Checks every key against what was acknowledged, then the data directory against the
/// objects; returns the keys' observed states so the next round starts from them.
async fn verify_after_restart(
    c: &aws_sdk_s3::Client,
    states: &HashMap<String, KeyState>,
    data_dir: &Path,
    seed: u64,
    round: usize,
) -> HashMap<String, KeyState> {
    let mut observed = HashMap::new();
    let mut present = 0;
    for (key, st) in states {
        let res = c.get_object().bucket("crash").key(key).send().await;
        let now: Option<Vec<u8>> = match res {
            Ok(out) => {
                let etag = out.e_tag().map(str::to_owned);
                let bytes = out.body.collect().await.unwrap().into_bytes().to_vec();
                assert_eq!(etag, Some(quoted_md5(&bytes)), "{key}: ETag does not match bytes");
                Some(bytes)
            }
            Err(e) => {
                let f = failure::<_, ()>(Err(e));
                assert_eq!((f.status, f.code.as_deref()), (404, Some("NoSuchKey")), "{key}: {f:?}");
                None
            }
        };
        let acked_state = st.acked.clone().unwrap_or(None);
        let ok = now == acked_state || st.inflight.as_ref().is_some_and(|i| *i == now);
        assert!(
            ok,
            "seed {seed} round {round}: {key}: after restart {} but acknowledged {} (in flight: {})",
            describe(&now),
            describe(&acked_state),
            st.inflight.as_ref().map_or("none".into(), describe),
        );
        present += usize::from(now.is_some());
        observed.insert(key.clone(), KeyState { acked: Some(now), inflight: None });
    }

    // Every object is listed, and every data file is referenced by a file-backed object.
    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let out = c.list_objects_v2().bucket("crash").set_continuation_token(token).send().await.unwrap();
        listed.extend(out.contents().iter().map(|o| (o.key().unwrap().to_owned(), o.size().unwrap())));
        token = out.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(listed.len(), present, "seed {seed} round {round}: listing agrees with GETs");
    assert!(listed.iter().all(|(k, _)| states.contains_key(k)), "{listed:?}");
    let file_backed = listed.iter().filter(|(_, size)| *size > 4096).count();
    let (files, tmp_files) = count_data_files(data_dir);
    assert_eq!(tmp_files, 0, "seed {seed} round {round}: data/tmp is empty after the start-up sweep");
    assert_eq!(files, file_backed, "seed {seed} round {round}: data files vs objects larger than 4096 bytes");
    observed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_sigkill_keeps_acknowledged_writes() {
    let seed: u64 =
        std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::thread_rng().r#gen());
    eprintln!("crash test seed: {seed} (set CRASH_SEED to replay)");
    let mut rng = StdRng::seed_from_u64(seed);

    let tmp = tempfile::tempdir().unwrap();
    let (data_dir, meta_dir) = dirs(tmp.path());
    let mut proc = spawn(&data_dir, &meta_dir);
    let mut c = client_for(&proc.endpoint(), AK1, SK1, true);
    create_bucket(&c, "crash").await;
    let states: Arc<Mutex<HashMap<String, KeyState>>> = Arc::default();

    for round in 0..ROUNDS {
        let kill_after = rng.gen_range(ROUND_OPS / 4..ROUND_OPS - 20);
        let killed_at = workload_then_kill(&mut proc, &c, &states, rng.r#gen(), kill_after).await;
        let snapshot = states.lock().unwrap().clone();
        let inflight = snapshot.values().filter(|s| s.inflight.is_some()).count();
        let (files, tmp_files) = count_data_files(&data_dir);
        eprintln!(
            "round {round}: killed after {killed_at} acknowledged operations, {inflight} in flight; \
             {files} data files and {tmp_files} temp files before restart"
        );
        assert!(inflight > 0, "the kill must happen with requests in flight");

        // Restart on the same directories; the start-up sweep runs before serving.
        proc = spawn(&data_dir, &meta_dir);
        let c2 = client_for(&proc.endpoint(), AK1, SK1, true);
        let observed = verify_after_restart(&c2, &snapshot, &data_dir, seed, round).await;
        *states.lock().unwrap() = observed;
        // The bucket survived and nothing else appeared.
        let out = c2.list_buckets().send().await.unwrap();
        let names: Vec<&str> = out.buckets().iter().filter_map(|b| b.name()).collect();
        assert_eq!(names, ["crash"]);
        assert_s3_err!(c2.get_object().bucket("crash").key("never-written").send().await, 404, "NoSuchKey");
        // The next round talks to the restarted server.
        c = c2;
    }
}

struct NotifyOnDrop(Arc<tokio::sync::Notify>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

fn describe(s: &Option<Vec<u8>>) -> String {
    match s {
        None => "absent".into(),
        Some(b) => format!("{} bytes md5 {}", b.len(), md5_hex(b)),
    }
}
