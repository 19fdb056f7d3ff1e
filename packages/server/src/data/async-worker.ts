import {
  type FunctionVersion,
  isFaasError,
  type LeasedJob,
  type MetadataStore,
  type Queue,
  TERMINAL_STATUSES,
} from '@faas/core';
import { decodeEvent } from '../control/event-codec.ts';
import type { FunctionCatalog } from '../control/function-catalog.ts';
import { finished, type InvocationJob, type InvocationService } from '../control/invocation-service.ts';

/** How often jobs the queue dead-lettered on its own are reflected in their invocations. */
const DEAD_LETTER_SWEEP_MS = 10_000;
/** Lease held before the function is known; then extended to its timeout plus this margin. */
const INITIAL_LEASE_MS = 30_000;
const LEASE_MARGIN_MS = 5_000;

export interface AsyncWorkerOptions {
  store: MetadataStore;
  queue: Queue;
  catalog: FunctionCatalog;
  invocations: InvocationService;
  /** Jobs run at once by this worker. */
  concurrency: number;
  /** Longest sleep between polls when nothing is due. */
  pollMs: number;
  logger?: Pick<Console, 'error' | 'warn'>;
}

/**
 * Consumes the durable queue: leases due jobs, runs each attempt, records the outcome, then acks
 * (success), retries with backoff, or dead-letters. The store is written before the ack, so a crash
 * between the two redelivers a job whose invocation is already final, and it is acked unrun:
 * at-least-once delivery, at-most-once completion.
 */
export class AsyncWorker {
  #o: AsyncWorkerOptions;
  #inFlight = new Set<Promise<void>>();
  #running = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: AsyncWorkerOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** A job was just enqueued: poll now rather than at the next tick. */
  wake(): void {
    this.#wake?.();
  }

  /** Stops leasing; waits for running attempts to finish. */
  async stop(): Promise<void> {
    this.#running = false;
    this.wake();
    await this.#loop;
    await Promise.allSettled([...this.#inFlight]);
  }

  async #run(): Promise<void> {
    let nextSweep = 0;
    while (this.#running) {
      try {
        if (Date.now() >= nextSweep) {
          nextSweep = Date.now() + DEAD_LETTER_SWEEP_MS;
          await reconcileDeadLetters(this.#o.store, this.#o.queue);
        }
        const free = this.#o.concurrency - this.#inFlight.size;
        if (free > 0) {
          const jobs = await this.#o.queue.lease({ limit: free, visibilityTimeoutMs: INITIAL_LEASE_MS });
          for (const job of jobs) this.#track(this.#handle(job));
          if (jobs.length === free) continue;
        }
        await this.#sleep(await this.#sleepMs(free > 0));
      } catch (err) {
        this.#o.logger?.error('async worker: poll failed', err);
        await this.#sleep(this.#o.pollMs);
      }
    }
  }

  async #sleepMs(hadRoom: boolean): Promise<number> {
    if (!hadRoom) return this.#o.pollMs;
    const due = await this.#o.queue.nextDueInMs();
    return due === undefined ? this.#o.pollMs : Math.min(Math.max(due, 1), this.#o.pollMs);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  #track(p: Promise<void>): void {
    this.#inFlight.add(p);
    void p.finally(() => {
      this.#inFlight.delete(p);
      this.wake();
    });
  }

  async #handle(job: LeasedJob): Promise<void> {
    const { queue, store } = this.#o;
    const payload = job.payload as InvocationJob;
    try {
      const current = await store.getInvocation(payload.invocationId);
      if (current && TERMINAL_STATUSES.has(current.status)) {
        await queue.ack(job.id, job.leaseToken);
        return;
      }
      let fn: FunctionVersion;
      try {
        fn = await this.#o.catalog.resolve(payload.functionName, payload.version);
      } catch (err) {
        // The function (or version) was deleted while the job waited: nothing can run it.
        await queue.fail(job.id, job.leaseToken, { error: (err as Error).message, retryable: false });
        await store.updateInvocation(payload.invocationId, {
          status: 'dead_lettered',
          attempts: job.attempt,
          error: { type: 'FunctionGone', message: (err as Error).message },
          finishedAt: new Date().toISOString(),
        });
        return;
      }
      await queue.extend(job.id, job.leaseToken, fn.timeoutMs + LEASE_MARGIN_MS);
      await store.updateInvocation(payload.invocationId, {
        status: 'running',
        attempts: job.attempt,
        startedAt: new Date().toISOString(),
      });
      const { outcome, logs } = await this.#o.invocations.runAttempt(
        fn,
        payload.invocationId,
        decodeEvent(payload.event),
      );
      if (logs.length > 0) await store.appendLogs(logs);
      const result = finished(outcome);
      if (outcome.status === 'succeeded') {
        await store.updateInvocation(payload.invocationId, { ...result, attempts: job.attempt });
        await queue.ack(job.id, job.leaseToken);
        return;
      }
      const failure = await queue.fail(job.id, job.leaseToken, { error: outcome.error.message });
      if (failure.outcome === 'lease_lost') return;
      await store.updateInvocation(payload.invocationId, {
        ...result,
        attempts: job.attempt,
        // While retries remain the invocation goes back to queued, keeping the last error.
        status: failure.outcome === 'retrying' ? 'queued' : 'dead_lettered',
      });
    } catch (err) {
      // A platform fault (runtime down, store error): retry the job through the queue's backoff.
      this.#o.logger?.error(`async worker: job ${job.id} failed`, err);
      const message = isFaasError(err) ? `${err.code}: ${err.message}` : String(err);
      await queue.fail(job.id, job.leaseToken, { error: message }).catch(() => undefined);
    }
  }
}

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
        await store.updateInvocation(inv.id, {
          status: 'failed',
          error: { type: 'Lost', message: 'The server stopped before this invocation was enqueued' },
          finishedAt: new Date().toISOString(),
        });
        fixed++;
      }
      cursor = page.nextCursor;
    } while (cursor);
  }
  return fixed;
}

/**
 * The queue dead-letters a job by itself when its lease expires on the last attempt (its consumer
 * crashed or hung every time); the invocation would stay `running`. This marks such invocations.
 */
export async function reconcileDeadLetters(store: MetadataStore, queue: Queue, limit = 200): Promise<number> {
  let fixed = 0;
  for (const dead of await queue.listDead(limit)) {
    const inv = await store.getInvocation(dead.id);
    if (!inv || TERMINAL_STATUSES.has(inv.status)) continue;
    await store.updateInvocation(inv.id, {
      status: 'dead_lettered',
      attempts: dead.attempts,
      error: { type: 'LeaseExpired', message: dead.error || 'The attempt did not finish within its lease' },
      finishedAt: new Date().toISOString(),
    });
    fixed++;
  }
  return fixed;
}
