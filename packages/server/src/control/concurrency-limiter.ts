import { ErrorCode, FaasError } from '@faas/core';
import { SlotTable } from './slot-table.ts';

interface Waiter {
  resolve: (release: () => void) => void;
  timer: NodeJS.Timeout | undefined;
  /** Its count in the table's waiters (SlotTable.startWaiting). */
  entry: number;
}

/** This thread's waiters for a key, and the limit in force: the latest an acquire gave. */
interface Queue {
  limit: number;
  waiters: Waiter[];
}

/** How often a waiting thread looks at the shared count without being woken (a safety net). */
const RECHECK_MS = 50;
/**
 * How long a thread that gave a freed slot up to other threads' waiters leaves it to them before
 * its own waiters may take it back (when none of theirs took it: woken late, or gone).
 */
const YIELD_MS = 20;

/**
 * Per-function concurrency: up to `limit` invocations run at once, counted in a SlotTable that
 * every gateway thread shares; past it a caller waits up to `waitMs` for a slot (a short burst
 * is absorbed), then gets 429. Waiters of this thread are served in order, and a slot this
 * thread releases goes to its next waiter, unless callers of other threads wait too: then it goes
 * back to the table and this thread's waiters leave it to theirs for a moment, so that a thread
 * with a steady line of callers (sync calls on one connection's thread) cannot keep a function's
 * slots from the others (the async jobs on the main thread, say). The limit is the latest a
 * caller gave (a redeploy changes maxConcurrency): it holds for the callers already waiting too.
 */
export class ConcurrencyLimiter {
  #table: SlotTable;
  #queues = new Map<string, Queue>();
  /** Keys with a #pump running (one per key, however its queue comes and goes). */
  #pumping = new Set<string>();
  /** Keys whose freed slot this thread left to other threads' waiters: until when, and the turns then. */
  #yielding = new Map<string, { until: number; turns: number }>();
  #waitMs: number;

  constructor(waitMs: number, table = new SlotTable()) {
    this.#waitMs = waitMs;
    this.#table = table;
  }

  /**
   * Resolves with a release function once a slot is free.
   * @param waitMs overrides the default wait; `Infinity` waits as long as it takes (async work).
   * @throws FaasError TOO_MANY_REQUESTS when no slot frees up in time.
   */
  acquire(key: string, limit: number, waitMs = this.#waitMs): Promise<() => void> | (() => void) {
    // Fast path without a promise: the common case on the hot path.
    let queue = this.#queues.get(key);
    if (!queue && !this.#leftToOthers(key) && this.#table.tryAcquire(key, limit)) return this.#releaser(key);
    if (queue) {
      queue.limit = limit;
      // A raised limit has room for the callers waiting now, this one last.
      this.#serve(key, queue);
      if (!this.#queues.has(key) && this.#table.tryAcquire(key, limit)) return this.#releaser(key);
    }
    if (waitMs <= 0) throw tooMany(key, limit);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, timer: undefined, entry: this.#table.startWaiting(key) };
      if (Number.isFinite(waitMs)) {
        waiter.timer = setTimeout(() => {
          this.#drop(key, waiter);
          reject(tooMany(key, limit));
        }, waitMs);
      }
      queue = this.#queues.get(key);
      if (queue) {
        queue.waiters.push(waiter);
        return;
      }
      this.#queues.set(key, { limit, waiters: [waiter] });
      if (!this.#pumping.has(key)) void this.#pump(key);
    });
  }

  /** Takes a slot at once or not at all (no wait): undefined when `limit` are taken. */
  tryAcquire(key: string, limit: number): (() => void) | undefined {
    return this.#table.tryAcquire(key, limit) ? this.#releaser(key) : undefined;
  }

  running(key: string): number {
    return this.#table.running(key);
  }

  /** While this thread has waiters for the key: a slot for the first each time one frees. */
  async #pump(key: string): Promise<void> {
    this.#pumping.add(key);
    try {
      for (let queue = this.#queues.get(key); queue; queue = this.#queues.get(key)) {
        const seen = this.#table.running(key);
        const left = this.#leftToOthers(key);
        if (left > 0) {
          // Until one of theirs takes it (a take does not move the count's waiters).
          await this.#table.turnsMoved(key, (this.#yielding.get(key) as { turns: number }).turns, left);
          continue;
        }
        if (seen < queue.limit && this.#table.tryAcquire(key, queue.limit)) {
          this.#grant(key, queue);
          continue;
        }
        await this.#table.changed(key, seen, RECHECK_MS);
      }
    } finally {
      this.#pumping.delete(key);
    }
  }

  /** A slot for each waiter, first come first, while the limit has room. */
  #serve(key: string, queue: Queue): void {
    while (
      this.#queues.get(key) === queue &&
      !this.#leftToOthers(key) &&
      this.#table.tryAcquire(key, queue.limit)
    )
      this.#grant(key, queue);
  }

  /**
   * How much longer this thread leaves the key's freed slot to other threads' waiters (ms), or 0:
   * the time is up, a slot was taken or given since (one of theirs took it, maybe gave it back
   * already), or none of theirs waits any more.
   */
  #leftToOthers(key: string): number {
    if (this.#yielding.size === 0) return 0;
    const yielded = this.#yielding.get(key);
    if (!yielded) return 0;
    const left = yielded.until - performance.now();
    if (left > 0 && this.#table.turns(key) === yielded.turns && this.#table.othersWaiting(key)) return left;
    this.#yielding.delete(key);
    return 0;
  }

  #grant(key: string, queue: Queue): void {
    const waiter = queue.waiters.shift() as Waiter;
    if (queue.waiters.length === 0) this.#queues.delete(key);
    this.#table.stopWaiting(waiter.entry);
    if (waiter.timer) clearTimeout(waiter.timer);
    waiter.resolve(this.#releaser(key));
  }

  #drop(key: string, waiter: Waiter): void {
    const queue = this.#queues.get(key);
    const i = queue?.waiters.indexOf(waiter) ?? -1;
    if (!queue || i < 0) return;
    queue.waiters.splice(i, 1);
    this.#table.stopWaiting(waiter.entry);
    if (queue.waiters.length === 0) this.#queues.delete(key);
  }

  #releaser(key: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.#queues.get(key);
      const others = this.#table.othersWaiting(key);
      // Handed on, still counted: this thread's next waiter goes before anyone else's, unless
      // other threads' callers wait too, or a lowered limit is still exceeded (then the slot goes
      // back, and the pump serves the waiter). Left to other threads' waiters, it is not taken by
      // this thread's next caller either, though none of its callers waits yet.
      if (queue && !others && this.#table.running(key) <= queue.limit) {
        this.#grant(key, queue);
        return;
      }
      this.#table.release(key);
      if (others)
        this.#yielding.set(key, { until: performance.now() + YIELD_MS, turns: this.#table.turns(key) });
    };
  }
}

function tooMany(key: string, limit: number): FaasError {
  return new FaasError(
    ErrorCode.TOO_MANY_REQUESTS,
    `Function "${key}" is at its max concurrency (${limit}); retry shortly`,
    { details: { maxConcurrency: limit } },
  );
}
