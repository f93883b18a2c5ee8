#!/usr/bin/env python3
"""Peak server memory (VmHWM) while large bodies stream through it.

    bench/rss.py --endpoint http://127.0.0.1:8000 --pid PID [--single-gib 5] [--mpu 8 --mpu-gib 1]

1. One single-part PUT of `--single-gib` GiB (a presigned PUT sent by curl with Content-Length,
   so it is one request, not a multipart upload), read back and compared by MD5.
2. `--mpu` concurrent multipart uploads of `--mpu-gib` GiB each with 16 MiB parts (boto3's
   transfer manager, default checksums), each verified by a full GET.

The server's VmHWM is read from /proc/PID/status after each phase. The peak is the process's
lifetime high-water mark, so start a fresh server to measure a phase alone (`--only`).
Uses the e2e suite's virtualenv (tests/e2e/setup.sh installs boto3).
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from boto3.s3.transfer import TransferConfig

MIB = 1 << 20
GIB = 1 << 30


def hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def pattern_file(path, size):
    """A file of `size` bytes that is not all zeros (1 MiB of random data repeated); its MD5."""
    block = os.urandom(MIB)
    md5 = hashlib.md5()
    with open(path, "wb") as f:
        left = size
        while left:
            b = block[: min(left, MIB)]
            f.write(b)
            md5.update(b)
            left -= len(b)
    return md5.hexdigest()


def streamed_md5(body):
    md5 = hashlib.md5()
    n = 0
    for chunk in body.iter_chunks(MIB):
        md5.update(chunk)
        n += len(chunk)
    return md5.hexdigest(), n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--single-gib", type=float, default=5)
    ap.add_argument("--mpu", type=int, default=8)
    ap.add_argument("--mpu-gib", type=float, default=1)
    ap.add_argument("--only", choices=["single", "mpu"])
    ap.add_argument("--tmp", default=tempfile.gettempdir())
    a = ap.parse_args()

    s3 = boto3.client(
        "s3",
        endpoint_url=a.endpoint,
        aws_access_key_id="accessKey1",
        aws_secret_access_key="verySecretKey1",
        region_name="us-east-1",
    )
    bucket = "rss-%d" % int(time.time())
    s3.create_bucket(Bucket=bucket)
    print(f"server VmHWM at start: {hwm_mib(a.pid):.1f} MiB", flush=True)
    ok = True

    if a.only in (None, "single"):
        size = int(a.single_gib * GIB)
        path = os.path.join(a.tmp, "rss-single.bin")
        want = pattern_file(path, size)
        url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "single"}, ExpiresIn=3600)
        t = time.time()
        r = subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{http_code}", "-T", path, url],
                           capture_output=True, text=True)
        secs = time.time() - t
        os.unlink(path)
        head = s3.head_object(Bucket=bucket, Key="single")
        got, n = streamed_md5(s3.get_object(Bucket=bucket, Key="single")["Body"])
        good = r.returncode == 0 and head["ETag"] == f'"{want}"' and got == want and n == size
        ok &= good
        print(f"single PUT {size / GIB:.2f} GiB: HTTP {r.stdout} {r.stderr.strip()} in {secs:.1f}s "
              f"({size / MIB / secs:.0f} MiB/s), verified={good}; server VmHWM {hwm_mib(a.pid):.1f} MiB",
              flush=True)
        s3.delete_object(Bucket=bucket, Key="single")

    if a.only in (None, "mpu"):
        size = int(a.mpu_gib * GIB)
        path = os.path.join(a.tmp, "rss-mpu.bin")
        want = pattern_file(path, size)
        cfg = TransferConfig(multipart_threshold=16 * MIB, multipart_chunksize=16 * MIB, max_concurrency=2)
        errors = []

        def one(i):
            try:
                s3.upload_file(path, bucket, f"mpu-{i}", Config=cfg)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"mpu-{i}: {e}")

        t = time.time()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(a.mpu)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        secs = time.time() - t
        peak = hwm_mib(a.pid)
        for i in range(a.mpu):
            got, n = streamed_md5(s3.get_object(Bucket=bucket, Key=f"mpu-{i}")["Body"])
            if got != want or n != size:
                errors.append(f"mpu-{i}: content differs")
            s3.delete_object(Bucket=bucket, Key=f"mpu-{i}")
        os.unlink(path)
        ok &= not errors
        total = a.mpu * size
        print(f"{a.mpu} concurrent multipart uploads of {size / GIB:.2f} GiB (16 MiB parts): {secs:.1f}s "
              f"({total / MIB / secs:.0f} MiB/s), errors={errors or 0}; server VmHWM {peak:.1f} MiB", flush=True)

    s3.delete_bucket(Bucket=bucket)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
