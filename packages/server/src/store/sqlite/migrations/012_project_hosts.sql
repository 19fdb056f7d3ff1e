-- Declared HTTP routes per project (issue 19): a project may own a host name (a custom domain);
-- its routes then answer only requests with that Host, so two projects may both serve
-- `GET /hello`. Routes of projects without a host stay one table, as before (the store refuses a
-- conflict among them). (method, path) is no longer unique across the platform: a route's key
-- becomes its function's, so the table is rebuilt (SQLite cannot change a primary key).
ALTER TABLE projects ADD COLUMN host TEXT;
CREATE UNIQUE INDEX projects_by_host ON projects (host) WHERE host IS NOT NULL;

CREATE TABLE routes_new (
  method        TEXT NOT NULL,
  path          TEXT NOT NULL,
  function_name TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
  position      INTEGER NOT NULL,
  shape         TEXT,
  PRIMARY KEY (function_name, method, path)
);
INSERT INTO routes_new (method, path, function_name, position, shape)
  SELECT method, path, function_name, position, shape FROM routes;
DROP TABLE routes;
ALTER TABLE routes_new RENAME TO routes;
CREATE INDEX routes_by_path ON routes (path);
CREATE INDEX routes_by_function ON routes (function_name, position);
CREATE INDEX routes_by_shape ON routes (shape);
