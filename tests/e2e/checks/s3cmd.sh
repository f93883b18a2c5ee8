# s3cmd checks, run once with SigV4 and once with --signature-v2.
# shellcheck shell=bash

SC="$RUN/s3cmd"

s3cmd_conf() {
  cat >"$SC/s3cfg" <<CFG
[default]
access_key = $S3_ACCESS_KEY
secret_key = $S3_SECRET_KEY
host_base = 127.0.0.1:$S3_PORT
host_bucket = 127.0.0.1:$S3_PORT
use_https = False
bucket_location = $S3_REGION
signature_v2 = False
CFG
}

# SC_SIGV2 is "--signature-v2" or empty.
s3c() { timeout --kill-after=10 300 s3cmd -c "$SC/s3cfg" ${SC_SIGV2:+"$SC_SIGV2"} "$@"; }

sc_mb() {
  s3c mb "s3://$SC_BUCKET"
  expect_contains "$(s3c ls)" "s3://$SC_BUCKET" "bucket listed by s3cmd ls"
}

sc_put_get_info() {
  mkrand "$SC/small.bin" 54321
  s3c put --mime-type=application/x-e2e --add-header=x-amz-meta-color:purple "$SC/small.bin" "s3://$SC_BUCKET/small.bin"
  s3c get --force "s3://$SC_BUCKET/small.bin" "$SC/small.down"
  same_file "$SC/small.bin" "$SC/small.down" "put/get"
  local info; info="$(s3c info "s3://$SC_BUCKET/small.bin")"
  echo "$info"
  echo "$info" | grep -Eq "File size:[[:space:]]+54321$" || die "info size: $info"
  echo "$info" | grep -Eq "MD5 sum:[[:space:]]+$(md5_of "$SC/small.bin")$" || die "info MD5: $info"
  echo "$info" | grep -Eq "MIME type:[[:space:]]+application/x-e2e$" || die "info MIME type: $info"
  echo "$info" | grep -Eqi "x-amz-meta-color:[[:space:]]+purple$" || die "info metadata: $info"
}

sc_multipart() {
  mkrand "$SC/big.bin" $((20 * 1024 * 1024))
  s3c put "$SC/big.bin" "s3://$SC_BUCKET/big.bin"
  # Default multipart_chunk_size_mb = 15 -> 2 parts.
  local etag; etag="$("$VENV/bin/aws" --endpoint-url "$S3_ENDPOINT" s3api head-object --bucket "$SC_BUCKET" --key big.bin --query ETag --output text)"
  case "$etag" in *-2\") ;; *) die "20 MiB s3cmd put should be a 2-part multipart upload, ETag $etag" ;; esac
  s3c get --force "s3://$SC_BUCKET/big.bin" "$SC/big.down"
  same_file "$SC/big.bin" "$SC/big.down" "20 MiB multipart"
  local info; info="$(s3c info "s3://$SC_BUCKET/big.bin")"
  echo "$info"
  echo "$info" | grep -Eq "File size:[[:space:]]+20971520$" || die "info size: $info"
  # s3cmd stores the whole-file md5 as x-amz-meta-s3cmd-attrs and shows it as MD5 sum.
  echo "$info" | grep -Eq "MD5 sum:[[:space:]]+$(md5_of "$SC/big.bin")$" || die "info MD5 of multipart: $info"
}

sc_ls() {
  local out; out="$(s3c ls "s3://$SC_BUCKET/")"
  echo "$out"
  echo "$out" | grep -Eq "[[:space:]]54321[[:space:]]+s3://$SC_BUCKET/small\.bin$" || die "ls small.bin: $out"
  echo "$out" | grep -Eq "[[:space:]]20971520[[:space:]]+s3://$SC_BUCKET/big\.bin$" || die "ls big.bin: $out"
  out="$(s3c la)"
  expect_contains "$out" "s3://$SC_BUCKET/small.bin" "s3cmd la"
}

