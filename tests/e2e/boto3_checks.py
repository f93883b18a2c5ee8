#!/usr/bin/env python3
"""boto3 checks for the end-to-end suite, with boto3's current defaults
(request checksums "when_supported", response validation, s3v4 presigning).

Reads S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION and RUN from the
environment; prints one PASS/FAIL line per check.
"""
import concurrent.futures
import datetime
import hashlib
import os
import sys
import time
import traceback

import boto3
import botocore
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
WORK = os.path.join(os.environ.get("RUN", "/tmp"), "boto3")
os.makedirs(WORK, exist_ok=True)

s3 = boto3.client(
    "s3",
    endpoint_url=ENDPOINT,
    aws_access_key_id=os.environ["S3_ACCESS_KEY"],
    aws_secret_access_key=os.environ["S3_SECRET_KEY"],
    region_name=os.environ.get("S3_REGION", "us-east-1"),
)
B = "e2e-boto3"
FAILURES = 0


class CheckError(Exception):
    pass


def ensure(cond, msg):
    if not cond:
        raise CheckError(msg)


def describe(exc):
    if isinstance(exc, ClientError):
        r = exc.response
        md = r.get("ResponseMetadata", {})
        return "ClientError %s %s (HTTP %s, request id %s) on %s" % (
            r.get("Error", {}).get("Code"), r.get("Error", {}).get("Message"),
            md.get("HTTPStatusCode"), md.get("RequestId"), exc.operation_name)
    return "%s: %s" % (type(exc).__name__, exc)


def check(name):
    def deco(fn):
        global FAILURES
        try:
            fn()
            print("PASS %s" % name, flush=True)
        except Exception as exc:  # noqa: BLE001
            FAILURES += 1
            print("FAIL %s: %s" % (name, " ".join(describe(exc).split())[:400]), flush=True)
            print("--- %s" % name, file=sys.stderr)
            traceback.print_exc()
        return fn
    return deco


def expect_error(fn, code, status):
    try:
        fn()
    except ClientError as exc:
        got_code = exc.response.get("Error", {}).get("Code")
        got_status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        ensure(str(got_code) == str(code) and got_status == status,
               "expected %s/%s, got %s/%s (%s)" % (code, status, got_code, got_status, describe(exc)))
        return exc
    raise CheckError("expected %s/%s, call succeeded" % (code, status))


def snippet(r):
    """Printable start of an HTTP response body."""
    text = r.content[:300].decode("utf-8", "replace")
    if any(ord(c) < 9 or c == "\ufffd" for c in text):
        return "<%d bytes of binary body>" % len(r.content)
    return " ".join(text.split())


def md5(b):
    return hashlib.md5(b).hexdigest()


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


print("boto3 %s botocore %s" % (boto3.__version__, botocore.__version__), file=sys.stderr)


@check("boto3_create_head_list_bucket")
def _():
    s3.create_bucket(Bucket=B)
    s3.head_bucket(Bucket=B)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    ensure(B in names, "bucket missing from ListBuckets: %s" % names)
    loc = s3.get_bucket_location(Bucket=B)
    ensure(loc.get("LocationConstraint") in (None, ""), "location %r" % loc.get("LocationConstraint"))
    # Re-creating one's own bucket: AWS us-east-1 answers 200, CloudServer 409 BucketAlreadyOwnedByYou.
    try:
        s3.create_bucket(Bucket=B)
    except ClientError as exc:
        ensure(exc.response["Error"]["Code"] == "BucketAlreadyOwnedByYou", "re-create: %s" % describe(exc))


BODY = os.urandom(200 * 1024)


