# Docker registry (distribution 2.8, Debian's docker-registry) with its S3
# storage driver on our server; images pushed and pulled with skopeo.
# shellcheck shell=bash

RG="$RUN/registry"
RG_BUCKET=docker-registry

rg_aws() { timeout --kill-after=10 300 "$VENV/bin/aws" --endpoint-url "$S3_ENDPOINT" "$@"; }
sko() { timeout --kill-after=10 600 skopeo --policy "$RG/policy.json" "$@"; }

rg_start() {
  rg_aws s3 mb "s3://$RG_BUCKET"
  cat >"$RG/config.yml" <<CFG
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  s3:
    accesskey: $S3_ACCESS_KEY
    secretkey: $S3_SECRET_KEY
    region: $S3_REGION
    regionendpoint: $S3_ENDPOINT
    bucket: $RG_BUCKET
    forcepathstyle: true
    v4auth: true
    chunksize: 5242880
    secure: false
    rootdirectory: /
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$RG_PORT
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 2s
    threshold: 3
CFG
  echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$RG/policy.json"
  docker-registry serve "$RG/config.yml" >"$LOGDIR/docker-registry.log" 2>&1 &
  echo $! >"$RG/pid"
  local code=""
  for _ in $(seq 1 100); do
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$RG_PORT/v2/" || true)"
    [ "$code" = 200 ] && break
    kill -0 "$(cat "$RG/pid")" 2>/dev/null || { tail -n 20 "$LOGDIR/docker-registry.log"; die "docker-registry exited"; }
    sleep 0.2
  done
  [ "$code" = 200 ] || { tail -n 20 "$LOGDIR/docker-registry.log"; die "registry /v2/ answered $code after 100 polls"; }
  # The storage driver health check (a ListObjectsV2 with delimiter) runs every 2 s;
  # after three periods /v2/ must still be healthy.
  sleep 7
  code="$(curl -s -o "$RG/health.body" -m 5 -w '%{http_code}' "http://127.0.0.1:$RG_PORT/v2/")"
  [ "$code" = 200 ] || die "registry unhealthy after its storage health checks: HTTP $code $(head -c 300 "$RG/health.body")"
}

rg_build_image() {
  "$PY" "$HERE/make_oci.py" "$RG/oci" >"$RG/oci.json"
  cat "$RG/oci.json"
}

rg_push() {
  local tag="$1"
  sko copy --preserve-digests --dest-tls-verify=false "oci:$RG/oci:$tag" "docker://127.0.0.1:$RG_PORT/e2e/img:$tag" 2>&1 | tee "$RG/push-$tag.log"
}

rg_pull_compare() {
  local tag="$1"
  local dir="$RG/pulled-$tag"
  rm -rf "$dir"
  sko copy --preserve-digests --src-tls-verify=false "docker://127.0.0.1:$RG_PORT/e2e/img:$tag" "oci:$dir:$tag"
  "$PY" "$HERE/oci_compare.py" "$RG/oci" "$dir" "$tag"
  # The manifest the registry serves has the digest we computed.
  local want got
  want="$(jq -r ".manifests.$tag" "$RG/oci.json")"
  got="$(curl -s -I -m 30 -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://127.0.0.1:$RG_PORT/v2/e2e/img/manifests/$tag" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')"
  expect_eq "$want" "$got" "Docker-Content-Digest of $tag"
}

rg_push_v1() { rg_push v1; rg_pull_compare v1; }

rg_uploads_started() {
  grep 'msg="response completed"' "$LOGDIR/docker-registry.log" | grep -c 'http.request.method=POST .*/blobs/uploads/ ' || true
}

rg_push_v2_shared() {
  local before after
  before="$(rg_uploads_started)"
  rg_push v2
  after="$(rg_uploads_started)"
  # L1 and L2 are already in the registry (found by HEAD): only L4 and the
  # new config are uploaded.
  expect_eq 2 "$((after - before))" "blob uploads for the second tag (shared layers must be skipped)"
  rg_pull_compare v2
}

