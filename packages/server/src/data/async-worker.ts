import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ActiveTrace,
  type Admission,
  TraceAttr as Attr,
  DEFAULT_PROJECT,
  ErrorCode,
  type FailOutcome,
  type FunctionRuntime,
  type FunctionVersion,
  type Invocation,
  type InvocationStatus,
  type InvokeOutcome,
  isFaasError,
  isoTimestamp,
  isStoreDown,
  type JobProcessor,
  type JobSlot,
  type LeasedJob,
  type MetadataStore,
  type NewLogLine,
  type Queue,
  TERMINAL_STATUSES,
  type Tracer,
  type TraceSpan,
} from '@faas/core';
import { decodeEvent } from '../control/event-codec.ts';
import type { FunctionCatalog } from '../control/function-catalog.ts';
import {
  finished,
  type InvocationJob,
  type InvocationService,
  invocationAttributes,
} from '../control/invocation-service.ts';
import { DeadLetterSweep, orphanAgeMs, reconcileOrphans } from './async-reconcile.ts';
import { QueueConsumer, type SlotLimiter } from './queue-consumer.ts';

/**
 * How often jobs the queue dead-lettered on its own are reflected in their invocations, and
 * records left without a job (orphans) are failed: an orphan is settled at most
 * `orphanAgeMs(leaseMs)` plus this after its node wrote it (docs/cluster.md).
 */
const SWEEP_MS = 10_000;

/** A result's write is tried again after 100, 200 … 3,200 ms: about 6 s of a store down. */
const RESULT_WRITE_FIRST_DELAY_MS = 100;
const RESULT_WRITE_LAST_DELAY_MS = 3_200;

export interface AsyncWorkerOptions {
  store: MetadataStore;
  queue: Queue;
  catalog: FunctionCatalog;
  invocations: InvocationService;
  /** Function concurrency slots, shared with sync invocations. */
  slots: SlotLimiter;
  /**
   * The slot of a project's `concurrentInvocations` quota (the one its sync calls take), or
   * undefined when it has none: a job waits for it as for its function's slot.
   */
  projectSlot?: (project: string) => JobSlot | undefined;
  /** Jobs held at once by this worker (running, or waiting for their function's slot). */
  concurrency: number;
  /** Lease of a job; renewed every half of it while the job is held. */
  leaseMs: number;
  /** Longest sleep between polls when nothing is due. */
  pollMs: number;
  logger?: Pick<Console, 'error' | 'warn'>;
  /** Told of each attempt's outcome and of each failure's fate (PlatformMetrics). */
  metrics?: AttemptObserver;
  /** Told of each attempt as it starts and ends, with its logs (the live tail, LogTail). */
  tail?: AttemptTail;
  /** Spans of attempts, under the trace their job carries; absent when tracing is off. */
  tracing?: Tracer;
}

/** What the live tail hears of async attempts (LogTail's `started` and `finished`). */
export interface AttemptTail {
  started(
    invocation: Pick<Invocation, 'id' | 'functionName' | 'version' | 'mode' | 'trigger'>,
    attempt: number,
  ): void;
  finished(
    invocation: Pick<
      Invocation,
      'id' | 'functionName' | 'version' | 'mode' | 'trigger' | 'status' | 'attempts' | 'createdAt'
    > &
      Partial<Pick<Invocation, 'finishedAt' | 'durationMs' | 'error'>>,
    logs: readonly NewLogLine[],
    started: true,
  ): void;
}

export interface AttemptObserver {
  observeInvocation(observed: {
    invocation: Pick<Invocation, 'functionName' | 'trigger' | 'mode' | 'status' | 'durationMs'>;
    runtime: FunctionRuntime;
  }): void;
  observeAsyncFailure(functionName: string, next: 'retrying' | 'dead_lettered'): void;
}

/** A function attempt that ended in failure: what to record once the queue says what comes next. */
class AttemptFailed extends Error {
  readonly outcome: Exclude<InvokeOutcome, { status: 'succeeded' }>;
  readonly logs: NewLogLine[];

  constructor(outcome: Exclude<InvokeOutcome, { status: 'succeeded' }>, logs: NewLogLine[]) {
    super(outcome.error.message);
    this.outcome = outcome;
    this.logs = logs;
  }
}

