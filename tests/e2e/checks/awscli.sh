# aws-cli v1 checks; sourced by run.sh (needs lib.sh, S3_* env, $RUN, $PY).
# shellcheck shell=bash

AWSCLI_BUCKET=e2e-awscli
AW="$RUN/awscli"

aws() { timeout --kill-after=10 600 "$VENV/bin/aws" --endpoint-url "$S3_ENDPOINT" "$@"; }

aw_mb() {
  aws s3 mb "s3://$AWSCLI_BUCKET"
  aws s3api head-bucket --bucket "$AWSCLI_BUCKET"
  local out; out="$(aws s3 ls)"
  expect_contains "$out" "$AWSCLI_BUCKET" "aws s3 ls bucket list"
}

aw_cp_small() {
  mkrand "$AW/small.bin" 12345
  aws s3 cp "$AW/small.bin" "s3://$AWSCLI_BUCKET/small.bin"
  aws s3 cp "s3://$AWSCLI_BUCKET/small.bin" "$AW/small.down"
  same_file "$AW/small.bin" "$AW/small.down" "small round trip"
  local etag; etag="$(aws s3api head-object --bucket "$AWSCLI_BUCKET" --key small.bin --query ETag --output text)"
  expect_eq "\"$(md5_of "$AW/small.bin")\"" "$etag" "ETag of single-part object"
}

aw_cp_multipart() {
  mkrand "$AW/big.bin" $((105 * 1024 * 1024))
  aws s3 cp --only-show-errors "$AW/big.bin" "s3://$AWSCLI_BUCKET/dir/big.bin"
  local etag; etag="$(aws s3api head-object --bucket "$AWSCLI_BUCKET" --key dir/big.bin --query ETag --output text)"
  # Default multipart_chunksize 8 MiB -> 14 parts.
  case "$etag" in *-14\") ;; *) die "multipart ETag should end in -14, got $etag" ;; esac
  aws s3 cp --only-show-errors "s3://$AWSCLI_BUCKET/dir/big.bin" "$AW/big.down"
  same_file "$AW/big.bin" "$AW/big.down" "105 MiB round trip"
  rm -f "$AW/big.down"
}

aw_ls() {
  local out
  out="$(aws s3 ls "s3://$AWSCLI_BUCKET/")"
  echo "$out"
  echo "$out" | grep -Eq "[[:space:]]12345 small\.bin$" || die "ls lacks 'small.bin' of 12345 bytes: $out"
  echo "$out" | grep -Eq "PRE dir/$" || die "ls lacks 'PRE dir/': $out"
}

aw_ls_recursive() {
  mkdir -p "$AW/tree/a/b"
  echo one >"$AW/tree/a/1.txt"; echo two >"$AW/tree/a/b/2.txt"
  aws s3 cp --only-show-errors --recursive "$AW/tree" "s3://$AWSCLI_BUCKET/tree"
  local out keys
  out="$(aws s3 ls --recursive "s3://$AWSCLI_BUCKET/")"
  echo "$out"
  keys="$(echo "$out" | awk '{print $4}' | sort | tr '\n' ' ')"
  expect_eq "dir/big.bin small.bin tree/a/1.txt tree/a/b/2.txt " "$keys" "ls --recursive keys"
  echo "$out" | grep -Eq "[[:space:]]$((105 * 1024 * 1024)) dir/big\.bin$" || die "size of dir/big.bin wrong in: $out"
}

aw_sync() {
  local src="$AW/sync-src" dst="$AW/sync-dst" i n
  mkdir -p "$src"
  for i in $(seq 1 200); do
    mkdir -p "$src/d$((i % 7))"
    head -c $((100 + i * 37)) /dev/urandom >"$src/d$((i % 7))/f$i.dat"
  done
  aws s3 sync --only-show-errors "$src" "s3://$AWSCLI_BUCKET/sync/"
  n="$(aws s3 ls --recursive "s3://$AWSCLI_BUCKET/sync/" | wc -l)"
  expect_eq 200 "$n" "objects after sync up"
  aws s3 sync --only-show-errors "s3://$AWSCLI_BUCKET/sync/" "$dst"
  same_tree "$src" "$dst" "sync down"
  # A second sync up must transfer nothing.
  local again; again="$(aws s3 sync "$src" "s3://$AWSCLI_BUCKET/sync/")"
  [ -z "$again" ] || die "second sync up was not a no-op: ${again:0:200}"
  # --delete up: remove 20 files, change 5 (different sizes), add 3.
  for i in $(seq 1 20); do rm "$src/d$((i % 7))/f$i.dat"; done
  for i in $(seq 21 25); do head -c 999 /dev/urandom >"$src/d$((i % 7))/f$i.dat"; done
  for i in 1 2 3; do echo "new $i" >"$src/new$i.txt"; done
  aws s3 sync --only-show-errors --delete "$src" "s3://$AWSCLI_BUCKET/sync/"
  n="$(aws s3 ls --recursive "s3://$AWSCLI_BUCKET/sync/" | wc -l)"
  expect_eq 183 "$n" "objects after sync --delete up"
  # --delete down: remove 10 objects server-side, sync into the old copy.
  for i in $(seq 30 39); do aws s3 rm --only-show-errors "s3://$AWSCLI_BUCKET/sync/d$((i % 7))/f$i.dat"; rm "$src/d$((i % 7))/f$i.dat"; done
  aws s3 sync --only-show-errors --delete "s3://$AWSCLI_BUCKET/sync/" "$dst"
  same_tree "$src" "$dst" "sync --delete down"
}

