-- A dead-lettered job can be taken back (Queue.requeueDead) with a fresh budget of attempts on top
-- of those it used: `max_attempts` then grows, and `budget` keeps the job's original maxAttempts,
-- the size of each fresh budget.
ALTER TABLE queue_jobs ADD COLUMN budget INTEGER NOT NULL DEFAULT 0;
UPDATE queue_jobs SET budget = max_attempts;
