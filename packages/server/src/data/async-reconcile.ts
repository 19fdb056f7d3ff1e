import { type MetadataStore, type Queue, TERMINAL_STATUSES } from '@faas/core';

/**
 * After a crash, an async invocation may be recorded without a job (the process died between the
 * two writes, before the client got its 202). Such records are marked failed so none stays
 * `queued` forever.
 */
export async function reconcileOrphans(store: MetadataStore, queue: Queue): Promise<number> {
  let fixed = 0;
  for (const status of ['queued', 'running'] as const) {
    let cursor: string | undefined;
    do {
      const page = await store.listInvocations({ status }, { limit: 200, ...(cursor ? { cursor } : {}) });
      for (const inv of page.items) {
        if (inv.mode !== 'async' || (await queue.has(inv.id))) continue;
        const failed = await store.recordAttempt(inv.id, inv.attempts, {
          status: 'failed',
          error: { type: 'Lost', message: 'The server stopped before this invocation was enqueued' },
          finishedAt: new Date().toISOString(),
        });
        if (failed) fixed++;
      }
      cursor = page.nextCursor;
    } while (cursor);
  }
  return fixed;
}

/**
 * The queue dead-letters a job by itself when its lease expires on the last attempt (its consumer
 * crashed or hung every time); the invocation would stay `running`. This marks such invocations,
 * fenced like any attempt's write: an invocation that finished meanwhile is left alone.
 */
export async function reconcileDeadLetters(store: MetadataStore, queue: Queue, limit = 200): Promise<number> {
  let fixed = 0;
  for (const dead of await queue.listDead(limit)) {
    const inv = await store.getInvocation(dead.id);
    if (!inv || TERMINAL_STATUSES.has(inv.status)) continue;
    const marked = await store.recordAttempt(inv.id, Math.max(dead.attempts, inv.attempts), {
      status: 'dead_lettered',
      error: { type: 'LeaseExpired', message: dead.error || 'The attempt did not finish within its lease' },
      finishedAt: new Date().toISOString(),
    });
    if (marked) fixed++;
  }
  return fixed;
}