aw_s3api_put_head_get() {
  mkrand "$AW/meta.bin" 4096
  aws s3api put-object --bucket "$AWSCLI_BUCKET" --key api/meta.bin --body "$AW/meta.bin" \
    --content-type application/x-e2e --metadata color=blue,shape=round >"$AW/put.json"
  cat "$AW/put.json"
  local head
  head="$(aws s3api head-object --bucket "$AWSCLI_BUCKET" --key api/meta.bin --output json)"
  echo "$head"
  expect_eq application/x-e2e "$(jq -r .ContentType <<<"$head")" "head ContentType"
  expect_eq blue "$(jq -r .Metadata.color <<<"$head")" "head metadata color"
  expect_eq round "$(jq -r .Metadata.shape <<<"$head")" "head metadata shape"
  expect_eq 4096 "$(jq -r .ContentLength <<<"$head")" "head ContentLength"
  expect_eq "$(jq -r .ETag "$AW/put.json")" "$(jq -r .ETag <<<"$head")" "put vs head ETag"
  local get
  get="$(aws s3api get-object --bucket "$AWSCLI_BUCKET" --key api/meta.bin "$AW/meta.down" --output json)"
  expect_eq blue "$(jq -r .Metadata.color <<<"$get")" "get metadata color"
  expect_eq application/x-e2e "$(jq -r .ContentType <<<"$get")" "get ContentType"
  same_file "$AW/meta.bin" "$AW/meta.down" "get-object body"
}

aw_copy_object() {
  aws s3api copy-object --bucket "$AWSCLI_BUCKET" --key api/copy.bin \
    --copy-source "$AWSCLI_BUCKET/api/meta.bin" >"$AW/copy.json"
  cat "$AW/copy.json"
  local head
  head="$(aws s3api head-object --bucket "$AWSCLI_BUCKET" --key api/copy.bin --output json)"
  expect_eq blue "$(jq -r .Metadata.color <<<"$head")" "copied metadata (COPY directive)"
  expect_eq application/x-e2e "$(jq -r .ContentType <<<"$head")" "copied ContentType"
  aws s3api get-object --bucket "$AWSCLI_BUCKET" --key api/copy.bin "$AW/copy.down" >/dev/null
  same_file "$AW/meta.bin" "$AW/copy.down" "copy-object body"
  aws s3api copy-object --bucket "$AWSCLI_BUCKET" --key api/copy2.bin \
    --copy-source "$AWSCLI_BUCKET/api/meta.bin" --metadata-directive REPLACE \
    --metadata color=green --content-type text/plain >/dev/null
  head="$(aws s3api head-object --bucket "$AWSCLI_BUCKET" --key api/copy2.bin --output json)"
  expect_eq green "$(jq -r .Metadata.color <<<"$head")" "replaced metadata"
  expect_eq null "$(jq -r .Metadata.shape <<<"$head")" "old metadata gone after REPLACE"
  expect_eq text/plain "$(jq -r .ContentType <<<"$head")" "replaced ContentType"
}