/**
 * One async invocation per job. Every write of an attempt goes through `recordAttempt`, fenced by
 * the attempt number: a run that lost its lease and finishes late records nothing over the
 * attempt that replaced it, and nothing over a finished invocation. The result is written before
 * the ack, so a crash between the two redelivers a finished invocation, which is acked unrun:
 * with the queue's fencing, every invocation completes exactly once.
 */
class InvocationAttempts implements JobProcessor<FunctionVersion> {
  #o: AsyncWorkerOptions;
  /**
   * With tracing on, when each job was admitted (ms since the epoch): its attempt's span begins
   * there, and the wait for its function's slot (between admit and process) is a span of it.
   * Weak: a job handed back unrun leaves nothing behind.
   */
  #admittedAt = new WeakMap<LeasedJob, number>();
  /**
   * With tracing on, each job that failed: the span of its attempt (none when it failed before
   * one started) and when it failed. What comes next (a retry, a dead letter) is a span under it
   * that begins there, so it covers the queue's decision as well as the record's write.
   */
  #failedAt = new WeakMap<LeasedJob, { trace?: ActiveTrace; at: number }>();

  constructor(options: AsyncWorkerOptions) {
    this.#o = options;
  }

  async admit(job: LeasedJob): Promise<Admission<FunctionVersion>> {
    if (this.#o.tracing) this.#admittedAt.set(job, Date.now());
    try {
      const admission = await this.#admit(job);
      if (admission.kind === 'reject' && this.#o.tracing) this.#failedAt.set(job, { at: Date.now() });
      return admission;
    } catch (err) {
      if (this.#o.tracing) this.#failedAt.set(job, { at: Date.now() });
      throw err;
    }
  }

  async #admit(job: LeasedJob): Promise<Admission<FunctionVersion>> {
    const payload = job.payload as InvocationJob;
    const current = await this.#o.store.getInvocation(payload.invocationId);
    // Taken back from the dead letters by a retry that stopped before it recorded the invocation
    // as queued (retryDeadLetter): back to the dead letters, where the retry can be made again.
    if (current?.status === 'dead_lettered') {
      return {
        kind: 'reject',
        error: `Invocation ${current.id} is still dead-lettered: its retry stopped before it was recorded; retry it again`,
      };
    }
    if (!current || TERMINAL_STATUSES.has(current.status)) return { kind: 'done' };
    try {
      // The record's name, not the job's: a job queued before function names were per project
      // (migration 010) names the function as it was called then.
      const fn = await this.#o.catalog.resolve(current.functionName, payload.version);
      return { kind: 'run', slots: slotsOf(fn, this.#o.projectSlot), value: fn };
    } catch (err) {
      // The function (or version) was deleted while the job waited: nothing can run it.
      if (
        isFaasError(err) &&
        (err.code === ErrorCode.FUNCTION_NOT_FOUND || err.code === ErrorCode.VERSION_NOT_FOUND)
      ) {
        return { kind: 'reject', error: err.message };
      }
      throw err;
    }
  }

  async process(job: LeasedJob, fn: FunctionVersion, signal: AbortSignal): Promise<void> {
    const payload = job.payload as InvocationJob;
    const admittedAt = this.#admittedAt.get(job);
    const trace = this.#traceOf(payload, fn, job.attempt, admittedAt);
    const span = trace?.span;
    if (!span) return this.#attempt(job, fn, signal, trace);
    if (admittedAt !== undefined && this.#o.tracing) {
      // Measured as it ended: admitted, then held until the function had a free slot.
      this.#o.tracing.child(trace, 'faas.slot.wait', 'internal', undefined, admittedAt).span?.end();
    }
    try {
      await this.#attempt(job, fn, signal, trace);
      span.end();
    } catch (err) {
      this.#failedAt.set(job, { trace, at: Date.now() });
      if (err instanceof AttemptFailed) {
        span.setAttributes({ [Attr.outcome]: err.outcome.status });
        span.end(`${err.outcome.status}: ${err.outcome.error.type}`);
      } else span.end(err);
      throw err;
    }
  }

  /**
   * The trace an attempt joins, the one its job carries: with tracing on under a span of its
   * own; off, as it is (its id is the record's and the function's). None for a job without one.
   */
  #traceOf(
    payload: InvocationJob,
    fn: FunctionVersion,
    attempt: number,
    startTime: number | undefined,
  ): ActiveTrace | undefined {
    const tracing = this.#o.tracing;
    if (tracing) {
      const attributes = {
        ...invocationAttributes(payload.invocationId, fn),
        [Attr.attempt]: attempt,
        [Attr.trigger]: 'pubsub',
      };
      return tracing.continue(
        payload.traceparent,
        payload.tracestate,
        'faas.attempt',
        'consumer',
        attributes,
        startTime,
      );
    }
    const traceparent = payload.traceparent;
    // Written by invokeAsync as version 00: the trace id is its second field.
    return traceparent === undefined ? undefined : { traceId: traceparent.slice(3, 35), traceparent };
  }

  async #attempt(
    job: LeasedJob,
    fn: FunctionVersion,
    signal: AbortSignal,
    trace?: ActiveTrace,
  ): Promise<void> {
    const { store, invocations } = this.#o;
    const { invocationId: id, event } = job.payload as InvocationJob;
    const write = (patch: Parameters<MetadataStore['recordAttempt']>[2], logs?: NewLogLine[]) =>
      this.#recordAttempt(id, job.attempt, patch, logs, trace);
    const started = await write({ status: 'running', startedAt: isoTimestamp() });
    if (!started) {
      // Finished meanwhile (a redelivery after its result was written): nothing to run.
      const current = await store.getInvocation(id);
      if (!current || TERMINAL_STATUSES.has(current.status)) return;
      throw new Error(`Invocation ${id} has a later attempt than ${job.attempt} recorded`);
    }
    this.#o.tail?.started(attemptOf(id, fn), job.attempt);
    const { outcome, logs } = await invocations.runAttempt(fn, id, decodeEvent(event), signal, trace);
    trace?.span?.setAttributes({ [Attr.outcome]: outcome.status });
    if (signal.aborted) return;
    this.#o.metrics?.observeInvocation({
      invocation: {
        functionName: fn.name,
        trigger: 'api',
        mode: 'async',
        status: outcome.status,
        durationMs: outcome.metrics.durationMs,
      },
      runtime: fn.runtime,
    });
    if (outcome.status !== 'succeeded') throw new AttemptFailed(outcome, logs);
    const done = finished(outcome);
    await this.#writeResult(() => write(done, logs), signal);
    this.#o.tail?.finished(
      { ...attemptOf(id, fn), ...done, attempts: job.attempt, createdAt: done.finishedAt },
      logs,
      true,
    );
  }

  /**
   * The run succeeded: its result is written through a store that fails for a few seconds, while
   * the lease holds, rather than the function being run again (or dead-lettered) because one
   * write failed.
   */
  async #writeResult(writeOnce: () => Promise<unknown>, signal: AbortSignal): Promise<void> {
    for (let delay = RESULT_WRITE_FIRST_DELAY_MS; ; delay *= 2) {
      try {
        await writeOnce();
        return;
      } catch (err) {
        if (!isStoreDown(err) || delay > RESULT_WRITE_LAST_DELAY_MS || signal.aborted) throw err;
        this.#o.logger?.warn(`async worker: writing a result failed, again in ${delay} ms`, err);
        await sleep(delay, undefined, { signal }).catch(() => {});
        if (signal.aborted) throw err;
      }
    }
  }

  /** store.recordAttempt, as a span under the attempt's when tracing is on. */
  async #recordAttempt(
    id: string,
    attempt: number,
    patch: Parameters<MetadataStore['recordAttempt']>[2],
    logs: NewLogLine[] | undefined,
    parent: ActiveTrace | undefined,
  ): Promise<Invocation | undefined> {
    const tracing = this.#o.tracing;
    if (!tracing || !parent?.span) return this.#o.store.recordAttempt(id, attempt, patch, logs);
    const span = tracing.child(parent, 'faas.store.write', 'client', {
      [Attr.storeOperation]: 'recordAttempt',
    }).span as TraceSpan;
    try {
      const written = await this.#o.store.recordAttempt(id, attempt, patch, logs);
      span.end();
      return written;
    } catch (err) {
      span.end(err);
      throw err;
    }
  }

  async failed(job: LeasedJob, error: unknown, outcome: FailOutcome): Promise<void> {
    const trace = this.#o.tracing && this.#failureTrace(job, error, outcome);
    const span = trace?.span;
    if (!span) return this.#failed(job, error, outcome);
    try {
      await this.#failed(job, error, outcome, trace);
      // A dead letter is the invocation's end, failed; a retry is the queue doing its job.
      if (outcome.outcome === 'dead_lettered') span.end(deadLetter(error));
      else span.end();
    } catch (err) {
      span.end(err);
      throw err;
    }
  }

  /**
   * The span of a failed job's fate, `faas.retry.scheduled` or `faas.dead_letter`: under its
   * attempt's span, or under the caller's trace the job carries when no attempt started (its
   * function was deleted, or the store failed at admission).
   */
  #failureTrace(job: LeasedJob, error: unknown, outcome: FailOutcome): ActiveTrace | undefined {
    const tracing = this.#o.tracing;
    if (!tracing) return undefined;
    const payload = job.payload as InvocationJob;
    const failed = this.#failedAt.get(job);
    const attributes: Record<string, string | number> = {
      [Attr.invocationId]: payload.invocationId,
      [Attr.functionName]: payload.functionName,
      [Attr.version]: payload.version,
      [Attr.attempt]: job.attempt,
      [Attr.errorType]: failureType(error),
    };
    if (outcome.outcome === 'retrying') {
      attributes[Attr.retryDelayMs] = Math.max(0, outcome.runAt - Date.now());
    }
    const name = outcome.outcome === 'retrying' ? 'faas.retry.scheduled' : 'faas.dead_letter';
    if (failed?.trace?.span) return tracing.child(failed.trace, name, 'internal', attributes, failed.at);
    return tracing.continue(
      payload.traceparent,
      payload.tracestate,
      name,
      'internal',
      attributes,
      failed?.at,
    );
  }

  async #failed(job: LeasedJob, error: unknown, outcome: FailOutcome, trace?: ActiveTrace): Promise<void> {
    const { invocationId: id } = job.payload as InvocationJob;
    // While retries remain the invocation goes back to queued, keeping the last error.
    const status: InvocationStatus = outcome.outcome === 'retrying' ? 'queued' : 'dead_lettered';
    this.#o.metrics?.observeAsyncFailure(
      (job.payload as InvocationJob).functionName,
      status === 'queued' ? 'retrying' : 'dead_lettered',
    );
    const { functionName, version } = job.payload as InvocationJob;
    const attempt = {
      id,
      functionName,
      version,
      mode: 'async',
      trigger: 'api',
      attempts: job.attempt,
    } as const;
    if (error instanceof AttemptFailed) {
      const done = { ...finished(error.outcome), status };
      await this.#recordAttempt(id, job.attempt, done, error.logs, trace);
      this.#o.tail?.finished({ ...attempt, ...done, createdAt: done.finishedAt }, error.logs, true);
      return;
    }
    // Not the function's fault: it was deleted, or the platform failed (runtime down, store error).
    const now = isoTimestamp();
    const failure = { type: failureType(error), message: (error as Error).message };
    await this.#recordAttempt(
      id,
      job.attempt,
      { status, error: failure, ...(status === 'dead_lettered' ? { finishedAt: now } : {}) },
      undefined,
      trace,
    );
    this.#o.tail?.finished({ ...attempt, status, error: failure, createdAt: now, finishedAt: now }, [], true);
  }
}

