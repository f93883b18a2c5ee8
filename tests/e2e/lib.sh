# Shared helpers for the end-to-end suite; sourced by run.sh and checks/*.sh.
# shellcheck shell=bash

PASSED=${PASSED:-0}
FAILED=${FAILED:-0}
FAILED_NAMES=()

pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$1"; }
fail() {
  FAILED=$((FAILED + 1)); FAILED_NAMES+=("$1")
  printf 'FAIL %s: %s\n' "$1" "$2"
}

# die MESSAGE: abort the current check with a reason.
die() { printf 'REASON: %s\n' "$*" >&2; exit 1; }

# Last REASON line of a check log, else its last non-empty line.
reason_of() {
  local log="$1" r
  r="$(grep -a '^REASON: ' "$log" | tail -n 1 | sed 's/^REASON: //' || true)"
  if [ -z "$r" ]; then
    r="$(grep -av '^[[:space:]]*$' "$log" | grep -av '^+ ' | grep -av '^# exit=' | tail -n 1 || true)"
    [ -z "$r" ] && r="exited non-zero without output"
  fi
  printf '%s' "${r:0:400}" | tr '\n\r' '  '
}

# check NAME FUNCTION [ARGS...]: runs FUNCTION in a subshell with errexit on,
# output to $LOGDIR/NAME.log, and records PASS/FAIL.
check() {
  local name="$1"; shift
  local log="$LOGDIR/$name.log" rc t0 t1
  t0=$(date +%s)
  set +e
  ( set -euo pipefail; "$@" ) >"$log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s)
  echo "# exit=$rc elapsed=$((t1 - t0))s" >>"$log"
  if [ "$rc" = 0 ]; then pass "$name"; else fail "$name" "$(reason_of "$log")"; fi
}

# run_external CLIENT TIMEOUT CMD...: runs a script that prints its own
# PASS/FAIL lines; counts them, and fails CLIENT if it crashed.
run_external() {
  local client="$1" limit="$2"; shift 2
  local log="$LOGDIR/$client.log" rc line n=0 nfail=0
  set +e
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>"$log.stderr"
  rc=$?
  set -e
  while IFS= read -r line; do
    case "$line" in
      "PASS "*) n=$((n + 1)); pass "${line#PASS }" ;;
      "FAIL "*) n=$((n + 1)); nfail=$((nfail + 1))
                local rest="${line#FAIL }"; fail "${rest%%: *}" "${rest#*: }" ;;
    esac
  done <"$log"
  if [ "$rc" != 0 ] && [ "$nfail" = 0 ]; then
    local why; why="$(tail -n 3 "$log.stderr" | tr '\n' ' ')"
    [ "$rc" = 124 ] && why="timed out after ${limit}s; $why"
    fail "$client" "script exited $rc after $n checks: ${why:0:400}"
  fi
}

md5_of() { md5sum "$1" | awk '{print $1}'; }
sha_of() { sha256sum "$1" | awk '{print $1}'; }

# same_file EXPECTED ACTUAL WHAT: compares sha256 digests.
same_file() {
  [ -f "$2" ] || die "$3: $2 missing"
  local a b
  a="$(sha_of "$1")"; b="$(sha_of "$2")"
  [ "$a" = "$b" ] || die "$3: sha256 differs (want $a, got $b, size want $(stat -c %s "$1") got $(stat -c %s "$2"))"
}

# expect_eq WANT GOT WHAT
expect_eq() { [ "$1" = "$2" ] || die "$3: want '$1', got '$2'"; }

# expect_contains HAYSTACK NEEDLE WHAT
expect_contains() {
  case "$1" in *"$2"*) ;; *) die "$3: '$2' not found in: ${1:0:300}" ;; esac
}

# mkrand FILE BYTES: random content (fast for large sizes).
mkrand() {
  head -c "$2" /dev/urandom >"$1"
}

# Compare two directory trees by relative path + sha256.
same_tree() {
  local a="$1" b="$2" what="$3" la lb
  la="$( (cd "$a" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) )"
  lb="$( (cd "$b" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) )"
  if [ "$la" != "$lb" ]; then
    diff <(printf '%s\n' "$la") <(printf '%s\n' "$lb") | head -n 10 >&2 || true
    die "$what: trees differ ($(printf '%s\n' "$la" | grep -c . ) vs $(printf '%s\n' "$lb" | grep -c . ) files)"
  fi
}

# curl_get URL OUT: plain HTTP GET (no credentials), fails on non-2xx,
# printing the status and body.
curl_get() {
  local code
  code="$(curl -sS -m 120 -o "$2" -w '%{http_code}' "$1")" || die "curl failed on $1"
  if [ "${code:0:1}" != 2 ]; then
    die "GET $(printf '%s' "$1" | cut -c1-150)... -> HTTP $code: $(head -c 400 "$2" | tr '\n' ' ')"
  fi
}
