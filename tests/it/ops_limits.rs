//! Slowloris heads, stalled bodies, and the connection cap.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{Bin, bin_args, poll_until_async, put_head, read_response, roundtrip, tmp_count};
use crate::assert_s3_err;
use crate::common::*;

/// The server's header-read timeout (HEADER_READ_TIMEOUT in src/server/mod.rs).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The server's body idle timeout (BODY_IDLE_TIMEOUT in src/store/ingest.rs).
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Slack for scheduling on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(8);

/// Reads until the server closes the connection; returns what it sent and how it ended.
async fn read_until_closed(mut r: impl tokio::io::AsyncRead + Unpin) -> (Vec<u8>, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) => return (got, "EOF".into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, format!("error: {e}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_head_is_cut_off() {
    let s = TestServer::start("file").await;
    let start = Instant::now();

    // One byte a second of a head that never ends.
    let slow = TcpStream::connect(s.addr).await.unwrap();
    let (rd, mut wr) = slow.into_split();
    let writer = tokio::spawn(async move {
        let head = b"GET /_/healthcheck HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        let mut sent = 0usize;
        for b in head.iter().chain(std::iter::repeat(&b'a')) {
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        sent
    });
    // And a connection that sends nothing at all.
    let idle = TcpStream::connect(s.addr).await.unwrap();

    let limit = HEADER_READ_TIMEOUT + SLACK;
    let slow_end = tokio::time::timeout(limit, read_until_closed(rd));
    let idle_end = tokio::time::timeout(limit, read_until_closed(idle));
    let (slow_end, idle_end) = tokio::join!(slow_end, idle_end);
    let elapsed = start.elapsed();
    let (got, how) = slow_end.expect("the slow connection is closed within the header-read timeout");
    eprintln!("slowloris: closed after {elapsed:?} ({how}), sent back {:?}", String::from_utf8_lossy(&got));
    // Nothing but, at most, a 408.
    assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 408"), "{:?}", String::from_utf8_lossy(&got));
    let (got, _) = idle_end.expect("an idle connection is closed within the header-read timeout");
    assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 408"), "{:?}", String::from_utf8_lossy(&got));
    writer.abort();
    // The server is still fine.
    assert_eq!(super::http_once(s.addr, "GET", "/_/healthcheck").await.unwrap().status, 200);
}

/// Sends `sent` of `len` body bytes of a presigned PUT and stops; returns the connection.
async fn stalled_put(addr: std::net::SocketAddr, path: &str, len: u64, sent: usize) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(put_head(addr, path, len).as_bytes()).await.unwrap();
    s.write_all(&data(sent, 4)).await.unwrap();
    s.flush().await.unwrap();
    BufReader::new(s)
}

/// Waits out the real 60 s body idle timeout (the other tests run meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_gets_request_timeout() {
    let s = TestServer::start("file").await;
    let c = s.client();
    create_bucket(&c, "stall").await;
    let start = Instant::now();
    // A tiny one (kept in memory) and one past the inline limit, which has a temp file.
    let mut small = stalled_put(s.addr, "/stall/small", 1000, 10).await;
    let mut big = stalled_put(s.addr, "/stall/big", 2_000_000, 1_100_000).await;
    let data_dir = s.data_dir();
    let tmp_seen =
        poll_until_async(Duration::from_secs(10), || async { (tmp_count(&data_dir) > 0).then_some(()) }).await;
    assert!(tmp_seen.is_some(), "the big upload has a temp file while it stalls");

    let limit = BODY_IDLE_TIMEOUT + SLACK;
    let (r1, r2) = tokio::join!(
        tokio::time::timeout(limit, read_response(&mut small, false)),
        tokio::time::timeout(limit, read_response(&mut big, false)),
    );
    let elapsed = start.elapsed();
    for (name, r) in [("small", r1), ("big", r2)] {
        let r = r.unwrap_or_else(|_| panic!("{name}: no answer within the body idle timeout"));
        let r = r.unwrap_or_else(|e| panic!("{name}: connection failed instead of an answer: {e}"));
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert_eq!(xml_tag(&r.text(), "Code").as_deref(), Some("RequestTimeout"), "{name}: {}", r.text());
    }
    assert!(elapsed >= BODY_IDLE_TIMEOUT - Duration::from_secs(1), "answered after {elapsed:?}");
    for key in ["small", "big"] {
        assert_s3_err!(c.get_object().bucket("stall").key(key).send().await, 404, "NoSuchKey");
    }
    let gone = poll_until_async(Duration::from_secs(10), || async { (tmp_count(&data_dir) == 0).then_some(()) }).await;
    assert!(gone.is_some(), "the partial temp file is removed");
    assert_data_files_match(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_sheds_with_slowdown() {
    let root = tempfile::tempdir().unwrap();
    let bin = Bin::spawn(&bin_args(root.path(), &[]), &[("S3_MAX_CONNECTIONS", "2")]);
    let host = bin.addr.to_string();
    // Two kept-alive connections, each having been served once.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = BufReader::new(TcpStream::connect(bin.addr).await.unwrap());
        let r = roundtrip(&mut conn, "GET", "/_/healthcheck", &host).await.unwrap();
        assert_eq!(r.status, 200);
        assert_ne!(r.header("connection"), Some("close"));
        held.push(conn);
    }
    // The third is shed.
    let mut third = BufReader::new(TcpStream::connect(bin.addr).await.unwrap());
    let r = roundtrip(&mut third, "GET", "/_/healthcheck", &host).await.expect("a response, not a reset");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(xml_tag(&r.text(), "Code").as_deref(), Some("SlowDown"), "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    // The held ones still work.
    for conn in &mut held {
        assert_eq!(roundtrip(conn, "GET", "/_/healthcheck", &host).await.unwrap().status, 200);
    }
    // Closing one frees a slot.
    drop(held.pop());
    let ok = poll_until_async(Duration::from_secs(10), || async {
        let r = super::http_once(bin.addr, "GET", "/_/healthcheck").await.ok()?;
        (r.status == 200).then_some(())
    })
    .await;
    assert!(ok.is_some(), "a slot frees up when a held connection closes");
    assert!(bin.stderr().contains("connection limit reached"), "{}", bin.stderr());
}

/// A client that goes away mid-body (single PUT and UploadPart) leaves no object, no part and
/// no temp file behind, at once rather than at the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_mid_upload_leaves_nothing() {
    let s = TestServer::start("file").await;
    let c = s.client();
    create_bucket(&c, "gone").await;
    let data_dir = s.data_dir();
    let wait_tmp = |want_some: bool| {
        let d = data_dir.clone();
        async move {
            poll_until_async(Duration::from_secs(10), || {
                let d = d.clone();
                async move { ((tmp_count(&d) > 0) == want_some).then_some(()) }
            })
            .await
            .is_some()
        }
    };

    let conn = stalled_put(s.addr, "/gone/obj", 4_000_000, 1_500_000).await;
    assert!(wait_tmp(true).await, "the PUT has a temp file while its body arrives");
    let start = Instant::now();
    drop(conn);
    assert!(wait_tmp(false).await, "the temp file is removed after the disconnect");
    assert!(start.elapsed() < BODY_IDLE_TIMEOUT / 2, "cleaned up on disconnect, not at the idle timeout");
    assert_s3_err!(c.get_object().bucket("gone").key("obj").send().await, 404, "NoSuchKey");

    let id =
        c.create_multipart_upload().bucket("gone").key("mpu").send().await.unwrap().upload_id().unwrap().to_owned();
    let query = [("partNumber", "1"), ("uploadId", id.as_str())];
    let target = presign_raw(&s.addr.to_string(), "PUT", "/gone/mpu", &query, AK1, SK1, 600);
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let head = format!("PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: 4000000\r\n\r\n", s.addr);
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&data(1_500_000, 5)).await.unwrap();
    assert!(wait_tmp(true).await, "the part has a temp file while its body arrives");
    drop(conn);
    assert!(wait_tmp(false).await, "the part's temp file is removed after the disconnect");
    let parts = c.list_parts().bucket("gone").key("mpu").upload_id(&id).send().await.unwrap();
    assert!(parts.parts().is_empty(), "no part was recorded: {:?}", parts.parts());
    c.abort_multipart_upload().bucket("gone").key("mpu").upload_id(&id).send().await.unwrap();
    assert_data_files_match(&s).await;
}
