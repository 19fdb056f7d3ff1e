import {
  ErrorCode,
  FaasError,
  type FunctionVersion,
  type InvokeMetrics,
  type InvokeOutcome,
  type InvokeRequest,
} from '@faas/core';
import ivm from 'isolated-vm';
import { ActiveInvocation } from './active-invocation.ts';
import { handlerExport } from './artifact-cache.ts';
import { type CodeCache, codeCache, compileCached } from './compile.ts';
import { encodeEvent } from './event-encoding.ts';
import { randomHost, urlHost } from './host-callbacks.ts';
import { describeLoadError } from './load-failure.ts';
import {
  ABORTED_ERROR,
  decodeReply,
  isMemoryLimitError,
  isTimeoutError,
  outOfMemoryError,
  type Stop,
  timeoutError,
} from './outcome.ts';
import { INSTALL_GLOBAL, PRELUDE_FILENAME, preludeSnapshot, preludeSource } from './prelude.ts';

export interface IsolateLimits {
  /** Log output kept per invocation; past it, one truncation marker. */
  maxLogBytes: number;
  /** Largest JSON result an invocation may return. */
  maxResultBytes: number;
}

let preludeCache: CodeCache | undefined;

/**
 * One V8 isolate with a context holding a loaded function version: created by `load`, runs one
 * invocation at a time, and is disposed after a timeout, memory overflow or abort because its
 * state is unknown then.
 */
export class WarmIsolate {
  readonly fn: FunctionVersion;
  /** When the last invocation ended (or the isolate was loaded): for idle expiry. */
  lastUsedAt = Date.now();
  #isolate: ivm.Isolate;
  #limits: IsolateLimits;
  #invoke: ivm.Reference | undefined;
  #fire: ivm.Reference | undefined;
  #start: ivm.Reference | undefined;
  #take: ivm.Reference | undefined;
  #wait: ivm.Reference | undefined;
  /** Synchronous starts so far: the first one compiles the handler, and is slower. */
  #syncStarts = 0;
  #heapRead = 0;
  #heapReadAt = Number.NEGATIVE_INFINITY;
  #active: ActiveInvocation | undefined;
  #stop: Stop | 'closed' | undefined;
  #fromSnapshot: boolean;

