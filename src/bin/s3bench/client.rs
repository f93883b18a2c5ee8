//! A minimal S3 client for benchmarking: hyper's pooled HTTP/1.1 client (keep-alive,
//! TCP_NODELAY), SigV4 header signing with `aws-sigv4` (`UNSIGNED-PAYLOAD`; the hot requests
//! through `sign::FastSigner`), path-style URLs,
//! a timeout on every request, and streaming verification of every GET body.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::body::{Expected, Verifier};
use crate::sign::{FastSigner, UNSIGNED_PAYLOAD};

/// RFC 3986 unreserved characters stay; everything else is escaped (SigV4's rule).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// Same, but '/' separates key segments and stays as is.
const KEY: &AsciiSet = &QUERY.remove(b'/');

/// Why an operation failed; `kind` is the bucket errors are counted in.
#[derive(Debug, Clone)]
pub enum BenchError {
    Timeout,
    Transport(String),
    Status(u16, String),
    Verify(String),
}

impl BenchError {
    pub fn kind(&self) -> String {
        match self {
            BenchError::Timeout => "timeout".into(),
            BenchError::Transport(_) => "transport".into(),
            BenchError::Status(s, code) => format!("http-{s}-{code}"),
            BenchError::Verify(_) => "verify".into(),
        }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Timeout => write!(f, "request timed out"),
            BenchError::Transport(e) => write!(f, "transport: {e}"),
            BenchError::Status(s, code) => write!(f, "HTTP {s} {code}"),
            BenchError::Verify(e) => write!(f, "verification failed: {e}"),
        }
    }
}

pub type Res<T> = Result<T, BenchError>;

fn verify_err(msg: impl Into<String>) -> BenchError {
    BenchError::Verify(msg.into())
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, Default)]
pub struct ListPage {
    pub keys: Vec<String>,
    pub prefixes: Vec<String>,
    pub next_token: Option<String>,
    pub truncated: bool,
    pub bytes: u64,
}

pub struct S3 {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    host: String,
    creds: Credentials,
    region: String,
    fast: FastSigner,
    /// Per-request timeout for a request with no body to speak of.
    pub timeout: Duration,
}

