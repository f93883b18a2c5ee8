//! The workloads of issue 7: what each one preloads (untimed) and what one operation is.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;

use crate::body::{Corpus, Expected, multipart_etag};
use crate::client::{BenchError, Res, S3};
use crate::runner::{Limit, OpFn, OpOk, for_each_concurrent};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Every workload, in the order `all` runs them.
pub const ALL: &[&str] = &[
    "put-4k-c1",
    "put-4k-c16",
    "put-4k-c64",
    "get-4k-c1",
    "get-4k-c16",
    "get-4k-c64",
    "mix-4k-c16",
    "put-1m-c16",
    "get-1m-c16",
    "put-64m",
    "get-64m",
    "mpu-1g",
    "get-1g",
    "list-10k",
    "list-delim",
    "list-prefix",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Put,
    Get,
    Mix,
    MpuPut,
    MpuGet,
    ListAll,
    ListDelim,
    ListPrefix,
}

/// Object and data-set sizes: the issue's, or tiny ones for `--smoke`.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub medium: u64,
    pub large: u64,
    pub part: u64,
    pub parts: u32,
    pub parts_in_flight: usize,
    pub list_prefixes: u32,
    pub list_per_prefix: u32,
    pub page: u32,
    /// Objects preloaded for the GET and mix workloads of 4 KiB and 1 MiB.
    pub small_objects: usize,
    pub medium_objects: usize,
}

