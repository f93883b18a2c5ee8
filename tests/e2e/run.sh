#!/usr/bin/env bash
# End-to-end suite: drives real, unmodified S3 clients with default settings
# against the release binary.
#
#   tests/e2e/run.sh                 # every client
#   tests/e2e/run.sh awscli boto3    # a selection
#
# Clients: awscli boto3 node-v2 node-v3 s3cmd rclone registry
# Environment:
#   S3SERVER_BIN   use this binary instead of building target/release/s3server
#   E2E_BACKEND    "mem" starts the server with --backend mem
#   E2E_SKIP_SETUP set to 1 to skip tests/e2e/setup.sh (which is idempotent)
#   E2E_KEEP       set to 1 to keep the temporary run directory
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ALL_CLIENTS=(awscli boto3 node-v2 node-v3 s3cmd rclone registry)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

CLIENTS=("$@")
[ ${#CLIENTS[@]} = 0 ] && CLIENTS=("${ALL_CLIENTS[@]}")
for c in "${CLIENTS[@]}"; do
  case " ${ALL_CLIENTS[*]} " in *" $c "*) ;; *) echo "unknown client '$c' (known: ${ALL_CLIENTS[*]})" >&2; exit 2 ;; esac
done

SUITE_START=$(date +%s)
export LC_ALL=C

if [ "${E2E_SKIP_SETUP:-0}" != 1 ]; then
  "$HERE/setup.sh" >&2
fi
export VENV="$HERE/.work/venv"
export PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "missing $PY: run tests/e2e/setup.sh" >&2; exit 2; }

# --- server binary -----------------------------------------------------------
if [ -n "${S3SERVER_BIN:-}" ]; then
  BIN="$S3SERVER_BIN"
else
  echo "building release binary (cargo build --release --bin s3server)..." >&2
  if ! (cd "$ROOT" && cargo build --release --bin s3server >&2); then
    fail build "cargo build --release failed"
    echo "$PASSED passed, $FAILED failed"
    exit 1
  fi
  BIN="$ROOT/target/release/s3server"
fi
[ -x "$BIN" ] || { echo "server binary $BIN not found" >&2; exit 2; }

# --- run directory, server start, cleanup ------------------------------------
mkdir -p "$HERE/.work"
RUN="$(mktemp -d "${TMPDIR:-/tmp}/s3e2e.XXXXXX")"
export RUN
export LOGDIR="$RUN/logs"
mkdir -p "$LOGDIR" "$RUN/data" "$RUN/meta"
SERVER_PID=""
EXTRA_PIDS=()

cleanup() {
  local rc=$?
  for p in "${EXTRA_PIDS[@]}" ${SERVER_PID:+"$SERVER_PID"}; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${EXTRA_PIDS[@]}" ${SERVER_PID:+"$SERVER_PID"}; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ "${E2E_KEEP:-0}" = 1 ]; then
    echo "run directory kept: $RUN" >&2
  else
    rm -rf "$RUN"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL WHAT PID: poll until anything answers HTTP (bounded retries).
wait_http() {
  local url="$1" what="$2" pid="$3" i
  for i in $(seq 1 150); do
    if curl -s -o /dev/null -m 2 "$url"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "$what exited before becoming ready" >&2; return 1; fi
    sleep 0.2
  done
  echo "$what not ready after 150 polls of $url" >&2
  return 1
}

PORT="$(free_port)"
SERVER_ARGS=(--port "$PORT" --data-path "$RUN/data" --metadata-path "$RUN/meta")
[ "${E2E_BACKEND:-}" = mem ] && SERVER_ARGS+=(--backend mem)
echo "starting $BIN ${SERVER_ARGS[*]}" >&2
"$BIN" "${SERVER_ARGS[@]}" >"$LOGDIR/server.log" 2>&1 &
SERVER_PID=$!
if ! wait_http "http://127.0.0.1:$PORT/" "s3server" "$SERVER_PID"; then
  tail -n 30 "$LOGDIR/server.log" >&2 || true
  fail server_start "server did not answer on 127.0.0.1:$PORT"
  echo "$PASSED passed, $FAILED failed"
  exit 1
fi

export S3_PORT="$PORT"
export S3_ENDPOINT="http://127.0.0.1:$PORT"
export S3_ACCESS_KEY=accessKey1
export S3_SECRET_KEY=verySecretKey1
export S3_REGION=us-east-1
# Isolate every client from the invoking user's configuration.
export HOME="$RUN/home"; mkdir -p "$HOME"
export AWS_CONFIG_FILE="$HOME/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$HOME/.aws/credentials"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_CA_BUNDLE || true
export AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY"
export AWS_DEFAULT_REGION="$S3_REGION" AWS_REGION="$S3_REGION"
export PATH="$VENV/bin:$PATH"
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY || true

echo "server ready on $S3_ENDPOINT (backend ${E2E_BACKEND:-file}); clients: ${CLIENTS[*]}" >&2

for c in "${CLIENTS[@]}"; do
  t0=$(date +%s)
  case "$c" in
    awscli)   source "$HERE/checks/awscli.sh";   awscli_main ;;
    boto3)    run_external boto3 900 "$PY" "$HERE/boto3_checks.py" ;;
    node-v2)  source "$HERE/checks/node.sh";     node_v2_main ;;
    node-v3)  run_external node_v3 600 node "$HERE/node/v3_checks.mjs" ;;
    s3cmd)    source "$HERE/checks/s3cmd.sh";    s3cmd_main ;;
    rclone)   source "$HERE/checks/rclone.sh";   rclone_main ;;
    registry) source "$HERE/checks/registry.sh"; registry_main ;;
  esac
  echo "# $c took $(( $(date +%s) - t0 ))s" >&2
done

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  fail server_alive "s3server died during the run"
fi

if [ "$FAILED" != 0 ]; then
  echo "---- logs of failed checks (last lines) ----" >&2
  declare -A SHOWN=()
  for n in "${FAILED_NAMES[@]}"; do
    for f in "$LOGDIR/$n.log" "$LOGDIR/${n%%_*}.log.stderr" "$LOGDIR/${n%_*}.log.stderr"; do
      [ -f "$f" ] || continue
      [ -z "${SHOWN[$f]:-}" ] || continue
      SHOWN[$f]=1
      echo "== $(basename "$f")" >&2
      tail -n 15 "$f" | cut -c1-300 >&2
    done
  done
  echo "---- server log (last lines) ----" >&2
  tail -n 20 "$LOGDIR/server.log" | cut -c1-400 >&2 || true
fi
echo "suite wall time $(( $(date +%s) - SUITE_START ))s" >&2
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
