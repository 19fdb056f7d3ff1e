import {
  type BlobStore,
  ErrorCode,
  FaasError,
  FUNCTION_DEFAULTS,
  type FunctionRuntime,
  type FunctionVersion,
  type InvokeOutcome,
  type InvokeRequest,
  isFaasError,
  type PrepareOptions,
  type Runtime,
  type RuntimeHealth,
  type RuntimeStats,
} from '@faas/core';
import { withColdStart } from '../cold-start.ts';
import { envFingerprint } from '../env-fingerprint.ts';
import { ArtifactCache } from './artifact-cache.ts';
import { CodeCacheFolder } from './code-cache-folder.ts';
import { guardProcessExit } from './exit-guard.ts';
import { IsolateBudget } from './isolate-budget.ts';
import { IsolateGroups } from './isolate-groups.ts';
import { LoadFailure } from './load-failure.ts';
import { preludeSnapshot } from './prelude.ts';
import { SpareIsolate } from './spare-isolate.ts';
import { SyncStarts } from './sync-starts.ts';
import { SYNC_BUDGET_MS, VersionPool } from './version-pool.ts';
import type { IsolateLimits } from './warm-isolate.ts';

export interface IsolateRuntimeOptions {
  /** Where `fn.artifactSha256` (an esbuild iife bundle with globalName `__faas`) is read from. */
  blobs: BlobStore;
  /** Isolates idle this long are disposed (scale to zero). @default 300000 */
  idleTimeoutMs?: number;
  /** Log output kept per invocation, then a truncation marker. @default 262144 (256 KiB) */
  maxLogBytes?: number;
  /** Largest JSON result an invocation may return. @default 6291456 (6 MiB) */
  maxResultBytes?: number;
  /**
   * A folder of this runtime's own for V8 code caches of artifacts (see CodeCacheFolder), so a
   * version loaded again compiles from cache. @default none: code caches live while a pool does
   */
  codeCacheDir?: string;
  /** Memory of all isolates together (see IsolateBudget). @default 2048 */
  memoryBudgetMb?: number;
  /** Isolates at most, idle or busy. @default 10000 */
  maxIsolates?: number;
  /**
   * isolated-vm lost control of an isolate (its memory, or a script that would not stop): the
   * process should stop serving. @default the runtime reports itself broken
   */
  onCatastrophicError?: (message: string) => void;
  logger?: Pick<Console, 'error' | 'warn'>;
}

export const ISOLATE_DEFAULTS = {
  idleTimeoutMs: 300_000,
  maxLogBytes: 256 * 1024,
  maxResultBytes: 6 * 1024 * 1024,
  memoryBudgetMb: 2048,
  maxIsolates: 10_000,
} as const;

type RuntimeState = { phase: 'running' } | { phase: 'broken'; reason: string } | { phase: 'closed' };

function poolKey(fn: FunctionVersion): string {
  return `${fn.name}:${fn.version}`;
}

/**
 * Runs `js`/`ts` functions in V8 isolates (isolated-vm) inside this process: one pool of warm
 * contexts per function version, in isolates shared by the versions of one project with one
 * memory limit (IsolateGroups), each isolate running one invocation at a time under the
 * version's memory limit and the request's deadline. See docs/runtimes/isolate.md.
 *
 * @example
 * const runtime = createIsolateRuntime({ blobs });
 * const outcome = await runtime.invoke({ invocationId, fn, event, deadline: Date.now() + fn.timeoutMs, log });
 */
export class IsolateRuntime implements Runtime {
  readonly kind = 'isolate' as const;
  #artifacts: ArtifactCache;
  #limits: IsolateLimits;
  #idleTimeoutMs: number;
  #logger: Pick<Console, 'error' | 'warn'>;
  #pools = new Map<string, VersionPool>();
  /** Retired pools whose invocations are still running. */
  #draining = new Set<VersionPool>();
  #state: RuntimeState = { phase: 'running' };
  #syncStarts = new SyncStarts();
  #sweeper: NodeJS.Timeout;
  #budget: IsolateBudget;
  #spare: SpareIsolate;
  #isolates: IsolateGroups;
  #onCatastrophic: ((message: string) => void) | undefined;

