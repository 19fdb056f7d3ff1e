-- Projects (tenants), issue 19: everything belongs to one. What existed before joins `default`.
-- Function versions keep their project in the `config` JSON (absent: default); the functions
-- table has it as a column so a project's functions can be listed.
CREATE TABLE projects (
  name       text COLLATE "C" PRIMARY KEY,
  created_at text NOT NULL
);
INSERT INTO projects (name, created_at)
  VALUES ('default', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));

ALTER TABLE functions ADD COLUMN project text COLLATE "C" NOT NULL DEFAULT 'default';
CREATE INDEX functions_by_project ON functions (project, name);

ALTER TABLE invocations ADD COLUMN project text COLLATE "C" NOT NULL DEFAULT 'default';
CREATE INDEX invocations_by_project ON invocations (project, created_ms DESC, id DESC);

ALTER TABLE api_keys ADD COLUMN project text COLLATE "C" NOT NULL DEFAULT 'default';
-- A key narrowed to some scopes or functions (JSON arrays; NULL: all of its role's), and its expiry.
ALTER TABLE api_keys ADD COLUMN scopes text;
ALTER TABLE api_keys ADD COLUMN functions text;
ALTER TABLE api_keys ADD COLUMN expires_at text;

-- A snapshot's project is its instance's (spec.project); a column so lists can filter on it.
ALTER TABLE snapshots ADD COLUMN project text COLLATE "C" NOT NULL DEFAULT 'default';
UPDATE snapshots SET project = coalesce(spec::jsonb ->> 'project', 'default');
CREATE INDEX snapshots_by_project ON snapshots (project, created_at DESC, id DESC);
