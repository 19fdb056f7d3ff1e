import { type MetadataStore, ORPHAN_ERROR, type Queue, TERMINAL_STATUSES } from '@faas/core';

/**
 * Longest a node may take between writing an async invocation's record and enqueuing its job
 * before it must not answer 202 (half the queue's lease). Orphans are sought only among records
 * older than the whole lease: the other half absorbs clock skew between nodes, since a record's
 * `createdAt` is its node's clock and the sweeper reads it with its own.
 */
export const enqueueBudgetMs = (leaseMs: number): number => leaseMs / 2;
export const orphanAgeMs = (leaseMs: number): number => leaseMs;

/**
 * Which records to look at: those created in [since, until). `until` must lie further back than
 * any live node takes between writing a record and enqueuing its job (InvocationService's
 * enqueue budget), so a record whose enqueue is merely under way is never taken for an orphan.
 */
export interface OrphanWindow {
  until: Date;
  since?: Date;
}

/**
 * An async invocation may be recorded without a job: its node died (kill -9, machine lost)
 * between the two writes, or the queue refused the job (the client got an error, not a 202).
 * Such records are marked failed so none stays `queued` forever. The write is fenced at attempt 0:
 * a job that started meanwhile (a late enqueue after all) is left alone.
 */
export async function reconcileOrphans(
  store: MetadataStore,
  queue: Queue,
  window: OrphanWindow,
): Promise<number> {
  let fixed = 0;
  const range = {
    until: window.until.toISOString(),
    ...(window.since ? { since: window.since.toISOString() } : {}),
  };
  for (const status of ['queued', 'running'] as const) {
    let cursor: string | undefined;
    do {
      const page = await store.listInvocations(
        { status, ...range },
        { limit: 200, ...(cursor ? { cursor } : {}) },
      );
      for (const inv of page.items) {
        if (inv.mode !== 'async' || (await queue.has(inv.id))) continue;
        const failed = await store.recordAttempt(inv.id, inv.attempts, {
          status: 'failed',
          error: { ...ORPHAN_ERROR },
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
    // A retry may have taken the job back since the list was read: its record is queued again at
    // the attempts the dead letter shows (a consumer that died before recording its last attempt
    // leaves fewer), or runs a later attempt, which the write's fence at this attempt refuses.
    if (inv.status === 'queued' && inv.attempts >= dead.attempts) continue;
    const marked = await store.recordAttempt(inv.id, dead.attempts, {
      status: 'dead_lettered',
      error: { type: 'LeaseExpired', message: dead.error || 'The attempt did not finish within its lease' },
      finishedAt: new Date().toISOString(),
    });
    if (marked) fixed++;
  }
  return fixed;
}
