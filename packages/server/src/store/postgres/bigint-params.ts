import { ErrorCode, FaasError } from '@faas/core';

/**
 * A number of a page cursor, for a bigint parameter. `decodeCursor` accepts any finite number,
 * which SQLite compares as it is; PostgreSQL refuses 1.5 or 1e20 as a bigint, so such a cursor
 * (never made by this store) is the BAD_REQUEST any other foreign cursor is.
 */
export function cursorInt(value: number, cursor: string): number {
  if (Number.isSafeInteger(value)) return value;
  throw new FaasError(ErrorCode.BAD_REQUEST, 'Invalid page cursor', { details: { cursor } });
}

/**
 * `n` for "bigint column > n": the same rows as comparing with `n` itself (seq > 1.5 is seq > 1),
 * kept within the range where numbers are exact; NaN counts as 0.
 */
export function floorInt(n: number): number {
  if (Number.isNaN(n)) return 0;
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(-Number.MAX_SAFE_INTEGER, Math.floor(n)));
}
