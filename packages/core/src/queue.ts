import type { BackendHealth } from './health.ts';

/** A job as enqueued. `id` is chosen by the caller (the invocation id) and makes enqueue idempotent. */
export interface NewJob {
  id: string;
  /** Opaque to the queue. */
  payload: unknown;
  /** Attempts before dead-lettering (1 + retries). */
  maxAttempts: number;
  /** Earliest time to deliver, ms since epoch. @default now */
  runAt?: number;
  /**
   * Who the job is charged to (the invocation's project). Due jobs of different groups are leased
   * in turns, so one group's backlog does not hold another group's next job back. @default '' (one
   * group for every job enqueued without one)
   */
  group?: string;
}

/** A job handed to a consumer under a lease. */
export interface LeasedJob {
  id: string;
  payload: unknown;
  /**
   * The attempt this delivery runs as once `start` is called: attempts started before it + 1
   * (1 for the first). A delivery whose attempt never started does not use up a number.
   */
  attempt: number;
  maxAttempts: number;
  /** Proves ownership of the lease to ack/fail/extend. */
  leaseToken: string;
  leaseExpiresAt: number;
}

export interface QueueStats {
  /** Waiting to be delivered (including backing off). */
  ready: number;
  /** Of `ready`, those not due yet: backing off, or enqueued with a future `runAt`. */
  delayed: number;
  leased: number;
  deadLettered: number;
}

export interface RetryPolicy {
  /** Delay before the second attempt; doubles each time. @default 1000 */
  baseDelayMs: number;
  /** @default 60000 */
  maxDelayMs: number;
}

/** A lease to renew: the job and the token its `lease` handed out. */
export interface LeaseRef {
  id: string;
  leaseToken: string;
}

/**
 * A place in the order jobs died: their time of death (ms since epoch), then, among the jobs of
 * one time, an order of the queue's own (`tiebreak`, opaque; absent: before all of them).
 */
export interface DeadPosition {
  deadAt: number;
  tiebreak?: string;
}

/** A dead-lettered job, with its place in the order jobs died. */
export interface DeadJob {
  id: string;
  payload: unknown;
  error: string;
  attempts: number;
  deadAt: number;
  tiebreak: string;
}

/** What became of a failed job. */
export type FailOutcome =
  | { outcome: 'retrying'; runAt: number }
  | { outcome: 'dead_lettered' }
  | { outcome: 'lease_lost' };

/**
 * A durable at-least-once job queue with leases. Implementations: SQLite (embedded), Redis.
 * All must pass `defineQueueSuite`.
 *
 * A delivery has two steps. `lease` claims a job for a while (`visibilityTimeoutMs`) without
 * starting an attempt: the consumer may still wait for capacity (a concurrency slot), and a claim
 * that ends unstarted (its holder hands it back, dies or stalls) costs no attempt. `start` begins
 * the attempt: from then on it counts toward `maxAttempts`. A holder keeps its lease by renewing
 * it (`extendMany`, every half lease); a lease not renewed, acked or failed before
 * `leaseExpiresAt` is delivered again (a crashed consumer's jobs come back), and one whose started
 * attempt was the last is dead-lettered instead of delivered (a job that kills its consumer cannot
 * come back forever). Every call that names a lease is fenced by its token: once another consumer
 * leased the job, a stale token changes nothing and the call reports it.
 */
