import type { FailOutcome, LeasedJob, Queue } from './queue.ts';

/** Capacity a job must hold while it runs: one of `limit` slots of `key` (e.g. a function's max concurrency). */
export interface JobSlot {
  key: string;
  limit: number;
}

/** What the processor decides about a leased job before its attempt starts. */
export type Admission<T> =
  /**
   * Run it once it holds a slot of each of `slots`, taken in their order (at once without any);
   * `value` goes to `process`. Every waiter takes them in one order (a project's, then its
   * function's), so no two wait on each other.
   */
  | { kind: 'run'; slots?: readonly JobSlot[]; value: T }
  /** It already completed (a redelivery after a crash): ack it without running. */
  | { kind: 'done' }
  /** It can never run (what it needs is gone): dead-letter it at once. */
  | { kind: 'reject'; error: string };

/**
 * The work of a queue consumer, apart from the mechanics of leases (the consumer's part). A
 * processor's writes for an attempt must be fenced by `job.attempt` (see
 * `MetadataStore.recordAttempt`): a run that lost its lease may still be finishing when the next
 * attempt runs, and it must record nothing over it.
 */
export interface JobProcessor<T = unknown> {
  /** Called for each leased job before its attempt starts (no attempt is counted yet). Throwing fails the job. */
  admit(job: LeasedJob): Promise<Admission<T>>;
  /**
   * Runs the started attempt. Resolving acks the job; throwing fails it (retried while attempts
   * remain). `signal` aborts when the lease is lost: from then on the run must write nothing,
   * and the consumer neither acks nor fails the job.
   */
  process(job: LeasedJob, value: T, signal: AbortSignal): Promise<void>;
  /** After the queue recorded a failed attempt (thrown by `admit`/`process`, or a reject), with its outcome. */
  failed?(job: LeasedJob, error: unknown, outcome: FailOutcome): Promise<void>;
}

export interface ConsumerOptions<T = unknown> {
  /** Jobs held at once (running or waiting for a slot). */
  concurrency: number;
  /** Lease length; every lease held is renewed each half of it. */
  leaseMs: number;
  /** Longest sleep between polls when nothing is due. */
  pollMs: number;
  /** Longest a leased job waits for its slot before it is handed back (uncounted). @default 5000 */
  slotWaitMs?: number;
  processor: JobProcessor<T>;
  logger?: Pick<Console, 'error' | 'warn'>;
}

/**
 * Runs a queue's jobs: leases while it has room, renews every lease it holds in one call each
 * half lease (BullMQ's lock manager), takes a job's slot before starting its attempt, and acks or
 * fails it by what the processor did. Exactly-once completion rests on three rules: a job waiting
 * for a slot holds no attempt (it is handed back uncounted when the wait is long, or when it steps
 * aside for another job due); a run whose lease is lost stops writing; the processor's writes are
 * fenced by attempt.
 */
export interface JobConsumer {
  start(): void;
  /**
   * A job was just enqueued: poll now rather than at the next tick. `slotKeys`: the keys of the
   * slots it will need, when known. A job that needs a slot the waiting jobs are waiting for can
   * only wait too, so none steps aside for it.
   */
  wake(slotKeys?: readonly string[]): void;
  /** Stops leasing, hands back jobs still waiting for a slot, waits for running attempts to end. */
  stop(): Promise<void>;
}

/** Makes the consumer an implementation's tests run (the server's, over any `Queue`). */
export type ConsumerFactory = <T>(queue: Queue, options: ConsumerOptions<T>) => JobConsumer;
