-- The collection of unnamed blobs asks, a batch of blobs at a time, which of them a function
-- version or a snapshot names: an index on each column that names one, so it never reads a
-- whole table.
CREATE INDEX function_versions_by_code ON function_versions (code_sha256);
CREATE INDEX function_versions_by_artifact ON function_versions (artifact_sha256);
CREATE INDEX snapshots_by_blob ON snapshots (blob_checksum);
