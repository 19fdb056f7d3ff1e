import {
  ErrorCode,
  FaasError,
  type FunctionVersion,
  type InvocationError,
  type InvokeMetrics,
  type InvokeOutcome,
  type InvokeRequest,
  shownName,
} from '@faas/core';
import ivm from 'isolated-vm';
import { ActiveInvocation } from './active-invocation.ts';
import { handlerExport } from './artifact-cache.ts';
import { type CodeCache, codeCache, compileCached, compileCachedSync } from './compile.ts';
import { encodeEvent } from './event-encoding.ts';
import { randomHost, urlHost } from './host-callbacks.ts';
import { describeLoadError, LoadFailure } from './load-failure.ts';
import {
  ABORTED_ERROR,
  clippedError,
  decodeReply,
  isMemoryLimitError,
  isTimeoutError,
  outOfMemoryError,
  type Stop,
  timeoutError,
} from './outcome.ts';
import { INSTALL_GLOBAL, PRELUDE_FILENAME, preludeSource } from './prelude.ts';
import type { SharedIsolate, Tenant } from './shared-isolate.ts';
import { mapStack } from './source-maps.ts';

export interface IsolateLimits {
  /** Log output kept per invocation; past it, one truncation marker. */
  maxLogBytes: number;
  /** Largest JSON result an invocation may return. */
  maxResultBytes: number;
}

/** What became of one request of a batch of synchronous starts (see WarmIsolate.runSyncBatch). */
export type SyncStart = InvokeOutcome | Promise<InvokeOutcome> | 'not_started' | 'over_budget' | 'again';

let preludeCache: CodeCache | undefined;

/** Artifacts up to this many characters are compiled on the calling thread (see #load). */
const COMPILE_INLINE_MAX_CHARS = 64 * 1024;
/** Longest a load's top-level run, and its handler's bind, may hold the calling thread. */
const ON_CALLER_BUDGET_MS = 20;
/**
 * Longest the bind (reading the handler export) may take on the isolate's own thread: a getter
 * that never returns is stopped here, not at the call's deadline.
 */
const BIND_MAX_MS = 1_000;

/**
 * The artifact's top-level code, or its handler's bind, outran ON_CALLER_BUDGET_MS on the
 * calling thread: its isolate is gone, and the version loads again with both on the isolate's
 * own thread. A busy machine stretches even a trivial bind past 20 ms of wall time.
 */
export class TopLevelOverBudget extends Error {
  constructor() {
    super(`The top-level code took longer than ${ON_CALLER_BUDGET_MS} ms on the calling thread`);
    this.name = 'TopLevelOverBudget';
  }
}

/**
 * Runs `run` on the calling thread for at most ON_CALLER_BUDGET_MS, or what is left of `deadline`
 * when that is less. Stopped at the budget (the deadline had more room), it throws `overBudget()`;
 * at the deadline, the timeout as it came.
 */
function onCaller(
  isolate: ivm.Isolate,
  deadline: number,
  run: (timeoutMs: number) => unknown,
  overBudget: () => Error,
): void {
  const budget = Math.min(ON_CALLER_BUDGET_MS, deadline - Date.now());
  try {
    run(Math.max(1, budget));
  } catch (err) {
    if (budget === ON_CALLER_BUDGET_MS && !isolate.isDisposed && isTimeoutError(err)) throw overBudget();
    throw err;
  }
}

/**
 * A context holding a loaded function version, in a V8 isolate it may share with other versions
 * of its project (SharedIsolate): created by `load`, runs one invocation at a time while it holds
 * the isolate (`take`), and takes the whole isolate with it after a timeout, memory overflow or
 * abort because the isolate's state is unknown then. `dispose` releases only its context.
 */
export class WarmIsolate implements Tenant {
  readonly fn: FunctionVersion;
  /** Its version pool: an isolate holds at most one context of each. */
  readonly owner: object;

