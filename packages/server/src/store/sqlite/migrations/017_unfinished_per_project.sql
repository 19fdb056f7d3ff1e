-- How many of each project's invocations are queued or running, read on every async invoke
-- against its `queuedInvocations` quota: one row read, however long the queue (counting the
-- invocations would cost as many index entries as are queued). Triggers keep it, in the
-- transaction of every write that moves an invocation into or out of queued/running (create,
-- attempts, the orphan sweep, a dead letter retried, retention, deletes), so it cannot drift.
-- A project's row stays once made, at 0 when nothing is queued.
CREATE TABLE unfinished_invocations (
  project TEXT PRIMARY KEY,
  n       INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO unfinished_invocations (project, n)
  SELECT project, count(*) FROM invocations WHERE status IN ('queued', 'running') GROUP BY project;

CREATE TRIGGER unfinished_on_insert AFTER INSERT ON invocations
  WHEN NEW.status IN ('queued', 'running')
BEGIN
  INSERT INTO unfinished_invocations (project, n) VALUES (NEW.project, 1)
    ON CONFLICT (project) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER unfinished_on_update AFTER UPDATE OF status, project ON invocations
  WHEN (OLD.status IN ('queued', 'running')) <> (NEW.status IN ('queued', 'running'))
    OR (OLD.project <> NEW.project AND NEW.status IN ('queued', 'running'))
BEGIN
  UPDATE unfinished_invocations SET n = n - 1
    WHERE project = OLD.project AND OLD.status IN ('queued', 'running');
  INSERT INTO unfinished_invocations (project, n)
    SELECT NEW.project, 1 WHERE NEW.status IN ('queued', 'running')
    ON CONFLICT (project) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER unfinished_on_delete AFTER DELETE ON invocations
  WHEN OLD.status IN ('queued', 'running')
BEGIN
  UPDATE unfinished_invocations SET n = n - 1 WHERE project = OLD.project;
END;
