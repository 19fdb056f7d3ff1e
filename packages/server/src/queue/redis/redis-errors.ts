import { ErrorCode, FaasError } from '@faas/core';

/** Redis error replies (their first word) that say the server, not the call, cannot go on. */
const FULL = new Set(['OOM']);
const READ_ONLY = new Set(['READONLY', 'MISCONF']);
const UNAVAILABLE = new Set([
  'LOADING',
  'BUSY',
  'NOAUTH',
  'WRONGPASS',
  'NOPERM',
  'MASTERDOWN',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'NOREPLICAS',
]);

/** Inside a script, Redis wraps a refused command's reply: "ERR Error running script … OOM …". */
function replyWords(message: string): string[] {
  return message.split(/[\s:,()]+/).filter((w) => /^[A-Z]{2,}$/.test(w));
}

/**
 * An error of a Redis call as the FaasError an API caller gets: connection failures, timeouts and
 * the server's refusals (out of memory, read-only, loading, auth) are storage errors naming the
 * queue and its redacted URL; any other error reply (a fault in a script) is returned unchanged.
 */
export function toRedisStorageError(err: unknown, where: string): unknown {
  if (err instanceof FaasError) return err;
  const e = err as { name?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const details = { backend: 'queue', redis: where, reason: message };
  if (e?.name === 'ReplyError') {
    const words = replyWords(message);
    if (words.some((w) => FULL.has(w))) {
      return new FaasError(
        ErrorCode.STORAGE_FULL,
        `The queue's Redis (${where}) is out of memory: nothing was written`,
        {
          details,
          cause: err,
        },
      );
    }
    if (words.some((w) => READ_ONLY.has(w))) {
      return new FaasError(
        ErrorCode.STORAGE_READ_ONLY,
        `The queue's Redis (${where}) refuses writes: ${message}`,
        { details, cause: err },
      );
    }
    if (!words.some((w) => UNAVAILABLE.has(w))) return err;
  }
  return new FaasError(ErrorCode.STORAGE_UNAVAILABLE, `The queue's Redis (${where}) failed: ${message}`, {
    details,
    cause: err,
  });
}