aw_list_v2() {
  local i
  for i in $(seq -w 1 12); do echo "$i" >"$AW/k"; aws s3api put-object --bucket "$AWSCLI_BUCKET" --key "lst/f$i" --body "$AW/k" >/dev/null; done
  for d in x y z; do aws s3api put-object --bucket "$AWSCLI_BUCKET" --key "lst/$d/inner" --body "$AW/k" >/dev/null; done
  local out
  out="$(aws s3api list-objects-v2 --no-paginate --bucket "$AWSCLI_BUCKET" --prefix lst/ --delimiter / --output json)"
  expect_eq "lst/x/ lst/y/ lst/z/" "$(jq -r '[.CommonPrefixes[].Prefix]|join(" ")' <<<"$out")" "CommonPrefixes"
  expect_eq 12 "$(jq -r '.Contents|length' <<<"$out")" "Contents with delimiter"
  expect_eq 15 "$(jq -r '.KeyCount' <<<"$out")" "KeyCount with delimiter"
  # Paging: 5 items at a time, 2 keys per request.
  local token="" all="" page n pages=0
  while :; do
    if [ -z "$token" ]; then
      page="$(aws s3api list-objects-v2 --bucket "$AWSCLI_BUCKET" --prefix lst/ --max-items 5 --page-size 2 --output json)"
    else
      page="$(aws s3api list-objects-v2 --bucket "$AWSCLI_BUCKET" --prefix lst/ --max-items 5 --page-size 2 --starting-token "$token" --output json)"
    fi
    pages=$((pages + 1))
    n="$(jq -r '.Contents|length' <<<"$page")"
    all="$all$(jq -r '.Contents[].Key' <<<"$page")"$'\n'
    token="$(jq -r '.NextToken // empty' <<<"$page")"
    [ -n "$token" ] || break
    expect_eq 5 "$n" "items on a non-final page"
    [ "$pages" -lt 10 ] || die "paging does not terminate"
  done
  expect_eq 3 "$pages" "pages of --max-items 5 over 15 keys"
  local want; want="$(printf 'lst/f%s\n' $(seq -w 1 12); printf 'lst/%s/inner\n' x y z)"
  expect_eq "$(sort <<<"$want")" "$(grep -v '^$' <<<"$all")" "keys across pages (in order)"
  # The same with a delimiter: prefixes and keys interleaved in order.
  out="$(aws s3api list-objects-v2 --bucket "$AWSCLI_BUCKET" --prefix lst/ --delimiter / --page-size 4 --output json)"
  expect_eq 12 "$(jq -r '.Contents|length' <<<"$out")" "Contents with delimiter, 4 per page"
  expect_eq 3 "$(jq -r '.CommonPrefixes|length' <<<"$out")" "CommonPrefixes, 4 per page"
  # start-after
  out="$(aws s3api list-objects-v2 --bucket "$AWSCLI_BUCKET" --prefix lst/ --start-after lst/f10 --output json)"
  expect_eq "lst/f11 lst/f12 lst/x/inner lst/y/inner lst/z/inner" "$(jq -r '[.Contents[].Key]|join(" ")' <<<"$out")" "start-after"
}

aw_range() {
  aws s3api get-object --bucket "$AWSCLI_BUCKET" --key small.bin --range bytes=100-1123 "$AW/range.down" >"$AW/range.json"
  cat "$AW/range.json"
  dd if="$AW/small.bin" of="$AW/range.want" bs=1 skip=100 count=1024 status=none
  same_file "$AW/range.want" "$AW/range.down" "range 100-1123"
  expect_eq "bytes 100-1123/12345" "$(jq -r .ContentRange "$AW/range.json")" "Content-Range"
  # Suffix range on the multipart object: last 1 MiB.
  aws s3api get-object --bucket "$AWSCLI_BUCKET" --key dir/big.bin --range bytes=-1048576 "$AW/range2.down" >/dev/null
  tail -c 1048576 "$AW/big.bin" >"$AW/range2.want"
  same_file "$AW/range2.want" "$AW/range2.down" "suffix range of multipart object"
}

aw_presign_v4() {
  local url
  # aws-cli v1 presigns with SigV2 query auth unless s3.signature_version is
  # s3v4 (its documented setting); do both.
  url="$(aws s3 presign "s3://$AWSCLI_BUCKET/small.bin" --expires-in 300)"
  echo "$url"
  curl_get "$url" "$AW/presign-default.down"
  same_file "$AW/small.bin" "$AW/presign-default.down" "default (v1 CLI) presigned GET"
  mkdir -p "$AW/cfg"
  printf '[default]\ns3 =\n    signature_version = s3v4\n' >"$AW/cfg/config"
  url="$(AWS_CONFIG_FILE="$AW/cfg/config" aws s3 presign "s3://$AWSCLI_BUCKET/small.bin" --expires-in 300)"
  echo "$url"
  expect_contains "$url" "X-Amz-Signature=" "presigned URL is SigV4"
  curl_get "$url" "$AW/presign4.down"
  same_file "$AW/small.bin" "$AW/presign4.down" "SigV4 presigned GET"
  # A tampered SigV4 signature must be refused.
  local code
  code="$(curl -s -o "$AW/presign4.bad" -w '%{http_code}' "${url%X-Amz-Signature=*}X-Amz-Signature=$(printf '0%.0s' $(seq 64))")"
  expect_eq 403 "$code" "tampered SigV4 URL status"
  expect_contains "$(cat "$AW/presign4.bad")" "SignatureDoesNotMatch" "tampered SigV4 URL error"
}

