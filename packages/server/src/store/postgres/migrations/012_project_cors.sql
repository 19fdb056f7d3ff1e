-- A project's CORS settings (issue 19, "Transport"): JSON CorsSettings, NULL for none (no CORS
-- headers). The runner applies each missing step whatever its number.
ALTER TABLE projects ADD COLUMN cors text;