  private constructor(
    fn: FunctionVersion,
    limits: IsolateLimits,
    onCatastrophicError: (message: string) => void,
  ) {
    this.fn = fn;
    this.#limits = limits;
    const snapshot = preludeSnapshot();
    this.#fromSnapshot = snapshot !== null;
    this.#isolate = new ivm.Isolate({
      memoryLimit: fn.memoryMb,
      onCatastrophicError,
      ...(snapshot ? { snapshot } : {}),
    });
  }

  /**
   * A fresh isolate with the prelude and the version's artifact run and its handler bound.
   * @throws LoadFailure when the function's code fails to load (syntax, top-level throw,
   * missing export, top-level timeout or memory overflow before `deadline`).
   */
  static async load(options: {
    fn: FunctionVersion;
    artifact: CodeCache;
    limits: IsolateLimits;
    deadline: number;
    onCatastrophicError: (message: string) => void;
  }): Promise<WarmIsolate> {
    const warm = new WarmIsolate(options.fn, options.limits, options.onCatastrophicError);
    try {
      await warm.#load(options.artifact, options.deadline);
      return warm;
    } catch (err) {
      warm.dispose();
      throw err;
    }
  }

  get disposed(): boolean {
    return this.#isolate.isDisposed;
  }

  get busy(): boolean {
    return this.#active !== undefined;
  }

  async #load(artifact: CodeCache, deadline: number): Promise<void> {
    const isolate = this.#isolate;
    const context = await isolate.createContext();
    if (!this.#fromSnapshot) {
      preludeCache ??= codeCache(preludeSource(), PRELUDE_FILENAME);
      const prelude = await compileCached(isolate, preludeCache);
      await prelude.run(context, { release: true });
    }
    // Reading references from an idle isolate is cheaper synchronously than with a thread hop.
    const install = context.global.getSync(INSTALL_GLOBAL, { reference: true }) as ivm.Reference;
    const entry = (await install.apply(
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
      ],
      { result: { reference: true } },
    )) as ivm.Reference;
    install.release();
    this.#invoke = entry.getSync('invoke', { reference: true });
    this.#fire = entry.getSync('fire', { reference: true });
    this.#start = entry.getSync('start', { reference: true });
    this.#take = entry.getSync('take', { reference: true });
    this.#wait = entry.getSync('wait', { reference: true });
    const bind = entry.getSync('bind', { reference: true });
    entry.release();

    const startedAt = Date.now();
    try {
      const script = await compileCached(isolate, artifact);
      await script.run(context, { timeout: Math.max(1, deadline - Date.now()), release: true });
      await bind.apply(undefined, [handlerExport(this.fn), this.fn.name, this.fn.version], {
        timeout: Math.max(1, deadline - Date.now()),
      });
    } catch (err) {
      throw describeLoadError(err, isolate.isDisposed, this.fn, startedAt);
    } finally {
      if (!isolate.isDisposed) bind.release();
    }
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
        invoke.apply(undefined, [run.seq, request.invocationId, request.deadline, kind, payload], {
          result: { promise: true },
        }),
      run,
      request,
      startedAt,
      cpuBefore,
    );
  }

  /**
   * Runs one invocation starting synchronously on the calling thread, for at most `budgetMs`
   * (wall clock; `onStarted` gets the CPU time the start took, or 'over_budget'):
   * a quick handler costs a few µs this way, against ~60 µs of CPU for the hop to the isolate's
   * thread and back. A handler that waits for a timer goes on there, as with `run`. One still
   * running after the budget is stopped, the isolate disposed, and `'over_budget'` tells the
   * caller to run the invocation again with `run` in another isolate. The stopped attempt
   * leaves only the time it took: an isolate has no I/O, its output was held back, and its module
   * state went with the isolate, as at a cold start. Returns without a promise when the handler
   * did not wait, so the caller can hand the isolate back before anything else runs.
   */
  runSync(
    request: InvokeRequest,
    budgetMs: number,
    onStarted: (cpuTimeMs: number | 'over_budget', first: boolean) => void = () => {},
  ): InvokeOutcome | 'over_budget' | Promise<InvokeOutcome> {
    const start = this.#entry(this.#start);
    const early = notRunnable(request);
    if (early) return early;
    const startedAt = performance.now();
    const remainingMs = request.deadline - Date.now();
    const [kind, payload] = encodeEvent(request.event);
    const run = new ActiveInvocation(request.log, request.deadline, this.#limits.maxLogBytes, { hold: true });
    const first = this.#syncStarts++ === 0;
    this.#active = run;
    const cpuBefore = this.#isolate.cpuTime;
    let reply: unknown;
    try {
      start.applySync(undefined, [run.seq, request.invocationId, request.deadline, kind, payload], {
        timeout: syncTimeoutMs(budgetMs, remainingMs),
      });
      reply = this.#take?.applySync(undefined, []);
      onStarted(Number(this.#isolate.cpuTime - cpuBefore) / 1e6, first);
    } catch (err) {
      run.end();
      this.#active = undefined;
      this.lastUsedAt = Date.now();
      const timedOut = isTimeoutError(err);
      if (timedOut && remainingMs > budgetMs) {
        this.dispose();
        onStarted('over_budget', first);
        return 'over_budget';
      }
      run.accept();
      if (timedOut) this.terminate('timeout');
      return this.#failure(err, startedAt);
    }
    run.accept();
    if (reply === undefined) {
      const wait = this.#wait as ivm.Reference;
      return this.#settle(
        () => wait.apply(undefined, [], { result: { promise: true } }),
        run,
        request,
        startedAt,
        cpuBefore,
      );
    }
    run.end();
    this.#active = undefined;
    this.lastUsedAt = Date.now();
    return decodeReply(reply, this.#metrics(startedAt, cpuBefore), this.#limits.maxResultBytes);
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
      return decodeReply(value, this.#metrics(startedAt, cpuBefore), this.#limits.maxResultBytes);
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

  #failure(err: unknown, startedAt: number): InvokeOutcome {
    const durationMs = performance.now() - startedAt;
    const stop = this.#stop;
    if (stop === 'timeout')
      return { status: 'timed_out', error: timeoutError(durationMs), metrics: { durationMs } };
    if (stop === 'aborted') return { status: 'failed', error: ABORTED_ERROR, metrics: { durationMs } };
    if (stop === undefined && (isMemoryLimitError(err) || this.disposed)) {
      this.dispose();
      const metrics = { durationMs, peakMemoryBytes: this.fn.memoryMb * 1024 * 1024 };
      return { status: 'out_of_memory', error: outOfMemoryError(this.fn.memoryMb), metrics };
    }
    this.dispose();
    throw new FaasError(
      ErrorCode.RUNTIME_UNAVAILABLE,
      stop === 'closed'
        ? 'The isolate runtime closed during the invocation'
        : `The isolate failed: ${String(err)}`,
      { cause: err },
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
   * Committed heap: it grows to cover an invocation's peak and is what the limit measures. Read
   * after every invocation of a millisecond or more; quicker ones, which cannot grow it much,
   * share a reading up to 100 ms old (reading costs about as much as such an invocation).
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

  /** Stops whatever runs and disposes the isolate; the running invocation reports `reason`. */
  terminate(reason: Stop | 'closed'): void {
    this.#stop ??= reason;
    this.dispose();
  }

  dispose(): void {
    if (this.#isolate.isDisposed) return;
    try {
      this.#isolate.dispose();
    } catch {
      // Already going away (isolated-vm disposes on memory overflow by itself).
    }
  }

  #onLog = (seq: unknown, level: unknown, message: unknown): void => {
    const run = this.#active;
    if (run && run.seq === seq) run.log(level, message);
  };

  #onSchedule = (seq: unknown, id: unknown, delayMs: unknown): void => {
    const run = this.#active;
    if (!run || run.seq !== seq || typeof id !== 'number') return;
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

/** The outcome of a request that must not start: past its deadline, or cancelled. */
function notRunnable(request: InvokeRequest): InvokeOutcome | undefined {
  if (request.deadline <= Date.now()) {
    return { status: 'timed_out', error: timeoutError(0), metrics: { durationMs: 0 } };
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
