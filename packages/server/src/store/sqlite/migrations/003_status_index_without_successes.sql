-- Successes are most invocations and are listed by function or by time; the status index keeps
-- the others (queued, running, failed, …), so recording a success writes one index fewer.
-- Queries for another status add `status <> 'succeeded'`, which lets SQLite use it.
DROP INDEX invocations_by_status;
CREATE INDEX invocations_by_status ON invocations (status, created_ms DESC, id DESC)
  WHERE status <> 'succeeded';
