#!/usr/bin/env bash
# Compare s3server (file backend, and --backend mem as a ceiling) with the peer s3s-fs 0.14.1:
# every workload of s3bench, REPS repetitions interleaved (each repetition runs the servers in a
# rotated order), each server started fresh on empty directories on the same disk for each
# workload group. Writes bench/results.jsonl, bench/chart.svg and the results block of
# BENCHMARKS.md.
#
#   bench/compare.sh                      # the full comparison (about 20 minutes)
#   REPS=1 DURATION=2 bench/compare.sh    # quicker
#   SMOKE=1 REPS=1 bench/compare.sh       # seconds: tiny sizes
#
# Knobs (environment): REPS (3), DURATION seconds per timed workload (3), WARMUP seconds (1),
# COUNT operations of the 1 GiB workloads (1), WORKLOADS (all), SERVERS ("ours mem s3s-fs"),
# OURS_LOG_LEVEL (the server's default), SMOKE (0), WORKLOAD_TIMEOUT seconds (240).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$ROOT/bench/.work
mkdir -p "$WORK"

REPS=${REPS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
COUNT=${COUNT:-1}
WORKLOADS=${WORKLOADS:-all}
SERVERS=${SERVERS:-ours mem s3s-fs}
SMOKE=${SMOKE:-0}
WORKLOAD_TIMEOUT=${WORKLOAD_TIMEOUT:-240}
PEER_VERSION=0.14.1
AK=accessKey1
SK=verySecretKey1

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building release binaries"
nice -n 10 cargo build --release --bin s3server --bin s3bench
OURS_BIN=$ROOT/target/release/s3server
BENCH_BIN=$ROOT/target/release/s3bench

PEER_BIN=$WORK/peer/bin/s3s-fs
if ! "$PEER_BIN" --version 2>/dev/null | grep -q "$PEER_VERSION"; then
    log "installing s3s-fs $PEER_VERSION into $WORK/peer"
    nice -n 10 cargo install s3s-fs --version "$PEER_VERSION" --features binary --locked \
        --root "$WORK/peer" --target-dir "$WORK/peer-target"
fi

# --- the machine, and how fast this disk makes data durable -----------------------------------
log "measuring fdatasync rate (dd oflag=dsync, 4 KiB writes)"
dsync_start=$(date +%s.%N)
dd if=/dev/zero of="$WORK/dsync.test" bs=4k count=1000 oflag=dsync status=none
dsync_end=$(date +%s.%N)
rm -f "$WORK/dsync.test"
DSYNC_PER_S=$(awk -v a="$dsync_start" -v b="$dsync_end" 'BEGIN { printf "%.0f", 1000 / (b - a) }')
MACHINE=$WORK/machine.md
{
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, Linux $(uname -r);"
    echo "data on $(df -T "$WORK" | awk 'NR==2 {print $2}') ($(df "$WORK" | awk 'NR==2 {print $1}')), which sustains **$DSYNC_PER_S synchronous 4 KiB writes/s** (dd oflag=dsync)."
    echo "Client and servers share the same cores. s3s-fs $PEER_VERSION (its \`binary\` feature), our server at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' + uncommitted changes'), both release builds."
    echo "Timed workloads: ${WARMUP}s warm-up, ${DURATION}s measured; 1 GiB workloads: $COUNT operation(s) per run."
} > "$MACHINE"
cat "$MACHINE" >&2

# --- servers -----------------------------------------------------------------------------------
PORT=$((20000 + RANDOM % 5000))
SERVER_PID=
RUN_DIR=

start_server() { # name -> sets SERVER_PID, ENDPOINT
    local name=$1
    PORT=$((PORT + 1))
    RUN_DIR=$WORK/run/$name
    rm -rf "$RUN_DIR"
    mkdir -p "$RUN_DIR/data" "$RUN_DIR/meta" "$RUN_DIR/fs"
    local args=()
    case $name in
    ours | mem)
        args=("$OURS_BIN" --listen "127.0.0.1:$PORT" --metrics-port 0
            --data-path "$RUN_DIR/data" --metadata-path "$RUN_DIR/meta")
        [ "$name" = mem ] && args+=(--backend mem)
        [ -n "${OURS_LOG_LEVEL:-}" ] && args+=(--log-level "$OURS_LOG_LEVEL")
        ;;
    s3s-fs)
        args=("$PEER_BIN" --host 127.0.0.1 --port "$PORT" --access-key "$AK" --secret-key "$SK"
            "$RUN_DIR/fs")
        ;;
    esac
    # Run from the empty run directory, so no ./config.json or ./conf is picked up.
    (cd "$RUN_DIR" && exec "${args[@]}") >"$RUN_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    ENDPOINT=http://127.0.0.1:$PORT
    for _ in $(seq 1 300); do
        if curl -s -o /dev/null --max-time 1 "$ENDPOINT/"; then
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "$name exited at start-up:"
            tail -5 "$RUN_DIR/server.log" >&2
            return 1
        fi
        sleep 0.1
    done
    log "$name did not start listening on $ENDPOINT"
    return 1
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    # s3s-fs never syncs: without this, the kernel's writeback of its dirty data stalled the
    # next server's fsyncs (a 4 KiB PUT at c=1 saw 1-1.5 s stalls right after s3s-fs ran).
    sync
    # Deleted at the end, not now: on ext4 without a journal, inodes freed in the last 30 s are
    # skipped one by one when allocating (recently_deleted(), 9% of a 1 MiB PUT's samples right
    # after a delete), so deleting here would slow whichever server runs next.
    [ -d "$RUN_DIR" ] && mv "$RUN_DIR" "$TRASH/$(date +%s%N)"
    return 0
}
TRASH=$WORK/trash
rm -rf "$TRASH"
mkdir -p "$TRASH"
trap 'stop_server; rm -rf "$TRASH"' EXIT

