import { ErrorCode, FaasError } from '@faas/core';

/** A list's time filters as the query gives them (the schema checked their format). */
export interface TimeQuery {
  since?: string;
  until?: string;
}

/** The times a filter may name, in UTC: years 0000 to 9999, whose ISO text sorts as they do. */
const FIRST_MS = Date.parse('0000-01-01T00:00:00.000Z');
const LAST_MS = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * The `since` and `until` of a list's query as the stores compare them: ISO text in UTC.
 * The schema's date-time format takes what Date does not read (a leap second, `:60`), so each is
 * parsed here again; and an offset can carry a time past year 9999 or before year 0000 in UTC,
 * whose ISO text (`+010000-…`, `-000001-…`) would sort before every other where a store compares
 * the text (the audit's `at`), so those are refused too.
 * @throws FaasError VALIDATION naming the field (`querystring.since`, as the schema's errors do)
 */
export function timeFilter(query: TimeQuery): TimeQuery {
  const out: TimeQuery = {};
  if (query.since) out.since = isoTime('since', query.since);
  if (query.until) out.until = isoTime('until', query.until);
  return out;
}

function isoTime(field: keyof TimeQuery, value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) refuse(field, 'must be a time the server can read (a leap second, :60, is not)');
  if (ms < FIRST_MS || ms > LAST_MS) refuse(field, 'must be in the years 0000 to 9999 in UTC');
  return new Date(ms).toISOString();
}

function refuse(field: keyof TimeQuery, message: string): never {
  throw new FaasError(ErrorCode.VALIDATION, `Invalid request: querystring.${field} ${message}`, {
    details: [{ field: `querystring.${field}`, message }],
  });
}
