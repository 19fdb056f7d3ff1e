import type { InvocationBucketStats, InvocationTimeSeriesQuery } from '@faas/core';
import { ERROR_STATUSES_SQL } from './invocation-stats.ts';

/**
 * One function's invocations of one project in a time range, by bucket: calls, errors and the
 * nearest-rank p50/p99 of their durations, as `invocationStats` counts them. One query for
 * SQLite and PostgreSQL; `param(i)` writes the dialect's i-th placeholder, and the values go in
 * the order of `timeSeriesParams`. The CAST floors the bucket in SQLite too, where a bound
 * number may be a REAL and `/` would not be integer division.
 */
export function invocationTimeSeriesSql(param: (i: number) => string): string {
  return `
WITH w AS (
  SELECT CAST((created_ms - ${param(1)}) / ${param(2)} AS INTEGER) AS bucket, status, duration_ms
  FROM invocations
  WHERE function_name = ${param(3)} AND project = ${param(4)}
    AND created_ms >= ${param(5)} AND created_ms < ${param(6)}
)
SELECT c.bucket AS bucket, c.calls AS calls, c.errors AS errors, p.p50 AS p50, p.p99 AS p99
FROM (
  SELECT bucket, COUNT(*) AS calls,
    SUM(CASE WHEN status IN (${ERROR_STATUSES_SQL}) THEN 1 ELSE 0 END) AS errors
  FROM w GROUP BY bucket
) c
LEFT JOIN (
  SELECT bucket,
    MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN duration_ms END) AS p50,
    MAX(CASE WHEN rn = (n * 99 + 99) / 100 THEN duration_ms END) AS p99
  FROM (
    SELECT bucket, duration_ms,
      ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY duration_ms) AS rn,
      COUNT(*) OVER (PARTITION BY bucket) AS n
    FROM w WHERE duration_ms IS NOT NULL
  ) ranked
  GROUP BY bucket
) p ON p.bucket = c.bucket
ORDER BY c.bucket`;
}

/** The values of `invocationTimeSeriesSql`'s placeholders, in order. */
export function timeSeriesParams(query: InvocationTimeSeriesQuery): Array<string | number> {
  const { functionName, project, sinceMs, bucketMs, buckets } = query;
  return [sinceMs, bucketMs, functionName, project, sinceMs, sinceMs + buckets * bucketMs];
}

export interface InvocationBucketRow {
  bucket: number | string | bigint;
  calls: number | string | bigint;
  errors: number | string | bigint | null;
  p50: number | string | null;
  p99: number | string | null;
}

/** A row as the API shows it (PostgreSQL answers bigint and numeric as text). */
export function bucketFromRow(row: InvocationBucketRow): InvocationBucketStats {
  return {
    index: Number(row.bucket),
    calls: Number(row.calls),
    errors: Number(row.errors ?? 0),
    ...(row.p50 !== null ? { p50Ms: Number(row.p50) } : {}),
    ...(row.p99 !== null ? { p99Ms: Number(row.p99) } : {}),
  };
}
