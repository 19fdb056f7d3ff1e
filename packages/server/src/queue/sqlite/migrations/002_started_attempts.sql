-- Attempts start when the consumer says so (Queue.start), not when a job is leased: a job leased
-- while its consumer waits for a concurrency slot holds no attempt. From here on `attempt` counts
-- attempts started, and `started` says whether the current lease started one (so an expired
-- lease counts as a failed attempt only then).
ALTER TABLE queue_jobs ADD COLUMN started INTEGER NOT NULL DEFAULT 0;
-- Leases taken before this step counted their attempt when leased.
UPDATE queue_jobs SET started = 1 WHERE state = 'leased';
