import type { FunctionInvocationStats } from '@faas/core';

/** The statuses that count as errors in the stats, as an SQL list. */
export const ERROR_STATUSES_SQL = "'failed', 'timed_out', 'out_of_memory', 'dead_lettered'";

/**
 * Per function, the invocations created at or after a time (of one project, when given): calls,
 * errors, cold starts and the nearest-rank p50/p99 of their durations. One query for SQLite and
 * PostgreSQL (window functions, integer division in both); `bind(value)` records a value and
 * writes the dialect's placeholder for it, in the order of the SQL text. It reads the
 * `invocations_by_time` index's range, or `invocations_by_project`'s for one project: a
 * tenant's stats never rank every tenant's day.
 */
export function invocationStatsSql(
  bind: (value: number | string) => string,
  sinceMs: number,
  project?: string,
): string {
  const where = () =>
    `created_ms >= ${bind(sinceMs)}${project === undefined ? '' : ` AND project = ${bind(project)}`}`;
  const counted = where();
  const ranked = where();
  return `
SELECT c.function_name AS function_name, c.calls AS calls, c.errors AS errors,
  c.cold_starts AS cold_starts, p.p50 AS p50, p.p99 AS p99
FROM (
  SELECT function_name, COUNT(*) AS calls,
    SUM(CASE WHEN status IN (${ERROR_STATUSES_SQL}) THEN 1 ELSE 0 END) AS errors,
    -- 1/0 in SQLite, a boolean in PostgreSQL: both are a condition as they are.
    SUM(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_starts
  FROM invocations WHERE ${counted}
  GROUP BY function_name
) c
LEFT JOIN (
  SELECT function_name,
    MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN duration_ms END) AS p50,
    MAX(CASE WHEN rn = (n * 99 + 99) / 100 THEN duration_ms END) AS p99
  FROM (
    SELECT function_name, duration_ms,
      ROW_NUMBER() OVER (PARTITION BY function_name ORDER BY duration_ms) AS rn,
      COUNT(*) OVER (PARTITION BY function_name) AS n
    FROM invocations WHERE ${ranked} AND duration_ms IS NOT NULL
  ) ranked
  GROUP BY function_name
) p ON p.function_name = c.function_name
ORDER BY c.function_name`;
}

export interface InvocationStatsRow {
  function_name: string;
  calls: number | string | bigint;
  errors: number | string | bigint | null;
  cold_starts: number | string | bigint | null;
  p50: number | string | null;
  p99: number | string | null;
}

/** A row as the API shows it (PostgreSQL answers bigint and numeric as text). */
export function statsFromRow(row: InvocationStatsRow): FunctionInvocationStats {
  return {
    functionName: row.function_name,
    calls: Number(row.calls),
    errors: Number(row.errors ?? 0),
    coldStarts: Number(row.cold_starts ?? 0),
    ...(row.p50 !== null ? { p50Ms: Number(row.p50) } : {}),
    ...(row.p99 !== null ? { p99Ms: Number(row.p99) } : {}),
  };
}