/**
 * Consumes the durable queue of async invocations with a QueueConsumer (renewed leases, the
 * function's slot taken before an attempt starts), and reflects jobs the queue dead-lettered on
 * its own (leases that ran out on a last attempt) in their invocations.
 */
export class AsyncWorker {
  #o: AsyncWorkerOptions;
  #consumer: QueueConsumer<FunctionVersion>;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> = Promise.resolve();
  /**
   * Records created before this were looked at for orphans. Undefined until the first sweep,
   * which looks at every record old enough (those a crash of this very node left too).
   */
  #orphansCheckedUntil: Date | undefined;
  #deadLetters: DeadLetterSweep;

  constructor(options: AsyncWorkerOptions) {
    this.#o = options;
    this.#deadLetters = new DeadLetterSweep(options.store, options.queue);
    this.#consumer = new QueueConsumer(options.queue, {
      concurrency: options.concurrency,
      leaseMs: options.leaseMs,
      pollMs: options.pollMs,
      slots: options.slots,
      processor: new InvocationAttempts(options),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }

  /** Counters for metrics: lease renewals that failed, leases lost while held. */
  get leaseStats(): { renewalFailures: number; leasesLost: number } {
    return this.#consumer.leaseStats;
  }

  /**
   * Starts consuming and sweeping. Resolves once the first sweep is done: the async records a
   * crash left without a job (this node's, or a dead gateway's) are failed by then.
   */
  start(): Promise<void> {
    this.#consumer.start();
    this.#sweep();
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweepTimer.unref();
    return this.#sweeping;
  }

