#!/usr/bin/env python3
"""oci_compare.py SRC_LAYOUT DST_LAYOUT TAG: checks that TAG in DST has the same
manifest digest as in SRC and that every blob it references is present in DST
with content matching its sha256 digest."""
import hashlib
import json
import os
import sys

src, dst, tag = sys.argv[1:]


def manifest_desc(layout):
    with open(os.path.join(layout, "index.json")) as f:
        idx = json.load(f)
    for m in idx["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m
    sys.exit("tag %s not in %s/index.json: %s" % (tag, layout, idx))


def blob(layout, digest):
    algo, hexd = digest.split(":")
    with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != hexd:
        sys.exit("blob %s in %s does not match its digest" % (digest, layout))
    return data


a, b = manifest_desc(src), manifest_desc(dst)
if a["digest"] != b["digest"]:
    sys.exit("manifest digest differs: pushed %s, pulled %s" % (a["digest"], b["digest"]))
man = json.loads(blob(dst, b["digest"]))
refs = [man["config"]] + man["layers"]
for d in refs:
    data = blob(dst, d["digest"])
    if len(data) != d["size"]:
        sys.exit("blob %s size %d != %d" % (d["digest"], len(data), d["size"]))
    if data != blob(src, d["digest"]):
        sys.exit("blob %s differs from the source" % d["digest"])
print("%s: manifest %s and %d blobs identical" % (tag, b["digest"], len(refs)))
