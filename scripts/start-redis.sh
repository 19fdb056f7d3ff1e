#!/usr/bin/env bash
# Installs (Debian's redis-server, Redis 7) and starts the Redis the Redis queue's tests and
# benchmarks run against, then prints its URL on stdout: `export FAAS_TEST_REDIS_URL=$(bash
# scripts/start-redis.sh)`. Idempotent: a Redis already answering on the port is used as it is.
# These machines run no systemd, so redis-server is started directly, as a daemon.
# Run as root when redis-server is not installed yet.
set -euo pipefail

PORT=${FAAS_TEST_REDIS_PORT:-6379}
STATE_DIR=${FAAS_TEST_REDIS_DIR:-/var/lib/faas-test-redis}
WAIT_SECONDS=${FAAS_TEST_REDIS_WAIT_SECONDS:-30}

log() { printf 'start-redis: %s\n' "$*" >&2; }

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    log "redis-server is not installed and installing it needs root"
    exit 1
  fi
  log "installing redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # policy-rc.d keeps the package scripts from starting a Redis of their own.
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
  fi
  apt-get install -y -q --no-install-recommends redis-server </dev/null >&2
  [ "$had_policy" -eq 0 ] && rm -f "$policy"
fi

answers() { [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = "PONG" ]; }

if ! answers; then
  mkdir -p "$STATE_DIR"
  log "starting redis-server on 127.0.0.1:$PORT (data in $STATE_DIR)"
  # Loopback only, no password: a test instance. appendonly with an fsync each second is what a
  # durable queue runs on in production too (docs/queue.md).
  redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --dir "$STATE_DIR" \
    --appendonly yes --appendfsync everysec --save '' \
    --logfile "$STATE_DIR/redis.log" --pidfile "$STATE_DIR/redis.pid" >&2
  for _ in $(seq 1 "$((WAIT_SECONDS * 10))"); do
    answers && break
    sleep 0.1
  done
  if ! answers; then
    log "redis-server did not answer within ${WAIT_SECONDS}s; its log:"
    tail -n 20 "$STATE_DIR/redis.log" >&2 || true
    exit 1
  fi
fi

printf 'redis://127.0.0.1:%s\n' "$PORT"