  /** A job was just enqueued (of `fn`, when known): poll now rather than at the next tick. */
  wake(fn?: FunctionVersion): void {
    this.#consumer.wake(fn && slotsOf(fn, this.#o.projectSlot).map((slot) => slot.key));
  }

  /** Stops leasing; waits for running attempts to finish. */
  async stop(): Promise<void> {
    clearInterval(this.#sweepTimer);
    await this.#consumer.stop();
    await this.#sweeping;
  }

  #sweep(): void {
    this.#sweeping = this.#sweeping
      .then(() => this.#sweepOrphans())
      .then(
        () => undefined,
        (err: unknown) => this.#o.logger?.error('async worker: orphan sweep failed', err),
      )
      .then(() => this.#deadLetters.run())
      .then(
        () => undefined,
        (err: unknown) => this.#o.logger?.error('async worker: dead-letter sweep failed', err),
      );
  }

  /**
   * Every node sweeps (a dead one cannot): each sweep looks at the records that became old enough
   * since the last, and again at the span before (a record whose node's clock lags lands there).
   * Two nodes failing one orphan write it once: the write is fenced.
   */
  async #sweepOrphans(): Promise<void> {
    const age = orphanAgeMs(this.#o.leaseMs);
    const until = new Date(Date.now() - age);
    const last = this.#orphansCheckedUntil;
    const since = last && new Date(last.getTime() - age);
    const fixed = await reconcileOrphans(this.#o.store, this.#o.queue, {
      until,
      ...(since ? { since } : {}),
    });
    this.#orphansCheckedUntil = until;
    if (fixed > 0)
      this.#o.logger?.warn(`marked ${fixed} async invocation(s) whose job was never enqueued as failed`);
  }
}

/**
 * The error type a failed job records: the function's own (its outcome's), a FaasError's code for
 * a platform failure, else `FunctionGone` (its function or version was deleted while it waited).
 */
function failureType(error: unknown): string {
  if (error instanceof AttemptFailed) return error.outcome.error.type;
  return isFaasError(error) ? error.code : 'FunctionGone';
}

/** A dead letter as its span's error: named by the failure's type, which `error.type` keeps. */
function deadLetter(error: unknown): Error {
  const failure = new Error(`dead-lettered: ${(error as Error | undefined)?.message ?? String(error)}`);
  failure.name = failureType(error);
  return failure;
}

/** The fields of an async attempt the live tail names it by. */
/**
 * The slots a job of `fn` takes, in the order every waiter takes them. The project's
 * concurrentInvocations quota counts async attempts as it counts sync calls (the same slot): past
 * it the job waits, holding no attempt, as for its function's slot.
 */
function slotsOf(fn: FunctionVersion, projectSlot: AsyncWorkerOptions['projectSlot']): JobSlot[] {
  const slot = { key: fn.name, limit: fn.maxConcurrency };
  const quota = projectSlot?.(fn.project ?? DEFAULT_PROJECT);
  return quota ? [quota, slot] : [slot];
}

function attemptOf(id: string, fn: FunctionVersion) {
  return { id, functionName: fn.name, version: fn.version, mode: 'async', trigger: 'api' } as const;
}
