-- How many of each project's invocations are queued or running, read on every async invoke
-- against its `queuedInvocations` quota: one row read, however long the queue (counting the
-- invocations would cost as many index entries, and heap visits, as are queued). A trigger keeps
-- it, in the transaction of every write that moves an invocation into or out of queued/running
-- (create, attempts, the orphan sweep, a dead letter retried, retention, deletes), so it cannot
-- drift. A project's row stays once made, at 0 when nothing is queued.
CREATE TABLE unfinished_invocations (
  project text PRIMARY KEY,
  n       bigint NOT NULL
);

INSERT INTO unfinished_invocations (project, n)
  SELECT project, count(*) FROM invocations WHERE status IN ('queued', 'running') GROUP BY project;

CREATE FUNCTION count_unfinished_invocations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.status IN ('queued', 'running') THEN
    UPDATE unfinished_invocations SET n = n - 1 WHERE project = OLD.project;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status IN ('queued', 'running') THEN
    INSERT INTO unfinished_invocations (project, n) VALUES (NEW.project, 1)
      ON CONFLICT (project) DO UPDATE SET n = unfinished_invocations.n + 1;
  END IF;
  RETURN NULL;
END;
$$;

-- Only rows that enter or leave queued/running fire it: sync records (written finished) and
-- updates within one state (queued to running, a result) cost nothing more.
CREATE TRIGGER unfinished_on_insert AFTER INSERT ON invocations
  FOR EACH ROW WHEN (NEW.status IN ('queued', 'running'))
  EXECUTE FUNCTION count_unfinished_invocations();
CREATE TRIGGER unfinished_on_update AFTER UPDATE OF status, project ON invocations
  FOR EACH ROW WHEN ((OLD.status IN ('queued', 'running')) IS DISTINCT FROM (NEW.status IN ('queued', 'running'))
    OR (OLD.project IS DISTINCT FROM NEW.project AND NEW.status IN ('queued', 'running')))
  EXECUTE FUNCTION count_unfinished_invocations();
CREATE TRIGGER unfinished_on_delete AFTER DELETE ON invocations
  FOR EACH ROW WHEN (OLD.status IN ('queued', 'running'))
  EXECUTE FUNCTION count_unfinished_invocations();
