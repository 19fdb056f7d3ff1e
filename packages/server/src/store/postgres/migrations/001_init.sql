-- Metadata store on PostgreSQL, version 1: the SQLite store's schema (its migrations 001-005)
-- in PostgreSQL's types. Keys and names sort bytewise (COLLATE "C"), as SQLite's do, so pages
-- and cursors order the same on both. Timestamps are ISO strings exactly as the API gives them;
-- invocations also keep created_ms (ms since epoch) for ordering and time filters. JSON is kept
-- as text, not jsonb: jsonb refuses "\u0000" inside strings, and results must read back as written.

CREATE TABLE functions (
  name           text COLLATE "C" PRIMARY KEY,
  latest_version bigint NOT NULL,
  created_at     text NOT NULL,
  updated_at     text NOT NULL
);

-- One immutable row per version; `config` holds the rest of FunctionConfig as JSON.
CREATE TABLE function_versions (
  name            text COLLATE "C" NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
  version         bigint NOT NULL,
  runtime         text NOT NULL,
  code_sha256     text NOT NULL,
  code_size_bytes bigint NOT NULL,
  artifact_sha256 text NOT NULL,
  config          text NOT NULL,
  created_at      text NOT NULL,
  PRIMARY KEY (name, version)
);

-- The latest version's routes. `shape` (core's routeShape) finds another function's route that
-- matches the same requests with one index lookup.
CREATE TABLE routes (
  method        text COLLATE "C" NOT NULL,
  path          text COLLATE "C" NOT NULL,
  function_name text COLLATE "C" NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
  position      bigint NOT NULL,
  shape         text COLLATE "C" NOT NULL,
  PRIMARY KEY (method, path)
);
CREATE INDEX routes_by_function ON routes (function_name, position);
CREATE INDEX routes_by_shape ON routes (shape);

-- Counters such as the routes revision. Its row is also the lock every function write takes
-- first (SELECT … FOR UPDATE), so route conflict checks never race.
CREATE TABLE counters (
  name  text PRIMARY KEY,
  value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('routes_revision', 0);

CREATE TABLE invocations (
  id                text COLLATE "C" PRIMARY KEY,
  function_name     text COLLATE "C" NOT NULL,
  version           bigint NOT NULL,
  mode              text NOT NULL,
  trigger_kind      text NOT NULL,
  status            text NOT NULL,
  idempotency_key   text COLLATE "C",
  idempotency_hash  text,
  attempts          bigint NOT NULL,
  result            text, -- JSON; NULL when absent
  error             text, -- JSON InvocationError
  created_at        text NOT NULL,
  created_ms        bigint NOT NULL,
  started_at        text,
  finished_at       text,
  duration_ms       double precision,
  cpu_time_ms       double precision,
  peak_memory_bytes double precision
);
CREATE UNIQUE INDEX invocations_idempotency ON invocations (function_name, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX invocations_by_time ON invocations (created_ms DESC, id DESC);
CREATE INDEX invocations_by_function ON invocations (function_name, created_ms DESC, id DESC);
-- Successes are most invocations and are listed by function or by time; this index keeps the
-- others (queued, running, failed, …), so recording a success writes one index fewer.
CREATE INDEX invocations_by_status ON invocations (status, created_ms DESC, id DESC)
  WHERE status <> 'succeeded';
-- A function's failures (or queued, running… ones) in order, without sorting all of its
-- invocations of that status; its successes are read through invocations_by_function.
CREATE INDEX invocations_by_function_status ON invocations (function_name, status, created_ms DESC, id DESC)
  WHERE status <> 'succeeded';

-- seq comes from an identity sequence, never reused. Writers of log lines hold a transaction
-- lock while they take numbers and commit, so lines become visible in seq order and a follower
-- reading "seq > last seen" misses none.
CREATE TABLE logs (
  seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  invocation_id text COLLATE "C" NOT NULL,
  function_name text COLLATE "C" NOT NULL,
  ts            double precision NOT NULL,
  level         text NOT NULL,
  message       text NOT NULL
);
CREATE INDEX logs_by_invocation ON logs (invocation_id, seq);
CREATE INDEX logs_by_function ON logs (function_name, seq);

CREATE TABLE api_keys (
  id           text COLLATE "C" PRIMARY KEY,
  name         text NOT NULL,
  role         text NOT NULL,
  prefix       text NOT NULL,
  hash         text COLLATE "C" NOT NULL,
  created_at   text COLLATE "C" NOT NULL,
  revoked_at   text,
  last_used_at text
);
-- A revoked key's hash may come back (FAAS_ADMIN_KEY registered again): only active keys are unique.
CREATE UNIQUE INDEX api_keys_active_hash ON api_keys (hash) WHERE revoked_at IS NULL;

CREATE TABLE settings (
  key   text COLLATE "C" PRIMARY KEY,
  value text NOT NULL
);

-- Snapshots of sandbox instances: the record here, the data (a tar) in the blob store.
CREATE TABLE snapshots (
  id            text COLLATE "C" PRIMARY KEY,
  name          text,
  instance_id   text COLLATE "C" NOT NULL,
  execution_id  text COLLATE "C",
  kind          text NOT NULL,
  spec          text NOT NULL,
  processes     text,
  blob_checksum text NOT NULL,
  size_bytes    bigint NOT NULL,
  created_at    bigint NOT NULL
);
CREATE INDEX snapshots_by_time ON snapshots (created_at DESC, id DESC);
CREATE INDEX snapshots_by_instance ON snapshots (instance_id, created_at DESC, id DESC);
CREATE INDEX snapshots_by_execution ON snapshots (execution_id, created_at DESC, id DESC)
  WHERE execution_id IS NOT NULL;
