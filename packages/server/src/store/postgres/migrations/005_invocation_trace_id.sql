-- The W3C trace an invocation ran in (issue 15): 32 hex digits, NULL when the call carried none
-- and tracing was off. Numbered 005: 003 (audit) and 004 (cold starts) were taken on parallel branches; the runner
-- applies each missing step whatever its number.
ALTER TABLE invocations ADD COLUMN trace_id text COLLATE "C";
