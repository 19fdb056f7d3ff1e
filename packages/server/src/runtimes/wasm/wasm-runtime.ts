import {
  type BlobStore,
  ErrorCode,
  FaasError,
  type FunctionRuntime,
  type FunctionVersion,
  type InvocationError,
  type InvokeOutcome,
  type InvokeRequest,
  isFaasError,
  type Runtime,
  type RuntimeHealth,
  type RuntimeStats,
  shownName,
} from '@faas/core';
import { envWithTrace } from '../trace-env.ts';
import { loadWasmModule } from './load-module.ts';
import { pagesFor, WASM_PAGE_BYTES } from './memory-cap.ts';
import { runOutcome } from './run-outcome.ts';
import { WorkerLost } from './wasm-worker.ts';
import { WasmWorkerPool } from './wasm-worker-pool.ts';

export interface WasmRuntimeOptions {
  blobs: BlobStore;
  /** Worker threads at most. @default 8 */
  maxWorkers?: number;
  /** Idle worker threads kept started. @default 2 */
  warmWorkers?: number;
  /** A version's compiled module is dropped after this long unused. @default 300000 */
  idleTimeoutMs?: number;
  /** stdout (the result) cap per invocation. @default 6 MiB, the platform's result limit */
  maxResultBytes?: number;
  /** stderr (logs) cap per invocation. @default 256 KiB, as the isolate runtime's */
  maxLogBytes?: number;
  logger?: Pick<Console, 'error'>;
}

export const WASM_DEFAULTS = {
  maxWorkers: 8,
  warmWorkers: 2,
  idleTimeoutMs: 300_000,
  maxResultBytes: 6 * 1024 * 1024,
  maxLogBytes: 256 * 1024,
} as const;

/** A version's compiled module: what makes its calls warm. */
interface LoadedVersion {
  module: Promise<WebAssembly.Module>;
  busy: number;
  lastUsedAt: number;
  retired: boolean;
  /** The module has compiled: a call that finds it so is warm. */
  ready: boolean;
}

type RuntimeState = { phase: 'running' } | { phase: 'closed' };

/**
 * Runs `wasm` functions: WASI preview 1 commands, one fresh instance per invocation (a command's
 * `_start` runs once), in a pool of worker threads so no tenant code runs on a thread that serves
 * requests. Compiled modules are kept per version and posted to the threads (V8 shares their
 * code), so only instantiation is paid per call. Limits: the deadline (the thread is terminated
 * and replaced), memory (the module's memory maximum rewritten to `memoryMb`), stdout and stderr
 * caps. See docs/runtimes/wasm.md.
 */
export class WasmRuntime implements Runtime {
  readonly kind = 'wasm' as const;
  #blobs: BlobStore;
  #limits: { maxResultBytes: number; maxLogBytes: number };
  #idleTimeoutMs: number;
  #pool: WasmWorkerPool;
  #versions = new Map<string, LoadedVersion>();
  #state: RuntimeState = { phase: 'running' };
  #busy = 0;
  #sweeper: NodeJS.Timeout;