@check("boto3_put_get_head")
def _():
    r = s3.put_object(Bucket=B, Key="obj/a.bin", Body=BODY, ContentType="application/x-test",
                      Metadata={"purpose": "e2e"})
    ensure(r["ETag"] == '"%s"' % md5(BODY), "ETag %s" % r["ETag"])
    g = s3.get_object(Bucket=B, Key="obj/a.bin")
    data = g["Body"].read()
    ensure(data == BODY, "body differs (%d bytes back)" % len(data))
    ensure(g["ContentType"] == "application/x-test", "ContentType %s" % g["ContentType"])
    ensure(g["Metadata"] == {"purpose": "e2e"}, "Metadata %s" % g["Metadata"])
    h = s3.head_object(Bucket=B, Key="obj/a.bin")
    ensure(h["ContentLength"] == len(BODY), "ContentLength %s" % h["ContentLength"])
    ensure(h["ETag"] == r["ETag"], "head ETag %s" % h["ETag"])
    # Streaming (file object) body: botocore may send it aws-chunked with a trailing checksum.
    path = os.path.join(WORK, "stream.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024 + 7))
    with open(path, "rb") as f:
        s3.put_object(Bucket=B, Key="obj/stream.bin", Body=f)
    back = s3.get_object(Bucket=B, Key="obj/stream.bin")["Body"].read()
    ensure(hashlib.sha256(back).hexdigest() == sha_file(path), "file-object body differs")
    # Checksum mode: the stored checksum, if returned, must validate (botocore checks it).
    g = s3.get_object(Bucket=B, Key="obj/a.bin", ChecksumMode="ENABLED")
    ensure(g["Body"].read() == BODY, "body differs with ChecksumMode=ENABLED")


@check("boto3_error_codes")
def _():
    expect_error(lambda: s3.get_object(Bucket=B, Key="nope"), "NoSuchKey", 404)
    expect_error(lambda: s3.get_object(Bucket="e2e-no-such-bucket", Key="x"), "NoSuchBucket", 404)
    expect_error(lambda: s3.list_objects_v2(Bucket="e2e-no-such-bucket"), "NoSuchBucket", 404)
    expect_error(lambda: s3.head_object(Bucket=B, Key="nope"), "404", 404)
    expect_error(lambda: s3.delete_bucket(Bucket=B), "BucketNotEmpty", 409)
    expect_error(lambda: s3.create_bucket(Bucket="Bad_Bucket_Name"), "InvalidBucketName", 400)
    # DELETE of a missing key is a 204.
    r = s3.delete_object(Bucket=B, Key="nope")
    ensure(r["ResponseMetadata"]["HTTPStatusCode"] == 204, "delete missing key status %s" % r["ResponseMetadata"]["HTTPStatusCode"])


@check("boto3_conditional_requests")
def _():
    etag = s3.head_object(Bucket=B, Key="obj/a.bin")["ETag"]
    expect_error(lambda: s3.get_object(Bucket=B, Key="obj/a.bin", IfNoneMatch=etag), "304", 304)
    expect_error(lambda: s3.get_object(Bucket=B, Key="obj/a.bin", IfMatch='"0123456789abcdef0123456789abcdef"'),
                 "PreconditionFailed", 412)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    expect_error(lambda: s3.get_object(Bucket=B, Key="obj/a.bin", IfModifiedSince=future), "304", 304)
    expect_error(lambda: s3.get_object(Bucket=B, Key="obj/a.bin", IfUnmodifiedSince=past), "PreconditionFailed", 412)
    expect_error(lambda: s3.head_object(Bucket=B, Key="obj/a.bin", IfNoneMatch=etag), "304", 304)
    expect_error(lambda: s3.head_object(Bucket=B, Key="obj/a.bin", IfMatch='"nope"'), "412", 412)
    # Matching conditions return the object.
    ensure(s3.get_object(Bucket=B, Key="obj/a.bin", IfMatch=etag)["Body"].read() == BODY, "IfMatch body")
    ensure(s3.get_object(Bucket=B, Key="obj/a.bin", IfModifiedSince=past)["Body"].read() == BODY, "IfModifiedSince body")


@check("boto3_transfer_manager_64MiB_8_threads")
def _():
    src = os.path.join(WORK, "tm.bin")
    with open(src, "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    cfg = TransferConfig(max_concurrency=8)
    t0 = time.time()
    s3.upload_file(src, B, "tm/64MiB.bin", Config=cfg)
    head = s3.head_object(Bucket=B, Key="tm/64MiB.bin")
    ensure(head["ETag"].endswith('-8"'), "expected 8 parts of the default 8 MiB, ETag %s" % head["ETag"])
    ensure(head["ContentLength"] == 64 << 20, "ContentLength %s" % head["ContentLength"])
    dst = os.path.join(WORK, "tm.down")
    s3.download_file(B, "tm/64MiB.bin", dst, Config=cfg)
    ensure(sha_file(dst) == sha_file(src), "64 MiB download differs")
    print("transfer 64MiB up+down %.1fs" % (time.time() - t0), file=sys.stderr)
    os.unlink(dst)
    os.unlink(src)


@check("boto3_multipart_low_level")
def _():
    key = "mpu/low.bin"
    parts_data = [os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(1 << 20)]
    up = s3.create_multipart_upload(Bucket=B, Key=key, ContentType="application/x-mpu", Metadata={"m": "1"})
    uid = up["UploadId"]
    other = s3.create_multipart_upload(Bucket=B, Key="mpu/aborted.bin")["UploadId"]
    parts = []
    for n, data in enumerate(parts_data, 1):
        r = s3.upload_part(Bucket=B, Key=key, UploadId=uid, PartNumber=n, Body=data)
        ensure(r["ETag"] == '"%s"' % md5(data), "part %d ETag %s" % (n, r["ETag"]))
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    lm = s3.list_multipart_uploads(Bucket=B, Prefix="mpu/")
    ids = {(u["Key"], u["UploadId"]) for u in lm.get("Uploads", [])}
    ensure((key, uid) in ids and ("mpu/aborted.bin", other) in ids, "ListMultipartUploads: %s" % ids)
    lp = s3.list_parts(Bucket=B, Key=key, UploadId=uid)
    ensure([(p["PartNumber"], p["Size"]) for p in lp["Parts"]] == [(1, 5 << 20), (2, 5 << 20), (3, 1 << 20)],
           "ListParts %s" % [(p["PartNumber"], p["Size"]) for p in lp["Parts"]])
    r = s3.complete_multipart_upload(Bucket=B, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})
    want = '"%s-3"' % hashlib.md5(b"".join(bytes.fromhex(md5(d)) for d in parts_data)).hexdigest()
    ensure(r["ETag"] == want, "complete ETag %s, want %s" % (r["ETag"], want))
    s3.abort_multipart_upload(Bucket=B, Key="mpu/aborted.bin", UploadId=other)
    lm = s3.list_multipart_uploads(Bucket=B, Prefix="mpu/")
    ensure(not lm.get("Uploads"), "uploads left after complete+abort: %s" % lm.get("Uploads"))
    expect_error(lambda: s3.list_parts(Bucket=B, Key="mpu/aborted.bin", UploadId=other), "NoSuchUpload", 404)
    g = s3.get_object(Bucket=B, Key=key)
    ensure(g["Body"].read() == b"".join(parts_data), "multipart body differs")
    ensure(g["ContentType"] == "application/x-mpu" and g["Metadata"] == {"m": "1"},
           "multipart ContentType/Metadata %s %s" % (g["ContentType"], g["Metadata"]))
    # Part-number GET returns one part.
    g = s3.get_object(Bucket=B, Key=key, PartNumber=2)
    ensure(g["Body"].read() == parts_data[1], "GET ?partNumber=2 body differs")
    # Small non-final part is refused at Complete.
    uid = s3.create_multipart_upload(Bucket=B, Key="mpu/small.bin")["UploadId"]
    p1 = s3.upload_part(Bucket=B, Key="mpu/small.bin", UploadId=uid, PartNumber=1, Body=b"x" * 1024)
    p2 = s3.upload_part(Bucket=B, Key="mpu/small.bin", UploadId=uid, PartNumber=2, Body=b"y" * 1024)
    expect_error(lambda: s3.complete_multipart_upload(
        Bucket=B, Key="mpu/small.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]}),
        "EntityTooSmall", 400)
    s3.abort_multipart_upload(Bucket=B, Key="mpu/small.bin", UploadId=uid)


@check("boto3_upload_part_copy")
def _():
    # Build an object from ranges of another one with UploadPartCopy (the
    # registry's S3 driver moves large uploads this way).
    src = s3.get_object(Bucket=B, Key="mpu/low.bin")["Body"].read()
    uid = s3.create_multipart_upload(Bucket=B, Key="mpu/copied.bin")["UploadId"]
    parts = []
    ranges = [(0, (5 << 20) - 1), (5 << 20, len(src) - 1)]
    for n, (lo, hi) in enumerate(ranges, 1):
        r = s3.upload_part_copy(Bucket=B, Key="mpu/copied.bin", UploadId=uid, PartNumber=n,
                                CopySource={"Bucket": B, "Key": "mpu/low.bin"},
                                CopySourceRange="bytes=%d-%d" % (lo, hi))
        etag = r["CopyPartResult"]["ETag"]
        ensure(etag == '"%s"' % md5(src[lo:hi + 1]), "part %d copy ETag %s" % (n, etag))
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket=B, Key="mpu/copied.bin", UploadId=uid, MultipartUpload={"Parts": parts})
    back = s3.get_object(Bucket=B, Key="mpu/copied.bin")["Body"].read()
    ensure(back == src, "UploadPartCopy result differs (%d vs %d bytes)" % (len(back), len(src)))


N_KEYS = 2500
KEYS = ["many/%05d" % i for i in range(N_KEYS)]


@check("boto3_2500_keys_pagination_v1_v2")
def _():
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=B, Key=k, Body=k.encode()), KEYS))
    for api in ("list_objects", "list_objects_v2"):
        pages = list(s3.get_paginator(api).paginate(Bucket=B, Prefix="many/"))
        keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
        ensure(len(pages) == 3, "%s: %d pages, want 3 (1000 per page)" % (api, len(pages)))
        ensure([len(p.get("Contents", [])) for p in pages] == [1000, 1000, 500],
               "%s: page sizes %s" % (api, [len(p.get("Contents", [])) for p in pages]))
        ensure(keys == KEYS, "%s: %d keys, order/content differs" % (api, len(keys)))
        ensure(pages[0]["IsTruncated"] and not pages[-1]["IsTruncated"], "%s: IsTruncated flags" % api)
    # Small pages with a delimiter, v1 with explicit markers.
    r = s3.list_objects(Bucket=B, Prefix="many/000", MaxKeys=7)
    ensure(len(r["Contents"]) == 7 and r["IsTruncated"], "v1 MaxKeys=7")
    r = s3.list_objects(Bucket=B, Prefix="many/000", Marker=r["Contents"][-1]["Key"], MaxKeys=1000)
    ensure(len(r["Contents"]) == 93 and not r["IsTruncated"], "v1 Marker continuation: %d" % len(r["Contents"]))
    r = s3.list_objects_v2(Bucket=B, Delimiter="/")
    ensure({p["Prefix"] for p in r.get("CommonPrefixes", [])} >= {"many/", "obj/"}, "v2 delimiter prefixes %s" % r.get("CommonPrefixes"))


