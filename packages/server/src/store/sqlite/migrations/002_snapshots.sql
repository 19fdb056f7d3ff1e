-- Snapshots of sandbox instances: the record here, the data (a tar) in the blob store.
CREATE TABLE snapshots (
  id            TEXT PRIMARY KEY,
  name          TEXT,
  instance_id   TEXT NOT NULL,
  execution_id  TEXT,
  kind          TEXT NOT NULL,
  spec          TEXT NOT NULL,
  processes     TEXT,
  blob_checksum TEXT NOT NULL,
  size_bytes    INTEGER NOT NULL,
  created_at    INTEGER NOT NULL
);
CREATE INDEX snapshots_by_time ON snapshots (created_at, id);
CREATE INDEX snapshots_by_instance ON snapshots (instance_id, created_at);
CREATE INDEX snapshots_by_execution ON snapshots (execution_id) WHERE execution_id IS NOT NULL;
