import { ErrorCode, FaasError } from '@faas/core';
import { SlotTable } from './slot-table.ts';

interface Waiter {
  resolve: (release: () => void) => void;
  timer: NodeJS.Timeout | undefined;
}

/** How often a waiting thread looks at the shared count without being woken (a safety net). */
const RECHECK_MS = 50;

/**
 * Per-function concurrency: up to `limit` invocations run at once, counted in a SlotTable that
 * every gateway thread shares; past it a caller waits up to `waitMs` for a slot (a short burst
 * is absorbed), then gets 429. Waiters of this thread are served in order, and a slot this
 * thread releases goes to its next waiter first.
 */
export class ConcurrencyLimiter {
  #table: SlotTable;
  #waiters = new Map<string, Waiter[]>();
  /** Keys with a #pump running (one per key, however its queue comes and goes). */
  #pumping = new Set<string>();
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
    if (!this.#waiters.has(key) && this.#table.tryAcquire(key, limit)) return this.#releaser(key, limit);
    if (waitMs <= 0) throw tooMany(key, limit);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, timer: undefined };
      if (Number.isFinite(waitMs)) {
        waiter.timer = setTimeout(() => {
          this.#drop(key, waiter);
          reject(tooMany(key, limit));
        }, waitMs);
      }
      const queue = this.#waiters.get(key);
      if (queue) {
        queue.push(waiter);
        return;
      }
      this.#waiters.set(key, [waiter]);
      if (!this.#pumping.has(key)) void this.#pump(key, limit);
    });
  }

  /** Takes a slot at once or not at all (no wait): undefined when `limit` are taken. */
  tryAcquire(key: string, limit: number): (() => void) | undefined {
    return this.#table.tryAcquire(key, limit) ? this.#releaser(key, limit) : undefined;
  }

  running(key: string): number {
    return this.#table.running(key);
  }

  /** While this thread has waiters for the key: a slot for the first each time one frees. */
  async #pump(key: string, limit: number): Promise<void> {
    this.#pumping.add(key);
    try {
      for (let queue = this.#waiters.get(key); queue && queue.length > 0; queue = this.#waiters.get(key)) {
        const seen = this.#table.running(key);
        if (seen < limit && this.#table.tryAcquire(key, limit)) {
          this.#grant(key, limit, queue);
          continue;
        }
        await this.#table.changed(key, seen, RECHECK_MS);
      }
    } finally {
      this.#pumping.delete(key);
    }
  }

  #grant(key: string, limit: number, queue: Waiter[]): void {
    const waiter = queue.shift() as Waiter;
    if (queue.length === 0) this.#waiters.delete(key);
    if (waiter.timer) clearTimeout(waiter.timer);
    waiter.resolve(this.#releaser(key, limit));
  }

  #drop(key: string, waiter: Waiter): void {
    const queue = this.#waiters.get(key);
    const i = queue?.indexOf(waiter) ?? -1;
    if (!queue || i < 0) return;
    queue.splice(i, 1);
    if (queue.length === 0) this.#waiters.delete(key);
  }

  #releaser(key: string, limit: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.#waiters.get(key);
      // Handed on, still counted: this thread's next waiter goes before anyone else's.
      if (queue && queue.length > 0) this.#grant(key, limit, queue);
      else this.#table.release(key);
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
