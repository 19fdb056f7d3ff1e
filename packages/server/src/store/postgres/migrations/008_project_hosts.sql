-- Declared HTTP routes per project (issue 19): a project may own a host name (a custom domain);
-- its routes then answer only requests with that Host, so two projects may both serve
-- `GET /hello`. Routes of projects without a host stay one table, as before (the store refuses a
-- conflict among them). (method, path) is no longer unique across the platform: a route's key
-- becomes its function's.
ALTER TABLE projects ADD COLUMN host text COLLATE "C";
CREATE UNIQUE INDEX projects_by_host ON projects (host) WHERE host IS NOT NULL;

ALTER TABLE routes DROP CONSTRAINT routes_pkey;
ALTER TABLE routes ADD PRIMARY KEY (function_name, method, path);
