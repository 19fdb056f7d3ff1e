import { DEFAULT_PAGE_LIMIT, ErrorCode, FaasError, MAX_PAGE_LIMIT, type PageRequest } from '@faas/core';

/** Keyset values of the last item of a page: the next page starts after them. */
export type CursorKey = Array<string | number>;

/**
 * Cursors are opaque to callers: base64url of the keyset values of the page's last item. Keyset
 * paging (not offsets) keeps pages stable while rows are added or change status in between.
 */
export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * Decodes a cursor whose values have the given types.
 * @throws FaasError BAD_REQUEST when the cursor was not made by `encodeCursor` for this listing.
 */
export function decodeCursor(cursor: string, shape: ReadonlyArray<'string' | 'number'>): CursorKey {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const valid =
    Array.isArray(key) &&
    key.length === shape.length &&
    key.every(
      (value, i) => typeof value === shape[i] && (typeof value !== 'number' || Number.isFinite(value)),
    );
  if (!valid) throw new FaasError(ErrorCode.BAD_REQUEST, 'Invalid page cursor', { details: { cursor } });
  return key as CursorKey;
}

/** The page size asked for, defaulted and clamped to 1…MAX_PAGE_LIMIT. */
export function pageLimit(page: PageRequest): number {
  const limit = page.limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isFinite(limit)) return DEFAULT_PAGE_LIMIT;
  return Math.min(MAX_PAGE_LIMIT, Math.max(1, Math.trunc(limit)));
}

/** Cuts the `limit + 1` rows fetched into a page; a cursor is set only when more rows exist. */
export function toPage<T>(
  rows: T[],
  limit: number,
  keyOf: (item: T) => CursorKey,
): { items: T[]; nextCursor?: string } {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  const last = items.at(-1) as T;
  return { items, nextCursor: encodeCursor(keyOf(last)) };
}