export interface Queue {
  /** Returns `duplicate: true` and changes nothing when a job with that id exists (or is dead). */
  enqueue(job: NewJob): Promise<{ duplicate: boolean }>;
  /**
   * Leases up to `limit` due jobs, by turn, enqueue order breaking ties. Starts no attempt. A job
   * gets its group's next turn once due: when enqueued, if due then; else (its `runAt` or backoff
   * passed, handed back, its lease ran out) at the next `lease` call. A group's turns follow one
   * another, none before the turn last leased, so groups with due jobs take turns: a job waits
   * behind its own group's earlier turns and, for each, one job of each other group.
   */
  lease(options: { limit: number; visibilityTimeoutMs: number }): Promise<LeasedJob[]>;
  /**
   * Starts the leased job's attempt (number `attempt`): it now counts toward `maxAttempts`.
   * Returns false, counting nothing, when the lease was lost or has run out (the job may be
   * another consumer's any moment): the caller must not run the job. Calling it again for a
   * started lease returns true and counts nothing more.
   */
  start(id: string, leaseToken: string): Promise<boolean>;
  /** Finishes a job: it is removed. Returns false when the lease was lost. */
  ack(id: string, leaseToken: string): Promise<boolean>;
  /**
   * Records a failed attempt (counting it when `start` was not called): retried with exponential
   * backoff while attempts remain, dead-lettered after. `retryable: false` dead-letters at once.
   */
  fail(id: string, leaseToken: string, options: { error: string; retryable?: boolean }): Promise<FailOutcome>;
  /**
   * Hands a leased job back without finishing it: due again at `runAt` (default now). An attempt
   * that was not started is not counted, so a job handed back while it waited for capacity keeps
   * its attempt number. Returns false when the lease was lost.
   */
  release(id: string, leaseToken: string, options?: { runAt?: number }): Promise<boolean>;
  /** Pushes a lease's expiry out to now + `visibilityTimeoutMs`. Returns false when the lease was lost. */
  extend(id: string, leaseToken: string, visibilityTimeoutMs: number): Promise<boolean>;
  /**
   * `extend` for many leases in one call (a consumer renews all it holds at once). Returns the ids
   * whose lease was lost; the others now expire `visibilityTimeoutMs` from now.
   */
  extendMany(leases: readonly LeaseRef[], visibilityTimeoutMs: number): Promise<string[]>;
  /**
   * Takes a dead-lettered job back with a fresh budget of attempts, under a lease held by the
   * caller and not started (so it is not delivered until the caller `release`s it, or the lease
   * runs out): the caller can first record that the job lives again, and no consumer runs it
   * before. Its attempts go on counting up from those it used (`attempt` is one more than them,
   * `maxAttempts` is them plus the job's original `maxAttempts`), so a write fenced by attempt
   * number still refuses a run from its earlier life. Atomic: of concurrent calls for one job,
   * one gets the lease.
   * @returns the held job, or undefined (nothing changed) when no dead job has this id: it is
   *   waiting, leased, already taken back, deleted or unknown.
   */
  requeueDead(id: string, options: { visibilityTimeoutMs: number }): Promise<LeasedJob | undefined>;
  /** Whether a job with this id is queued, leased or dead. */
  has(id: string): Promise<boolean>;
  /** Dead-lettered jobs, newest first. */
  listDead(limit: number): Promise<Array<{ id: string; payload: unknown; error: string; attempts: number }>>;
  /**
   * Dead-lettered jobs after `position`, in the order they died (oldest first), at most `limit`:
   * a walk of all of them that goes on from the last one's `deadAt` and `tiebreak`. A job taken
   * back and dead again is found again, at its new time.
   */
  listDeadAfter(position: DeadPosition, limit: number): Promise<DeadJob[]>;
  /**
   * Retention: deletes up to `limit` dead-lettered jobs that died before `deadBefore` (ms since
   * epoch), oldest first; never a job that is not dead. Their ids may be enqueued again. Returns
   * how many; callers loop until it is 0.
   */
  deleteDead(options: { deadBefore: number; limit: number }): Promise<number>;
  stats(): Promise<QueueStats>;
  /** Ms until the next job is due, or undefined when none waits: lets consumers sleep precisely. */
  nextDueInMs(): Promise<number | undefined>;
  /**
   * Ms the job due the longest has waited since it became due (a lease that ran out, since its
   * expiry), or undefined when none is due: how far the consumers are behind.
   */
  oldestDueAgeMs(): Promise<number | undefined>;
  /**
   * Whether the backend answers and its recent writes succeeded (for `/ready`). Never throws.
   */
  health(): Promise<BackendHealth>;
  close(): Promise<void>;
}
