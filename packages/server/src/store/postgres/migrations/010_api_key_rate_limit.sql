-- A key's rate limit (issue 19): JSON { requestsPerSecond, burst }, NULL for none. Numbered 006
-- after main's 005; the runner applies each missing step whatever its number.
ALTER TABLE api_keys ADD COLUMN rate_limit text;
