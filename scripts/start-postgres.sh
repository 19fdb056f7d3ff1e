#!/usr/bin/env bash
# Installs (Debian's `postgresql`) and starts PostgreSQL for the tests of the PostgreSQL metadata
# store, creates their role and database, and prints their URL on stdout:
#
#   export FAAS_TEST_DATABASE_URL=$(bash scripts/start-postgres.sh)
#
# Idempotent; run as root. These machines run no systemd, so the cluster is started with
# pg_ctlcluster. The role may create databases: test files that start servers make their own.
set -euo pipefail

ROLE=${FAAS_TEST_PG_ROLE:-faas_test}
PASSWORD=${FAAS_TEST_PG_PASSWORD:-faas_test}
DATABASE=${FAAS_TEST_PG_DATABASE:-faas_test}
WAIT_SECONDS=${FAAS_TEST_PG_WAIT_SECONDS:-60}

log() { printf 'start-postgres: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (apt-get and pg_ctlcluster need it)"
  exit 1
fi

if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # policy-rc.d keeps the package scripts from starting the cluster themselves (there is no init
  # system to ask); this script starts it below.
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
  fi
  apt-get install -y -q --no-install-recommends postgresql </dev/null >&2
  [ "$had_policy" -eq 0 ] && rm -f "$policy"
fi

# The first cluster (the package creates `<version> main`); one is created when there is none.
cluster=$(pg_lsclusters -h | head -n 1)
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  log "creating cluster $version main"
  pg_createcluster "$version" main >&2
  cluster=$(pg_lsclusters -h | head -n 1)
fi
read -r version name port status _ <<<"$cluster"
if [ "$status" != "online" ]; then
  log "starting cluster $version $name on port $port"
  pg_ctlcluster "$version" "$name" start >&2
fi

for _ in $(seq "$WAIT_SECONDS"); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 1
done
if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
  log "PostgreSQL did not answer on 127.0.0.1:$port within ${WAIT_SECONDS} s"
  exit 1
fi

psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" "$@"; }

# Password authentication over TCP, as a real deployment has it (scram-sha-256 in Debian's
# pg_hba.conf), so a wrong password is tested against the real check.
psql_admin -d postgres -v role="$ROLE" -v password="$PASSWORD" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'password')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'password') \gexec
SQL
psql_admin -d postgres -v role="$ROLE" -v db="$DATABASE" >&2 <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL

printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$ROLE" "$PASSWORD" "$port" "$DATABASE"
