#!/usr/bin/env bash
# Installs every client the end-to-end suite drives. Pinned and idempotent:
# each step is skipped when the pinned version is already present.
# Needs: Debian 12 as root (apt), python3 (>= 3.11) with venv/pip, node 20 + npm.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$HERE/.work"
VENV="$WORK/venv"

# --- pins -------------------------------------------------------------------
AWSCLI_VERSION=1.46.3
BOTO3_VERSION=1.44.8
REQUESTS_VERSION=2.34.2
# Debian 12 (bookworm) package versions, checked with apt-cache policy.
APT_PKGS=(
  "s3cmd=2.3.0-1"
  "rclone=1.60.1+dfsg-2+b5"
  "docker-registry=2.8.2+ds1-1"
  "skopeo=1.9.3+ds1-1+b10"
  "jq"
  "curl"
)

start=$(date +%s)
log() { printf '[setup] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# --- apt --------------------------------------------------------------------
need_apt=0
for spec in "${APT_PKGS[@]}"; do
  name="${spec%%=*}"
  want=""
  [ "$spec" != "$name" ] && want="${spec#*=}"
  have="$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)"
  case "$have" in
    "install ok installed "*)
      if [ -n "$want" ] && [ "${have##* }" != "$want" ]; then need_apt=1; fi ;;
    *) need_apt=1 ;;
  esac
done
if [ "$need_apt" = 1 ]; then
  log "apt-get install ${APT_PKGS[*]}"
  $SUDO apt-get update -q
  # Pinned versions first; fall back to the current candidate if the archive moved on.
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${APT_PKGS[@]}"; then
    log "pinned apt versions unavailable, installing current candidates"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
      "${APT_PKGS[@]%%=*}"
  fi
else
  log "apt packages present"
fi
# The Debian docker-registry package may start its own service on :5000; the
# suite runs its own registry process, so this one is not needed (harmless if absent).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  $SUDO systemctl stop docker-registry || true
fi

# --- python venv: awscli v1, boto3, requests --------------------------------
mkdir -p "$WORK"
if [ ! -x "$VENV/bin/python" ]; then
  # Debian's own python3 needs python3-venv for ensurepip.
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    log "apt-get install python3-venv"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv
  fi
  log "creating venv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
fi
py_ok() {
  "$VENV/bin/python" - "$AWSCLI_VERSION" "$BOTO3_VERSION" "$REQUESTS_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
want = dict(zip(["awscli", "boto3", "requests"], sys.argv[1:]))
sys.exit(0 if all(version(k) == v for k, v in want.items()) else 1)
PY
}
if py_ok; then
  log "python packages present"
else
  log "pip install awscli==$AWSCLI_VERSION boto3==$BOTO3_VERSION requests==$REQUESTS_VERSION"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "awscli==$AWSCLI_VERSION" "boto3==$BOTO3_VERSION" "requests==$REQUESTS_VERSION"
fi

# --- node: aws-sdk v2 + v3 (lockfiles committed) ----------------------------
npm_install() {
  local dir="$1"
  if [ -d "$dir/node_modules" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    log "node modules present in $dir"
    return
  fi
  log "npm ci in $dir"
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
}
npm_install "$HERE/node"
npm_install "$HERE/../../examples/node-notes"

end=$(date +%s)
log "versions: $("$VENV/bin/aws" --version 2>&1 | tr -d '\n'); boto3 $("$VENV/bin/python" -c 'import boto3;print(boto3.__version__)');" \
    "s3cmd $(s3cmd --version | awk '{print $3}'); $(rclone version 2>/dev/null | head -1);" \
    "$(docker-registry --version | awk '{print $2, $3}'); $(skopeo --version)"
log "setup done in $((end - start))s"
