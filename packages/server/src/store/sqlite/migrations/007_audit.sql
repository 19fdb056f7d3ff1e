-- Who changed what through the API, when and from where (issue 19). Ids sort by time.
CREATE TABLE audit (
  id           TEXT PRIMARY KEY,
  at           TEXT NOT NULL,
  project      TEXT NOT NULL,
  actor_key_id TEXT NOT NULL,
  actor_name   TEXT NOT NULL,
  actor_role   TEXT NOT NULL,
  action       TEXT NOT NULL,
  target       TEXT,
  status       INTEGER NOT NULL,
  address      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX audit_by_project ON audit (project, id DESC);
CREATE INDEX audit_by_time ON audit (at);