  constructor(options: WasmRuntimeOptions) {
    this.#blobs = options.blobs;
    this.#limits = {
      maxResultBytes: options.maxResultBytes ?? WASM_DEFAULTS.maxResultBytes,
      maxLogBytes: options.maxLogBytes ?? WASM_DEFAULTS.maxLogBytes,
    };
    this.#idleTimeoutMs = options.idleTimeoutMs ?? WASM_DEFAULTS.idleTimeoutMs;
    this.#pool = new WasmWorkerPool({
      maxWorkers: options.maxWorkers ?? WASM_DEFAULTS.maxWorkers,
      warmWorkers: options.warmWorkers ?? WASM_DEFAULTS.warmWorkers,
      logger: options.logger ?? console,
    });
    const sweepEveryMs = Math.min(Math.max(this.#idleTimeoutMs / 2, 10), 30_000);
    this.#sweeper = setInterval(() => this.#sweep(), sweepEveryMs);
    this.#sweeper.unref();
  }

  supports(runtime: FunctionRuntime): boolean {
    return runtime === 'wasm';
  }

  async health(): Promise<RuntimeHealth> {
    return this.#state.phase === 'running'
      ? { ready: true }
      : { ready: false, reason: 'the wasm runtime is closed' };
  }

  /** Compiles the version's module (capped to its memoryMb) and starts the warm threads. */
  async prepare(fn: FunctionVersion): Promise<void> {
    this.#assertRunning();
    this.#pool.warm();
    const loaded = this.#load(fn);
    try {
      await loaded.module;
    } catch (err) {
      this.#versions.delete(key(fn));
      throw err;
    }
  }

  async invoke(request: InvokeRequest): Promise<InvokeOutcome> {
    this.#assertRunning();
    const { fn } = request;
    const started = performance.now();
    const loaded = this.#load(fn);
    // Cold: this call waited for its version's module to compile.
    const coldStart = !loaded.ready;
    const metrics = () => ({ durationMs: performance.now() - started, coldStart });
    loaded.busy++;
    this.#busy++;
    try {
      let module: WebAssembly.Module;
      try {
        module = await loaded.module;
      } catch (err) {
        if (this.#versions.get(key(fn)) === loaded) this.#versions.delete(key(fn));
        const message = isFaasError(err)
          ? err.message
          : `The module could not be loaded: ${(err as Error).message}`;
        return { status: 'failed', error: { type: 'LoadError', message }, metrics: metrics() };
      }
      return await this.#run(request, module, metrics);
    } finally {
      loaded.busy--;
      this.#busy--;
      loaded.lastUsedAt = Date.now();
      if (loaded.retired && loaded.busy === 0 && this.#versions.get(key(fn)) === loaded) {
        this.#versions.delete(key(fn));
      }
    }
  }

  async retire(name: string, version?: number): Promise<void> {
    for (const [k, loaded] of this.#versions) {
      if (!k.startsWith(`${name}:`) || (version !== undefined && k !== `${name}:${version}`)) continue;
      if (loaded.busy === 0) this.#versions.delete(k);
      else loaded.retired = true;
    }
  }

  stats(): RuntimeStats {
    const byVersion: Record<string, number> = {};
    for (const k of this.#versions.keys()) byVersion[k] = 1;
    return { warm: this.#versions.size, busy: this.#busy, byVersion };
  }

  async close(): Promise<void> {
    if (this.#state.phase === 'closed') return;
    this.#state = { phase: 'closed' };
    clearInterval(this.#sweeper);
    this.#versions.clear();
    await this.#pool.close();
  }

  async #run(
    request: InvokeRequest,
    module: WebAssembly.Module,
    metrics: () => { durationMs: number; coldStart: boolean },
  ): Promise<InvokeOutcome> {
    const { fn } = request;
    // One signal for "stop now": the deadline or the caller's cancel, whichever comes first.
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort('timeout'), Math.max(0, request.deadline - Date.now()));
    const onCancel = () => stop.abort('aborted');
    request.signal?.addEventListener('abort', onCancel, { once: true });
    if (request.signal?.aborted) stop.abort('aborted');
    try {
      const worker = await this.#pool.acquire(stop.signal);
      if (!worker && !stop.signal.aborted) {
        throw new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'No wasm worker thread could be started');
      }
      if (!worker) return stopped(stop.signal.reason, fn, metrics());
      // Stopped while a thread was being handed over: the abort listener below would never fire.
      if (stop.signal.aborted) {
        this.#pool.release(worker);
        return stopped(stop.signal.reason, fn, metrics());
      }
      const onStop = () => void this.#pool.discard(worker);
      stop.signal.addEventListener('abort', onStop, { once: true });
      try {
        const done = await worker.run(
          {
            module,
            stdin: stdinOf(request.event),
            env: envWithTrace(fn.env, request.trace),
            args: [shownName(fn.name)],
            deadline: request.deadline,
            maxStdoutBytes: this.#limits.maxResultBytes,
            maxLogBytes: this.#limits.maxLogBytes,
            memoryLimitBytes: pagesFor(fn.memoryMb) * WASM_PAGE_BYTES,
          },
          (logs) => {
            for (const entry of logs.lines) request.log(entry.level, entry.line, entry.ts);
          },
        );
        stop.signal.removeEventListener('abort', onStop);
        this.#pool.release(worker);
        return runOutcome(
          done,
          { memoryMb: fn.memoryMb, maxResultBytes: this.#limits.maxResultBytes },
          metrics(),
        );
      } catch (err) {
        if (stop.signal.aborted) return stopped(stop.signal.reason, fn, metrics());
        stop.signal.removeEventListener('abort', onStop);
        void this.#pool.discard(worker);
        if (err instanceof WorkerLost && err.outOfMemory) {
          return { status: 'out_of_memory', error: outOfMemory(fn.memoryMb), metrics: metrics() };
        }
        return {
          status: 'failed',
          error: { type: 'InternalError', message: `The wasm worker failed: ${(err as Error).message}` },
          metrics: metrics(),
        };
      }
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onCancel);
    }
  }

  #load(fn: FunctionVersion): LoadedVersion {
    const k = key(fn);
    const existing = this.#versions.get(k);
    if (existing && !existing.retired) return existing;
    const module = this.#compile(fn);
    const loaded: LoadedVersion = { module, busy: 0, lastUsedAt: Date.now(), retired: false, ready: false };
    module.then(
      () => {
        loaded.ready = true;
      },
      () => {},
    );
    this.#versions.set(k, loaded);
    return loaded;
  }

  async #compile(fn: FunctionVersion): Promise<WebAssembly.Module> {
    const bytes = await this.#blobs.get(fn.artifactSha256);
    if (!bytes) {
      throw new FaasError(
        ErrorCode.INTERNAL,
        `The module of "${fn.name}" v${fn.version} is missing from the blob store`,
      );
    }
    return loadWasmModule(bytes, fn.memoryMb);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [k, loaded] of this.#versions) {
      if (loaded.busy === 0 && now - loaded.lastUsedAt >= this.#idleTimeoutMs) this.#versions.delete(k);
    }
  }

  #assertRunning(): void {
    if (this.#state.phase !== 'running') {
      throw new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The wasm runtime is closed');
    }
  }
}

