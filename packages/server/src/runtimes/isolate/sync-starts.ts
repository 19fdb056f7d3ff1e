import type { InvokeOutcome, InvokeRequest } from '@faas/core';
import { withColdStart } from '../cold-start.ts';
import { SYNC_BUDGET_MS, type VersionPool } from './version-pool.ts';

/** A synchronous start's end: an outcome, or what WarmIsolate.runSyncBatch asks of the caller. */
export type SyncStartOutcome = InvokeOutcome | 'over_budget' | 'again';

interface Queued {
  request: InvokeRequest;
  settle: (outcome: SyncStartOutcome) => void;
  fail: (err: unknown) => void;
}

/**
 * Batches the synchronous starts of each function version: the requests that reach the runtime
 * in one turn of the event loop (all those read in the same poll phase) start together, one
 * after another in one isolate call (WarmIsolate.runSyncBatch), at the end of the turn.
 */
export class SyncStarts {
  #queues = new Map<VersionPool, Queued[]>();

  /** Starts `request` with the others of this turn, or `alone` at once. */
  start(pool: VersionPool, request: InvokeRequest, alone: boolean): Promise<SyncStartOutcome> {
    return new Promise((settle, fail) => {
      const queued = { request, settle, fail };
      if (alone) {
        void runBatch(pool, [queued]);
        return;
      }
      const queue = this.#queues.get(pool);
      if (queue) {
        queue.push(queued);
        return;
      }
      this.#queues.set(pool, [queued]);
      setImmediate(() => {
        const batch = this.#queues.get(pool) ?? [];
        this.#queues.delete(pool);
        void runBatch(pool, batch);
      });
    });
  }
}

/**
 * Runs a batch in an idle isolate (or one loaded for it); those after an invocation that waits
 * go on in another batch, and the isolate goes back to the pool once nothing runs in it.
 */
async function runBatch(pool: VersionPool, batch: Queued[]): Promise<void> {
  let warm = pool.takeIdle();
  if (!warm) {
    try {
      warm = await pool.acquire(Math.min(...batch.map((q) => q.request.deadline)));
    } catch (err) {
      for (const q of batch) q.fail(err);
      return;
    }
  }
  const isolate = warm;
  const cold = isolate.takeColdStart();
  let results: ReturnType<typeof isolate.runSyncBatch>;
  try {
    results = isolate.runSyncBatch(
      batch.map((q) => q.request),
      SYNC_BUDGET_MS,
      (cpuTimeMs, isolateStarts) => pool.noteSyncStart(cpuTimeMs, isolateStarts),
    );
  } catch (err) {
    pool.release(isolate);
    for (const q of batch) q.fail(err);
    return;
  }
  const running: Promise<void>[] = [];
  const notStarted: Queued[] = [];
  for (const [i, result] of results.entries()) {
    const q = batch[i] as Queued;
    // The batch's first call is the one an isolate made for the batch was made for.
    const settle = (outcome: SyncStartOutcome) =>
      q.settle(typeof outcome === 'object' ? withColdStart(outcome, cold && i === 0) : outcome);
    if (result === 'not_started') notStarted.push(q);
    else if (result instanceof Promise) running.push(result.then(settle, q.fail));
    else settle(result);
  }
  if (running.length > 0) void Promise.allSettled(running).then(() => pool.release(isolate));
  else pool.release(isolate);
  if (notStarted.length > 0) void runBatch(pool, notStarted);
}