impl S3 {
    pub fn new(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        region: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let uri: http::Uri = endpoint.parse().map_err(|e| format!("bad endpoint {endpoint:?}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err("only http:// endpoints are supported".into());
        }
        let host = uri.authority().ok_or_else(|| format!("endpoint {endpoint:?} has no host"))?.to_string();
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(usize::MAX)
            .build(conn);
        Ok(S3 {
            client,
            base: format!("http://{host}"),
            host,
            creds: Credentials::new(access_key, secret_key, None, None, "s3bench"),
            region: region.to_owned(),
            fast: FastSigner::new(access_key, secret_key, region),
            timeout,
        })
    }

    /// The time allowed for a request moving `bytes` of payload: the base timeout plus
    /// 10 MiB/s, so a slow server fails the request instead of hanging the run.
    pub fn timeout_for(&self, bytes: u64) -> Duration {
        self.timeout + Duration::from_secs_f64(bytes as f64 / (10.0 * 1024.0 * 1024.0))
    }

    fn url(&self, bucket: &str, key: &str, query: &str) -> String {
        let mut u = format!("{}/{}", self.base, bucket);
        if !key.is_empty() {
            u.push('/');
            u.extend(utf8_percent_encode(key, KEY));
        }
        if !query.is_empty() {
            u.push('?');
            u.push_str(query);
        }
        u
    }

    async fn send(&self, method: Method, url: String, body: Bytes) -> Res<Response<Incoming>> {
        let len = body.len();
        let mut req = Request::builder().method(method.clone()).uri(&url).header(header::HOST, &self.host);
        if method == Method::PUT || method == Method::POST {
            req = req.header(header::CONTENT_LENGTH, len);
        }
        let path = url.strip_prefix(self.base.as_str()).filter(|p| !p.contains('?'));
        if let Some(path) = path {
            let signed = self.fast.sign(method.as_str(), path, &self.host, SystemTime::now());
            req = req
                .header("x-amz-date", signed.amz_date)
                .header("x-amz-content-sha256", UNSIGNED_PAYLOAD)
                .header(header::AUTHORIZATION, signed.authorization);
        }
        let mut req = req.body(Full::new(body)).map_err(|e| BenchError::Transport(e.to_string()))?;
        if path.is_none() {
            self.sign(&mut req)?;
        }
        self.client.request(req).await.map_err(|e| BenchError::Transport(format!("{e:?}")))
    }

    fn sign(&self, req: &mut Request<Full<Bytes>>) -> Res<()> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let identity = self.creds.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| BenchError::Transport(format!("signing: {e}")))?
            .into();
        let uri = req.uri().to_string();
        let headers: Vec<(&str, &str)> =
            req.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))).collect();
        let signable =
            SignableRequest::new(req.method().as_str(), uri, headers.into_iter(), SignableBody::UnsignedPayload)
                .map_err(|e| BenchError::Transport(format!("signing: {e}")))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| BenchError::Transport(format!("signing: {e}")))?.into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }

    /// Sends a request and reads the whole answer; a non-2xx status becomes an error carrying
    /// the S3 error code.
    async fn call(&self, method: Method, url: String, body: Bytes) -> Res<(http::HeaderMap, Bytes)> {
        let resp = self.send(method, url, body).await?;
        let status = resp.status();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.map_err(|e| BenchError::Transport(format!("reading body: {e}")))?.to_bytes();
        if !status.is_success() {
            let code = xml_value(&bytes, "Code").unwrap_or_default();
            return Err(BenchError::Status(status.as_u16(), code));
        }
        Ok((parts.headers, bytes))
    }

    async fn within<T>(&self, t: Duration, fut: impl Future<Output = Res<T>>) -> Res<T> {
        tokio::time::timeout(t, fut).await.unwrap_or(Err(BenchError::Timeout))
    }

    pub async fn create_bucket(&self, bucket: &str) -> Res<()> {
        let url = self.url(bucket, "", "");
        match self.within(self.timeout, self.call(Method::PUT, url, Bytes::new())).await {
            Ok(_) => Ok(()),
            // s3s-fs answers BucketAlreadyExists for a bucket its single user already has.
            Err(BenchError::Status(409, code)) if code.starts_with("BucketAlready") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// PUTs `body`; returns the ETag (unquoted).
    pub async fn put(&self, bucket: &str, key: &str, body: Bytes) -> Res<String> {
        let t = self.timeout_for(body.len() as u64);
        let url = self.url(bucket, key, "");
        let (headers, _) = self.within(t, self.call(Method::PUT, url, body)).await?;
        Ok(etag_of(&headers))
    }

    /// PUTs `body` and checks the returned ETag against `md5` (hex).
    pub async fn put_verify(&self, bucket: &str, key: &str, body: Bytes, md5: &str) -> Res<u64> {
        let len = body.len() as u64;
        let etag = self.put(bucket, key, body).await?;
        if etag != md5 {
            return Err(verify_err(format!("PUT {key}: ETag {etag} != MD5 {md5}")));
        }
        Ok(len)
    }

    /// GETs `key` and checks status, Content-Length, ETag and every byte against `exp`.
    /// Returns the number of body bytes.
    pub async fn get_verify(&self, bucket: &str, key: &str, exp: &Expected) -> Res<u64> {
        let len = exp.len();
        let url = self.url(bucket, key, "");
        self.within(self.timeout_for(len), async {
            let resp = self.send(Method::GET, url, Bytes::new()).await?;
            let status = resp.status();
            if !status.is_success() {
                let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                let code = body.ok().and_then(|b| xml_value(&b, "Code"));
                return Err(BenchError::Status(status.as_u16(), code.unwrap_or_default()));
            }
            let cl = resp
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if cl != Some(len) {
                return Err(verify_err(format!("GET {key}: Content-Length {cl:?} != {len}")));
            }
            let etag = etag_of(resp.headers());
            if etag != exp.etag {
                return Err(verify_err(format!("GET {key}: ETag {etag} != {}", exp.etag)));
            }
            let mut body = resp.into_body();
            let mut v = Verifier::new(&exp.segments);
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| BenchError::Transport(format!("body: {e}")))?;
                if let Ok(data) = frame.into_data() {
                    v.feed(&data).map_err(|e| verify_err(format!("GET {key}: {e}")))?;
                }
            }
            v.finish(len).map_err(|e| verify_err(format!("GET {key}: {e}")))?;
            Ok(len)
        })
        .await
    }

    /// One ListObjectsV2 page.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        max_keys: u32,
        token: Option<&str>,
    ) -> Res<ListPage> {
        let mut q = vec![("list-type", "2".to_owned()), ("max-keys", max_keys.to_string())];
        if !prefix.is_empty() {
            q.push(("prefix", prefix.to_owned()));
        }
        if let Some(d) = delimiter {
            q.push(("delimiter", d.to_owned()));
        }
        if let Some(t) = token {
            q.push(("continuation-token", t.to_owned()));
        }
        q.sort();
        let query: Vec<String> = q.iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY))).collect();
        let url = self.url(bucket, "", &query.join("&"));
        let (_, body) = self.within(self.timeout, self.call(Method::GET, url, Bytes::new())).await?;
        let text = String::from_utf8_lossy(&body);
        let mut page = ListPage {
            bytes: body.len() as u64,
            truncated: xml_value(&body, "IsTruncated").as_deref() == Some("true"),
            next_token: xml_value(&body, "NextContinuationToken"),
            ..ListPage::default()
        };
        for block in blocks(&text, "Contents") {
            if let Some(k) = xml_value(block.as_bytes(), "Key") {
                page.keys.push(k);
            }
        }
        for block in blocks(&text, "CommonPrefixes") {
            if let Some(p) = xml_value(block.as_bytes(), "Prefix") {
                page.prefixes.push(p);
            }
        }
        Ok(page)
    }

    pub async fn create_mpu(&self, bucket: &str, key: &str) -> Res<String> {
        let url = self.url(bucket, key, "uploads=");
        let (_, body) = self.within(self.timeout, self.call(Method::POST, url, Bytes::new())).await?;
        xml_value(&body, "UploadId").ok_or_else(|| verify_err("CreateMultipartUpload: no UploadId"))
    }

    /// Uploads one part and checks its ETag against `md5`.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
        md5: &str,
    ) -> Res<()> {
        let t = self.timeout_for(body.len() as u64);
        let q = format!("partNumber={number}&uploadId={}", utf8_percent_encode(upload_id, QUERY));
        let url = self.url(bucket, key, &q);
        let (headers, _) = self.within(t, self.call(Method::PUT, url, body)).await?;
        let etag = etag_of(&headers);
        if etag != md5 {
            return Err(verify_err(format!("UploadPart {number}: ETag {etag} != MD5 {md5}")));
        }
        Ok(())
    }

    /// Completes an upload of parts 1..=n with the given part MD5s; returns the object's ETag.
    pub async fn complete_mpu(&self, bucket: &str, key: &str, upload_id: &str, part_md5s: &[&str]) -> Res<String> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (i, m) in part_md5s.iter().enumerate() {
            xml.push_str(&format!("<Part><PartNumber>{}</PartNumber><ETag>\"{m}\"</ETag></Part>", i + 1));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let q = format!("uploadId={}", utf8_percent_encode(upload_id, QUERY));
        let url = self.url(bucket, key, &q);
        // Completing may legitimately take a while on servers that concatenate the parts.
        let t = self.timeout_for(part_md5s.len() as u64 * 16 * 1024 * 1024);
        let (_, body) = self.within(t, self.call(Method::POST, url, Bytes::from(xml))).await?;
        if let Some(code) = xml_value(&body, "Code") {
            return Err(BenchError::Status(200, code));
        }
        let etag = xml_value(&body, "ETag").unwrap_or_default();
        Ok(etag.trim_matches('"').to_owned())
    }

    pub async fn abort_mpu(&self, bucket: &str, key: &str, upload_id: &str) -> Res<()> {
        let q = format!("uploadId={}", utf8_percent_encode(upload_id, QUERY));
        let url = self.url(bucket, key, &q);
        self.within(self.timeout, self.call(Method::DELETE, url, Bytes::new())).await.map(|_| ())
    }
}

