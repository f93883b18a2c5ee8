# Node.js AWS SDK v2 checks: the examples/node-notes app and helper node/v2_tool.js.
# shellcheck shell=bash

NV2="$RUN/node-v2"
NV2_BUCKET=e2e-node-v2
NOTES_APP="$ROOT/examples/node-notes/app.js"
export AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE=1

v2() { timeout --kill-after=10 300 node "$HERE/node/v2_tool.js" "$@"; }
notes() {
  ACCESS_KEY="$S3_ACCESS_KEY" SECRET_KEY="$S3_SECRET_KEY" ENDPOINT="$S3_ENDPOINT" BUCKET="$NV2_BUCKET" \
    timeout --kill-after=10 120 node "$NOTES_APP" "$@"
}

nv2_notes_app() {
  local text='Take out the trash at 1pm PST — ✓ ünïcode'
  # The bucket does not exist yet: the app must create it.
  notes my-message "$text"
  local got; got="$(notes my-message)"
  expect_eq "$text" "$got" "note read back by the app"
  # And the object is what any other client sees.
  "$VENV/bin/aws" --endpoint-url "$S3_ENDPOINT" s3 cp "s3://$NV2_BUCKET/my-message" "$NV2/note.txt"
  expect_eq "$text" "$(cat "$NV2/note.txt")" "note read back with aws-cli"
  # A second note overwrites nothing else; a missing note is an error.
  notes second 'buy milk'
  expect_eq 'buy milk' "$(notes second)" "second note"
  expect_eq "$text" "$(notes my-message)" "first note unchanged"
  local rc=0 err; err="$(notes no-such-note 2>&1 >/dev/null)" || rc=$?
  [ "$rc" != 0 ] || die "reading a missing note succeeded"
  expect_contains "$err" "NoSuchKey" "missing note error"
}

nv2_upload_stream() {
  mkrand "$NV2/big.bin" $((20 * 1024 * 1024))
  local res; res="$(v2 upload "$NV2_BUCKET" stream/big.bin "$NV2/big.bin")"
  echo "$res"
  # s3.upload defaults: 5 MiB parts -> 4 parts.
  case "$(jq -r .ETag <<<"$res")" in *-4\") ;; *) die "s3.upload of 20 MiB should be a 4-part upload, ETag $(jq -r .ETag <<<"$res")" ;; esac
  v2 download "$NV2_BUCKET" stream/big.bin "$NV2/big.down"
  same_file "$NV2/big.bin" "$NV2/big.down" "20 MiB s3.upload round trip (SDK download)"
  "$VENV/bin/aws" --endpoint-url "$S3_ENDPOINT" s3 cp --only-show-errors "s3://$NV2_BUCKET/stream/big.bin" "$NV2/big.down2"
  same_file "$NV2/big.bin" "$NV2/big.down2" "20 MiB s3.upload round trip (aws-cli download)"
}

nv2_presigned_get() {
  local url; url="$(v2 presign "$NV2_BUCKET" stream/big.bin)"
  echo "$url"
  expect_contains "$url" "X-Amz-Signature=" "v2 presigned URL is SigV4"
  curl_get "$url" "$NV2/presigned.down"
  same_file "$NV2/big.bin" "$NV2/presigned.down" "presigned GET with curl"
}

nv2_cleanup() {
  v2 rm "$NV2_BUCKET" my-message
  v2 rm "$NV2_BUCKET" second
  v2 rm "$NV2_BUCKET" stream/big.bin
  v2 rb "$NV2_BUCKET"
}

node_v2_main() {
  mkdir -p "$NV2"
  check node_v2_notes_app nv2_notes_app
  check node_v2_upload_stream_20MiB nv2_upload_stream
  check node_v2_presigned_get_curl nv2_presigned_get
  check node_v2_delete_and_remove_bucket nv2_cleanup
  rm -rf "$NV2"
}
