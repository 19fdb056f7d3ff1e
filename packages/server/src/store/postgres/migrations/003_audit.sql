-- Who changed what through the API, when and from where (issue 19). Ids sort by time.
CREATE TABLE audit (
  id           text PRIMARY KEY,
  at           text NOT NULL,
  project      text NOT NULL,
  actor_key_id text NOT NULL,
  actor_name   text NOT NULL,
  actor_role   text NOT NULL,
  action       text NOT NULL,
  target       text,
  status       integer NOT NULL,
  address      text NOT NULL
);
CREATE INDEX audit_by_project ON audit (project, id DESC);
CREATE INDEX audit_by_time ON audit (at);
