import type { MetadataStore, Queue } from '@faas/core';
import { SweepTimer } from './sweep-timer.ts';

const DAY_MS = 86_400_000;

export interface RetentionOptions {
  store: MetadataStore;
  queue: Queue;
  /** Days finished invocations, their logs and dead-lettered jobs are kept; 0 keeps them forever. */
  retentionDays: number;
  /** Most invocations kept (the newest); 0: no cap. */
  maxInvocations: number;
  /** Between sweeps. @default 600000 */
  intervalMs?: number;
  /** The first sweep, after start (not during it). @default 60000 */
  firstSweepMs?: number;
  /** Rows deleted per call (per kind): what one call may hold the database for. @default 200 */
  batchSize?: number;
  logger?: Pick<Console, 'error' | 'info' | 'warn'>;
  /** @default Date.now */
  now?: () => number;
}

export interface SweepResult {
  invocations: number;
  logLines: number;
  deadJobs: number;
  auditEntries: number;
  /** Store and queue calls made. */
  batches: number;
  /** The longest of them, in ms: how long the sweeper held the (synchronous) database at once. */
  longestBatchMs: number;
}

/**
 * Retention: every `intervalMs`, deletes finished invocations and their logs past
 * `retentionDays` or past the newest `maxInvocations`, and dead-lettered jobs and audit entries
 * past `retentionDays`. It deletes in small batches and yields to the event loop between them, so with
 * an embedded (synchronous) database no request waits behind more than one batch. Unfinished
 * invocations (queued, running) are never deleted (the store promises it).
 */
export class RetentionSweeper {
  #o: RetentionOptions;
  #now: () => number;
  #timer = new SweepTimer(() =>
    this.sweep()
      .then((result) => {
        const deleted = result.invocations + result.logLines + result.deadJobs + result.auditEntries;
        if (deleted > 0) {
          this.#o.logger?.info(
            `retention: deleted ${result.invocations} invocation(s), ${result.logLines} log line(s), ` +
              `${result.deadJobs} dead job(s), ${result.auditEntries} audit entries in ${result.batches} batch(es), the longest ${result.longestBatchMs.toFixed(1)} ms`,
          );
        }
      })
      .catch((err: unknown) => this.#o.logger?.error('retention sweep failed', err)),
  );

  constructor(options: RetentionOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#o.retentionDays > 0 || this.#o.maxInvocations > 0;
  }

  start(): void {
    if (this.enabled) this.#timer.start(this.#o.firstSweepMs ?? 60_000, this.#o.intervalMs ?? 600_000);
  }

  /** Stops after the batch under way. */
  stop(): Promise<void> {
    return this.#timer.stop();
  }

  /** One sweep, batch by batch until nothing is left to delete. */
  async sweep(): Promise<SweepResult> {
    const result: SweepResult = {
      invocations: 0,
      logLines: 0,
      deadJobs: 0,
      auditEntries: 0,
      batches: 0,
      longestBatchMs: 0,
    };
    if (!this.enabled) return result;
    const { retentionDays, maxInvocations } = this.#o;
    const limit = this.#o.batchSize ?? 200;
    const cutoffMs = this.#now() - retentionDays * DAY_MS;
    const rules = {
      ...(retentionDays > 0 ? { createdBefore: new Date(cutoffMs).toISOString() } : {}),
      ...(maxInvocations > 0 ? { keepNewest: maxInvocations } : {}),
      limit,
    };
    while (!this.#timer.stopped) {
      const done = await this.#timed(result, () => this.#o.store.deleteOldInvocations(rules));
      result.invocations += done.invocations;
      result.logLines += done.logLines;
      if (done.invocations + done.logLines === 0) break;
      await yieldToRequests();
    }
    while (retentionDays > 0 && !this.#timer.stopped) {
      const deleted = await this.#timed(result, () =>
        this.#o.queue.deleteDead({ deadBefore: cutoffMs, limit }),
      );
      result.deadJobs += deleted;
      if (deleted === 0) break;
      await yieldToRequests();
    }
    while (retentionDays > 0 && !this.#timer.stopped) {
      const before = new Date(cutoffMs).toISOString();
      const deleted = await this.#timed(result, () => this.#o.store.deleteOldAudit({ before, limit }));
      result.auditEntries += deleted;
      if (deleted === 0) break;
      await yieldToRequests();
    }
    return result;
  }

  async #timed<T>(result: SweepResult, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await call();
    } finally {
      result.batches++;
      result.longestBatchMs = Math.max(result.longestBatchMs, performance.now() - started);
    }
  }
}

/** Lets whatever waits on the event loop (requests, timers) run between two batches. */
function yieldToRequests(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
