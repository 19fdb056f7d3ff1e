-- Metadata store, version 1. Timestamps are ISO strings as the API gives them; invocations also
-- keep created_ms (ms since epoch) for ordering and time filters.

CREATE TABLE functions (
  name           TEXT PRIMARY KEY,
  latest_version INTEGER NOT NULL,
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL
);

-- One immutable row per version. `config` holds the rest of FunctionConfig as JSON (env, routes,
-- limits, image, command…), so a new optional config field needs no migration.
CREATE TABLE function_versions (
  name            TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
  version         INTEGER NOT NULL,
  runtime         TEXT NOT NULL,
  code_sha256     TEXT NOT NULL,
  code_size_bytes INTEGER NOT NULL,
  artifact_sha256 TEXT NOT NULL,
  config          TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  PRIMARY KEY (name, version)
) WITHOUT ROWID;

-- The latest version's routes. (method, path) is unique; `ANY` against a concrete method on the
-- same path is checked by the store before writing.
CREATE TABLE routes (
  method        TEXT NOT NULL,
  path          TEXT NOT NULL,
  function_name TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
  position      INTEGER NOT NULL,
  PRIMARY KEY (method, path)
);
CREATE INDEX routes_by_path ON routes (path);
CREATE INDEX routes_by_function ON routes (function_name, position);

-- Counters such as the routes revision.
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('routes_revision', 0);

CREATE TABLE invocations (
  id                TEXT PRIMARY KEY,
  function_name     TEXT NOT NULL,
  version           INTEGER NOT NULL,
  mode              TEXT NOT NULL,
  trigger_kind      TEXT NOT NULL,
  status            TEXT NOT NULL,
  idempotency_key   TEXT,
  attempts          INTEGER NOT NULL,
  result            TEXT, -- JSON; NULL when absent
  error             TEXT, -- JSON InvocationError
  created_at        TEXT NOT NULL,
  created_ms        INTEGER NOT NULL,
  started_at        TEXT,
  finished_at       TEXT,
  duration_ms       REAL,
  cpu_time_ms       REAL,
  peak_memory_bytes INTEGER
);
CREATE UNIQUE INDEX invocations_idempotency ON invocations (function_name, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX invocations_by_time ON invocations (created_ms DESC, id DESC);
CREATE INDEX invocations_by_function ON invocations (function_name, created_ms DESC, id DESC);
CREATE INDEX invocations_by_status ON invocations (status, created_ms DESC, id DESC);

-- seq is AUTOINCREMENT so a number is never reused, even after lines are deleted.
CREATE TABLE logs (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  invocation_id TEXT NOT NULL,
  function_name TEXT NOT NULL,
  ts            REAL NOT NULL,
  level         TEXT NOT NULL,
  message       TEXT NOT NULL
);
CREATE INDEX logs_by_invocation ON logs (invocation_id, seq);
CREATE INDEX logs_by_function ON logs (function_name, seq);

CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  role         TEXT NOT NULL,
  prefix       TEXT NOT NULL,
  hash         TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  revoked_at   TEXT,
  last_used_at TEXT
);
-- A revoked key's hash may come back (FAAS_ADMIN_KEY registered again), so only active keys
-- are unique.
CREATE UNIQUE INDEX api_keys_active_hash ON api_keys (hash) WHERE revoked_at IS NULL;

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
