import { setTimeout as sleep } from 'node:timers/promises';
import { type Invocation, type MetadataStore, ORPHAN_ERROR, type Queue } from '@faas/core';

/** How often a retry looks again at a record whose job is not in the queue yet. */
const RECHECK_MS = 100;

/**
 * A retry with an idempotency key found `existing`. If that invocation was never accepted (no 202
 * went out: its node stopped between writing the record and enqueuing the job, or the queue
 * refused the job), its key is freed so that the retry makes a new invocation: answering with the
 * old one would promise a run that never comes. A record still queued without a job may be one
 * whose enqueue is under way on another node, so it is looked at again until it is as old as the
 * orphan sweep's bound (`orphanAgeMs`), then failed as the sweep fails it, fenced at attempt 0: a
 * job that started meanwhile stands.
 * @returns whether the key is free of it: freed here, or by a retry racing this one
 */
export async function freeKeyOfUnaccepted(
  store: MetadataStore,
  queue: Queue,
  existing: Invocation,
  orphanAgeMs: number,
): Promise<boolean> {
  let current: Invocation | undefined = existing;
  while (current?.mode === 'async' && current.status === 'queued' && current.attempts === 0) {
    if (await queue.has(current.id)) return false;
    const age = Date.now() - Date.parse(current.createdAt);
    if (!(age < orphanAgeMs)) {
      const failed = await store.recordAttempt(current.id, 0, {
        status: 'failed',
        error: { ...ORPHAN_ERROR },
        finishedAt: new Date().toISOString(),
      });
      current = failed ?? (await store.getInvocation(current.id));
      break;
    }
    await sleep(Math.min(RECHECK_MS, orphanAgeMs - age));
    current = await store.getInvocation(current.id);
  }
  if (current?.status !== 'failed' || current.attempts !== 0 || current.error?.type !== ORPHAN_ERROR.type)
    return false;
  // Failed at attempt 0 for good: if this does not free the key, a racing retry did.
  await store.releaseIdempotencyKey(current.id);
  return true;
}