@check("boto3_delete_objects")
def _():
    for i in range(0, N_KEYS, 1000):
        batch = KEYS[i:i + 1000]
        r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": k} for k in batch]})
        ensure(not r.get("Errors"), "errors: %s" % r.get("Errors"))
        ensure(len(r.get("Deleted", [])) == len(batch), "deleted %d of %d" % (len(r.get("Deleted", [])), len(batch)))
    r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": "many/missing"}], "Quiet": True})
    ensure(not r.get("Errors") and not r.get("Deleted"), "quiet delete of a missing key: Deleted=%s Errors=%s" % (r.get("Deleted"), r.get("Errors")))
    r = s3.list_objects_v2(Bucket=B, Prefix="many/")
    ensure(r["KeyCount"] == 0, "%d keys left" % r["KeyCount"])


@check("boto3_presigned_put_get_requests")
def _():
    data = os.urandom(512 * 1024)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": B, "Key": "pre/put.bin"}, ExpiresIn=300)
    r = requests.put(url, data=data, timeout=60)
    ensure(r.status_code == 200, "presigned PUT -> %d %s" % (r.status_code, snippet(r)))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "pre/put.bin"}, ExpiresIn=300)
    r = requests.get(url, timeout=60)
    ensure(r.status_code == 200, "presigned GET -> %d %s" % (r.status_code, snippet(r)))
    ensure(r.content == data, "presigned GET body differs (%d bytes)" % len(r.content))
    ensure(r.headers.get("ETag") == '"%s"' % md5(data), "presigned GET ETag %s" % r.headers.get("ETag"))


