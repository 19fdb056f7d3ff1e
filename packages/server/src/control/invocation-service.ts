import { createHash } from 'node:crypto';
import {
  type ActiveTrace,
  TraceAttr as Attr,
  DEFAULT_PROJECT,
  ErrorCode,
  FaasError,
  type FunctionVersion,
  type Invocation,
  type InvocationMode,
  type InvocationStatus,
  type InvocationTrigger,
  type InvokeOutcome,
  type InvokeTrace,
  inScope,
  isFaasError,
  isoTimestamp,
  type LogLine,
  type LogSink,
  type MetadataStore,
  newId,
  ORPHAN_ERROR,
  type Queue,
  quotaExceeded,
  type Runtimes,
  type StoredLogLine,
  type Tracer,
  type TraceSpan,
  type VersionRef,
} from '@faas/core';
import type { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { retryDeadLetter } from './dead-letter-retry.ts';
import { type EncodedEvent, encodeEvent } from './event-codec.ts';
import { type FunctionCatalog, notFound } from './function-catalog.ts';
import type { InvocationRecorder } from './invocation-recorder.ts';
import { type ProjectLimits, projectSlotKey } from './project-limits.ts';
import { type Redactor, redactOutcome } from './secret-redactor.ts';
import type { SecretService } from './secret-service.ts';
import { freeKeyOfUnaccepted } from './unaccepted-invocation.ts';

/** Where finished invocations go: the recorder, or on a gateway thread the line to it. */
export type InvocationSink = Pick<InvocationRecorder, 'admit' | 'record' | 'pending' | 'pendingLogs'>;

/** What the async queue carries for one invocation. */
export interface InvocationJob {
  invocationId: string;
  functionName: string;
  version: number;
  event: ReturnType<typeof encodeEvent>;
  /**
   * The W3C trace context the attempts join: the enqueue span's (tracing on) or the caller's.
   * Absent for jobs enqueued without a trace (and by builds before traces).
   */
  traceparent?: string;
  tracestate?: string;
}

export interface SyncInvocation {
  invocation: Invocation;
  outcome: InvokeOutcome;
}

type NewLogLine = Omit<StoredLogLine, 'seq'>;

/** Bytes of logs kept per attempt; past it lines are dropped and one marker line says so. */
const MAX_LOG_BYTES_PER_ATTEMPT = 256 * 1024;

export interface InvocationServiceDeps {
  store: MetadataStore;
  /** Absent on a gateway thread, which passes async invocations on to the main one. */
  queue?: Queue;
  catalog: FunctionCatalog;
  runtimes: Runtimes;
  limiter: ConcurrencyLimiter;
  /** Projects' quotas (concurrent and queued invocations); absent: none. */
  limits?: ProjectLimits;
  /**
   * A project's async invocations queued or running past which more are refused, when its
   * `queuedInvocations` quota is not set (FAAS_MAX_QUEUED_PER_PROJECT); absent or 0: no limit.
   */
  maxQueuedPerProject?: number;
  recorder: InvocationSink;
  /** Called after an async invocation of `fn` is enqueued, so the consumer wakes at once. */
  onEnqueued?: (fn?: FunctionVersion) => void;
  /**
   * Longest an async invoke may take from writing its record to enqueuing its job and still
   * answer 202 (enqueueBudgetMs in data/async-reconcile.ts); absent: no limit. Past it, any node
   * may take the record for an orphan and fail it, so the invoke settles that race first.
   */
  enqueueBudgetMs?: number;
  /**
   * Age past which an async record without a job is an orphan (orphanAgeMs in
   * data/async-reconcile.ts): a retry with its idempotency key then fails it and makes a new
   * invocation. Absent: a retry frees only keys of invocations failed already as never accepted.
   */
  orphanAgeMs?: number;
  /** This thread's spans; absent when tracing is off. */
  tracing?: Tracer;
  /** Puts the secrets a version names into its env as it runs; absent: versions run as stored. */
  secrets?: Pick<SecretService, 'reveal'>;
}

/** Sync and async invocations: resolve the version, hold a concurrency slot, run, record. */
export class InvocationService {
  #d: InvocationServiceDeps;

  constructor(deps: InvocationServiceDeps) {
    this.#d = deps;
  }

  /** The version `name`/`ref` names (cached). @throws FaasError FUNCTION_NOT_FOUND, VERSION_NOT_FOUND */
  resolve(name: string, ref: VersionRef): Promise<FunctionVersion> {
    return this.#d.catalog.resolve(name, ref);
  }

  /**
   * `resolve` for one project's caller (scope; undefined: every project): another project's
   * function is not found, whatever version is asked for (VERSION_NOT_FOUND would tell it exists).
   */
  async resolveIn(name: string, ref: VersionRef, scope: string | undefined): Promise<FunctionVersion> {
    if (scope !== undefined && ref !== 'latest') {
      const latest = await this.#d.catalog.resolve(name, 'latest');
      if (!inScope(scope, latest.project)) throw notFound(name);
    }
    const fn = await this.#d.catalog.resolve(name, ref);
    if (!inScope(scope, fn.project)) throw notFound(name);
    return fn;
  }

  /**
   * A slot of the project's `concurrentInvocations` quota (counted in the slot table every
   * gateway thread shares), or undefined when it has none. No wait: past it, 429 at once.
   * @throws FaasError QUOTA_EXCEEDED (429)
   */
  #projectSlot(fn: FunctionVersion): (() => void) | undefined {
    const project = fn.project ?? DEFAULT_PROJECT;
    const limit = this.#d.limits?.of(project)?.concurrentInvocations;
    if (limit === undefined) return undefined;
    const release = this.#d.limiter.tryAcquire(projectSlotKey(project), limit);
    if (!release) throw quotaExceeded('concurrentInvocations', limit, 'invocations running at once');
    return release;
  }

  /** The version `resolve` would answer from its cache, if it would. */
  resolveCached(name: string, ref: VersionRef): FunctionVersion | undefined {
    return this.#d.catalog.cached(name, ref);
  }

  /**
   * `readEvent` decodes the request body; it runs once the function is known, so a body that
   * cannot be decoded is recorded against the function before the error goes back.
   */
  async invokeSync(
    name: string,
    ref: VersionRef,
    readEvent: () => unknown,
    trigger: InvocationTrigger,
  ): Promise<SyncInvocation> {
    return this.invokeVersionSync(await this.#d.catalog.resolve(name, ref), readEvent, trigger);
  }

  /** `invokeSync` of a version the caller resolved. */
  async invokeVersionSync(
    fn: FunctionVersion,
    readEvent: () => unknown,
    trigger: InvocationTrigger,
    trace?: ActiveTrace,
  ): Promise<SyncInvocation> {
    const createdMs = Date.now();
    const id = newId('inv', createdMs);
    const createdAt = isoTimestamp(createdMs);
    const span = this.#d.tracing ? trace?.span : undefined;
    if (span) span.setAttributes(invocationAttributes(id, fn));
    let release: () => void;
    let releaseProject: (() => void) | undefined;
    let event: unknown;
    // Refused before it runs while records cannot be written: no answer names an id that may never exist.
    this.#d.recorder.admit();
    try {
      event = readEvent();
      releaseProject = this.#projectSlot(fn);
      const slot = this.#d.limiter.acquire(fn.name, fn.maxConcurrency);
      if (typeof slot === 'function') release = slot;
      else release = span && trace ? await this.#waitTraced(slot, trace) : await slot;
    } catch (err) {
      releaseProject?.();
      if (isFaasError(err)) this.#recordRejected(fn, id, createdAt, trigger, err, 'sync', trace);
      throw err;
    }
    if (releaseProject) {
      const releaseFunction = release;
      const releaseBoth = releaseProject;
      release = () => {
        releaseFunction();
        releaseBoth();
      };
    }
    const logs = new LogCollector(id, fn.name);
    const startedMs = Date.now();
    let outcome: InvokeOutcome;
    try {
      outcome = await this.#run(fn, id, event, startedMs, logs, undefined, trace);
    } catch (err) {
      // The runtime is down or closed: recorded like any call turned away, and the error names it.
      if (!isFaasError(err)) throw err;
      this.#recordRejected(fn, id, createdAt, trigger, err, 'sync', trace);
      throw withInvocationId(err, id);
    } finally {
      release();
    }
    logs.noteFailure(outcome);
    if (span) span.setAttributes({ [Attr.outcome]: outcome.status });
    const invocation: Invocation = {
      id,
      project: fn.project ?? DEFAULT_PROJECT,
      functionName: fn.name,
      version: fn.version,
      mode: 'sync',
      trigger,
      attempts: 1,
      createdAt,
      startedAt: isoTimestamp(startedMs),
      ...finished(outcome),
      ...(trace ? { traceId: trace.traceId } : {}),
    };
    // With tracing on, the record's write is a span of the request's trace.
    if (span) this.#d.recorder.record(invocation, logs.lines, fn.runtime, trace?.traceparent);
    else this.#d.recorder.record(invocation, logs.lines, fn.runtime);
    return { invocation, outcome };
  }

  /** The wait for a concurrency slot, as a span (only taken when the slot was not free at once). */
  async #waitTraced(slot: Promise<() => void>, parent: ActiveTrace): Promise<() => void> {
    const span = (this.#d.tracing as Tracer).child(parent, 'faas.slot.wait').span as TraceSpan;
    try {
      const release = await slot;
      span.end();
      return release;
    } catch (err) {
      span.end(err);
      throw err;
    }
  }

  /**
   * Records the invocation and enqueues it durably; resolves once both are written.
   * A repeated idempotency key answers the first invocation with `duplicate: true` when it asks
   * for the same thing (version reference and event), as a retry does.
   * @throws FaasError IDEMPOTENCY_KEY_REUSED when the key was used for something else
   */
  async invokeAsync(
    name: string,
    ref: VersionRef,
    readEvent: () => unknown,
    trigger: InvocationTrigger,
    idempotencyKey?: string,
    scope?: string,
    trace?: ActiveTrace,
  ): Promise<{ invocation: Invocation; duplicate: boolean }> {
    const queue = this.#d.queue;
    if (!queue) throw new FaasError(ErrorCode.INTERNAL, 'This thread does not enqueue invocations');
    const fn = await this.resolveIn(name, ref, scope);
    let event: unknown;
    try {
      event = readEvent();
    } catch (err) {
      if (isFaasError(err))
        this.#recordRejected(fn, newId('inv'), new Date().toISOString(), trigger, err, 'async', trace);
      throw err;
    }
    const encoded = encodeEvent(event);
    const id = newId('inv');
    const tracing = this.#d.tracing;
    if (!tracing || !trace?.span)
      return this.#enqueue(queue, fn, id, ref, encoded, trigger, idempotencyKey, trace);
    trace.span.setAttributes(invocationAttributes(id, fn));
    const enqueue = tracing.child(trace, 'faas.enqueue', 'producer', invocationAttributes(id, fn));
    const span = enqueue.span as TraceSpan;
    try {
      const queued = await this.#enqueue(queue, fn, id, ref, encoded, trigger, idempotencyKey, enqueue);
      span.end();
      return queued;
    } catch (err) {
      span.end(err);
      throw err;
    }
  }

  /** A key used for another request is refused, and the refusal recorded as every one is. */
  #assertSameRequest(
    existing: Invocation,
    candidate: Invocation,
    fn: FunctionVersion,
    trace: ActiveTrace | undefined,
  ): void {
    try {
      assertSameRequest(existing, candidate);
    } catch (err) {
      const at = new Date().toISOString();
      this.#recordRejected(fn, newId('inv'), at, candidate.trigger, err as FaasError, 'async', trace);
      throw err;
    }
  }

  async #enqueue(
    queue: Queue,
    fn: FunctionVersion,
    id: string,
    ref: VersionRef,
    encoded: EncodedEvent,
    trigger: InvocationTrigger,
    idempotencyKey: string | undefined,
    trace: ActiveTrace | undefined,
  ): Promise<{ invocation: Invocation; duplicate: boolean }> {
    let began = performance.now();
    const candidate: Invocation = {
      id,
      project: fn.project ?? DEFAULT_PROJECT,
      functionName: fn.name,
      version: fn.version,
      mode: 'async',
      trigger,
      status: 'queued',
      attempts: 0,
      createdAt: new Date().toISOString(),
      ...(idempotencyKey ? { idempotencyKey, idempotencyHash: idempotencyHash(ref, encoded) } : {}),
      ...(trace ? { traceId: trace.traceId } : {}),
    };
    const maxQueued = this.#maxQueued(candidate.project as string);
    let stored = await this.#create(candidate, maxQueued, trace);
    if (!stored.created) {
      this.#assertSameRequest(stored.invocation, candidate, fn, trace);
      const orphanAge = this.#d.orphanAgeMs;
      const freed =
        orphanAge !== undefined &&
        (await freeKeyOfUnaccepted(this.#d.store, queue, stored.invocation, orphanAge));
      // A key whose invocation was never accepted is this retry's to use again; once, so that
      // two retries racing for it end on one invocation.
      if (freed) {
        began = performance.now();
        stored = await this.#create({ ...candidate, createdAt: new Date().toISOString() }, maxQueued, trace);
      }
      if (!stored.created) {
        this.#assertSameRequest(stored.invocation, candidate, fn, trace);
        return { invocation: stored.invocation, duplicate: true };
      }
    }
    const { invocation } = stored;
    const job: InvocationJob = {
      invocationId: invocation.id,
      functionName: fn.name,
      version: fn.version,
      event: encoded,
      ...(trace ? { traceparent: trace.traceparent } : {}),
      ...(trace?.tracestate !== undefined ? { tracestate: trace.tracestate } : {}),
    };
    try {
      // Projects take turns in the queue: one project's backlog does not hold another's back.
      await queue.enqueue({
        id: invocation.id,
        payload: job,
        maxAttempts: fn.maxRetries + 1,
        group: fn.project ?? DEFAULT_PROJECT,
      });
    } catch (err) {
      // The client gets the error, not a 202: the record says so at once rather than after a
      // node's orphan sweep (which still settles it if this write fails too). A job the queue
      // took after all is then dropped unrun, as the error promised.
      await this.#failUnaccepted(invocation.id).catch(() => undefined);
      throw err;
    }
    this.#d.onEnqueued?.(fn);
    const budget = this.#d.enqueueBudgetMs;
    if (budget !== undefined && performance.now() - began > budget)
      await this.#settleLateEnqueue(invocation.id);
    return { invocation, duplicate: false };
  }

  /**
   * The project's `queuedInvocations` quota, else the operator's default; undefined: none. The
   * store counts against it as it writes the record, so a refused call leaves no record behind and
   * its idempotency key stays free.
   */
  #maxQueued(project: string): number | undefined {
    // A project's quota of 0 takes no async call; the operator's default of 0 is no limit.
    const quota = this.#d.limits?.of(project)?.queuedInvocations;
    if (quota !== undefined) return quota;
    return this.#d.maxQueuedPerProject || undefined;
  }

  async #create(
    candidate: Invocation,
    maxQueued: number | undefined,
    trace: ActiveTrace | undefined,
  ): Promise<{ invocation: Invocation; created: boolean }> {
    const write = trace?.span
      ? this.#d.tracing?.child(trace, 'faas.store.write', 'client', {
          [Attr.storeOperation]: 'createInvocation',
        }).span
      : undefined;
    try {
      const stored = await this.#d.store.createInvocation(
        candidate,
        maxQueued === undefined ? {} : { maxQueued },
      );
      write?.end();
      return stored;
    } catch (err) {
      write?.end(err);
      throw err;
    }
  }

  /** Fails an async invocation not yet started (fenced at attempt 0): undefined when it started. */
  #failUnaccepted(id: string): Promise<Invocation | undefined> {
    return this.#d.store.recordAttempt(id, 0, {
      status: 'failed',
      error: {
        type: ORPHAN_ERROR.type,
        message: 'The queue did not take this invocation in time: it was not accepted and never ran',
      },
      finishedAt: new Date().toISOString(),
    });
  }

  /**
   * The job was enqueued late: a node's orphan sweep may have failed the record meanwhile, and its
   * job would then be dropped unrun, so a 202 would promise what never happens. Failing it here,
   * fenced at attempt 0 as the sweep does, decides: whichever failed it, the client is told the
   * invocation was not accepted; if neither did (it started already), it stands.
   * @throws FaasError STORAGE_UNAVAILABLE when the invocation was failed
   */
  async #settleLateEnqueue(id: string): Promise<void> {
    const current = (await this.#failUnaccepted(id)) ?? (await this.#d.store.getInvocation(id));
    if (current?.status === 'failed' && current.attempts === 0) {
      throw new FaasError(
        ErrorCode.STORAGE_UNAVAILABLE,
        'The queue took too long to take this async invocation: it was not accepted and will not run',
        { details: { invocationId: id } },
      );
    }
  }

  /**
   * One attempt of an async invocation, called by the queue consumer, which holds the function's
   * concurrency slot for it (taken before the attempt started, so waiting costs no attempt).
   * `signal` stops the run when the attempt's lease is lost.
   */
  async runAttempt(
    fn: FunctionVersion,
    invocationId: string,
    event: unknown,
    signal?: AbortSignal,
    trace?: ActiveTrace,
  ): Promise<{ outcome: InvokeOutcome; logs: NewLogLine[] }> {
    const logs = new LogCollector(invocationId, fn.name);
    const outcome = await this.#run(fn, invocationId, event, Date.now(), logs, signal, trace);
    logs.noteFailure(outcome);
    return { outcome, logs: logs.lines };
  }

  /**
   * Runs a dead-lettered async invocation again with a fresh budget of attempts (see
   * retryDeadLetter); resolves once it is queued.
   * @throws FaasError INVOCATION_NOT_FOUND, NOT_DEAD_LETTERED
   */
  async retryDeadLettered(id: string, scope?: string): Promise<Invocation> {
    const queue = this.#d.queue;
    if (!queue) throw new FaasError(ErrorCode.INTERNAL, 'This thread does not enqueue invocations');
    // Another project's invocation is not found (getInvocation throws so).
    if (scope !== undefined) await this.getInvocation(id, scope);
    const { store, recorder, onEnqueued } = this.#d;
    const getInvocation = async (id: string) => recorder.pending(id) ?? (await store.getInvocation(id));
    return retryDeadLetter({ store, queue, getInvocation, ...(onEnqueued ? { onEnqueued } : {}) }, id);
  }

  /** @param scope when given, another project's invocation is not found */
  async getInvocation(id: string, scope?: string): Promise<{ invocation: Invocation; logs: LogLine[] }> {
    const pending = this.#d.recorder.pending(id);
    if (pending && inScope(scope, pending.project)) {
      return { invocation: pending, logs: this.#d.recorder.pendingLogs(id).map(toLogLine) };
    }
    const invocation = pending ? undefined : await this.#d.store.getInvocation(id);
    if (!invocation || !inScope(scope, invocation.project)) {
      throw new FaasError(ErrorCode.INVOCATION_NOT_FOUND, `Invocation "${id}" not found`, {
        details: { id },
      });
    }
    const logs = await this.#d.store.getLogs(id);
    return { invocation, logs: logs.map(toLogLine) };
  }

  /**
   * A version that names secrets runs with their values, read now, in its env; whatever it hands
   * back (result, error, log lines) has those values replaced before anything records or answers it.
   * @throws FaasError SECRET_MISSING, SECRET_UNREADABLE (platform faults: recorded as rejected)
   */
  #run(
    fn: FunctionVersion,
    id: string,
    event: unknown,
    startedMs: number,
    logs: LogCollector,
    signal?: AbortSignal,
    trace?: ActiveTrace,
  ): Promise<InvokeOutcome> {
    const secrets = this.#d.secrets;
    if (!fn.secrets || !secrets) return this.#runVersion(fn, id, event, startedMs, logs, signal, trace);
    return secrets.reveal(fn, fn.project ?? DEFAULT_PROJECT).then(({ fn: revealed, redact }) => {
      logs.redact = redact;
      return this.#runVersion(revealed, id, event, startedMs, logs, signal, trace).then((outcome) =>
        redactOutcome(outcome, redact),
      );
    });
  }

  #runVersion(
    fn: FunctionVersion,
    id: string,
    event: unknown,
    startedMs: number,
    logs: LogCollector,
    signal?: AbortSignal,
    trace?: ActiveTrace,
  ): Promise<InvokeOutcome> {
    const runtime = this.#d.runtimes.forFunction(fn.runtime);
    const request = {
      invocationId: id,
      fn,
      event,
      deadline: startedMs + fn.timeoutMs,
      log: logs.sink,
      ...(signal ? { signal } : {}),
    };
    if (!trace) return runtime.invoke(request);
    const tracing = this.#d.tracing;
    if (!tracing || !trace.span)
      return runtime.invoke({
        ...request,
        trace: { traceId: trace.traceId, traceparent: trace.traceparent },
      });
    const call = tracing.child(trace, 'faas.runtime.invoke', 'internal', { [Attr.runtime]: fn.runtime });
    const span = call.span as TraceSpan;
    return runtime.invoke({ ...request, trace: runtimeTrace(tracing, call) }).then(
      (outcome) => {
        span.setAttributes({ [Attr.outcome]: outcome.status });
        span.end(outcome.status === 'succeeded' ? undefined : `${outcome.status}: ${outcome.error.type}`);
        return outcome;
      },
      (err: unknown) => {
        span.end(err);
        throw err;
      },
    );
  }

  /** A call the gateway turned away before it reached the function (a rate limit): recorded as failed, as every refusal is. */
  recordRefused(
    fn: FunctionVersion,
    err: FaasError,
    trigger: InvocationTrigger,
    mode: InvocationMode,
    trace?: ActiveTrace,
  ): void {
    this.#recordRejected(fn, newId('inv'), new Date().toISOString(), trigger, err, mode, trace);
  }

  /**
   * A call turned away (bad body, 429, runtime down) is still an invocation the user asked for.
   * Not while the records backlog is full: the pending set stays bounded, and the caller gets its
   * error without an id either way.
   */
  #recordRejected(
    fn: FunctionVersion,
    id: string,
    createdAt: string,
    trigger: InvocationTrigger,
    err: FaasError,
    mode: InvocationMode = 'sync',
    trace?: ActiveTrace,
  ): void {
    if (trace?.span)
      trace.span.setAttributes({ ...invocationAttributes(id, fn), [Attr.outcome]: 'rejected' });
    try {
      this.#d.recorder.admit();
    } catch {
      return;
    }
    this.#d.recorder.record(
      {
        id,
        project: fn.project ?? DEFAULT_PROJECT,
        functionName: fn.name,
        version: fn.version,
        mode,
        trigger,
        status: 'failed',
        attempts: 0,
        error: { type: err.code, message: err.message },
        createdAt,
        finishedAt: createdAt,
        ...(trace ? { traceId: trace.traceId } : {}),
      },
      [
        {
          invocationId: id,
          functionName: fn.name,
          ts: Date.parse(createdAt),
          level: 'error',
          message: `${FAILURE_PREFIX} refused before running: ${err.code}: ${err.message}`,
        },
      ],
      fn.runtime,
    );
  }
}

