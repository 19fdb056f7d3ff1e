import {
  type Admission,
  type ConsumerOptions,
  ErrorCode,
  isFaasError,
  isStoreDown,
  type JobConsumer,
  type JobSlot,
  type LeasedJob,
  type Queue,
} from '@faas/core';
import { LeaseKeeper } from './lease-keeper.ts';

/** What the consumer takes a job's slot from: the server's ConcurrencyLimiter, shared with sync calls. */
export interface SlotLimiter {
  /** A release function once a slot is free; rejects (or throws) TOO_MANY_REQUESTS after `waitMs`. */
  acquire(key: string, limit: number, waitMs: number): Promise<() => void> | (() => void);
}

export interface QueueConsumerOptions<T> extends ConsumerOptions<T> {
  slots: SlotLimiter;
}

const DEFAULT_SLOT_WAIT_MS = 5_000;
/**
 * The shortest time between two jobs stepping aside: a capped project's own flood of enqueues,
 * each of which may let one step aside, turns its backlog over at most this often.
 */
const STEP_ASIDE_GAP_MS = 100;
/** A job whose admission found the store down is due again this much later. */
const ADMIT_AGAIN_MS = 1_000;

type Finished = { ok: true } | { ok: false; error: unknown };

/**
 * The server's JobConsumer over any Queue (see its doc in core). A job goes: lease (the keeper
 * renews it from then on) → admit → wait for its slot → start (the attempt now counts) → process →
 * ack or fail. A job that waits for its slot longer than `slotWaitMs`, or when the consumer stops,
 * is handed back without counting an attempt (to its project's next turn, behind the jobs already
 * due, so other functions' jobs get this consumer's room meanwhile).
 *
 * A job waiting for its slot also steps aside, handed back the same way, when every place is held
 * and another job is due: a project at its quota (or a function at its limit) with a backlog would
 * otherwise fill the places with jobs that can only wait, and hold other projects' jobs back for
 * up to `slotWaitMs`. The latest waiter goes first, one at a time. When the job leased in its
 * place has to wait as well (the jobs due are the capped project's own), none steps aside again
 * until a job is enqueued here or `slotWaitMs` has passed: a capped backlog is not turned over in
 * a loop.
 */
export class QueueConsumer<T> implements JobConsumer {
  #queue: Queue;
  #o: QueueConsumerOptions<T>;
  #keeper: LeaseKeeper;
  /** Jobs held: waiting for a slot or running. */
  #held = new Set<Promise<void>>();
  /** The held jobs waiting for a slot, in the order they began to: aborting one steps it aside. */
  #waiting = new Set<AbortController>();
  /** The keys of the slots those jobs wait for, each with how many wait for it. */
  #waitedFor = new Map<string, number>();
  /** The next job leased takes the place of one that stepped aside. */
  #replacing = false;
  /** No job steps aside before this time (ms since epoch). */
  #stepAsideAfter = 0;
  #steppedAsideAt = Number.NEGATIVE_INFINITY;
  #running = false;
  #stopping = new AbortController();
  #wake: (() => void) | undefined;
  /** Poked while not asleep: the next sleep ends at once. */
  #poked = false;
  #loop: Promise<void> | undefined;

