//! Test harness: an in-process server on 127.0.0.1:0 with a fresh temp dir, SDK clients for the
//! two accounts of conf/authdata.json, and small raw-HTTP helpers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use md5::Md5;
use s3server::config::{Args, load_with_env};
use s3server::server::Server;
use sha2::Digest;
use tempfile::TempDir;

pub const AK1: &str = "accessKey1";
pub const SK1: &str = "verySecretKey1";
pub const AK2: &str = "accessKey2";
pub const SK2: &str = "verySecretKey2";
/// Canonical ids from conf/authdata.json.
pub const ID1: &str = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";
pub const ID2: &str = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2bf";
pub const NAME1: &str = "Bart";
pub const NAME2: &str = "Lisa";

/// Generates one test per backend for `async fn $name(backend: &'static str)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn file() {
                super::$name("file").await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mem() {
                super::$name("mem").await
            }
        }
    )+};
}

pub struct TestServer {
    pub server: Server,
    pub addr: SocketAddr,
    pub dir: TempDir,
    pub backend: &'static str,
}

pub struct Opts {
    pub backend: &'static str,
    pub mpu_testing: bool,
}

impl TestServer {
    pub async fn start(backend: &'static str) -> TestServer {
        Self::start_with(Opts { backend, mpu_testing: false }).await
    }

    pub async fn start_with(opts: Opts) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = Args {
            listen: Some(vec!["127.0.0.1:0".into()]),
            metrics_port: Some(0),
            data_path: Some(dir.path().join("data")),
            metadata_path: Some(dir.path().join("meta")),
            backend: Some(opts.backend.to_string()),
            ..Default::default()
        };
        let mpu = opts.mpu_testing;
        let env = move |name: &str| match name {
            "MPU_TESTING" if mpu => Some("yes".to_string()),
            _ => None,
        };
        let settings = load_with_env(&args, &env).expect("configuration loads");
        let server = Server::start(&settings).await.expect("server starts");
        let addr = server.s3_addrs[0];
        TestServer { server, addr, dir, backend: opts.backend }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Account 1 (Bart).
    pub fn client(&self) -> Client {
        client_for(&self.endpoint(), AK1, SK1, true)
    }

    /// Account 2 (Lisa).
    pub fn client2(&self) -> Client {
        client_for(&self.endpoint(), AK2, SK2, true)
    }

    pub fn client_with(&self, ak: &str, sk: &str) -> Client {
        client_for(&self.endpoint(), ak, sk, true)
    }
}

pub fn client_for(endpoint: &str, ak: &str, sk: &str, path_style: bool) -> Client {
    let creds = Credentials::new(ak, sk, None, None, "static");
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .force_path_style(path_style)
        // A retried request would hide what the server answered the first time.
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("reqwest client")
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// A multipart object's ETag: the MD5 of the parts' binary MD5s, then `-N`, quoted.
pub fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut concat = Vec::new();
    for p in parts {
        concat.extend_from_slice(&Md5::digest(p));
    }
    format!("\"{}-{}\"", md5_hex(&concat), parts.len())
}

pub fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub async fn create_bucket(c: &Client, name: &str) {
    c.create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {:?}", e.into_service_error()));
}

pub async fn put(c: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
    out.e_tag().expect("PutObject returns an ETag").to_string()
}

pub async fn get_bytes(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out =
        c.get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"));
    out.body.collect().await.expect("body").into_bytes().to_vec()
}

/// What an SDK error carries: HTTP status and S3 error code.
#[derive(Debug)]
pub struct Failure {
    pub status: u16,
    pub code: Option<String>,
    pub message: Option<String>,
}

pub fn failure<E, R>(res: Result<R, SdkError<E, aws_smithy_runtime_api::http::Response>>) -> Failure
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match res {
        Ok(r) => panic!("expected an error response, got success: {r:?}"),
        Err(SdkError::ServiceError(se)) => {
            let status = se.raw().status().as_u16();
            let err = se.err();
            Failure { status, code: err.code().map(str::to_owned), message: err.message().map(str::to_owned) }
        }
        Err(e) => panic!("expected a service error, got {e:?}"),
    }
}

