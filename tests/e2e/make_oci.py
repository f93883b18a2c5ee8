#!/usr/bin/env python3
"""Builds a small OCI image layout offline, for the registry check.

    make_oci.py DIR

Writes DIR/oci-layout, DIR/blobs/sha256/*, DIR/index.json with two images:
  v1: layers L1 (100 KiB), L2 (5 MiB), L3 (60 MiB)
  v2: layers L1, L2 (shared with v1) and L4 (300 KiB)
Each layer is a tar.gz of one file of random bytes. Prints a JSON summary
(tag -> manifest digest, and every blob digest).
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import time

out = sys.argv[1]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def put_blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def layer(name, size):
    payload = os.urandom(size)
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("data/" + name)
        info.size = size
        info.mtime = int(time.time())
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = tbuf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    gz = gzip.compress(tar_bytes, compresslevel=1, mtime=0)
    digest, length = put_blob(gz)
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": length}, diff_id


def image(tag, layers):
    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/data/" + tag], "Labels": {"e2e.tag": tag}},
        "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "make_oci.py"} for _ in layers],
    }
    cdigest, csize = put_blob(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
        "layers": [l for l, _ in layers],
    }
    mdigest, msize = put_blob(json.dumps(manifest, sort_keys=True).encode())
    return {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": mdigest,
        "size": msize,
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }, cdigest


L1 = layer("l1", 100 * 1024)
L2 = layer("l2", 5 * 1024 * 1024)
L3 = layer("l3", 60 * 1024 * 1024)
L4 = layer("l4", 300 * 1024)
m1, c1 = image("v1", [L1, L2, L3])
m2, c2 = image("v2", [L1, L2, L4])
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [m1, m2]}, f)
print(json.dumps({
    "manifests": {"v1": m1["digest"], "v2": m2["digest"]},
    "configs": {"v1": c1, "v2": c2},
    "layers": {"v1": [l["digest"] for l, _ in (L1, L2, L3)], "v2": [l["digest"] for l, _ in (L1, L2, L4)]},
}, indent=1))