aw_presign_v2() {
  local url
  url="$("$PY" - "$S3_ENDPOINT" "$AWSCLI_BUCKET" "small.bin" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" <<'PY'
import base64, hashlib, hmac, sys, time, urllib.parse
endpoint, bucket, key, ak, sk = sys.argv[1:]
expires = int(time.time()) + 300
resource = "/%s/%s" % (bucket, urllib.parse.quote(key))
sts = "GET\n\n\n%d\n%s" % (expires, resource)
sig = base64.b64encode(hmac.new(sk.encode(), sts.encode(), hashlib.sha1).digest()).decode()
q = urllib.parse.urlencode({"AWSAccessKeyId": ak, "Expires": expires, "Signature": sig})
print("%s%s?%s" % (endpoint, resource, q))
PY
)"
  echo "$url"
  curl_get "$url" "$AW/presign2.down"
  same_file "$AW/small.bin" "$AW/presign2.down" "SigV2 presigned GET"
  # A tampered SigV2 signature must be refused.
  local bad code
  bad="$(sed 's/Signature=[^&]*/Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D/' <<<"$url")"
  code="$(curl -s -o "$AW/presign2.bad" -w '%{http_code}' "$bad")"
  expect_eq 403 "$code" "tampered SigV2 URL status"
  expect_contains "$(cat "$AW/presign2.bad")" "SignatureDoesNotMatch" "tampered SigV2 URL error"
}

aw_wrong_secret() {
  local out rc=0
  out="$(AWS_SECRET_ACCESS_KEY=notTheSecret aws s3api list-objects-v2 --bucket "$AWSCLI_BUCKET" 2>&1)" || rc=$?
  echo "$out"
  [ "$rc" != 0 ] || die "request with a wrong secret succeeded"
  expect_contains "$out" "SignatureDoesNotMatch" "wrong secret error code"
  rc=0
  out="$(AWS_ACCESS_KEY_ID=noSuchKey aws s3api list-objects-v2 --bucket "$AWSCLI_BUCKET" 2>&1)" || rc=$?
  echo "$out"
  [ "$rc" != 0 ] || die "request with an unknown access key succeeded"
  expect_contains "$out" "InvalidAccessKeyId" "unknown access key error code"
}

aw_rm_recursive() {
  aws s3 rm --only-show-errors --recursive "s3://$AWSCLI_BUCKET/"
  local n; n="$(aws s3api list-objects-v2 --bucket "$AWSCLI_BUCKET" --query 'length(Contents || `[]`)' --output text)"
  expect_eq 0 "$n" "objects left after rm --recursive"
}

aw_rb() {
  aws s3 rb "s3://$AWSCLI_BUCKET"
  local out rc=0
  out="$(aws s3api head-bucket --bucket "$AWSCLI_BUCKET" 2>&1)" || rc=$?
  [ "$rc" != 0 ] || die "bucket still exists after rb"
  expect_contains "$out" "404" "head-bucket after rb"
}

awscli_main() {
  mkdir -p "$AW"
  check awscli_mb aw_mb
  check awscli_cp_small aw_cp_small
  check awscli_cp_multipart_105MiB aw_cp_multipart
  check awscli_ls aw_ls
  check awscli_ls_recursive aw_ls_recursive
  check awscli_sync_200_files aw_sync
  check awscli_s3api_put_head_get_metadata aw_s3api_put_head_get
  check awscli_copy_object aw_copy_object
  check awscli_list_objects_v2_prefix_delimiter_paging aw_list_v2
  check awscli_get_range aw_range
  check awscli_presign_sigv4_curl aw_presign_v4
  check awscli_presign_sigv2_curl aw_presign_v2
  check awscli_wrong_credentials_rejected aw_wrong_secret
  check awscli_rm_recursive aw_rm_recursive
  check awscli_rb aw_rb
  rm -rf "$AW"
}
