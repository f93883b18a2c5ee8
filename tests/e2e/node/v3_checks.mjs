// AWS SDK for JavaScript v3 with DEFAULT settings (only forcePathStyle: true):
// default request checksums (CRC32, aws-chunked where the SDK chooses it),
// default lib-storage part size and queue size. Prints PASS/FAIL lines.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import {
  S3Client, CreateBucketCommand, DeleteBucketCommand, PutObjectCommand, GetObjectCommand,
  HeadObjectCommand, DeleteObjectsCommand, ListObjectsV2Command, DeleteObjectCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

const endpoint = process.env.S3_ENDPOINT;
const s3 = new S3Client({
  endpoint,
  region: process.env.S3_REGION || 'us-east-1',
  credentials: { accessKeyId: process.env.S3_ACCESS_KEY, secretAccessKey: process.env.S3_SECRET_KEY },
  forcePathStyle: true,
});
const Bucket = 'e2e-node-v3';
const sha = (b) => createHash('sha256').update(b).digest('hex');
let failures = 0;

function describe(err) {
  const meta = err.$metadata || {};
  return `${err.name}: ${err.message} (HTTP ${meta.httpStatusCode ?? '?'}, requestId ${meta.requestId ?? '?'})`;
}

async function check(name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (err) {
    failures += 1;
    console.log(`FAIL ${name}: ${(err.$metadata ? describe(err) : String(err.message || err)).replace(/\s+/g, ' ').slice(0, 400)}`);
    console.error(`--- ${name}`);
    console.error(err);
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

async function bodyBytes(body) {
  return Buffer.from(await body.transformToByteArray());
}

await check('node_v3_create_bucket', async () => {
  await s3.send(new CreateBucketCommand({ Bucket }));
});

await check('node_v3_put_get', async () => {
  const text = `hello from sdk v3 ${new Date().toISOString()} ✓`;
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'hello.txt', Body: text, ContentType: 'text/plain', Metadata: { from: 'v3' } }));
  const md5 = createHash('md5').update(text).digest('hex');
  assert(put.ETag === `"${md5}"`, `PutObject ETag ${put.ETag} != "${md5}"`);
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'hello.txt' }));
  const body = (await bodyBytes(got.Body)).toString('utf8');
  assert(body === text, `body mismatch: ${JSON.stringify(body)} vs ${JSON.stringify(text)}`);
  assert(got.ContentType === 'text/plain', `ContentType ${got.ContentType}`);
  assert(got.Metadata && got.Metadata.from === 'v3', `Metadata ${JSON.stringify(got.Metadata)}`);
  // Binary body from a Buffer, 1 MiB.
  const bin = randomBytes(1024 * 1024);
  await s3.send(new PutObjectCommand({ Bucket, Key: 'bin.dat', Body: bin }));
  const got2 = await s3.send(new GetObjectCommand({ Bucket, Key: 'bin.dat' }));
  const back = await bodyBytes(got2.Body);
  assert(sha(back) === sha(bin), `1 MiB binary body sha256 mismatch (${back.length} bytes back)`);
});

await check('node_v3_put_stream_trailing_checksum', async () => {
  // A stream body with a known length: the SDK sends it aws-chunked with
  // STREAMING-UNSIGNED-PAYLOAD-TRAILER and an x-amz-checksum-crc32 trailer.
  const data = randomBytes(2 * 1024 * 1024 + 123);
  const chunks = [];
  for (let i = 0; i < data.length; i += 100 * 1024) chunks.push(data.subarray(i, i + 100 * 1024));
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'stream.bin', Body: Readable.from(chunks), ContentLength: data.length }));
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(data));
  const want = crc.toString('base64');
  assert(put.ChecksumCRC32 === want, `PutObject ChecksumCRC32 ${put.ChecksumCRC32}, want ${want}`);
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'stream.bin', ChecksumMode: 'ENABLED' }));
  const back = await bodyBytes(got.Body);
  assert(sha(back) === sha(data), `stream body sha256 mismatch (${back.length} bytes back)`);
  assert(got.ChecksumCRC32 === want, `GetObject ChecksumCRC32 ${got.ChecksumCRC32}, want ${want}`);
});

await check('node_v3_lib_storage_upload_20MiB', async () => {
  const data = randomBytes(20 * 1024 * 1024);
  // A stream body of unknown length, as applications typically pass.
  const chunks = [];
  for (let i = 0; i < data.length; i += 64 * 1024) chunks.push(data.subarray(i, i + 64 * 1024));
  const upload = new Upload({ client: s3, params: { Bucket, Key: 'big/upload.bin', Body: Readable.from(chunks) } });
  const res = await upload.done();
  assert(/-4"$/.test(res.ETag || ''), `expected a 4-part multipart ETag (5 MiB default parts), got ${res.ETag}`);
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'big/upload.bin' }));
  assert(head.ContentLength === data.length, `ContentLength ${head.ContentLength}`);
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'big/upload.bin' }));
  const back = await bodyBytes(got.Body);
  assert(sha(back) === sha(data), `20 MiB sha256 mismatch (${back.length} bytes back)`);
});

await check('node_v3_delete_objects', async () => {
  const keys = Array.from({ length: 25 }, (_, i) => `del/k${String(i).padStart(2, '0')}`);
  await Promise.all(keys.map((Key) => s3.send(new PutObjectCommand({ Bucket, Key, Body: Key }))));
  let listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'del/' }));
  assert(listed.KeyCount === 25, `KeyCount before delete ${listed.KeyCount}`);
  const res = await s3.send(new DeleteObjectsCommand({
    Bucket, Delete: { Objects: [...keys, 'del/never-existed'].map((Key) => ({ Key })) },
  }));
  assert(!res.Errors || res.Errors.length === 0, `Errors: ${JSON.stringify(res.Errors)}`);
  assert((res.Deleted || []).length === 26, `Deleted ${(res.Deleted || []).length} of 26`);
  listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'del/' }));
  assert(listed.KeyCount === 0, `KeyCount after delete ${listed.KeyCount}`);
});

await check('node_v3_presigned_put_get_fetch', async () => {
  const data = randomBytes(300 * 1024);
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: 'presigned.bin' }), { expiresIn: 300 });
  assert(putUrl.startsWith(endpoint), `presigned URL ${putUrl} not on ${endpoint}`);
  const put = await fetch(putUrl, { method: 'PUT', body: data });
  assert(put.ok, `presigned PUT -> ${put.status}: ${(await put.text()).slice(0, 300)}`);
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'presigned.bin' }), { expiresIn: 300 });
  const get = await fetch(getUrl);
  const back = Buffer.from(await get.arrayBuffer());
  assert(get.ok, `presigned GET -> ${get.status}: ${back.toString().slice(0, 300)}`);
  assert(sha(back) === sha(data), `presigned round trip sha256 mismatch (${back.length} bytes)`);
});

await check('node_v3_cleanup', async () => {
  for (const Key of ['hello.txt', 'bin.dat', 'stream.bin', 'big/upload.bin', 'presigned.bin']) {
    await s3.send(new DeleteObjectCommand({ Bucket, Key }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket }));
});

process.exit(failures ? 1 : 0);