sc_sync() {
  local src="$SC/sync-src" dst="$SC/sync-dst" i n
  rm -rf "$src" "$dst"; mkdir -p "$src/sub" "$dst"
  for i in $(seq 1 40); do head -c $((50 + i * 13)) /dev/urandom >"$src/f$i"; done
  for i in $(seq 1 10); do head -c $((70 + i)) /dev/urandom >"$src/sub/g$i"; done
  s3c sync "$src/" "s3://$SC_BUCKET/sync/"
  n="$(s3c ls --recursive "s3://$SC_BUCKET/sync/" | wc -l)"
  expect_eq 50 "$n" "objects after sync up"
  s3c sync "s3://$SC_BUCKET/sync/" "$dst/"
  same_tree "$src" "$dst" "sync down"
  for i in $(seq 1 5); do rm "$src/f$i"; done
  echo changed >"$src/f6"
  s3c sync --delete-removed "$src/" "s3://$SC_BUCKET/sync/"
  n="$(s3c ls --recursive "s3://$SC_BUCKET/sync/" | wc -l)"
  expect_eq 45 "$n" "objects after sync --delete-removed up"
  s3c del "s3://$SC_BUCKET/sync/sub/g1" "s3://$SC_BUCKET/sync/sub/g2"
  rm "$src/sub/g1" "$src/sub/g2"
  s3c sync --delete-removed "s3://$SC_BUCKET/sync/" "$dst/"
  same_tree "$src" "$dst" "sync --delete-removed down"
}

sc_cp_mv() {
  s3c cp "s3://$SC_BUCKET/small.bin" "s3://$SC_BUCKET/copy/small.bin"
  s3c get --force "s3://$SC_BUCKET/copy/small.bin" "$SC/cp.down"
  same_file "$SC/small.bin" "$SC/cp.down" "cp"
  s3c mv "s3://$SC_BUCKET/copy/small.bin" "s3://$SC_BUCKET/moved/small.bin"
  s3c get --force "s3://$SC_BUCKET/moved/small.bin" "$SC/mv.down"
  same_file "$SC/small.bin" "$SC/mv.down" "mv"
  local out; out="$(s3c ls "s3://$SC_BUCKET/copy/")"
  [ -z "$out" ] || die "mv left the source: $out"
}

sc_signurl() {
  local exp url
  exp=$(( $(date +%s) + 300 ))
  url="$(s3c signurl "s3://$SC_BUCKET/small.bin" "$exp")"
  echo "$url"
  url="${url/https:/http:}"
  curl_get "$url" "$SC/signurl.down"
  same_file "$SC/small.bin" "$SC/signurl.down" "signurl GET"
}

sc_del_rb() {
  s3c del --recursive --force "s3://$SC_BUCKET/"
  local out; out="$(s3c ls --recursive "s3://$SC_BUCKET/")"
  [ -z "$out" ] || die "objects left after del --recursive: $out"
  s3c rb "s3://$SC_BUCKET"
  out="$(s3c ls)"
  case "$out" in *"s3://$SC_BUCKET"*) die "bucket still listed after rb" ;; esac
}

s3cmd_run() {
  local tag="$1"
  check "s3cmd_${tag}_mb" sc_mb
  check "s3cmd_${tag}_put_get_info_metadata" sc_put_get_info
  check "s3cmd_${tag}_multipart_20MiB" sc_multipart
  check "s3cmd_${tag}_ls" sc_ls
  check "s3cmd_${tag}_sync_delete_removed" sc_sync
  check "s3cmd_${tag}_cp_mv" sc_cp_mv
  check "s3cmd_${tag}_signurl_curl" sc_signurl
  check "s3cmd_${tag}_del_recursive_rb" sc_del_rb
}

s3cmd_main() {
  mkdir -p "$SC"
  s3cmd_conf
  SC_SIGV2="" SC_BUCKET=e2e-s3cmd-v4 s3cmd_run sigv4
  SC_SIGV2="--signature-v2" SC_BUCKET=e2e-s3cmd-v2 s3cmd_run sigv2
  rm -rf "$SC"
}
