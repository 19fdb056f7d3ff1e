-- What an async invocation with an idempotency key was asked to do (sha256 of the version
-- reference and the event): a repeat of the key with other content is refused, not answered
-- with the first invocation. NULL for invocations without a key, and for those made before.
ALTER TABLE invocations ADD COLUMN idempotency_hash TEXT;