  /** Says the isolate was made for the call that takes it next (VersionPool.acquire). */
  madeForNext(): void {
    this.#madeForNext = true;
  }

  /** Whether the call taking it now waited for it to be made (once: the next call is warm). */
  takeColdStart(): boolean {
    const cold = this.#madeForNext;
    this.#madeForNext = false;
    return cold;
  }

  /** When the last invocation ended (or the isolate was loaded): for idle expiry. */
  lastUsedAt = Date.now();
  #host: SharedIsolate;
  #isolate: ivm.Isolate;
  #context: ivm.Context;
  /** Its context was released (evicted, expired, retired): the isolate may live on. */
  #released = false;
  /** It holds its isolate (loading, or taken for a call) until `putDown`. */
  #holding = false;
  #limits: IsolateLimits;
  #invoke: ivm.Reference | undefined;
  #fire: ivm.Reference | undefined;
  #startBatch: ivm.Reference | undefined;
  #takeBatch: ivm.Reference | undefined;
  #wait: ivm.Reference | undefined;
  /** Synchronous starts so far: the first ones compile the handler, and are slower. */
  #syncStarts = 0;
  /** Made for the call that takes it next (`acquire`): that call is a cold start. */
  #madeForNext = false;
  #heapRead = 0;
  #heapReadAt = Number.NEGATIVE_INFINITY;
  #active: ActiveInvocation | undefined;
  /** The invocations of the batch of synchronous starts under way, by seq (see runSyncBatch). */
  #batch: Map<number, ActiveInvocation> | undefined;
  #stop: Stop | 'closed' | undefined;
  /** The artifact's code, for its source map: errors point into the user's files. */
  #code: CodeCache | undefined;

  private constructor(
    fn: FunctionVersion,
    owner: object,
    limits: IsolateLimits,
    host: SharedIsolate,
    context: ivm.Context,
  ) {
    this.fn = fn;
    this.owner = owner;
    this.#limits = limits;
    this.#host = host;
    this.#isolate = host.isolate;
    this.#context = context;
  }

  /**
   * A new context in `host` (held by `owner` for this load, see SharedIsolate.hold) with the
   * prelude and the version's artifact run and its handler bound. It leaves holding the isolate:
   * the caller runs its call or lets go (`putDown`).
   * @throws LoadFailure when the function's code fails to load (syntax, top-level throw,
   * missing export, top-level timeout or memory overflow before `deadline`): the context is
   * released, and the isolate disposed when the failure left its state unknown.
   */
  static async load(options: {
    fn: FunctionVersion;
    owner: object;
    host: SharedIsolate;
    artifact: CodeCache;
    limits: IsolateLimits;
    deadline: number;
    /** Run a small artifact's top-level code on this thread, within ON_CALLER_BUDGET_MS. */
    topLevelOnCaller: boolean;
  }): Promise<WarmIsolate> {
    const { host } = options;
    const usedBefore = host.usedBeforeLoad();
    const context = await host.newContext();
    const warm = new WarmIsolate(options.fn, options.owner, options.limits, host, context);
    warm.#holding = true;
    try {
      await warm.#load(options.artifact, options.deadline, options.topLevelOnCaller);
    } catch (err) {
      // Stopped mid-way, as a timeout stops it: the isolate's state is not known.
      if (err instanceof TopLevelOverBudget) host.dispose();
      else if (err instanceof LoadFailure && err.status !== 'failed') host.dispose();
      else warm.#release();
      throw err;
    }
    host.join(warm, usedBefore);
    return warm;
  }

  /** Its context was released, or its isolate disposed. */
  get disposed(): boolean {
    return this.#released || this.#isolate.isDisposed;
  }

