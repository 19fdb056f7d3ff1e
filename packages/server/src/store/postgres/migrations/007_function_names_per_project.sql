-- Function names are per project (issue 19): two projects may each have `hello`. Below the API a
-- function of a project other than `default` is known by its stored name `{project}.{name}`
-- (core's storedName; the dot is in neither a project id nor a function name), so the keys of
-- every table, warm pool, queue job and cache stay one name. Functions made in other projects
-- before are renamed so, with their versions, routes, invocations and log lines. The new parent
-- rows come first: the children move to them, then the old parents go (nothing left to cascade).
INSERT INTO functions (name, latest_version, created_at, updated_at, project)
  SELECT project || '.' || name, latest_version, created_at, updated_at, project
    FROM functions WHERE project <> 'default' AND strpos(name, '.') = 0;
UPDATE function_versions
  SET name = (SELECT f.project || '.' || f.name FROM functions f WHERE f.name = function_versions.name)
  WHERE name IN (SELECT name FROM functions WHERE project <> 'default' AND strpos(name, '.') = 0);
UPDATE routes
  SET function_name = (SELECT f.project || '.' || f.name FROM functions f WHERE f.name = routes.function_name)
  WHERE function_name IN (SELECT name FROM functions WHERE project <> 'default' AND strpos(name, '.') = 0);
DELETE FROM functions WHERE project <> 'default' AND strpos(name, '.') = 0;
UPDATE logs
  SET function_name = (SELECT i.project FROM invocations i WHERE i.id = logs.invocation_id) || '.' || function_name
  WHERE strpos(function_name, '.') = 0
    AND invocation_id IN (SELECT id FROM invocations WHERE project <> 'default');
UPDATE invocations SET function_name = project || '.' || function_name
  WHERE project <> 'default' AND strpos(function_name, '.') = 0;
UPDATE counters SET value = value + 1 WHERE name = 'routes_revision';
