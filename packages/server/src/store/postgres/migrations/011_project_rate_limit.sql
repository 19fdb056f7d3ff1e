-- A project's rate limit (issue 19): JSON { requestsPerSecond, burst }, NULL for none. Numbered 007
-- after this branch's 006; the runner applies each missing step whatever its number.
ALTER TABLE projects ADD COLUMN rate_limit text;