# Workloads that share a server (and its preloaded data): the listings, and the 1 GiB GET,
# which reads the object the multipart upload wrote.
if [ "$WORKLOADS" = all ]; then
    GROUPS_LIST=(put-4k-c1 put-4k-c16 put-4k-c64 get-4k-c1 get-4k-c16 get-4k-c64 mix-4k-c16
        put-1m-c16 get-1m-c16 put-64m get-64m "mpu-1g get-1g" "list-10k list-delim list-prefix")
else
    read -r -a GROUPS_LIST <<<"$WORKLOADS"
fi

RESULTS=$WORK/results-$(date +%Y%m%d-%H%M%S).jsonl
: >"$RESULTS"
read -r -a SERVER_LIST <<<"$SERVERS"
smoke_flag=()
[ "$SMOKE" = 1 ] && smoke_flag=(--smoke)

started=$(date +%s)
for rep in $(seq 1 "$REPS"); do
    # Rotate the order each repetition, so no server always runs first (or last).
    n=${#SERVER_LIST[@]}
    order=()
    for i in $(seq 0 $((n - 1))); do order+=("${SERVER_LIST[$(((i + rep - 1) % n))]}"); done
    for server in "${order[@]}"; do
        for group in "${GROUPS_LIST[@]}"; do
            read -r -a wl <<<"$group"
            log "rep $rep/$REPS  $server  ${wl[*]}"
            if ! start_server "$server"; then
                stop_server
                continue
            fi
            # s3bench bounds each workload itself; `timeout` is the safety net.
            timeout --kill-after=10 $((WORKLOAD_TIMEOUT * ${#wl[@]} + 120)) \
                "$BENCH_BIN" --endpoint "$ENDPOINT" --access-key "$AK" --secret-key "$SK" \
                --server-pid "$SERVER_PID" --label "$server" --rep "$rep" \
                --duration "$DURATION" --warmup "$WARMUP" --count "$COUNT" \
                --workload-timeout "$WORKLOAD_TIMEOUT" "${smoke_flag[@]}" \
                --json "$RESULTS" "${wl[@]}" | tail -n +2 >&2 || true
            stop_server
        done
    done
done
log "all runs done in $(($(date +%s) - started)) s; results in $RESULTS"

cp "$RESULTS" bench/results.jsonl
"$BENCH_BIN" --report bench/results.jsonl --markdown BENCHMARKS.md --svg bench/chart.svg \
    --machine "$MACHINE"
log "wrote BENCHMARKS.md and bench/chart.svg"