function key(fn: FunctionVersion): string {
  return `${fn.name}:${fn.version}`;
}

const encoder = new TextEncoder();

/** The event on stdin: bytes as they are, anything else as JSON text, nothing for no event. */
function stdinOf(event: unknown): Uint8Array {
  // A view into a larger (pooled) buffer is copied: posting it would copy the whole buffer.
  if (event instanceof Uint8Array) {
    return event.byteOffset === 0 && event.byteLength === event.buffer.byteLength
      ? event
      : new Uint8Array(event);
  }
  if (event === undefined) return new Uint8Array(0);
  let json: string | undefined;
  try {
    json = JSON.stringify(event);
  } catch (cause) {
    throw new FaasError(ErrorCode.BAD_REQUEST, 'The event is not a JSON value', { cause });
  }
  return encoder.encode(json ?? '');
}

function stopped(reason: unknown, fn: FunctionVersion, metrics: { durationMs: number }): InvokeOutcome {
  if (reason === 'aborted') {
    return { status: 'failed', error: { type: 'Aborted', message: 'The invocation was cancelled' }, metrics };
  }
  const error: InvocationError = {
    type: 'Timeout',
    message: `The function did not finish within its timeout of ${fn.timeoutMs} ms`,
  };
  return { status: 'timed_out', error, metrics };
}

export function outOfMemory(memoryMb: number): InvocationError {
  return { type: 'OutOfMemory', message: `The function exceeded its memory limit of ${memoryMb} MB` };
}

export function createWasmRuntime(options: WasmRuntimeOptions): WasmRuntime {
  return new WasmRuntime(options);
}
