-- Durable job queue, version 1. A job is one row through its whole life:
--   ready  (waiting, or backing off until visible_at)
--   leased (visible_at is the lease expiry; due again after it)
--   dead   (dead-lettered; kept for listDead and so its id stays taken)
-- Acked jobs are deleted.
CREATE TABLE queue_jobs (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  payload      TEXT,              -- JSON; NULL for an undefined payload
  state        TEXT NOT NULL CHECK (state IN ('ready', 'leased', 'dead')),
  attempt      INTEGER NOT NULL,  -- deliveries so far
  max_attempts INTEGER NOT NULL,
  visible_at   INTEGER NOT NULL,  -- ms since epoch: due time (ready) or lease expiry (leased)
  lease_token  TEXT,
  last_error   TEXT,
  enqueued_at  INTEGER NOT NULL,
  dead_at      INTEGER
);
-- Due jobs, oldest due first.
CREATE INDEX queue_jobs_due ON queue_jobs (visible_at, seq) WHERE state <> 'dead';
CREATE INDEX queue_jobs_dead ON queue_jobs (dead_at DESC, seq DESC) WHERE state = 'dead';
