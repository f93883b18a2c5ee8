# rclone checks with an environment-configured remote "s3:".
# shellcheck shell=bash

RC="$RUN/rclone"
RC_BUCKET=e2e-rclone

rclone_env() {
  export RCLONE_CONFIG="$RC/rclone.conf"   # empty: the remote comes from the environment
  export RCLONE_CONFIG_S3_TYPE=s3
  export RCLONE_CONFIG_S3_PROVIDER=Other
  export RCLONE_CONFIG_S3_ENV_AUTH=false
  export RCLONE_CONFIG_S3_ACCESS_KEY_ID="$S3_ACCESS_KEY"
  export RCLONE_CONFIG_S3_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
  export RCLONE_CONFIG_S3_REGION="$S3_REGION"
  export RCLONE_CONFIG_S3_ENDPOINT="$S3_ENDPOINT"
  export RCLONE_CONFIG_S3_FORCE_PATH_STYLE=true
  # rclone switches to multipart above upload_cutoff (default 200 MiB); lower
  # the threshold so the 30 MiB file goes multipart. chunk_size stays at its
  # default (5 MiB), so this is 6 parts of the default size.
  export RCLONE_CONFIG_S3_UPLOAD_CUTOFF=16M
}

rcl() { timeout --kill-after=10 300 rclone --retries 1 --low-level-retries 1 "$@"; }

rc_mkdir() {
  rcl mkdir "s3:$RC_BUCKET"
  expect_contains "$(rcl lsd s3:)" "$RC_BUCKET" "rclone lsd s3:"
}

rc_copy() {
  local src="$RC/src" i
  mkdir -p "$src/docs"
  mkrand "$src/big30.bin" $((30 * 1024 * 1024))
  for i in $(seq 1 20); do head -c $((1000 + i * 101)) /dev/urandom >"$src/docs/d$i.txt"; done
  rcl copy -v "$src" "s3:$RC_BUCKET/data" 2>&1 | tee "$RC/copy.log"
  local etag; etag="$("$VENV/bin/aws" --endpoint-url "$S3_ENDPOINT" s3api head-object --bucket "$RC_BUCKET" --key data/big30.bin --query ETag --output text)"
  case "$etag" in *-6\") ;; *) die "30 MiB file should be a 6-part multipart upload, ETag $etag" ;; esac
  expect_eq "21" "$(rcl lsf -R --files-only "s3:$RC_BUCKET/data" | wc -l)" "files listed"
}

rc_check() {
  rcl check "$RC/src" "s3:$RC_BUCKET/data"
  # md5sum of the multipart object comes from rclone's stored metadata.
  expect_eq "$(md5_of "$RC/src/big30.bin")" "$(rcl md5sum "s3:$RC_BUCKET/data/big30.bin" | awk '{print $1}')" "rclone md5sum of multipart object"
}

rc_sync_deletes() {
  local src="$RC/src" i
  for i in $(seq 1 5); do rm "$src/docs/d$i.txt"; done
  echo "modified" >"$src/docs/d6.txt"
  echo "brand new" >"$src/docs/new.txt"
  rcl sync "$src" "s3:$RC_BUCKET/data"
  expect_eq "17" "$(rcl lsf -R --files-only "s3:$RC_BUCKET/data" | wc -l)" "files after sync with deletes"
  rcl check "$src" "s3:$RC_BUCKET/data"
}

rc_copy_back() {
  rcl copy "s3:$RC_BUCKET/data" "$RC/back"
  same_tree "$RC/src" "$RC/back" "copy back"
  rcl check --download "$RC/src" "s3:$RC_BUCKET/data"
}

rc_server_side_copy() {
  rcl copyto -v "s3:$RC_BUCKET/data/big30.bin" "s3:$RC_BUCKET/copies/big30.bin" 2>&1 | tee "$RC/ssc.log"
  expect_contains "$(cat "$RC/ssc.log")" "server-side copy" "rclone used a server-side copy"
  rcl copyto "s3:$RC_BUCKET/copies/big30.bin" "$RC/ssc.down"
  same_file "$RC/src/big30.bin" "$RC/ssc.down" "server-side copy content"
  rcl copyto -v "s3:$RC_BUCKET/data/docs/d7.txt" "s3:$RC_BUCKET/copies/d7.txt"
  rcl check --download "$RC/src/docs" "s3:$RC_BUCKET/data/docs"
  expect_eq "$(sha_of "$RC/src/docs/d7.txt")" "$(rcl cat "s3:$RC_BUCKET/copies/d7.txt" | sha256sum | awk '{print $1}')" "small server-side copy"
}

rc_purge() {
  rcl purge "s3:$RC_BUCKET"
  case "$(rcl lsd s3:)" in *"$RC_BUCKET"*) die "bucket still there after purge" ;; esac
}

rclone_main() {
  mkdir -p "$RC"; : >"$RC/rclone.conf"
  rclone_env
  check rclone_mkdir rc_mkdir
  check rclone_copy_30MiB_multipart rc_copy
  check rclone_check rc_check
  check rclone_sync_with_deletes rc_sync_deletes
  check rclone_copy_back_check_download rc_copy_back
  check rclone_server_side_copy rc_server_side_copy
  check rclone_purge rc_purge
  rm -rf "$RC"
}
