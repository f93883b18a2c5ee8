//! SIGTERM while a 50 MiB upload is in flight: the server stops accepting, lets the upload
//! finish (or cuts it at the drain deadline), exits 0, and leaves no partial object.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{Bin, bin_args, poll_until_async, put_head, read_response, tmp_count};
use crate::assert_s3_err;
use crate::common::*;

const SIZE: usize = 50 * 1024 * 1024;
const CHUNK: usize = 256 * 1024;
/// DRAIN_DEADLINE in src/server/mod.rs.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Starts a presigned PUT of `body` and sends its first `first` bytes.
async fn start_upload(addr: SocketAddr, path: &str, body: &[u8], first: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(put_head(addr, path, body.len() as u64).as_bytes()).await.unwrap();
    for chunk in body[..first].chunks(CHUNK) {
        s.write_all(chunk).await.unwrap();
    }
    s.flush().await.unwrap();
    s
}

/// Waits until the server is writing the upload into data/tmp: proof that it is in flight.
async fn wait_for_temp_file(data: &Path) {
    let seen = poll_until_async(Duration::from_secs(20), || async { (tmp_count(data) > 0).then_some(()) }).await;
    assert!(seen.is_some(), "the upload never reached data/tmp");
}

/// Polls until new connections to `addr` are refused.
async fn wait_refused(addr: SocketAddr) -> bool {
    poll_until_async(Duration::from_secs(10), || async {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(()),
            _ => None,
        }
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_upload_finishes_it_and_exits_0() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let mut bin = Bin::spawn(&bin_args(root.path(), &[]), &[]);
    let c = client_for(&bin.endpoint(), AK1, SK1, true);
    create_bucket(&c, "drain").await;
    let before = data(10_000, 1);
    put(&c, "drain", "before", &before).await;

    let body = data(SIZE, 2);
    let mut up = start_upload(bin.addr, "/drain/big", &body, 8 * 1024 * 1024).await;
    wait_for_temp_file(&data_dir).await;

    bin.term();
    let t0 = Instant::now();
    // New connections are refused on both listeners while the upload is still open.
    assert!(wait_refused(bin.addr).await, "the S3 port still accepts after SIGTERM");
    assert!(wait_refused(bin.admin).await, "the admin port still accepts after SIGTERM");
    assert!(bin.child.try_wait().unwrap().is_none(), "the server waits for the in-flight upload");

    // The rest of the body, with small pauses.
    for chunk in body[8 * 1024 * 1024..].chunks(CHUNK * 4) {
        up.write_all(chunk).await.expect("the server keeps reading the in-flight upload");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    up.flush().await.unwrap();
    let mut up = BufReader::new(up);
    let r = read_response(&mut up, false).await.expect("the in-flight upload is answered");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag"), Some(quoted_md5(&body).as_str()));
    // The connection is closed after the answer (no keep-alive while draining).
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");

    let status = tokio::task::spawn_blocking(move || {
        let st = bin.wait_exit(DRAIN_DEADLINE + Duration::from_secs(10));
        (st, bin.stderr())
    })
    .await
    .unwrap();
    let (Some(status), stderr) = status else { panic!("the server did not exit after SIGTERM") };
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(t0.elapsed() < DRAIN_DEADLINE, "exited {:?} after SIGTERM", t0.elapsed());
    assert!(stderr.contains("\"stopped\""), "{stderr}");

    // After a restart the object is whole, and nothing is left over.
    let bin = Bin::spawn(&bin_args(root.path(), &[]), &[]);
    let c = client_for(&bin.endpoint(), AK1, SK1, true);
    let got = get_bytes(&c, "drain", "big").await;
    assert!(got == body, "the object read back after restart differs ({} bytes)", got.len());
    assert_eq!(get_bytes(&c, "drain", "before").await, before);
    assert_eq!(count_data_files(&data_dir), (2, 0), "(data files, temp files)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_stalled_upload_exits_0_at_the_deadline_without_partial_object() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let mut bin = Bin::spawn(&bin_args(root.path(), &[]), &[]);
    let c = client_for(&bin.endpoint(), AK1, SK1, true);
    create_bucket(&c, "drain").await;
    put(&c, "drain", "before", &data(10_000, 1)).await;

    let body = data(SIZE, 3);
    let up = start_upload(bin.addr, "/drain/big", &body, 8 * 1024 * 1024).await;
    wait_for_temp_file(&data_dir).await;
    // The client stalls for good; SIGTERM.
    bin.term();
    let t0 = Instant::now();
    assert!(wait_refused(bin.addr).await, "the S3 port still accepts after SIGTERM");

    let reader = tokio::spawn(async move {
        let mut up = BufReader::new(up);
        read_response(&mut up, false).await
    });
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let st = bin.wait_exit(DRAIN_DEADLINE + Duration::from_secs(10));
        (st, bin.stderr())
    })
    .await
    .unwrap();
    let elapsed = t0.elapsed();
    let status = status.unwrap_or_else(|| panic!("no exit within the drain deadline; stderr:\n{stderr}"));
    assert_eq!(status.code(), Some(0), "{stderr}");
    eprintln!("stalled upload: exited {elapsed:?} after SIGTERM");
    assert!(elapsed >= DRAIN_DEADLINE - Duration::from_secs(1), "exited after only {elapsed:?}");
    assert!(stderr.contains("did not finish before the shutdown deadline"), "{stderr}");
    // An error (the connection was closed) also tells the client the upload did not happen.
    if let Ok(r) = reader.await.unwrap() {
        assert!(!(200..300).contains(&r.status), "a cut-off upload must not succeed: {r:?}");
    }

    let bin = Bin::spawn(&bin_args(root.path(), &[]), &[]);
    let c = client_for(&bin.endpoint(), AK1, SK1, true);
    assert_s3_err!(c.get_object().bucket("drain").key("big").send().await, 404, "NoSuchKey");
    let listed = c.list_objects_v2().bucket("drain").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["before"]);
    assert_eq!(count_data_files(&data_dir), (1, 0), "(data files, temp files)");
}
