import {
  type DeadJob,
  type DeadPosition,
  type MetadataStore,
  ORPHAN_ERROR,
  type Queue,
  TERMINAL_STATUSES,
} from '@faas/core';

type DeadLetter = Pick<DeadJob, 'id' | 'error' | 'attempts'>;

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

/** Dead letters are read this many at a time. */
const DEAD_PAGE = 200;
/** A sweep reads at most this many invocations for dead letters; the rest wait for the next. */
const DEAD_READS_PER_SWEEP = 2_000;
/**
 * Each sweep walks again the dead letters of this span before where the last one stopped: a job
 * that died in the same ms as the last one seen but before it in the queue's order, or under a
 * clock that stepped back, is still found. Those already looked at are not read again.
 */
const DEAD_OVERLAP_MS = 5_000;

/**
 * The queue dead-letters a job by itself when its lease expires on the last attempt (its consumer
 * crashed or hung every time); the invocation would stay `running`. A sweep marks such
 * invocations, walking the dead letters in the order they died from where the last sweep
 * stopped (from the first at start), so none is missed however many die between two sweeps.
 */
export class DeadLetterSweep {
  #store: MetadataStore;
  #queue: Queue;
  /** The dead letters that died up to this time (ms) have been looked at. */
  #through = 0;
  /** Those looked at within DEAD_OVERLAP_MS of #through: `deadAt:tiebreak` → deadAt. */
  #seen = new Map<string, number>();

  constructor(store: MetadataStore, queue: Queue) {
    this.#store = store;
    this.#queue = queue;
  }

  /** Returns how many invocations it marked. */
  async run(): Promise<number> {
    let fixed = 0;
    let reads = 0;
    let from: DeadPosition = { deadAt: Math.max(0, this.#through - DEAD_OVERLAP_MS) };
    while (reads < DEAD_READS_PER_SWEEP) {
      const page = await this.#queue.listDeadAfter(from, DEAD_PAGE);
      for (const dead of page) {
        const key = `${dead.deadAt}:${dead.tiebreak}`;
        if (!this.#seen.has(key)) {
          if (reads >= DEAD_READS_PER_SWEEP) break;
          reads++;
          if (await reconcileDeadLetter(this.#store, dead)) fixed++;
          this.#seen.set(key, dead.deadAt);
        }
        from = { deadAt: dead.deadAt, tiebreak: dead.tiebreak };
        this.#through = Math.max(this.#through, dead.deadAt);
      }
      if (page.length < DEAD_PAGE) break;
    }
    const forget = this.#through - DEAD_OVERLAP_MS;
    for (const [key, deadAt] of this.#seen) if (deadAt < forget) this.#seen.delete(key);
    return fixed;
  }
}

/**
 * Marks the invocation of a dead letter dead-lettered unless it finished, fenced like any
 * attempt's write: an invocation that finished meanwhile is left alone. Returns whether it did.
 */
export async function reconcileDeadLetter(store: MetadataStore, dead: DeadLetter): Promise<boolean> {
  const inv = await store.getInvocation(dead.id);
  if (!inv || TERMINAL_STATUSES.has(inv.status)) return false;
  // A retry may have taken the job back since the list was read: its record is queued again at
  // the attempts the dead letter shows (a consumer that died before recording its last attempt
  // leaves fewer), or runs a later attempt, which the write's fence at this attempt refuses.
  if (inv.status === 'queued' && inv.attempts >= dead.attempts) return false;
  const marked = await store.recordAttempt(inv.id, dead.attempts, {
    status: 'dead_lettered',
    error: { type: 'LeaseExpired', message: dead.error || 'The attempt did not finish within its lease' },
    finishedAt: new Date().toISOString(),
  });
  return marked !== undefined;
}
