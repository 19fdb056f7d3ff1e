-- Each route's shape (core's routeShape: parameter names and a trailing slash dropped), so the
-- conflict check on deploy is one index lookup: routes of one shape match the same requests.
-- Rows from before are filled in by the store when it opens (SQL cannot compute the shape).
ALTER TABLE routes ADD COLUMN shape TEXT;
CREATE INDEX routes_by_shape ON routes (shape);