  /**
   * Takes its isolate for a call: 'isolate_busy' when another context's load or call holds it
   * (the caller loads this version elsewhere rather than wait), 'no_room' when the budget cannot
   * let the isolate grow to its limit now. Other idle contexts of the isolate are evicted first
   * as far as they would eat into this call's memory limit.
   */
  take(): true | 'isolate_busy' | 'no_room' {
    const host = this.#host;
    if (host.busy) return 'isolate_busy';
    if (!host.hold(this.owner)) return 'no_room';
    this.#holding = true;
    host.makeRoomFor(this);
    return true;
  }

  /** Another context's load or call holds its isolate. */
  get isolateBusy(): boolean {
    return this.#host.busy;
  }

  /** See SharedIsolate.whenFree. */
  whenIsolateFree(patienceMs: number, signal?: AbortSignal): Promise<void> {
    return this.#host.whenFree(patienceMs, signal);
  }

  /** The call (or load) is over: the isolate is free for its other contexts. */
  putDown(): void {
    if (!this.#holding) return;
    this.#holding = false;
    // With neighbours, what this context holds now decides whether they keep their room (see
    // SharedIsolate.makeRoomFor): even a sub-millisecond call can keep megabytes of typed arrays.
    if (!this.disposed) this.#host.account(this);
    this.#host.letGo(this.owner, this.#heapRead);
  }

  /** The isolate takes its context back for another's call: it loads again when next needed. */
  evict(): void {
    this.#release();
  }

  /** What the heap held when last read (it grows to cover an invocation's peak). */
  get heapBytes(): number {
    return this.#heapRead;
  }

  get busy(): boolean {
    return this.#active !== undefined;
  }

  async #load(artifact: CodeCache, deadline: number, topLevelOnCaller: boolean): Promise<void> {
    this.#code = artifact;
    const isolate = this.#isolate;
    const context = this.#context;
    if (!this.#host.fromSnapshot) {
      preludeCache ??= codeCache(preludeSource(), PRELUDE_FILENAME);
      const prelude = await compileCached(isolate, preludeCache);
      await prelude.run(context, { release: true });
    }
    // Reading references from an idle isolate is cheaper synchronously than with a thread hop,
    // and so is the prelude's install (its own code, no tenant's, ~0.1 ms against a hop's 0.4).
    const install = context.global.getSync(INSTALL_GLOBAL, { reference: true }) as ivm.Reference;
    const entry = install.applySync(
      undefined,
      [
        new ivm.Callback(this.#onLog, { ignored: true }),
        new ivm.Callback(this.#onSchedule, { ignored: true }),
        new ivm.Callback(this.#onLog),
        new ivm.Callback(this.#onSchedule),
        new ivm.Callback(randomHost),
        new ivm.Callback(urlHost),
        this.#limits.maxLogBytes,
        this.#limits.maxResultBytes,
        JSON.stringify(this.fn.env ?? {}),
      ],
      { result: { reference: true } },
    ) as ivm.Reference;
    install.release();
    this.#invoke = entry.getSync('invoke', { reference: true });
    this.#fire = entry.getSync('fire', { reference: true });
    this.#startBatch = entry.getSync('startBatch', { reference: true });
    this.#takeBatch = entry.getSync('takeBatch', { reference: true });
    this.#wait = entry.getSync('wait', { reference: true });
    const bind = entry.getSync('bind', { reference: true });
    entry.release();

    try {
      // A small artifact compiles, and mostly runs its top-level code, in less than an async
      // call's two thread hops. Its top-level code is the tenant's: on this thread it has a
      // budget, past which it is stopped and run again on the isolate's thread under the
      // deadline. Nothing it did shows outside its context (logs and timers belong to calls).
      const small = artifact.source.length <= COMPILE_INLINE_MAX_CHARS;
      const script = small ? compileCachedSync(isolate, artifact) : await compileCached(isolate, artifact);
      if (small && topLevelOnCaller) {
        onCaller(
          isolate,
          deadline,
          (timeout) => script.runSync(context, { timeout, release: true }),
          () => new TopLevelOverBudget(),
        );
      } else {
        await script.run(context, { timeout: Math.max(1, deadline - Date.now()), release: true });
      }
      // The bind reads the handler export through the bundle's own getters, on this thread: a
      // hop less. It blocks the host's other work meanwhile, so it has the budget too.
      const args = [handlerExport(this.fn), shownName(this.fn.name), this.fn.version];
      if (topLevelOnCaller) {
        onCaller(
          isolate,
          deadline,
          (timeout) => bind.applySync(undefined, args, { timeout }),
          () => new TopLevelOverBudget(),
        );
      } else {
        const timeout = Math.max(1, Math.min(BIND_MAX_MS, deadline - Date.now()));
        await bind.apply(undefined, args, { timeout }).catch((err: unknown) => {
          if (timeout < BIND_MAX_MS || isolate.isDisposed || !isTimeoutError(err)) throw err;
          throw new LoadFailure('timed_out', {
            type: 'Timeout',
            message: `Reading the handler export "${handlerExport(this.fn)}" took longer than ${BIND_MAX_MS} ms`,
          });
        });
      }
    } catch (err) {
      if (err instanceof LoadFailure || err instanceof TopLevelOverBudget) throw err;
      throw describeLoadError(err, isolate.isDisposed, this.fn);
    } finally {
      if (!isolate.isDisposed) bind.release();
    }
    this.#heapBytes(Number.POSITIVE_INFINITY);
  }

  /**
   * Runs one invocation on the isolate's own thread. Function faults come back as an outcome;
   * after a timeout, memory overflow or abort the isolate is disposed.
   * @throws FaasError RUNTIME_UNAVAILABLE when the isolate was closed under the invocation or
   * isolated-vm failed in a way that is not the function's fault.
   */
  async run(request: InvokeRequest): Promise<InvokeOutcome> {
    const invoke = this.#entry(this.#invoke);
    const early = notRunnable(request);
    if (early) return early;
    const startedAt = performance.now();
    const [kind, payload] = encodeEvent(request.event);
    const run = new ActiveInvocation(request.log, request.deadline, this.#limits.maxLogBytes);
    this.#active = run;
    const cpuBefore = this.#isolate.cpuTime;
    return this.#settle(
      () =>
        invoke.apply(
          undefined,
          [run.seq, request.invocationId, request.deadline, kind, payload, request.trace?.traceId],
          {
            result: { promise: true },
          },
        ),
      run,
      request,
      startedAt,
      cpuBefore,
    );
  }

  /**
   * Runs invocations of this version one after another, starting synchronously on the calling
   * thread, for at most `budgetMs` together (wall clock): a quick handler costs a few µs this way,
   * against ~60 µs of CPU for the hop to the isolate's thread and back, and a batch pays once for
   * entering the isolate and for the call's timeout (isolated-vm's timer costs ~10 µs per call
   * on a busy machine). The answer has one entry per request:
   * - an outcome, for each that finished (or could not start: past its deadline, aborted);
   * - a promise, for the first that waits for a timer: it goes on on the isolate's thread;
   * - 'not_started' for those after it, to start elsewhere;
   * - 'over_budget' when a lone invocation was stopped at the budget, its context released: run
   *   it again with `run` in another context. The stopped attempt leaves only the time it took:
   *   an isolate has no I/O, its output was held back, and its module state went with the
   *   context, as at a cold start;
   * - 'again' for each invocation of a batch of several that failed as a whole (stopped at the
   *   budget, out of memory): run each again on its own, so that the one at fault gets its outcome.
   * Durations and CPU times are the batch's, shared out (see shareOut). `onStarted` gets the
   * batch's CPU time per invocation started, once per batch (a garbage collection in one batch
   * then counts once, not once per invocation it is shared among), or 'over_budget' when the
   * batch was stopped, with the number of starts this isolate had before the batch.
   * @throws FaasError RUNTIME_UNAVAILABLE as `run`, for a lone invocation.
   */
  runSyncBatch(
    requests: InvokeRequest[],
    budgetMs: number,
    onStarted: (cpuTimeMs: number | 'over_budget', isolateStarts: number) => void = () => {},
  ): SyncStart[] {
    const start = this.#entry(this.#startBatch);
    const results: SyncStart[] = new Array(requests.length);
    const sent: number[] = [];
    const runs: ActiveInvocation[] = [];
    const args: unknown[] = [];
    const now = Date.now();
    let remainingMs = Number.POSITIVE_INFINITY;
    for (const [i, request] of requests.entries()) {
      const early = notRunnable(request);
      if (early) {
        results[i] = early;
        continue;
      }
      let event: [string, unknown];
      try {
        event = encodeEvent(request.event);
      } catch (err) {
        results[i] = Promise.reject(err);
        continue;
      }
      const run = new ActiveInvocation(request.log, request.deadline, this.#limits.maxLogBytes, {
        hold: true,
      });
      args.push(run.seq, request.invocationId, request.deadline, event[0], event[1], request.trace?.traceId);
      sent.push(i);
      runs.push(run);
      remainingMs = Math.min(remainingMs, request.deadline - now);
    }
    if (runs.length === 0) return results;
    const isolateStarts = this.#syncStarts;
    this.#syncStarts += runs.length;
    this.#batch = new Map(runs.map((run) => [run.seq, run]));
    const startedAt = performance.now();
    const cpuBefore = this.#isolate.cpuTime;
    let replies: string;
    let endedAt: number;
    let cpuAfter: bigint;
    try {
      start.applySync(undefined, args, { timeout: syncTimeoutMs(budgetMs, remainingMs) });
      endedAt = performance.now();
      cpuAfter = this.#isolate.cpuTime;
      replies = (this.#takeBatch as ivm.Reference).applySync(undefined, []) as string;
    } catch (err) {
      this.#batch = undefined;
      this.lastUsedAt = Date.now();
      for (const run of runs) run.end();
      const timedOut = isTimeoutError(err);
      if (runs.length > 1) {
        this.#dropAfterBatch(timedOut);
        if (timedOut) onStarted('over_budget', isolateStarts);
        for (const i of sent) results[i] = 'again';
        return results;
      }
      if (timedOut && remainingMs > budgetMs) {
        this.#dropAfterBatch(timedOut);
        onStarted('over_budget', isolateStarts);
        results[sent[0] as number] = 'over_budget';
        return results;
      }
      (runs[0] as ActiveInvocation).accept();
      if (timedOut) this.terminate('timeout');
      try {
        results[sent[0] as number] = this.#failure(err, startedAt);
      } catch (failure) {
        results[sent[0] as number] = Promise.reject(failure);
      }
      return results;
    }
    this.#batch = undefined;
    const batch = parseBatchReplies(replies, runs.length);
    if (batch === undefined) {
      // The prelude runs in the function's own realm: a reply it could not have written was
      // forged there. Only this batch's calls fail, and the context, whose prelude is not to be
      // trusted any more, goes.
      this.dispose();
      this.lastUsedAt = Date.now();
      const metrics = { durationMs: (endedAt - startedAt) / runs.length };
      for (const [j, run] of runs.entries()) {
        run.accept();
        run.end();
        results[sent[j] as number] = { status: 'failed', error: FORGED_BATCH_ERROR, metrics };
      }
      return results;
    }
    const times = shareOut(
      [...batch.settled.map((r) => r.ms), ...(batch.waitingMs >= 0 ? [batch.waitingMs] : [])],
      endedAt - startedAt,
      Number(cpuAfter - cpuBefore) / 1e6,
    );
    onStarted(Number(cpuAfter - cpuBefore) / 1e6 / times.length, isolateStarts);
    const heapBytes = this.#heapBytes(endedAt - startedAt);
    let at = startedAt;
    let cpuAt = cpuBefore;
    for (const [j, run] of runs.entries()) {
      const i = sent[j] as number;
      const request = requests[i] as InvokeRequest;
      const settled = batch.settled[j];
      const time = times[j];
      if (time === undefined) {
        run.end();
        results[i] = 'not_started';
        continue;
      }
      run.accept();
      if (settled) {
        run.end();
        const metrics = {
          durationMs: time.durationMs,
          cpuTimeMs: time.cpuTimeMs,
          peakMemoryBytes: heapBytes,
        };
        results[i] = this.#decode(settled.reply, metrics);
      } else {
        this.#active = run;
        const wait = this.#wait as ivm.Reference;
        results[i] = this.#settle(
          () => wait.apply(undefined, [], { result: { promise: true } }),
          run,
          request,
          at,
          cpuAt,
        );
      }
      at += time.durationMs;
      cpuAt += BigInt(Math.round(time.cpuTimeMs * 1e6));
    }
    this.lastUsedAt = Date.now();
    return results;
  }

  /**
   * After a batch failed as a whole. Stopped at the budget (the server's policy, not the
   * function's fault): only this context's state is unknown, and the stop touched no other
   * context, so only it goes and its neighbours stay warm. Out of memory: the isolate is gone.
   */
  #dropAfterBatch(timedOut: boolean): void {
    if (timedOut && !this.#isolate.isDisposed) this.dispose();
    else this.#host.dispose();
  }

  /** The prelude entry point, once the isolate is loaded and free. */
  #entry(reference: ivm.Reference | undefined): ivm.Reference {
    if (!reference || this.#active || this.disposed) {
      throw new FaasError(ErrorCode.INTERNAL, 'This isolate cannot take an invocation now');
    }
    return reference;
  }

  /** Waits for the reply of a running invocation under its deadline and abort signal. */
  async #settle(
    reply: () => Promise<unknown>,
    run: ActiveInvocation,
    request: InvokeRequest,
    startedAt: number,
    cpuBefore: bigint,
  ): Promise<InvokeOutcome> {
    const deadlineTimer = setTimeout(() => this.terminate('timeout'), request.deadline - Date.now());
    const onAbort = () => this.terminate('aborted');
    request.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const value = await reply();
      return this.#decode(value, this.#metrics(startedAt, cpuBefore));
    } catch (err) {
      return this.#failure(err, startedAt);
    } finally {
      clearTimeout(deadlineTimer);
      request.signal?.removeEventListener('abort', onAbort);
      run.end();
      this.#active = undefined;
      this.lastUsedAt = Date.now();
    }
  }

