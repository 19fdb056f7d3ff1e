#!/usr/bin/env bash
# Starts the S3 protocol server (s3rver, an npm devDependency: run after npm ci) the S3 blob
# store's tests and benchmarks can share, on loopback, in the background, then prints its
# endpoint on stdout: `export FAAS_TEST_S3_ENDPOINT=$(bash scripts/start-s3.sh)`. Idempotent: a
# server already answering on the port is used as it is. Tests without FAAS_TEST_S3_ENDPOINT
# start a private s3rver of their own; with it, each uses a prefix of its own in the bucket.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${FAAS_TEST_S3_PORT:-4568}
BUCKET=${FAAS_TEST_S3_BUCKET:-faas-test-blobs}
STATE_DIR=${FAAS_TEST_S3_DIR:-/tmp/faas-test-s3}
WAIT_SECONDS=${FAAS_TEST_S3_WAIT_SECONDS:-30}

log() { printf 'start-s3: %s\n' "$*" >&2; }
# A TCP connect is enough here (bash's /dev/tcp: curl is not on every fresh machine).
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if ! answers; then
  mkdir -p "$STATE_DIR"
  log "starting s3rver on 127.0.0.1:$PORT (objects in $STATE_DIR, bucket $BUCKET)"
  nohup node_modules/.bin/node packages/server/src/blobs/s3/s3rver.test-child.ts \
    "$STATE_DIR" "$BUCKET" "$PORT" >"$STATE_DIR/s3rver.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/s3rver.pid"
  for _ in $(seq 1 "$((WAIT_SECONDS * 10))"); do
    answers && break
    sleep 0.1
  done
  if ! answers; then
    log "s3rver did not answer within ${WAIT_SECONDS}s; its log:"
    tail -n 20 "$STATE_DIR/s3rver.log" >&2 || true
    exit 1
  fi
fi

printf 'http://127.0.0.1:%s\n' "$PORT"
