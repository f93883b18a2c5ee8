//! A full disk: the data directory on an 8 MiB tmpfs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use s3server::config::{Args, load_with_env};
use s3server::server::Server;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{http_once, poll_until_async, put_head, read_response, tmp_count};
use crate::assert_s3_err;
use crate::common::*;

/// A tmpfs mounted for the test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A presigned PUT of `len` bytes written whole while the answer is read; returns the answer.
async fn raw_put(addr: std::net::SocketAddr, path: &str, body: Vec<u8>) -> std::io::Result<super::Resp> {
    let s = TcpStream::connect(addr).await?;
    let (rd, mut wr) = s.into_split();
    let head = put_head(addr, path, body.len() as u64);
    let writer = tokio::spawn(async move {
        // The server may answer and close before it has read everything: that is not our error.
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        let _ = wr.flush().await;
        wr
    });
    let mut rd = BufReader::new(rd);
    let r = read_response(&mut rd, false).await;
    drop(writer.await);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_is_an_s3_error_and_recoverable() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let _mnt = match Tmpfs::mount(&data_dir, "8m") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("SKIPPED full_disk_is_an_s3_error_and_recoverable: cannot mount a tmpfs here: {e}");
            return;
        }
    };
    let args = Args {
        listen: Some(vec!["127.0.0.1:0".into()]),
        metrics_port: Some(0),
        data_path: Some(data_dir.clone()),
        metadata_path: Some(root.path().join("meta")),
        backend: Some("file".into()),
        ..Default::default()
    };
    let settings = load_with_env(&args, &|_| None).unwrap();
    let server = Server::start(&settings).await.expect("server starts");
    let addr = server.s3_addrs[0];
    let c = client_for(&format!("http://{addr}"), AK1, SK1, true);
    create_bucket(&c, "full").await;
    let small = data(64 * 1024, 1);
    put(&c, "full", "small", &small).await;

    // 16 MiB into 8 MiB, with the SDK: an S3 error, not a dropped connection.
    let res = c.put_object().bucket("full").key("big").body(ByteStream::from(data(16 << 20, 2))).send().await;
    assert_s3_err!(res, 500, "InternalError");
    // The same with a raw request, to see the body.
    let r = raw_put(addr, "/full/big", data(16 << 20, 3)).await.expect("an answer, not a reset");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/xml"));
    let text = r.text();
    assert_eq!(xml_tag(&text, "Code").as_deref(), Some("InternalError"), "{text}");
    assert_eq!(xml_tag(&text, "Resource").as_deref(), Some("/full/big"), "{text}");
    assert!(xml_tag(&text, "RequestId").is_some(), "{text}");

    // No partial object; the temp file is gone; earlier objects still read.
    assert_s3_err!(c.get_object().bucket("full").key("big").send().await, 404, "NoSuchKey");
    let clean = poll_until_async(Duration::from_secs(10), || async { (tmp_count(&data_dir) == 0).then_some(()) }).await;
    assert!(clean.is_some(), "data/tmp is empty after the failed upload");
    assert_eq!(get_bytes(&c, "full", "small").await, small);

    // Fill most of the disk, fail on the rest, free space by deleting, and succeed.
    let filler = data(5 << 20, 4);
    put(&c, "full", "filler", &filler).await;
    let four = data(4 << 20, 5);
    let res = c.put_object().bucket("full").key("four").body(ByteStream::from(four.clone())).send().await;
    assert_s3_err!(res, 500, "InternalError");
    assert_s3_err!(c.get_object().bucket("full").key("four").send().await, 404, "NoSuchKey");
    c.delete_object().bucket("full").key("filler").send().await.unwrap();
    assert_eq!(put(&c, "full", "four", &four).await, quoted_md5(&four));
    assert_eq!(get_bytes(&c, "full", "four").await, four);
    assert_eq!(get_bytes(&c, "full", "small").await, small);
    assert_eq!(http_once(server.admin_addrs[0], "GET", "/ready").await.unwrap().status, 200);
    let (files, tmp) = count_data_files(&data_dir);
    assert_eq!((files, tmp), (2, 0));
    server.shutdown().await;
}
