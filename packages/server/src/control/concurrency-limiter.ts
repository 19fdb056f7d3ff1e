import { ErrorCode, FaasError } from '@faas/core';

interface Waiter {
  resolve: () => void;
  timer: NodeJS.Timeout | undefined;
}

interface Gate {
  running: number;
  waiters: Waiter[];
}

/**
 * Per-function concurrency: up to `limit` invocations run at once; past it a caller waits up to
 * `waitMs` for a slot (a short burst is absorbed), then gets 429. Waiters are served in order.
 */
export class ConcurrencyLimiter {
  #gates = new Map<string, Gate>();
  #waitMs: number;

  constructor(waitMs: number) {
    this.#waitMs = waitMs;
  }

  /**
   * Resolves with a release function once a slot is free.
   * @param waitMs overrides the default wait; `Infinity` waits as long as it takes (async work).
   * @throws FaasError TOO_MANY_REQUESTS when no slot frees up in time.
   */
  acquire(key: string, limit: number, waitMs = this.#waitMs): Promise<() => void> | (() => void) {
    let gate = this.#gates.get(key);
    if (!gate) {
      gate = { running: 0, waiters: [] };
      this.#gates.set(key, gate);
    }
    const release = this.#releaser(key, gate, limit);
    // Fast path without a promise: the common case on the hot path.
    if (gate.running < limit) {
      gate.running++;
      return release;
    }
    if (waitMs <= 0) throw tooMany(key, limit);
    const g = gate;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          if (waiter.timer) clearTimeout(waiter.timer);
          g.running++;
          resolve(release);
        },
        timer: undefined,
      };
      if (Number.isFinite(waitMs)) {
        waiter.timer = setTimeout(() => {
          const i = g.waiters.indexOf(waiter);
          if (i >= 0) g.waiters.splice(i, 1);
          reject(tooMany(key, limit));
        }, waitMs);
      }
      g.waiters.push(waiter);
    });
  }

  running(key: string): number {
    return this.#gates.get(key)?.running ?? 0;
  }

  #releaser(key: string, gate: Gate, limit: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      gate.running--;
      const next = gate.running < limit ? gate.waiters.shift() : undefined;
      if (next) next.resolve();
      else if (gate.running === 0 && gate.waiters.length === 0) this.#gates.delete(key);
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