  /** A prelude reply as an outcome, its error's stack mapped into the user's source files. */
  #decode(reply: unknown, metrics: InvokeMetrics): InvokeOutcome {
    const outcome = decodeReply(reply, metrics, this.#limits.maxResultBytes);
    const code = this.#code;
    if (outcome.status !== 'succeeded' && outcome.error.stack && code?.sourceMap) {
      outcome.error.stack = mapStack(outcome.error.stack, code.filename, code.sourceMap);
    }
    return outcome;
  }

  #failure(err: unknown, startedAt: number): InvokeOutcome {
    const durationMs = performance.now() - startedAt;
    const stop = this.#stop;
    if (stop === 'timeout')
      return { status: 'timed_out', error: timeoutError(this.fn.timeoutMs), metrics: { durationMs } };
    if (stop === 'aborted') return { status: 'failed', error: ABORTED_ERROR, metrics: { durationMs } };
    if (stop === undefined && (isMemoryLimitError(err) || this.#isolate.isDisposed)) {
      this.#host.dispose();
      const metrics = { durationMs, peakMemoryBytes: this.fn.memoryMb * 1024 * 1024 };
      return { status: 'out_of_memory', error: outOfMemoryError(this.fn.memoryMb), metrics };
    }
    this.#host.dispose();
    if (stop === 'closed') {
      throw new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The isolate runtime closed during the invocation', {
        cause: err,
      });
    }
    // isolated-vm fails a call whose code left a promise rejection unhandled, with its reason:
    // that is the function's error (its isolate goes, with its project's other contexts: its
    // state is unknown).
    return { status: 'failed', error: this.#unhandled(err), metrics: { durationMs } };
  }

  #unhandled(reason: unknown): InvocationError {
    if (!(reason instanceof Error)) {
      return clippedError('UnhandledRejection', `Unhandled promise rejection: ${String(reason)}`, undefined);
    }
    const code = this.#code;
    const stack =
      reason.stack && code?.sourceMap ? mapStack(reason.stack, code.filename, code.sourceMap) : reason.stack;
    return clippedError(
      reason.name || 'Error',
      `Unhandled promise rejection: ${reason.message}`,
      stack || undefined,
    );
  }

  #metrics(startedAt: number, cpuBefore: bigint): InvokeMetrics {
    const durationMs = performance.now() - startedAt;
    if (this.disposed) return { durationMs };
    return {
      durationMs,
      cpuTimeMs: Number(this.#isolate.cpuTime - cpuBefore) / 1e6,
      peakMemoryBytes: this.#heapBytes(durationMs),
    };
  }

  /**
   * Committed heap of the isolate: it grows to cover an invocation's peak and is what the limit
   * measures. Read after every invocation of a millisecond or more; quicker ones, which cannot
   * grow it much, share a reading up to 100 ms old (reading costs about as much as such an
   * invocation).
   */
  #heapBytes(durationMs: number): number {
    const now = performance.now();
    if (durationMs >= 1 || now - this.#heapReadAt >= 100) {
      const heap = this.#isolate.getHeapStatisticsSync();
      this.#heapRead = heap.total_heap_size + heap.externally_allocated_size;
      this.#heapReadAt = now;
    }
    return this.#heapRead;
  }

  /**
   * Stops whatever runs and disposes the isolate, with every context in it; the running
   * invocation reports `reason`.
   */
  terminate(reason: Stop | 'closed'): void {
    this.#stop ??= reason;
    this.#host.dispose();
  }

  /** Releases its context (the isolate lives on for its other contexts, if any). */
  dispose(): void {
    this.#release();
    this.#host.leave(this);
    this.putDown();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#isolate.isDisposed) return;
    for (const reference of [this.#invoke, this.#fire, this.#startBatch, this.#takeBatch, this.#wait]) {
      reference?.release();
    }
    this.#context.release();
  }

  /** The running invocation `seq` names, if it is one. */
  #running(seq: unknown): ActiveInvocation | undefined {
    const run = this.#batch?.get(seq as number) ?? this.#active;
    return run && run.seq === seq ? run : undefined;
  }

  #onLog = (seq: unknown, level: unknown, message: unknown): void => {
    this.#running(seq)?.log(level, message);
  };

  #onSchedule = (seq: unknown, id: unknown, delayMs: unknown): void => {
    const run = this.#running(seq);
    if (!run || typeof id !== 'number') return;
    run.schedule(delayMs, () => {
      if (this.#active !== run || this.disposed) return;
      try {
        this.#fire?.applyIgnored(undefined, [run.seq, id]);
      } catch {
        // Disposed between the check and the call: the invocation reports why.
      }
    });
  };
}

