//! TLS from config.json's certFilePaths: an SDK client that trusts the CA works (PUT, GET,
//! multipart), one that does not fails the handshake, CloudServer's tutorial X.509 v1
//! certificate is served, and bad TLS files stop start-up with exit code 2.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use s3server::config::{Args, load_with_env};
use s3server::server::Server;
use tokio::net::TcpStream;

use super::{Bin, bin_args, roundtrip, run_to_exit};
use crate::common::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, and in `certs/`: a v3 server certificate for localhost and 127.0.0.1 (server.*), the
/// tutorial's v1 certificate for *.scality.test (v1.*), and an unrelated key (other.key).
/// Returns the certs directory.
fn make_pki(root: &Path) -> PathBuf {
    let d = root.join("certs");
    std::fs::create_dir_all(&d).unwrap();
    openssl(&d, &["genrsa", "-out", "ca.key", "2048"]);
    openssl(
        &d,
        &["req", "-new", "-x509", "-key", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/CN=ops test CA"],
    );
    for name in ["server", "v1", "other"] {
        openssl(&d, &["genrsa", "-out", &format!("{name}.key"), "2048"]);
    }
    openssl(&d, &["req", "-new", "-key", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
    std::fs::write(d.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            "san.ext",
        ],
    );
    // CloudServer's tutorial: the CSR signed without extensions, which makes an X.509 v1 certificate.
    openssl(&d, &["req", "-new", "-key", "v1.key", "-out", "v1.csr", "-subj", "/CN=*.scality.test"]);
    openssl(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "v1.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "v1.crt",
            "-days",
            "30",
        ],
    );
    let text =
        Command::new("openssl").args(["x509", "-in", "v1.crt", "-noout", "-text"]).current_dir(&d).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"), "v1.crt must be X.509 v1");
    d
}

/// Writes `<root>/conf/config.json` with certFilePaths relative to it (`../certs/...`).
fn write_config(root: &Path, cert_file_paths: serde_json::Value) -> PathBuf {
    let conf = root.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let path = conf.join("config.json");
    let v = serde_json::json!({ "port": 8000, "certFilePaths": cert_file_paths });
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    path
}

fn paths(key: &str, cert: &str) -> serde_json::Value {
    serde_json::json!({ "key": format!("../certs/{key}"), "cert": format!("../certs/{cert}"), "ca": "../certs/ca.crt" })
}

/// An SDK client over HTTPS trusting only `ca_pem` (or, with None, the platform's roots only).
fn tls_client(endpoint: &str, ca_pem: Option<&[u8]>) -> Client {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let trust = match ca_pem {
        Some(pem) => TrustStore::empty().with_pem_certificate(pem.to_vec()),
        None => TrustStore::default(),
    };
    let ctx = TlsContext::builder().with_trust_store(trust).build().expect("TLS context");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(ctx)
        .build_https();
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(AK1, SK1, None, None, "static"))
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

/// A raw TLS connection (rustls, ring) trusting `ca`.
async fn tls_connect(
    addr: std::net::SocketAddr,
    ca: &Path,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_trusted_sdk_and_untrusted_handshake() {
    let root = tempfile::tempdir().unwrap();
    let certs = make_pki(root.path());
    let config = write_config(root.path(), paths("server.key", "server.crt"));
    let args = Args {
        config: Some(config),
        listen: Some(vec!["127.0.0.1:0".into()]),
        metrics_port: Some(0),
        data_path: Some(root.path().join("data")),
        metadata_path: Some(root.path().join("meta")),
        backend: Some("file".into()),
        ..Default::default()
    };
    let settings = load_with_env(&args, &|_| None).expect("configuration loads");
    let tls = settings.tls.as_ref().expect("certFilePaths turns TLS on");
    // Relative to the config file's directory, not the current directory.
    assert_eq!(tls.cert, root.path().join("conf").join("../certs/server.crt"));
    let server = Server::start(&settings).await.expect("server starts");
    let (addr, admin) = (server.s3_addrs[0], server.admin_addrs[0]);
    let ca_pem = std::fs::read(certs.join("ca.crt")).unwrap();

    // Trusted: PUT, GET, and a two-part multipart upload with a 5 MiB first part.
    let c = tls_client(&format!("https://127.0.0.1:{}", addr.port()), Some(&ca_pem));
    create_bucket(&c, "tls").await;
    let small = data(100_000, 1);
    assert_eq!(put(&c, "tls", "obj", &small).await, quoted_md5(&small));
    assert_eq!(get_bytes(&c, "tls", "obj").await, small);
    let p1 = data(5 * 1024 * 1024, 2);
    let p2 = data(1000, 3);
    let up = c.create_multipart_upload().bucket("tls").key("mpu").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, &p1), (2, &p2)] {
        let out = c
            .upload_part()
            .bucket("tls")
            .key("mpu")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"));
        parts.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let done = c
        .complete_multipart_upload()
        .bucket("tls")
        .key("mpu")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    assert!(done.e_tag().unwrap().ends_with("-2\""), "{:?}", done.e_tag());
    let whole = [p1.as_slice(), p2.as_slice()].concat();
    assert_eq!(get_bytes(&c, "tls", "mpu").await, whole);

    // The DNS name in subjectAltName works too.
    let by_name = tls_client(&format!("https://localhost:{}", addr.port()), Some(&ca_pem));
    assert_eq!(get_bytes(&by_name, "tls", "obj").await, small);

    // Not trusted: the handshake fails in the connector; no S3 response is ever seen.
    let untrusted = tls_client(&format!("https://127.0.0.1:{}", addr.port()), None);
    match untrusted.list_buckets().send().await {
        Err(SdkError::DispatchFailure(e)) => {
            let text = format!("{e:?}");
            assert!(
                text.contains("UnknownIssuer") || text.contains("certificate"),
                "a certificate error is expected: {text}"
            );
        }
        other => panic!("expected a TLS failure in the connector, got {other:?}"),
    }

    // Plain HTTP to the TLS port gets no HTTP answer.
    if let Ok(r) = super::http_once(addr, "GET", "/_/healthcheck").await {
        panic!("plain HTTP on the TLS port was answered: {r:?}");
    }

    // The admin listener is TLS too.
    let s = tls_connect(admin, &certs.join("ca.crt"), "localhost").await.expect("admin TLS handshake");
    let mut conn = tokio::io::BufReader::new(s);
    let r = roundtrip(&mut conn, "GET", "/live", "localhost").await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, r#"{"status":"ok"}"#));
    let r = roundtrip(&mut conn, "GET", "/ready", "localhost").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    server.shutdown().await;
}

/// curl (OpenSSL) with `--resolve` so the host name matches the certificate's CN.
fn curl(ca: Option<&Path>, port: u16, path: &str) -> (i32, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"])
        .arg("--resolve")
        .arg(format!("s3.scality.test:{port}:127.0.0.1"));
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    let out = cmd.arg(format!("https://s3.scality.test:{port}{path}")).output().expect("run curl");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_tutorial_v1_certificate_is_served() {
    let root = tempfile::tempdir().unwrap();
    let certs = make_pki(root.path());
    let config = write_config(root.path(), paths("v1.key", "v1.crt"));
    let mut args = bin_args(root.path(), &[]);
    args.push("--config".into());
    args.push(config.into());
    let bin = Bin::spawn(&args, &[]);
    // A warning recommends a v3 certificate.
    let warn = bin.wait_line(std::time::Duration::from_secs(5), |l| l.contains("X.509 v1"));
    assert!(warn.as_deref().is_some_and(|l| l.contains("\"level\":\"WARN\"")), "{}", bin.stderr());
    let port = bin.addr.port();
    let ca = certs.join("ca.crt");
    let (code, out) = tokio::task::spawn_blocking(move || curl(Some(&ca), port, "/_/healthcheck")).await.unwrap();
    assert_eq!(code, 0, "curl --cacert must accept the v1 certificate: {out}");
    assert!(out.ends_with("\n200"), "{out}");
    // Without the CA, curl refuses the certificate (exit 60: peer certificate cannot be authenticated).
    let (code, out) = tokio::task::spawn_blocking(move || curl(None, port, "/_/healthcheck")).await.unwrap();
    assert_eq!(code, 60, "{out}");
}

#[test]
fn tls_bad_files_stop_start_up_with_exit_2() {
    let root = tempfile::tempdir().unwrap();
    make_pki(root.path());
    let cases: [(&str, serde_json::Value, &str); 5] = [
        ("key not matching the cert", paths("other.key", "server.crt"), "does not match"),
        ("key not matching a v1 cert", paths("other.key", "v1.crt"), "does not match"),
        ("only a key", serde_json::json!({ "key": "../certs/server.key" }), "key and cert must both be given"),
        ("only a cert", serde_json::json!({ "cert": "../certs/server.crt" }), "key and cert must both be given"),
        ("missing cert file", paths("server.key", "nope.crt"), "nope.crt"),
    ];
    for (what, cfp, needle) in cases {
        let config = write_config(root.path(), cfp);
        let mut args = bin_args(root.path(), &[]);
        args.push("--config".into());
        args.push(config.into());
        let (status, stderr) = run_to_exit(&args, &[]);
        assert_eq!(status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(needle), "{what}: {stderr}");
        if what != "missing cert file" {
            assert!(stderr.contains("certFilePaths"), "{what}: the message names certFilePaths: {stderr}");
        }
    }
}