/** What a runtime is handed of the runtime call's trace: its ids, and spans under its span. */
function runtimeTrace(tracing: Tracer, call: ActiveTrace): InvokeTrace {
  return {
    traceId: call.traceId,
    traceparent: call.traceparent,
    span: (name, attributes) => tracing.child(call, name, 'client', attributes).span as TraceSpan,
  };
}

/** What every span of an invocation says of it. */
export function invocationAttributes(id: string, fn: FunctionVersion): Record<string, string | number> {
  return {
    [Attr.invocationId]: id,
    [Attr.functionName]: fn.name,
    [Attr.version]: fn.version,
    [Attr.project]: fn.project ?? DEFAULT_PROJECT,
  };
}

/** The error a caller gets for a recorded call that failed: its details name the invocation. */
function withInvocationId(err: FaasError, invocationId: string): FaasError {
  const details = err.details;
  if (details !== undefined && (typeof details !== 'object' || details === null || Array.isArray(details)))
    return err;
  return new FaasError(err.code, err.message, {
    details: { ...(details as Record<string, unknown> | undefined), invocationId },
    status: err.status,
    cause: err,
  });
}

/**
 * What an idempotency key stands for: the version reference as asked (`latest` stays `latest`
 * across deploys) and the event, so a retry of the same request matches and a reuse does not.
 */
