-- A job names what it needs a slot of within its group (the invocation's function): `lease` can
-- leave the due jobs of a key (or of a group) for later, while a consumer's job of it waits for
-- a slot. NULL for jobs enqueued before, and for jobs without one.
ALTER TABLE queue_jobs ADD COLUMN jkey TEXT;