const FORGED_BATCH_ERROR: InvocationError = {
  type: 'InternalError',
  message:
    'The isolate answered with a batch reply the runtime did not write (the function replaced built-ins the runtime uses)',
};

interface BatchReplies {
  /** The milliseconds the invocation still waiting has run, or -1 when none waits. */
  waitingMs: number;
  settled: Array<{ ms: number; reply: string }>;
}

/**
 * What `takeBatch` answers (see prelude/invoke.js): each settled reply with its milliseconds, or
 * undefined when the text is not one the prelude writes for `runs` invocations. The prelude runs
 * in the function's realm, so the text is checked whole: a forged number must not reach the
 * shares of time (a NaN there once failed the batch with a platform error).
 */
export function parseBatchReplies(text: unknown, runs: number): BatchReplies | undefined {
  if (typeof text !== 'string') return undefined;
  const head = text.indexOf(';');
  if (head < 0) return undefined;
  const waitingMs = head === 2 && text.startsWith('-1') ? -1 : digits(text, 0, head);
  if (waitingMs === undefined) return undefined;
  const settled: BatchReplies['settled'] = [];
  for (let at = head + 1; at < text.length; ) {
    const msEnd = text.indexOf(':', at);
    const lengthEnd = msEnd < 0 ? -1 : text.indexOf(':', msEnd + 1);
    if (lengthEnd < 0) return undefined;
    const ms = digits(text, at, msEnd);
    const length = digits(text, msEnd + 1, lengthEnd);
    if (ms === undefined || length === undefined) return undefined;
    const end = lengthEnd + 1 + length;
    if (end > text.length) return undefined;
    settled.push({ ms, reply: text.slice(lengthEnd + 1, end) });
    at = end;
  }
  if (settled.length + (waitingMs >= 0 ? 1 : 0) > runs) return undefined;
  return { waitingMs, settled };
}