function idempotencyHash(ref: VersionRef, event: EncodedEvent): string {
  return createHash('sha256')
    .update(JSON.stringify([ref, event]))
    .digest('hex');
}

/** A stored invocation made before hashes were kept has none: it answers as before. */
function assertSameRequest(existing: Invocation, candidate: Invocation): void {
  if (existing.idempotencyHash === undefined || existing.idempotencyHash === candidate.idempotencyHash)
    return;
  throw new FaasError(
    ErrorCode.IDEMPOTENCY_KEY_REUSED,
    `Idempotency key ${JSON.stringify(existing.idempotencyKey)} was used for invocation ${existing.id} with another payload or version: use a new key for a new request`,
    { details: { idempotencyKey: existing.idempotencyKey, invocationId: existing.id } },
  );
}

/** The stored fields of a finished attempt. */
/**
 * What an invocation record keeps of a result: the value, or for bytes (a container function's
 * Buffer or Python bytes) `{ isBase64Encoded: true, body }`, as HTTP trigger bodies are written.
 */
export function recordedResult(result: unknown): unknown {
  if (!(result instanceof Uint8Array)) return result;
  return {
    isBase64Encoded: true,
    body: Buffer.from(result.buffer, result.byteOffset, result.byteLength).toString('base64'),
  };
}

