import {
  ErrorCode,
  FaasError,
  type FunctionVersion,
  type InvocationError,
  type InvokeMetrics,
  type InvokeOutcome,
  type InvokeRequest,
  type LogLine,
  type LogSink,
} from '@faas/core';
import ivm from 'isolated-vm';
import { handlerExport } from './artifact-cache.ts';
import { type CodeCache, codeCache, compileCached } from './compile.ts';
import { randomHost, urlHost } from './host-callbacks.ts';
import {
  ABORTED_ERROR,
  decodeReply,
  isMemoryLimitError,
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

/** Why a version could not be loaded into an isolate: the function's fault, as an outcome. */
export class LoadFailure extends Error {
  readonly status: 'failed' | 'timed_out' | 'out_of_memory';
  readonly error: InvocationError;

  constructor(status: LoadFailure['status'], error: InvocationError) {
    super(error.message);
    this.name = 'LoadFailure';
    this.status = status;
    this.error = error;
  }
}

interface ActiveRun {
  seq: number;
  log: LogSink;
  deadline: number;
  logBytes: number;
  truncated: boolean;
  timers: Set<NodeJS.Timeout>;
}

const LOG_LEVELS: ReadonlySet<unknown> = new Set<LogLine['level']>(['debug', 'info', 'warn', 'error', 'log']);
/** Host timers one invocation may have pending (the prelude also refuses past its own limit). */
const MAX_PENDING_TIMERS = 10_000;
const encoder = new TextEncoder();

let preludeCache: CodeCache | undefined;
/** Invocation sequence numbers, unique in this process: they tag everything an isolate sends. */
let nextSeq = 1;

function describeLoadError(
  err: unknown,
  isolate: ivm.Isolate,
  fn: FunctionVersion,
  startedAt: number,
): LoadFailure {
  if (isMemoryLimitError(err) || isolate.isDisposed) {
    return new LoadFailure('out_of_memory', outOfMemoryError(fn.memoryMb));
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.message.includes('execution timed out')) {
    return new LoadFailure('timed_out', timeoutError(Date.now() - startedAt));
  }
  // Frames past the boundary are the host's (this file), not the function's.
  const stack = e.stack?.split('\n<isolated-vm boundary>')[0]?.split('\n    at (<isolated-vm boundary>)')[0];
  return new LoadFailure('failed', {
    type: e.name || 'Error',
    message: `The function failed to load: ${e.message}`,
    ...(stack ? { stack } : {}),
  });
}

/** Cuts text to at most `maxBytes` of UTF-8 without splitting a character. */
function clipUtf8(text: string, maxBytes: number): string {
  const { read } = encoder.encodeInto(text, new Uint8Array(maxBytes));
  return text.slice(0, read);
}

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
  #active: ActiveRun | undefined;
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
      throw describeLoadError(err, isolate, this.fn, startedAt);
    } finally {
      if (!isolate.isDisposed) bind.release();
    }
  }

  /**
   * Runs one invocation. Function faults come back as an outcome; after a timeout, memory
   * overflow or abort the isolate is disposed.
   * @throws FaasError RUNTIME_UNAVAILABLE when the isolate was closed under the invocation or
   * isolated-vm failed in a way that is not the function's fault.
   */
  async run(request: InvokeRequest): Promise<InvokeOutcome> {
    const invoke = this.#invoke;
    if (!invoke || this.#active || this.disposed) {
      throw new FaasError(ErrorCode.INTERNAL, 'This isolate cannot take an invocation now');
    }
    const startedAt = performance.now();
    const remainingMs = request.deadline - Date.now();
    if (remainingMs <= 0) return { status: 'timed_out', error: timeoutError(0), metrics: { durationMs: 0 } };
    if (request.signal?.aborted)
      return { status: 'failed', error: ABORTED_ERROR, metrics: { durationMs: 0 } };
    const [kind, payload] = encodeEvent(request.event);

    const run: ActiveRun = {
      seq: nextSeq++,
      log: request.log,
      deadline: request.deadline,
      logBytes: 0,
      truncated: false,
      timers: new Set(),
    };
    this.#active = run;
    const cpuBefore = this.#isolate.cpuTime;
    const deadlineTimer = setTimeout(() => this.terminate('timeout'), remainingMs);
    const onAbort = () => this.terminate('aborted');
    request.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = await invoke.apply(
        undefined,
        [run.seq, request.invocationId, request.deadline, kind, payload],
        {
          result: { promise: true },
        },
      );
      return decodeReply(reply, this.#metrics(startedAt, cpuBefore), this.#limits.maxResultBytes);
    } catch (err) {
      return this.#failure(err, startedAt);
    } finally {
      clearTimeout(deadlineTimer);
      request.signal?.removeEventListener('abort', onAbort);
      for (const timer of run.timers) clearTimeout(timer);
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
    const heap = this.#isolate.getHeapStatisticsSync();
    return {
      durationMs,
      cpuTimeMs: Number(this.#isolate.cpuTime - cpuBefore) / 1e6,
      // Committed heap: it grows to cover the invocation's peak and is what the limit measures.
      peakMemoryBytes: heap.total_heap_size + heap.externally_allocated_size,
    };
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
    if (!run || run.seq !== seq || run.truncated || typeof message !== 'string' || !LOG_LEVELS.has(level))
      return;
    const lineLevel = level as LogLine['level'];
    const max = this.#limits.maxLogBytes;
    const bytes = Buffer.byteLength(message);
    if (run.logBytes + bytes <= max) {
      run.logBytes += bytes;
      emit(run.log, lineLevel, message);
      return;
    }
    const room = max - run.logBytes;
    if (room > 0) emit(run.log, lineLevel, clipUtf8(message, room));
    run.logBytes = max;
    run.truncated = true;
    emit(
      run.log,
      'warn',
      `[faas] log output truncated: this invocation wrote more than ${max} bytes of logs`,
    );
  };

  #onSchedule = (seq: unknown, id: unknown, delayMs: unknown): void => {
    const run = this.#active;
    if (!run || run.seq !== seq || typeof id !== 'number' || typeof delayMs !== 'number') return;
    // A timer due after the deadline can never run: the invocation is stopped first.
    if (Date.now() + delayMs >= run.deadline || run.timers.size >= MAX_PENDING_TIMERS) return;
    const timer = setTimeout(() => {
      run.timers.delete(timer);
      if (this.#active !== run || this.disposed) return;
      try {
        this.#fire?.applyIgnored(undefined, [seq, id]);
      } catch {
        // Disposed between the check and the call: the invocation reports why.
      }
    }, delayMs);
    run.timers.add(timer);
  };
}

function emit(log: LogSink, level: LogLine['level'], message: string): void {
  try {
    log(level, message);
  } catch {
    // A sink must not throw; if one does, the function's run is not the place to fail.
  }
}

/** The event as the prelude's `invoke(kind, payload)` takes it (see prelude/invoke.js). */
function encodeEvent(event: unknown): [string, unknown] {
  if (event === undefined) return ['undefined', undefined];
  if (typeof event === 'string') return ['text', event];
  if (event instanceof Uint8Array) {
    // A plain copy: a Buffer may be a view into a larger pooled ArrayBuffer.
    const bytes = event.constructor === Uint8Array ? event : new Uint8Array(event);
    return ['bytes', new ivm.ExternalCopy(bytes).copyInto({ release: true })];
  }
  // Measured: for JSON values, host stringify + isolate parse is as fast as isolated-vm's
  // structured copy for small events and faster for large ones.
  let json: string | undefined;
  try {
    json = JSON.stringify(event);
  } catch (cause) {
    throw new FaasError(ErrorCode.BAD_REQUEST, 'The event is not a JSON value', { cause });
  }
  return json === undefined ? ['undefined', undefined] : ['json', json];
}