/** The whole number written in text[from, to) in decimal digits (at most 15), or undefined. */
function digits(text: string, from: number, to: number): number | undefined {
  if (to <= from || to - from > 15) return undefined;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Each invocation's share of a batch's measured time and CPU time. The isolate counts an
 * invocation's time in whole milliseconds of the clock (a quick one counts 0): each gets its
 * count and an even share of the rest, or, when the counts add up to more than was measured,
 * its count scaled down. So every share is within about a millisecond of the truth and the
 * shares add up to the batch; CPU time is shared out in proportion.
 */
export function shareOut(
  counts: number[],
  durationMs: number,
  cpuTimeMs: number,
): Array<{ durationMs: number; cpuTimeMs: number }> {
  const counted = counts.reduce((sum, ms) => sum + ms, 0);
  const rest = (durationMs - counted) / counts.length;
  return counts.map((ms) => {
    const share = counted > durationMs ? (ms * durationMs) / counted : ms + rest;
    return { durationMs: share, cpuTimeMs: durationMs > 0 ? (cpuTimeMs * share) / durationMs : 0 };
  });
}

/** The outcome of a request that must not start: past its deadline, or cancelled. */
function notRunnable(request: InvokeRequest): InvokeOutcome | undefined {
  if (request.deadline <= Date.now()) {
    return { status: 'timed_out', error: timeoutError(request.fn.timeoutMs), metrics: { durationMs: 0 } };
  }
  if (request.signal?.aborted) return { status: 'failed', error: ABORTED_ERROR, metrics: { durationMs: 0 } };
  return undefined;
}

/** Sync starts' timeouts end on shared boundaries this far apart (see syncTimeoutMs). */
const SYNC_TIMEOUT_GRAIN_MS = 5;

/**
 * The timeout of a synchronous start: the budget, stretched by up to SYNC_TIMEOUT_GRAIN_MS so
 * that the starts of a few milliseconds all time out at the same moment. isolated-vm's timer
 * thread wakes at every timeout, live or not; at thousands of starts a second, distinct
 * timeouts kept it waking (and switching) once per invocation.
 */
export function syncTimeoutMs(budgetMs: number, remainingMs: number, now = Date.now()): number {
  if (remainingMs <= budgetMs) return Math.max(1, Math.ceil(remainingMs));
  const endsAt = Math.ceil((now + budgetMs) / SYNC_TIMEOUT_GRAIN_MS) * SYNC_TIMEOUT_GRAIN_MS;
  return Math.min(Math.ceil(remainingMs), endsAt - now);
}