impl Sizes {
    pub fn new(smoke: bool) -> Self {
        if smoke {
            Sizes {
                medium: 64 * KIB,
                large: MIB,
                part: 5 * MIB,
                parts: 2,
                parts_in_flight: 2,
                list_prefixes: 10,
                list_per_prefix: 20,
                page: 50,
                small_objects: 100,
                medium_objects: 8,
            }
        } else {
            Sizes {
                medium: MIB,
                large: 64 * MIB,
                part: 16 * MIB,
                parts: 64,
                parts_in_flight: 4,
                list_prefixes: 100,
                list_per_prefix: 100,
                page: 1000,
                small_objects: 1000,
                medium_objects: 64,
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub kind: Kind,
    /// Bytes per object (for lists: bytes of each listed object).
    pub size: u64,
    pub concurrency: usize,
    /// Large objects are counted in operations rather than timed; multipart uploads too.
    pub counted: bool,
}

pub fn spec(name: &str, sizes: &Sizes) -> Option<Spec> {
    let name = *ALL.iter().find(|n| **n == name)?;
    let (kind, size, concurrency, counted) = match name {
        "put-4k-c1" => (Kind::Put, 4 * KIB, 1, false),
        "put-4k-c16" => (Kind::Put, 4 * KIB, 16, false),
        "put-4k-c64" => (Kind::Put, 4 * KIB, 64, false),
        "get-4k-c1" => (Kind::Get, 4 * KIB, 1, false),
        "get-4k-c16" => (Kind::Get, 4 * KIB, 16, false),
        "get-4k-c64" => (Kind::Get, 4 * KIB, 64, false),
        "mix-4k-c16" => (Kind::Mix, 4 * KIB, 16, false),
        "put-1m-c16" => (Kind::Put, sizes.medium, 16, false),
        "get-1m-c16" => (Kind::Get, sizes.medium, 16, false),
        "put-64m" => (Kind::Put, sizes.large, 1, false),
        "get-64m" => (Kind::Get, sizes.large, 1, false),
        "mpu-1g" => (Kind::MpuPut, sizes.part * u64::from(sizes.parts), 1, true),
        "get-1g" => (Kind::MpuGet, sizes.part * u64::from(sizes.parts), 1, true),
        "list-10k" => (Kind::ListAll, 16, 1, false),
        "list-delim" => (Kind::ListDelim, 16, 1, false),
        "list-prefix" => (Kind::ListPrefix, 16, 1, false),
        _ => return None,
    };
    Some(Spec { name, kind, size, concurrency, counted })
}

/// Shared state of one s3bench run: the client, the bodies, and which data sets exist.
pub struct Ctx {
    pub s3: Arc<S3>,
    pub sizes: Sizes,
    pub bucket_prefix: String,
    corpora: Mutex<HashMap<(u64, usize), Arc<Corpus>>>,
    prepared: tokio::sync::Mutex<HashSet<String>>,
}

impl Ctx {
    pub fn new(s3: S3, sizes: Sizes, bucket_prefix: String) -> Self {
        Ctx {
            s3: Arc::new(s3),
            sizes,
            bucket_prefix,
            corpora: Mutex::new(HashMap::new()),
            prepared: tokio::sync::Mutex::new(HashSet::new()),
        }
    }

    fn corpus(&self, size: u64, variants: usize) -> Arc<Corpus> {
        let mut c = self.corpora.lock().unwrap_or_else(|e| e.into_inner());
        c.entry((size, variants)).or_insert_with(|| Arc::new(Corpus::new(size as usize, variants, size))).clone()
    }

    /// Bodies for objects of `size`: many variants for small objects, few for huge ones.
    fn corpus_for(&self, size: u64) -> Arc<Corpus> {
        let variants = match size {
            s if s <= 64 * KIB => 256,
            s if s <= 4 * MIB => 32,
            _ => 4,
        };
        self.corpus(size, variants)
    }

    fn bucket(&self, what: &str) -> String {
        format!("{}-{what}", self.bucket_prefix)
    }

    /// Runs `prepare` once per data-set `name` in this process.
    async fn once<F: Future<Output = Res<()>>>(&self, name: &str, prepare: F) -> Res<()> {
        let mut done = self.prepared.lock().await;
        if !done.contains(name) {
            prepare.await?;
            done.insert(name.to_owned());
        }
        Ok(())
    }

    /// The 1 GiB object's parts: part `n` (1-based) is variant `n-1` of a 16-variant corpus.
    fn parts(&self) -> (Arc<Corpus>, Vec<usize>) {
        let corpus = self.corpus(self.sizes.part, 16);
        (corpus, (0..self.sizes.parts as usize).collect())
    }

    fn big_expected(&self) -> Expected {
        let (c, parts) = self.parts();
        let md5s: Vec<&str> = parts.iter().map(|&v| c.md5(v)).collect();
        Expected { segments: parts.iter().map(|&v| c.body(v)).collect(), etag: multipart_etag(&md5s) }
    }
}

/// PUTs the objects `{prefix}{i:06}` for i < n (untimed preload).
async fn preload(ctx: &Ctx, bucket: &str, prefix: &str, n: usize, size: u64) -> Res<()> {
    ctx.s3.create_bucket(bucket).await?;
    let corpus = ctx.corpus_for(size);
    let conc = if size >= 16 * MIB { 2 } else { 16 };
    for_each_concurrent(n, conc, |i| {
        let key = format!("{prefix}{i:06}");
        let v = corpus.variant_of(&key);
        let (body, md5) = (corpus.body(v), corpus.md5(v).to_owned());
        let s3 = ctx.s3.clone();
        let bucket = bucket.to_owned();
        async move { s3.put_verify(&bucket, &key, body, &md5).await.map(|_| ()) }
    })
    .await
}

/// The key of the `j`th object under the `p`th prefix of the listing data set.
fn list_key(p: u32, j: u32) -> String {
    format!("d{p:03}/k{j:05}")
}

/// One multipart upload of the big object (parts_in_flight parts at a time); returns the
/// CompleteMultipartUpload latency.
async fn multipart_upload(ctx: &Ctx, bucket: &str, key: &str) -> Res<Duration> {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;
    let (corpus, parts) = ctx.parts();
    let s3 = &ctx.s3;
    let id = Arc::new(s3.create_mpu(bucket, key).await?);
    let mut running = FuturesUnordered::new();
    let mut failed = None;
    for (i, &v) in parts.iter().enumerate() {
        if running.len() >= ctx.sizes.parts_in_flight
            && let Some(Err(e)) = running.next().await
        {
            failed = Some(e);
            break;
        }
        let (s3, bucket, key, id) = (s3.clone(), bucket.to_owned(), key.to_owned(), id.clone());
        let (body, md5) = (corpus.body(v), corpus.md5(v).to_owned());
        let task = tokio::spawn(async move { s3.upload_part(&bucket, &key, &id, i as u32 + 1, body, &md5).await });
        running
            .push(async move { task.await.unwrap_or_else(|e| Err(BenchError::Transport(format!("part task: {e}")))) });
    }
    while let Some(r) = running.next().await {
        if let Err(e) = r {
            failed.get_or_insert(e);
        }
    }
    if let Some(e) = failed {
        let _ = s3.abort_mpu(bucket, key, &id).await;
        return Err(e);
    }
    let md5s: Vec<&str> = parts.iter().map(|&v| corpus.md5(v)).collect();
    let t = Instant::now();
    let etag = s3.complete_mpu(bucket, key, &id, &md5s).await?;
    let took = t.elapsed();
    let want = multipart_etag(&md5s);
    if etag != want {
        return Err(BenchError::Verify(format!("CompleteMultipartUpload: ETag {etag} != {want}")));
    }
    Ok(took)
}

/// Prepares what `spec` needs (untimed) and returns its operation.
pub async fn setup(ctx: &Arc<Ctx>, spec: &Spec) -> Res<OpFn> {
    let s3 = ctx.s3.clone();
    let sizes = ctx.sizes;
    let op: OpFn = match spec.kind {
        Kind::Put => {
            let bucket = ctx.bucket("put");
            ctx.s3.create_bucket(&bucket).await?;
            let corpus = ctx.corpus_for(spec.size);
            let seq = Arc::new(AtomicU64::new(0));
            let name = spec.name;
            Arc::new(move |w, _r| {
                let key = format!("{name}/{w:02}/{:09}", seq.fetch_add(1, Ordering::Relaxed));
                let v = corpus.variant_of(&key);
                let (body, md5) = (corpus.body(v), corpus.md5(v).to_owned());
                let (s3, bucket) = (s3.clone(), bucket.clone());
                async move { s3.put_verify(&bucket, &key, body, &md5).await.map(OpOk::bytes) }.boxed()
            })
        }
        Kind::Get | Kind::Mix => {
            let n = match spec.size {
                s if s <= 64 * KIB => sizes.small_objects,
                s if s <= 4 * MIB => sizes.medium_objects,
                _ => 2,
            };
            let bucket = ctx.bucket(&format!("obj{}", spec.size));
            ctx.once(&bucket, preload(ctx, &bucket, "o/", n, spec.size)).await?;
            let corpus = ctx.corpus_for(spec.size);
            let mix = spec.kind == Kind::Mix;
            Arc::new(move |_w, r| {
                let key = format!("o/{:06}", (r >> 8) % n as u64);
                let (s3, bucket, corpus) = (s3.clone(), bucket.clone(), corpus.clone());
                async move {
                    // Mix: 30% PUTs overwrite a key with its own content, so concurrent GETs
                    // must see exactly these bytes whichever version they read.
                    if mix && r % 10 >= 7 {
                        let v = corpus.variant_of(&key);
                        let (body, md5) = (corpus.body(v), corpus.md5(v));
                        s3.put_verify(&bucket, &key, body, md5).await.map(OpOk::bytes)
                    } else {
                        let exp = corpus.expect(&key);
                        s3.get_verify(&bucket, &key, &exp).await.map(OpOk::bytes)
                    }
                }
                .boxed()
            })
        }
        Kind::MpuPut => {
            let bucket = ctx.bucket("mpu");
            ctx.s3.create_bucket(&bucket).await?;
            ctx.parts(); // build the part bodies and their MD5s now, not while timing
            let ctx2 = ctx.clone();
            let total = spec.size;
            Arc::new(move |_w, _r| {
                let (ctx, bucket) = (ctx2.clone(), bucket.clone());
                async move {
                    let took = multipart_upload(&ctx, &bucket, "big").await?;
                    // The object now exists: get-1g in the same run reuses it.
                    ctx.prepared.lock().await.insert("big".into());
                    Ok(OpOk { bytes: total, extra: Some(("complete", took)) })
                }
                .boxed()
            })
        }
        Kind::MpuGet => {
            let bucket = ctx.bucket("mpu");
            ctx.s3.create_bucket(&bucket).await?;
            ctx.once("big", async { multipart_upload(ctx, &bucket, "big").await.map(|_| ()) }).await?;
            let exp = Arc::new(ctx.big_expected());
            Arc::new(move |_w, _r| {
                let (s3, bucket, exp) = (s3.clone(), bucket.clone(), exp.clone());
                async move { s3.get_verify(&bucket, "big", &exp).await.map(OpOk::bytes) }.boxed()
            })
        }
        Kind::ListAll | Kind::ListDelim | Kind::ListPrefix => {
            let bucket = ctx.bucket("list");
            let (np, nk) = (sizes.list_prefixes, sizes.list_per_prefix);
            ctx.once(&bucket, async {
                ctx.s3.create_bucket(&bucket).await?;
                let corpus = ctx.corpus_for(spec.size);
                for_each_concurrent((np * nk) as usize, 32, |i| {
                    let key = list_key(i as u32 / nk, i as u32 % nk);
                    let v = corpus.variant_of(&key);
                    let (body, md5) = (corpus.body(v), corpus.md5(v).to_owned());
                    let (s3, bucket) = (ctx.s3.clone(), bucket.clone());
                    async move { s3.put_verify(&bucket, &key, body, &md5).await.map(|_| ()) }
                })
                .await
            })
            .await?;
            list_op(s3, bucket, spec.kind, np, nk, sizes.page)
        }
    };
    Ok(op)
}

fn list_op(s3: Arc<S3>, bucket: String, kind: Kind, np: u32, nk: u32, page: u32) -> OpFn {
    // What each listing must return, in order.
    let mid = np / 2;
    let (prefix, delimiter, want_keys, want_prefixes): (String, Option<&str>, Vec<String>, Vec<String>) = match kind {
        Kind::ListAll => {
            (String::new(), None, (0..np).flat_map(|p| (0..nk).map(move |j| list_key(p, j))).collect(), vec![])
        }
        Kind::ListDelim => (String::new(), Some("/"), vec![], (0..np).map(|p| format!("d{p:03}/")).collect()),
        _ => (format!("d{mid:03}/"), Some("/"), (0..nk).map(|j| list_key(mid, j)).collect(), vec![]),
    };
    let want = Arc::new((want_keys, want_prefixes));
    let max_keys = if kind == Kind::ListAll { page } else { 1000 };
    Arc::new(move |_w, _r| {
        let (s3, bucket, want, prefix) = (s3.clone(), bucket.clone(), want.clone(), prefix.clone());
        async move {
            let (mut keys, mut prefixes, mut bytes) = (Vec::new(), Vec::new(), 0);
            let mut token: Option<String> = None;
            for _ in 0..=want.0.len() + want.1.len() {
                let p = s3.list(&bucket, &prefix, delimiter, max_keys, token.as_deref()).await?;
                keys.extend(p.keys);
                prefixes.extend(p.prefixes);
                bytes += p.bytes;
                token = p.next_token;
                if !p.truncated || token.is_none() {
                    break;
                }
            }
            if keys != want.0 || prefixes != want.1 {
                return Err(BenchError::Verify(format!(
                    "LIST prefix={prefix:?} delimiter={delimiter:?}: got {} keys and {} prefixes, \
                     want {} and {}",
                    keys.len(),
                    prefixes.len(),
                    want.0.len(),
                    want.1.len()
                )));
            }
            Ok(OpOk::bytes(bytes))
        }
        .boxed()
    })
}

/// Warm-up and measured limits for `spec`.
pub fn limits(spec: &Spec, warmup: Duration, duration: Duration, count: u64) -> (Limit, Limit) {
    if spec.counted {
        (Limit::Count(0), Limit::Count(count))
    } else if spec.size >= 16 * MIB {
        (Limit::Count(1), Limit::Time(duration))
    } else {
        (Limit::Time(warmup), Limit::Time(duration))
    }
}