  constructor(options: IsolateRuntimeOptions) {
    guardProcessExit();
    // The startup snapshot (80–250 ms to make) is made now, not inside a first invocation's deadline.
    preludeSnapshot();
    this.#artifacts = new ArtifactCache(
      options.blobs,
      options.codeCacheDir === undefined ? undefined : new CodeCacheFolder(options.codeCacheDir),
    );
    this.#limits = {
      maxLogBytes: options.maxLogBytes ?? ISOLATE_DEFAULTS.maxLogBytes,
      maxResultBytes: options.maxResultBytes ?? ISOLATE_DEFAULTS.maxResultBytes,
    };
    this.#idleTimeoutMs = options.idleTimeoutMs ?? ISOLATE_DEFAULTS.idleTimeoutMs;
    this.#logger = options.logger ?? console;
    this.#budget = new IsolateBudget(
      options.memoryBudgetMb ?? ISOLATE_DEFAULTS.memoryBudgetMb,
      options.maxIsolates ?? ISOLATE_DEFAULTS.maxIsolates,
    );
    this.#onCatastrophic = options.onCatastrophicError;
    this.#spare = new SpareIsolate(FUNCTION_DEFAULTS.memoryMb, this.#budget, (message) =>
      this.#onCatastrophicError(message),
    );
    this.#spare.refill();
    this.#isolates = new IsolateGroups(
      this.#budget,
      (message) => this.#onCatastrophicError(message),
      this.#spare,
    );
    const sweepEveryMs = Math.min(Math.max(this.#idleTimeoutMs / 2, 10), 30_000);
    this.#sweeper = setInterval(() => this.#sweep(), sweepEveryMs);
    this.#sweeper.unref();
  }

  supports(runtime: FunctionRuntime): boolean {
    return runtime === 'js' || runtime === 'ts';
  }

  async health(): Promise<RuntimeHealth> {
    switch (this.#state.phase) {
      case 'running':
        return { ready: true };
      case 'broken':
        return { ready: false, reason: this.#state.reason };
      case 'closed':
        return { ready: false, reason: 'the isolate runtime is closed' };
    }
  }

  async prepare(fn: FunctionVersion, options: PrepareOptions = {}): Promise<void> {
    const pool = this.#poolFor(fn);
    const lent = options.artifact && this.#artifacts.lend(fn.artifactSha256, options.artifact.bytes);
    try {
      await pool.warm(Date.now() + fn.timeoutMs);
    } catch (err) {
      if (err instanceof LoadFailure) {
        throw new FaasError(ErrorCode.COMPILE_ERROR, err.message, { details: err.error, cause: err });
      }
      throw err;
    } finally {
      lent?.();
    }
  }

  /** `alone`: not batched with other synchronous starts (after a batch it was in failed). */
  async invoke(request: InvokeRequest, alone = false): Promise<InvokeOutcome> {
    const startedAt = performance.now();
    const pool = this.#poolFor(request.fn);
    try {
      // A short deadline could not afford to lose the budget to a stopped start and run again.
      const roomy = request.deadline - Date.now() > SYNC_BUDGET_MS * 5;
      if (!pool.startsSync || !roomy) return await this.#runOnIsolateThread(pool, request);
      const started = await this.#syncStarts.start(pool, request, alone);
      if (started === 'again') return await this.invoke(request, true);
      if (started !== 'over_budget') return started;
      // Stopped at the budget: again from the start, on an isolate's own thread; the time of the
      // stopped start counts in the duration.
      const outcome = await this.#runOnIsolateThread(pool, request);
      return { ...outcome, metrics: { ...outcome.metrics, durationMs: performance.now() - startedAt } };
    } catch (err) {
      const metrics = { durationMs: performance.now() - startedAt };
      if (err instanceof LoadFailure) return { status: err.status, error: err.error, metrics };
      if (isFaasError(err) && err.code === ErrorCode.COMPILE_ERROR) {
        return { status: 'failed', error: { type: 'CompileError', message: err.message }, metrics };
      }
      throw err;
    } finally {
      this.#spare.refillAfter();
    }
  }

  async #runOnIsolateThread(pool: VersionPool, request: InvokeRequest): Promise<InvokeOutcome> {
    const warm = await pool.acquire(request.deadline, request.signal);
    try {
      return withColdStart(await warm.run(request), warm.takeColdStart());
    } finally {
      pool.release(warm);
    }
  }

  async retire(name: string, version?: number): Promise<void> {
    for (const pool of this.#pools.values()) {
      if (pool.fn.name === name && (version === undefined || pool.fn.version === version)) this.#retire(pool);
    }
  }

  /** The isolate made ahead (see SpareIsolate): whether it is there, and how many were taken. */
  get spares(): { ready: boolean; taken: number } {
    return { ready: this.#spare.ready, taken: this.#spare.taken };
  }

  /** Isolates alive (each holds contexts of one project's versions, see IsolateGroups). */
  get isolates(): number {
    return this.#isolates.count;
  }

  /** Isolates holding a context made ahead for their next load (SharedIsolate.letGo). */
  get contextsReady(): number {
    return this.#isolates.contextsReady;
  }

  stats(): RuntimeStats {
    const stats: RuntimeStats = { warm: 0, busy: 0, byVersion: {} };
    for (const pool of [...this.#pools.values(), ...this.#draining]) {
      if (pool.size === 0) continue;
      const key = poolKey(pool.fn);
      stats.warm += pool.size;
      stats.busy += pool.busy;
      stats.byVersion[key] = (stats.byVersion[key] ?? 0) + pool.size;
    }
    return stats;
  }

  async close(): Promise<void> {
    if (this.#state.phase === 'closed') return;
    this.#state = { phase: 'closed' };
    clearInterval(this.#sweeper);
    this.#spare.close();
    for (const pool of [...this.#pools.values(), ...this.#draining]) pool.close();
    this.#pools.clear();
    this.#draining.clear();
    this.#isolates.close();
  }

  /** The version's pool; a pool for the same name and version but other code or env is retired first. */
  #poolFor(fn: FunctionVersion): VersionPool {
    if (this.#state.phase === 'closed') {
      throw new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The isolate runtime is closed');
    }
    if (!this.supports(fn.runtime)) {
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `The isolate runtime does not run "${fn.runtime}" functions`,
      );
    }
    const key = poolKey(fn);
    const existing = this.#pools.get(key);
    if (
      existing &&
      existing.fn.artifactSha256 === fn.artifactSha256 &&
      existing.fn.createdAt === fn.createdAt &&
      // A secret's value changed since the pool's isolates read their env.
      (existing.fn.env === fn.env || envFingerprint(existing.fn.env) === envFingerprint(fn.env))
    ) {
      return existing;
    }
    if (existing) this.#retire(existing);
    const artifact = this.#artifacts.retain(fn);
    const pool = new VersionPool(fn, {
      artifact,
      limits: this.#limits,
      isolates: this.#isolates,
    });
    void pool.drained.then(() => artifact.release());
    this.#pools.set(key, pool);
    return pool;
  }

  #retire(pool: VersionPool): void {
    const key = poolKey(pool.fn);
    if (this.#pools.get(key) === pool) this.#pools.delete(key);
    this.#draining.add(pool);
    void pool.drained.then(() => this.#draining.delete(pool));
    pool.retire();
  }

  #sweep(): void {
    const now = Date.now();
    for (const pool of this.#pools.values()) {
      pool.expireIdle(now, this.#idleTimeoutMs);
      if (pool.unused) this.#retire(pool);
    }
  }

  #onCatastrophicError(message: string): void {
    // isolated-vm's advice is to stop serving: V8 lost control of an isolate's memory.
    this.#logger.error(`isolated-vm reported a catastrophic error: ${message}`);
    if (this.#state.phase === 'running') this.#state = { phase: 'broken', reason: message };
    this.#onCatastrophic?.(message);
  }
}

export function createIsolateRuntime(options: IsolateRuntimeOptions): IsolateRuntime {
  return new IsolateRuntime(options);
}
