/** `new Date(ms).toISOString()` for the invocation path, which stamps three times per call. */
let cachedSecond = Number.NaN;
/** `YYYY-MM-DDTHH:MM:SS.` of `cachedSecond`. */
let cachedPrefix = '';

/**
 * The ISO 8601 UTC form of `ms` (an integer, as Date.now() gives), exactly as toISOString has
 * it. V8 formats dates through printf (~0.45 µs); this formats the second once and appends
 * the milliseconds.
 */
export function isoTimestamp(ms: number = Date.now()): string {
  if (!Number.isInteger(ms)) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const prefix = new Date(second * 1000).toISOString().slice(0, 20);
    // Years past 9999 or before 0 have a longer form; they are not cached.
    if (prefix.length !== 20 || prefix[19] !== '.') return new Date(ms).toISOString();
    cachedSecond = second;
    cachedPrefix = prefix;
  }
  const milli = ms - second * 1000;
  return `${cachedPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}