rg_catalog_tags() {
  local cat tags
  cat="$(curl -sf -m 30 "http://127.0.0.1:$RG_PORT/v2/_catalog")"
  echo "$cat"
  expect_eq '["e2e/img"]' "$(jq -c .repositories <<<"$cat")" "catalog"
  tags="$(curl -sf -m 30 "http://127.0.0.1:$RG_PORT/v2/e2e/img/tags/list")"
  echo "$tags"
  expect_eq '["v1","v2"]' "$(jq -c '.tags|sort' <<<"$tags")" "tags"
  sko list-tags --tls-verify=false "docker://127.0.0.1:$RG_PORT/e2e/img" >"$RG/skopeo-tags.json"
  expect_eq '["v1","v2"]' "$(jq -c '.Tags|sort' "$RG/skopeo-tags.json")" "skopeo list-tags"
}

rg_delete_manifest() {
  local digest code
  digest="$(jq -r .manifests.v2 "$RG/oci.json")"
  code="$(curl -s -o "$RG/del.body" -w '%{http_code}' -m 60 -X DELETE "http://127.0.0.1:$RG_PORT/v2/e2e/img/manifests/$digest")"
  expect_eq 202 "$code" "DELETE manifest status (body: $(head -c 300 "$RG/del.body"))"
  code="$(curl -s -o /dev/null -w '%{http_code}' -m 30 -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://127.0.0.1:$RG_PORT/v2/e2e/img/manifests/$digest")"
  expect_eq 404 "$code" "GET deleted manifest"
  local tags; tags="$(curl -sf -m 30 "http://127.0.0.1:$RG_PORT/v2/e2e/img/tags/list")"
  expect_eq '["v1"]' "$(jq -c '.tags|sort' <<<"$tags")" "tags after deleting v2's manifest"
  # v1 still pulls intact.
  rg_pull_compare v1
}

rg_bucket_listing() {
  # As the tutorial does: list what the registry stored in the bucket.
  local out; out="$(rg_aws s3 ls --recursive "s3://$RG_BUCKET")"
  echo "$out" | head -n 40
  expect_contains "$out" "docker/registry/v2/repositories/e2e/img/_manifests/tags/v1/current/link" "tag link object"
  local l3; l3="$(jq -r '.layers.v1[2]' "$RG/oci.json")"; l3="${l3#sha256:}"
  echo "$out" | grep -Eq "docker/registry/v2/blobs/sha256/${l3:0:2}/$l3/data$" || die "60 MiB layer blob not found in the bucket"
  local size; size="$(echo "$out" | awk -v k="docker/registry/v2/blobs/sha256/${l3:0:2}/$l3/data" '$4==k{print $3}')"
  expect_eq "$(stat -c %s "$RG/oci/blobs/sha256/$l3")" "$size" "stored size of the 60 MiB layer"
  # No multipart upload left behind by the registry's chunked writer.
  local ups; ups="$(rg_aws s3api list-multipart-uploads --bucket "$RG_BUCKET" --query 'length(Uploads || `[]`)' --output text)"
  expect_eq 0 "$ups" "multipart uploads left in the bucket"
}

registry_main() {
  mkdir -p "$RG"
  RG_PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
  export RG_PORT
  check registry_start_s3_driver rg_start
  [ -f "$RG/pid" ] && EXTRA_PIDS+=("$(cat "$RG/pid")")
  check registry_build_oci_image rg_build_image
  check registry_push_pull_v1_digests rg_push_v1
  check registry_push_v2_shared_layers rg_push_v2_shared
  check registry_catalog_and_tags rg_catalog_tags
  check registry_delete_manifest rg_delete_manifest
  check registry_bucket_listing_awscli rg_bucket_listing
  if [ -f "$RG/pid" ]; then kill "$(cat "$RG/pid")" 2>/dev/null || true; fi
}