@check("boto3_expired_and_anonymous_rejected")
def _():
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "obj/a.bin"}, ExpiresIn=1)
    time.sleep(2.5)
    r = requests.get(url, timeout=60)
    ensure(r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text,
           "expired URL -> %d %s" % (r.status_code, snippet(r)))
    r = requests.get("%s/%s/obj/a.bin" % (ENDPOINT, B), timeout=60)
    ensure(r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text,
           "anonymous GET -> %d %s" % (r.status_code, snippet(r)))
    r = requests.put("%s/%s/anon.txt" % (ENDPOINT, B), data=b"x", timeout=60)
    ensure(r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text,
           "anonymous PUT -> %d %s" % (r.status_code, snippet(r)))
    r = requests.get("%s/%s" % (ENDPOINT, B), timeout=60)
    ensure(r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text,
           "anonymous list -> %d %s" % (r.status_code, snippet(r)))


@check("boto3_cleanup_delete_bucket")
def _():
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=B):
        objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if objs:
            s3.delete_objects(Bucket=B, Delete={"Objects": objs})
    for u in s3.list_multipart_uploads(Bucket=B).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=B, Key=u["Key"], UploadId=u["UploadId"])
    s3.delete_bucket(Bucket=B)
    expect_error(lambda: s3.head_bucket(Bucket=B), "404", 404)


sys.exit(1 if FAILURES else 0)
