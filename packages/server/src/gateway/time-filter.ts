import { ErrorCode, FaasError } from '@faas/core';

/** A list's time filters as the query gives them (the schema checked their format). */
export interface TimeQuery {
  since?: string;
  until?: string;
}

/**
 * The `since` and `until` of a list's query as the store compares them: ISO text in UTC.
 * The schema's date-time format takes what Date does not read (a leap second, `:60`), so each is
 * parsed here again.
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
  return new Date(ms).toISOString();
}

function refuse(field: keyof TimeQuery, message: string): never {
  throw new FaasError(ErrorCode.VALIDATION, `Invalid request: querystring.${field} ${message}`, {
    details: [{ field: `querystring.${field}`, message }],
  });
}
