-- Whether an invocation's (last) attempt waited for a new isolate, container or process; NULL:
-- not known (recorded before this column, or it never ran).
ALTER TABLE invocations ADD COLUMN cold_start boolean;
