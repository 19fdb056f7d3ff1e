-- Quotas per project (issue 19), set by the platform admin: JSON (core's ProjectQuotas), NULL
-- for none. The store enforces the counts it holds (functions, snapshot bytes) in the same
-- transaction as the write they limit.
ALTER TABLE projects ADD COLUMN quotas text;
