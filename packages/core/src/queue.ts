/** A job as enqueued. `id` is chosen by the caller (the invocation id) and makes enqueue idempotent. */
export interface NewJob {
  id: string;
  /** Opaque to the queue. */
  payload: unknown;
  /** Attempts before dead-lettering (1 + retries). */
  maxAttempts: number;
  /** Earliest time to deliver, ms since epoch. @default now */
  runAt?: number;
}

/** A job handed to a consumer under a lease. */
export interface LeasedJob {
  id: string;
  payload: unknown;
  /** 1 for the first delivery. */
  attempt: number;
  maxAttempts: number;
  /** Proves ownership of the lease to ack/fail/extend. */
  leaseToken: string;
  leaseExpiresAt: number;
}

export interface QueueStats {
  /** Waiting to be delivered (including backing off). */
  ready: number;
  leased: number;
  deadLettered: number;
}

export interface RetryPolicy {
  /** Delay before the second attempt; doubles each time. @default 1000 */
  baseDelayMs: number;
  /** @default 60000 */
  maxDelayMs: number;
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
 * A leased job not acked before `leaseExpiresAt` is delivered again (a crashed consumer's jobs
 * come back). Ack/fail/extend with a stale token do nothing and report it.
 */
export interface Queue {
  /** Returns `duplicate: true` and changes nothing when a job with that id exists (or is dead). */
  enqueue(job: NewJob): Promise<{ duplicate: boolean }>;
  /** Leases up to `limit` due jobs, oldest due first. */
  lease(options: { limit: number; visibilityTimeoutMs: number }): Promise<LeasedJob[]>;
  /** Finishes a job: it is removed. Returns false when the lease was lost. */
  ack(id: string, leaseToken: string): Promise<boolean>;
  /**
   * Records a failed attempt: retried with exponential backoff while attempts remain,
   * dead-lettered after. `retryable: false` dead-letters at once.
   */
  fail(id: string, leaseToken: string, options: { error: string; retryable?: boolean }): Promise<FailOutcome>;
  /** Pushes a lease's expiry out. Returns false when the lease was lost. */
  extend(id: string, leaseToken: string, visibilityTimeoutMs: number): Promise<boolean>;
  /** Whether a job with this id is queued, leased or dead. */
  has(id: string): Promise<boolean>;
  /** Dead-lettered jobs, newest first. */
  listDead(limit: number): Promise<Array<{ id: string; payload: unknown; error: string; attempts: number }>>;
  stats(): Promise<QueueStats>;
  /** Ms until the next job is due, or undefined when none waits: lets consumers sleep precisely. */
  nextDueInMs(): Promise<number | undefined>;
  close(): Promise<void>;
}
