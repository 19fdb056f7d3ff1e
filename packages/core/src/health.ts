import type { ErrorCode } from './errors.ts';

/**
 * What a storage backend (the metadata store, the queue) says about itself for `/ready`: whether
 * it answers, and whether its recent writes failed (a full disk, a read-only or unreachable
 * database). `code` is the error its failing calls throw.
 */
export type BackendHealth = { ok: true } | { ok: false; code: ErrorCode; reason: string };