/// Asserts an SDK call failed with this status and S3 error code.
#[macro_export]
macro_rules! assert_s3_err {
    ($res:expr, $status:expr, $code:expr) => {{
        let f = $crate::common::failure($res);
        assert_eq!((f.status, f.code.as_deref()), ($status, Some($code)), "unexpected error response: {f:?}");
        f
    }};
}

pub async fn presign_get(c: &Client, bucket: &str, key: &str, expires: Duration) -> String {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .presigned(PresigningConfig::expires_in(expires).unwrap())
        .await
        .expect("presign")
        .uri()
        .to_string()
}

/// The text of one XML element in a body, if present.
pub fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].to_string())
}

/// Counts the data files in `<data>/<2hex>/<2hex>/` and what is in `<data>/tmp`.
pub fn count_data_files(data: &std::path::Path) -> (usize, usize) {
    let is_shard = |n: &str| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit());
    let mut files = 0;
    for l1 in std::fs::read_dir(data).expect("data dir") {
        let l1 = l1.unwrap();
        let n1 = l1.file_name().to_string_lossy().into_owned();
        if !l1.file_type().unwrap().is_dir() || !is_shard(&n1) {
            continue;
        }
        for l2 in std::fs::read_dir(l1.path()).unwrap() {
            let l2 = l2.unwrap();
            let n2 = l2.file_name().to_string_lossy().into_owned();
            if !l2.file_type().unwrap().is_dir() || !is_shard(&n2) {
                continue;
            }
            files += std::fs::read_dir(l2.path()).unwrap().count();
        }
    }
    let tmp = match std::fs::read_dir(data.join("tmp")) {
        Ok(rd) => rd.count(),
        Err(_) => 0,
    };
    (files, tmp)
}

// ---- a small SigV4 query-string signer, for operations the SDK cannot presign ----

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use sha2::Sha256;
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// RFC 3986 encoding as SigV4 wants it; `/` kept only when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Presigns `method path?query` for `host` (the Host header value) and returns
/// `path?query-with-signature`. `path` is raw (not yet encoded); `expires` may exceed 7 days.
pub fn presign_raw(
    host: &str,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    ak: &str,
    sk: &str,
    expires: u64,
) -> String {
    use sha2::Sha256;
    let now = time::OffsetDateTime::now_utc();
    let amz_date = now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap();
    let date = &amz_date[..8];
    let scope = format!("{date}/us-east-1/s3/aws4_request");
    let credential = format!("{ak}/{scope}");
    let expires = expires.to_string();
    let mut params: Vec<(String, String)> =
        query.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
    for (k, v) in [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Date", amz_date.as_str()),
        ("X-Amz-Expires", expires.as_str()),
        ("X-Amz-SignedHeaders", "host"),
    ] {
        params.push((uri_encode(k, false), uri_encode(v, false)));
    }
    params.sort();
    let canonical_query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical_query = canonical_query.join("&");
    let canonical_uri = uri_encode(path, true);
    let canonical_request =
        format!("{method}\n{canonical_uri}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let mut key = hmac_sha256(format!("AWS4{sk}").as_bytes(), date.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let sig = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    format!("{canonical_uri}?{canonical_query}&X-Amz-Signature={sig}")
}

impl TestServer {
    /// A presigned URL (account 1) for a path-style request to this server.
    pub fn presigned(&self, method: &str, path: &str, query: &[(&str, &str)]) -> String {
        let host = self.addr.to_string();
        let pq = presign_raw(&host, method, path, query, AK1, SK1, 300);
        format!("http://{host}{pq}")
    }
}

/// File backend only: every data file belongs to a live single-part object larger than the
/// inline limit (4096 bytes), and nothing is left in data/tmp. Call when no multipart objects
/// or uploads exist.
pub async fn assert_data_files_match(s: &TestServer) {
    if s.backend != "file" {
        return;
    }
    let c = s.client();
    let mut file_backed = 0;
    for b in c.list_buckets().send().await.unwrap().buckets() {
        let mut token = None;
        loop {
            let out = c.list_objects_v2().bucket(b.name().unwrap()).set_continuation_token(token).send().await.unwrap();
            file_backed += out.contents().iter().filter(|o| o.size().unwrap_or(0) > 4096).count();
            token = out.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    let (files, tmp) = count_data_files(&s.data_dir());
    assert_eq!((files, tmp), (file_backed, 0), "data files vs objects larger than 4096 bytes");
}