  constructor(queue: Queue, options: QueueConsumerOptions<T>) {
    this.#queue = queue;
    this.#o = options;
    this.#keeper = new LeaseKeeper({
      queue,
      leaseMs: options.leaseMs,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  /** Counters for metrics: renewals that failed, leases lost while held. */
  get leaseStats(): { renewalFailures: number; leasesLost: number } {
    return { renewalFailures: this.#keeper.renewalFailures, leasesLost: this.#keeper.leasesLost };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#keeper.start();
    this.#loop = this.#run();
  }

  wake(slotKeys?: readonly string[]): void {
    // A job that needs none of the slots waited for (another project's, or a function below its
    // limit) may run: a waiter may step aside for it. A capped project's own enqueues may not
    // reopen that, or its waiters would lose their place in their slot's line at each one.
    if (!slotKeys?.some((key) => this.#waitedFor.has(key)))
      this.#stepAsideAfter = Math.min(this.#stepAsideAfter, this.#steppedAsideAt + STEP_ASIDE_GAP_MS);
    this.#poke();
  }

  #poke(): void {
    if (this.#wake) this.#wake();
    else this.#poked = true;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#stopping.abort();
    this.#poke();
    await this.#loop;
    await Promise.allSettled([...this.#held]);
    await this.#keeper.stop();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        // After a stall the queue counts this consumer's own expired leases as due: renewed first,
        // they are neither leased again (a second run of a running job) nor stepped aside for.
        if (this.#keeper.overdue) await this.#keeper.renewNow();
        const free = this.#o.concurrency - this.#held.size;
        if (free > 0) {
          const jobs = await this.#queue.lease({ limit: free, visibilityTimeoutMs: this.#o.leaseMs });
          const replacing = this.#replacing;
          this.#replacing = false;
          for (const [i, job] of jobs.entries()) this.#track(this.#handle(job, replacing && i === 0));
          if (jobs.length === free) continue;
          await this.#sleep(await this.#sleepMs());
        } else {
          const stepped = await this.#stepAside();
          // One that stepped aside frees its place once it is handed back, and that wakes the loop.
          await this.#sleep(stepped === true ? this.#o.pollMs : stepped);
        }
      } catch (err) {
        this.#o.logger?.error('queue consumer: poll failed', err);
        await this.#sleep(this.#o.pollMs);
      }
    }
  }

  /** How long to sleep, at most, before a job comes due. */
  async #sleepMs(due?: number): Promise<number> {
    const next = due ?? (await this.#queue.nextDueInMs());
    return next === undefined ? this.#o.pollMs : Math.min(Math.max(next, 1), this.#o.pollMs);
  }

  /**
   * With every place held: has the latest waiter step aside when another job is due (true), or
   * says how long to sleep before looking again.
   */
  async #stepAside(): Promise<true | number> {
    if (this.#waiting.size === 0) return this.#o.pollMs;
    const closed = this.#stepAsideAfter - Date.now();
    if (closed > 0) return Math.min(closed, this.#o.pollMs);
    const due = await this.#queue.nextDueInMs();
    const latest = [...this.#waiting].at(-1);
    if (due !== 0 || !latest) return this.#sleepMs(due);
    this.#replacing = true;
    this.#steppedAsideAt = Date.now();
    this.#stepAsideAfter = this.#steppedAsideAt + STEP_ASIDE_GAP_MS;
    latest.abort();
    return true;
  }

  get #slotWaitMs(): number {
    return this.#o.slotWaitMs ?? DEFAULT_SLOT_WAIT_MS;
  }

  #sleep(ms: number): Promise<void> {
    if (!this.#running) return Promise.resolve();
    if (this.#poked) {
      this.#poked = false;
      return Promise.resolve();
    }
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
    this.#held.add(p);
    void p.finally(() => {
      this.#held.delete(p);
      this.#poke();
    });
  }

  /** `replacing`: the job takes the place of one that stepped aside. */
  async #handle(job: LeasedJob, replacing: boolean): Promise<void> {
    const signal = this.#keeper.hold(job);
    try {
      await this.#settle(job, signal, replacing);
    } catch (err) {
      // A queue call failed (the queue is down): the lease runs out and the job comes back.
      this.#o.logger?.error(`queue consumer: job ${job.id} could not be settled`, err);
    } finally {
      this.#keeper.drop(job.id, job.leaseToken);
    }
  }

  async #settle(job: LeasedJob, signal: AbortSignal, replacing: boolean): Promise<void> {
    const { processor } = this.#o;
    let admission: Admission<T>;
    try {
      admission = await processor.admit(job);
    } catch (err) {
      // Nothing ran: a store that cannot be read now costs the job no attempt (with no retries
      // left, it would be dead-lettered unrun), only a wait.
      if (isStoreDown(err))
        await this.#queue.release(job.id, job.leaseToken, { runAt: Date.now() + ADMIT_AGAIN_MS });
      else await this.#fail(job, err, true);
      return;
    }
    if (admission.kind === 'done') {
      await this.#queue.ack(job.id, job.leaseToken);
      return;
    }
    if (admission.kind === 'reject') {
      await this.#fail(job, new Error(admission.error), false);
      return;
    }
    const release = await this.#takeSlots(admission.slots ?? [], signal, replacing);
    if (!release) {
      // No slot in time, stepping aside, or stopping: back to the queue, its attempt not counted.
      if (!signal.aborted) await this.#queue.release(job.id, job.leaseToken);
      return;
    }
    let finished: Finished;
    try {
      if (!(await this.#queue.start(job.id, job.leaseToken))) return;
      try {
        await processor.process(job, admission.value, signal);
        finished = { ok: true };
      } catch (error) {
        finished = { ok: false, error };
      }
    } finally {
      release();
    }
    // A run that lost its lease is no longer the job's owner: the next one settles it.
    if (signal.aborted) return;
    if (finished.ok) await this.#queue.ack(job.id, job.leaseToken);
    else await this.#fail(job, finished.error, true);
  }

  async #fail(job: LeasedJob, error: unknown, retryable: boolean): Promise<void> {
    const outcome = await this.#queue.fail(job.id, job.leaseToken, { error: describe(error), retryable });
    if (outcome.outcome === 'lease_lost') return;
    await this.#o.processor.failed?.(job, error, outcome);
  }

  /**
   * One release for all the job's slots, or undefined when one of them did not free in time (the
   * ones already taken are handed back at once: a job waiting holds nothing).
   */
  async #takeSlots(
    slots: readonly JobSlot[],
    signal: AbortSignal,
    replacing: boolean,
  ): Promise<(() => void) | undefined> {
    const held: Array<() => void> = [];
    const releaseAll = () => {
      for (let i = held.length - 1; i >= 0; i--) (held[i] as () => void)();
    };
    const aside = new AbortController();
    /** The key of the slot this job waits for now, counted in #waitedFor. */
    let waitingFor: string | undefined;
    const waiting = (key: string) => {
      waitingFor = key;
      this.#waitedFor.set(key, (this.#waitedFor.get(key) ?? 0) + 1);
      if (this.#waiting.has(aside)) return;
      this.#waiting.add(aside);
      // What was due behind the job that stepped aside has to wait too. Not again for as long as
      // a slot wait: each job that steps aside loses its place in the slot's line, so doing it
      // every poll would starve a function's async jobs behind its sync callers.
      if (replacing) this.#stepAsideAfter = Math.max(this.#stepAsideAfter, Date.now() + this.#slotWaitMs);
    };
    try {
      for (const slot of slots) {
        let release: (() => void) | undefined;
        try {
          release = await this.#takeSlot(slot, AbortSignal.any([signal, aside.signal]), waiting);
        } finally {
          if (waitingFor !== undefined) this.#stopWaitingFor(waitingFor);
          waitingFor = undefined;
        }
        if (!release) {
          releaseAll();
          return undefined;
        }
        held.push(release);
      }
    } catch (err) {
      releaseAll();
      throw err;
    } finally {
      this.#waiting.delete(aside);
    }
    return releaseAll;
  }

  #stopWaitingFor(key: string): void {
    const left = (this.#waitedFor.get(key) ?? 1) - 1;
    if (left > 0) this.#waitedFor.set(key, left);
    else this.#waitedFor.delete(key);
  }

  /**
   * The job's slot, or undefined when none frees within `slotWaitMs`, `signal` aborts (the lease
   * is lost, the job steps aside) or the consumer stops. `waiting` is called when the slot is not
   * free at once. A slot granted after giving up is handed straight back.
   */
  #takeSlot(
    slot: JobSlot,
    signal: AbortSignal,
    waiting: (key: string) => void,
  ): Promise<(() => void) | undefined> {
    const stopping = this.#stopping.signal;
    let acquiring: Promise<() => void> | (() => void);
    try {
      acquiring = this.#o.slots.acquire(slot.key, slot.limit, this.#slotWaitMs);
    } catch (err) {
      if (isTooMany(err)) return Promise.resolve(undefined);
      throw err;
    }
    if (typeof acquiring === 'function') return Promise.resolve(acquiring);
    waiting(slot.key);
    const pending = acquiring;
    return new Promise((resolve, reject) => {
      let settled = false;
      const giveUp = () => finish(() => resolve(undefined));
      const finish = (then: () => void) => {
        if (settled) return false;
        settled = true;
        signal.removeEventListener('abort', giveUp);
        stopping.removeEventListener('abort', giveUp);
        then();
        return true;
      };
      signal.addEventListener('abort', giveUp, { once: true });
      stopping.addEventListener('abort', giveUp, { once: true });
      if (signal.aborted || stopping.aborted) giveUp();
      pending.then(
        (release) => {
          if (!finish(() => resolve(release))) release();
        },
        (err: unknown) => finish(() => (isTooMany(err) ? resolve(undefined) : reject(err))),
      );
    });
  }
}

function isTooMany(err: unknown): boolean {
  return isFaasError(err) && err.code === ErrorCode.TOO_MANY_REQUESTS;
}

function describe(error: unknown): string {
  if (isFaasError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
