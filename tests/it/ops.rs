//! Operations (issue 6): TLS, health and readiness, metrics, the JSON access log, slowloris and
//! stalled bodies, the connection cap, SIGTERM while an upload is in flight, and a full disk.
//!
//! Shared here: the real binary with its stderr captured line by line, and a raw HTTP/1.1
//! client over any byte stream (plain TCP or TLS) for what an SDK cannot do (half-sent heads
//! and bodies, held-open connections).

#![allow(dead_code)]

#[path = "ops_disk.rs"]
mod disk;
#[path = "ops_health.rs"]
mod health;
#[path = "ops_limits.rs"]
mod limits;
#[path = "ops_shutdown.rs"]
mod shutdown;
#[path = "ops_tls.rs"]
mod tls;

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Stderr lines of a running binary, and whether the stream has ended.
#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    eof: bool,
}

type SharedLines = Arc<(Mutex<Lines>, Condvar)>;

/// The real `s3server`, with every stderr line kept; SIGKILLed on drop if still running.
pub struct Bin {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    lines: SharedLines,
}

impl Drop for Bin {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A `Command` for the binary with a clean environment, run from the crate root (where
/// conf/authdata.json is).
pub fn bin_command(args: &[OsString], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3server"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The usual arguments: ephemeral ports on 127.0.0.1, file backend under `root`.
pub fn bin_args(root: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut v: Vec<OsString> =
        ["--listen", "127.0.0.1:0", "--metrics-port", "0", "--backend", "file"].iter().map(OsString::from).collect();
    v.push("--data-path".into());
    v.push(root.join("data").into());
    v.push("--metadata-path".into());
    v.push(root.join("meta").into());
    v.extend(extra.iter().map(OsString::from));
    v
}

impl Bin {
    /// Starts the binary and waits for its JSON start-up line, which names both listeners.
    pub fn spawn(args: &[OsString], envs: &[(&str, &str)]) -> Bin {
        let mut child = bin_command(args, envs).spawn().expect("spawn s3server");
        let stderr = child.stderr.take().unwrap();
        let lines: SharedLines = Arc::default();
        let l2 = lines.clone();
        // Drains stderr for the whole life of the process, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*l2;
                m.lock().unwrap().lines.push(line);
                cv.notify_all();
            }
            let (m, cv) = &*l2;
            m.lock().unwrap().eof = true;
            cv.notify_all();
        });
        let mut bin = Bin { child, addr: ([0, 0, 0, 0], 0).into(), admin: ([0, 0, 0, 0], 0).into(), lines };
        let Some(line) = bin.wait_line(Duration::from_secs(60), |l| l.contains("s3server listening on")) else {
            let _ = bin.child.kill();
            let status = bin.child.wait();
            panic!("no start-up line from s3server ({status:?}); stderr:\n{}", bin.stderr());
        };
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("start-up line is not JSON ({e}): {line}"));
        let first = |field: &str| -> SocketAddr {
            let s = v[field].as_str().unwrap_or_else(|| panic!("no `{field}` in {line}"));
            s.split(',').next().unwrap().parse().unwrap_or_else(|e| panic!("bad `{field}` {s:?}: {e}"))
        };
        bin.addr = first("listen");
        bin.admin = first("admin");
        bin
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().lines.clone()
    }

    pub fn stderr(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits for a stderr line matching `pred` (already printed or to come); None at the deadline
    /// or when stderr ends without one.
    pub fn wait_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.lines;
        let mut g = m.lock().unwrap();
        loop {
            if let Some(l) = g.lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if g.eof || now >= deadline {
                return None;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// Sends SIGTERM.
    pub fn term(&self) {
        let st = Command::new("kill").args(["-TERM", &self.pid()]).status().expect("run kill");
        assert!(st.success(), "kill -TERM {}", self.pid());
    }

    /// Waits for the process to exit; None if it is still running at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        poll_until(timeout, || self.child.try_wait().expect("try_wait"))
    }
}

/// Runs the binary to its exit (it must not start serving) and returns its status and stderr.
pub fn run_to_exit(args: &[OsString], envs: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut child = bin_command(args, envs).spawn().expect("spawn s3server");
    let status = poll_until(Duration::from_secs(60), || child.try_wait().expect("try_wait"));
    let Some(status) = status else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("s3server did not exit; stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    };
    let out = child.wait_with_output().unwrap();
    (status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Polls `f` every 20 ms until it returns Some or the deadline passes.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The async form of [`poll_until`].
pub async fn poll_until_async<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- raw HTTP/1.1 ----

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

/// Reads one response (Content-Length, chunked, or to EOF) from a buffered stream.
pub async fn read_response<R: AsyncBufRead + Unpin>(r: &mut R, head_request: bool) -> std::io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed before a response"));
    }
    let status: u16 = line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed in the response head"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').ok_or_else(|| bad(format!("bad header {l:?}")))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).await?;
            line.clear();
            r.read_line(&mut line).await?;
        }
    } else if let Some(n) = get("content-length") {
        let n: usize = n.parse().map_err(|_| bad("bad content-length"))?;
        body.resize(n, 0);
        r.read_exact(&mut body).await?;
    } else {
        r.read_to_end(&mut body).await?;
    }
    Ok(Resp { status, headers, body })
}

/// Sends a body-less request on a kept-alive connection and reads the answer.
pub async fn roundtrip<S>(
    conn: &mut tokio::io::BufReader<S>,
    method: &str,
    target: &str,
    host: &str,
) -> std::io::Result<Resp>
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let req = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    conn.get_mut().write_all(req.as_bytes()).await?;
    conn.get_mut().flush().await?;
    read_response(conn, method == "HEAD").await
}

/// One request on a fresh plain connection.
pub async fn http_once(addr: SocketAddr, method: &str, target: &str) -> std::io::Result<Resp> {
    let s = tokio::net::TcpStream::connect(addr).await?;
    let mut conn = tokio::io::BufReader::new(s);
    roundtrip(&mut conn, method, target, &addr.to_string()).await
}

/// A presigned (account 1) path-and-query for a raw request to `addr`.
pub fn presigned_target(addr: SocketAddr, method: &str, path: &str) -> String {
    crate::common::presign_raw(&addr.to_string(), method, path, &[], crate::common::AK1, crate::common::SK1, 600)
}

/// The head of a presigned PUT with this Content-Length.
pub fn put_head(addr: SocketAddr, path: &str, len: u64) -> String {
    format!("PUT {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\n\r\n", presigned_target(addr, "PUT", path))
}

/// Files in `<data>/tmp` (0 if it does not exist).
pub fn tmp_count(data: &Path) -> usize {
    std::fs::read_dir(data.join("tmp")).map(|rd| rd.count()).unwrap_or(0)
}
