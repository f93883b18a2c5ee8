#!/usr/bin/env bash
# Keeps s3bench working: start our server on empty directories and run every workload once,
# tiny and short (`s3bench smoke`, ~20 s). Asserts that every workload ran without error and
# verified what it read; asserts no timing.
#
#   bench/smoke.sh                                   # builds and uses the debug binaries
#   S3SERVER_BIN=target/release/s3server S3BENCH_BIN=target/release/s3bench bench/smoke.sh
#
# BACKEND=mem runs the server with --backend mem.
set -euo pipefail
cd "$(dirname "$0")/.."

S3SERVER_BIN=${S3SERVER_BIN:-target/debug/s3server}
S3BENCH_BIN=${S3BENCH_BIN:-target/debug/s3bench}
if [ ! -x "$S3SERVER_BIN" ] || [ ! -x "$S3BENCH_BIN" ]; then
    cargo build --bin s3server --bin s3bench
fi
S3SERVER_BIN=$(realpath "$S3SERVER_BIN")
S3BENCH_BIN=$(realpath "$S3BENCH_BIN")

DIR=$(mktemp -d)
PORT=$((30000 + RANDOM % 10000))
args=(--listen "127.0.0.1:$PORT" --metrics-port 0 --data-path "$DIR/data" --metadata-path "$DIR/meta")
[ -n "${BACKEND:-}" ] && args+=(--backend "$BACKEND")
mkdir -p "$DIR/data" "$DIR/meta"
(cd "$DIR" && exec "$S3SERVER_BIN" "${args[@]}") >"$DIR/server.log" 2>&1 &
PID=$!
cleanup() {
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

for _ in $(seq 1 200); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" && break
    kill -0 "$PID" 2>/dev/null || { tail -20 "$DIR/server.log" >&2; exit 1; }
    sleep 0.1
done

status=0
"$S3BENCH_BIN" --endpoint "http://127.0.0.1:$PORT" --access-key accessKey1 \
    --secret-key verySecretKey1 --server-pid "$PID" --label smoke --smoke \
    --json "$DIR/results.jsonl" smoke || status=$?
# The report writer must accept what the run wrote.
"$S3BENCH_BIN" --report "$DIR/results.jsonl" >/dev/null || status=$?
if [ "$status" -eq 0 ]; then
    echo "s3bench smoke: every workload ran and verified"
else
    echo "s3bench smoke: FAILED (status $status)" >&2
fi
exit "$status"
