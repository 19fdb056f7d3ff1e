import type { NewLogLine } from '@faas/core';

/** First key of the transaction lock log writers hold; the second is the schema's hash. */
const LOG_LOCK = 0x6c6f6773; // "logs"

/**
 * The rows of an `INSERT INTO logs (invocation_id, function_name, ts, level, message)`: the lines
 * given as five arrays from parameter `$first` on (see `logArrays`), in their order.
 *
 * Before the rows (and so their seq numbers) are made, the statement takes a transaction
 * advisory lock that it holds until it commits: log writers take numbers one transaction at a
 * time, so lines become visible in seq order and a follower reading `seq > last seen` never
 * skips a line that commits late. With `gate`, a CTE's name, the lines (and the lock) are there
 * only when that CTE returned a row; with `where`, only the lines (columns of `u`) it holds for.
 */
export function logLinesFrom(first: number, options: { gate?: string; where?: string } = {}): string {
  const p = (i: number) => `$${first + i}`;
  const { gate, where } = options;
  return `SELECT u.invocation_id, u.function_name, u.ts, u.level, u.message
    FROM (SELECT pg_advisory_xact_lock(${LOG_LOCK}, hashtext(coalesce(current_schema(), '')))${gate ? ` FROM ${gate}` : ''}) AS seq_lock,
      unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::float8[], ${p(3)}::text[], ${p(4)}::text[])
        WITH ORDINALITY AS u (invocation_id, function_name, ts, level, message, i)
    ${where ? `WHERE ${where}` : ''}
    ORDER BY u.i`;
}

/** The five array parameters of logLinesFrom. */
export function logArrays(lines: NewLogLine[]): [string[], string[], number[], string[], string[]] {
  return [
    lines.map((l) => l.invocationId),
    lines.map((l) => l.functionName),
    lines.map((l) => l.ts),
    lines.map((l) => l.level),
    lines.map((l) => l.message),
  ];
}