export function finished(outcome: InvokeOutcome): {
  status: InvocationStatus;
  result?: unknown;
  error?: Invocation['error'];
  finishedAt: string;
  durationMs: number;
  cpuTimeMs?: number;
  peakMemoryBytes?: number;
  coldStart?: boolean;
} {
  const m = outcome.metrics;
  return {
    status: outcome.status,
    ...(outcome.status === 'succeeded'
      ? { result: recordedResult(outcome.result) }
      : { error: outcome.error }),
    finishedAt: isoTimestamp(),
    durationMs: m.durationMs,
    ...(m.cpuTimeMs !== undefined ? { cpuTimeMs: m.cpuTimeMs } : {}),
    ...(m.peakMemoryBytes !== undefined ? { peakMemoryBytes: m.peakMemoryBytes } : {}),
    ...(m.coldStart !== undefined ? { coldStart: m.coldStart } : {}),
  };
}

function toLogLine(l: NewLogLine): LogLine {
  return { ts: l.ts, level: l.level, message: l.message };
}

/**
 * Starts the line that ends a failed invocation's logs, so a tail of the logs (`faas logs`) shows
 * failures that printed nothing themselves, as Lambda's "Task timed out" line does.
 */
const FAILURE_PREFIX = '[faas]';

/** Gathers one attempt's console output, bounded in bytes. */
class LogCollector {
  lines: NewLogLine[] = [];
  /** Hides the secret values of the version that runs (set once they are read). */
  redact: Redactor | undefined;
  #bytes = 0;
  #truncated = false;
  #ids: { invocationId: string; functionName: string };
  readonly sink: LogSink;

  constructor(invocationId: string, functionName: string) {
    this.sink = (level, message, ts) => {
      if (this.#truncated) return;
      this.#bytes += message.length;
      if (this.#bytes > MAX_LOG_BYTES_PER_ATTEMPT) {
        this.#truncated = true;
        message = `[faas] log output truncated at ${MAX_LOG_BYTES_PER_ATTEMPT} bytes`;
        level = 'warn';
      }
      if (this.redact) message = this.redact(message);
      this.lines.push({ invocationId, functionName, ts: ts ?? Date.now(), level, message });
    };
    this.#ids = { invocationId, functionName };
  }

  /** Ends a failed attempt's lines with how it failed (past the byte bound too: it is one line). */
  noteFailure(outcome: InvokeOutcome): void {
    if (outcome.status === 'succeeded') return;
    const { type, message } = outcome.error;
    this.lines.push({
      ...this.#ids,
      ts: Date.now(),
      level: 'error',
      message: `${FAILURE_PREFIX} ${outcome.status}: ${type}: ${message}`.slice(0, 4096),
    });
  }
}