fn etag_of(headers: &http::HeaderMap) -> String {
    headers.get(header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or("").trim_matches('"').to_owned()
}

/// The text of the first `<tag>…</tag>` in `xml`, unescaped.
fn xml_value(xml: &[u8], tag: &str) -> Option<String> {
    let text = std::str::from_utf8(xml).ok()?;
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&format!("</{tag}>"))?;
    Some(unescape(&text[start..end]))
}

/// The inner text of every `<tag>…</tag>` block.
fn blocks<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(&rest[..j]);
        rest = &rest[j + close.len()..];
    }
    out
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_pages() {
        let xml = b"<ListBucketResult><Prefix>d/</Prefix><IsTruncated>true</IsTruncated>\
            <Contents><Key>d/a&amp;b</Key><ETag>&quot;x&quot;</ETag></Contents>\
            <Contents><Key>d/c</Key></Contents>\
            <CommonPrefixes><Prefix>d/e/</Prefix></CommonPrefixes>\
            <NextContinuationToken>tok+/=</NextContinuationToken></ListBucketResult>";
        let text = String::from_utf8_lossy(xml);
        let keys: Vec<_> = blocks(&text, "Contents").iter().filter_map(|b| xml_value(b.as_bytes(), "Key")).collect();
        assert_eq!(keys, ["d/a&b", "d/c"]);
        assert_eq!(xml_value(xml, "NextContinuationToken").unwrap(), "tok+/=");
        assert_eq!(xml_value(xml, "IsTruncated").unwrap(), "true");
    }
}
