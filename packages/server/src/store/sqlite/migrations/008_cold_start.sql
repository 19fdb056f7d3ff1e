-- Whether an invocation's (last) attempt waited for a new isolate, container or process: 1 cold,
-- 0 warm, NULL not known (recorded before this column, or it never ran).
ALTER TABLE invocations ADD COLUMN cold_start INTEGER;
