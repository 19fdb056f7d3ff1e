-- The W3C trace an invocation ran in (issue 15): 32 hex digits, NULL when the call carried none
-- and tracing was off. Numbered 009: 007 (audit) and 008 (cold starts) were taken on parallel branches; the runner
-- applies each missing step whatever its number.
ALTER TABLE invocations ADD COLUMN trace_id TEXT;
