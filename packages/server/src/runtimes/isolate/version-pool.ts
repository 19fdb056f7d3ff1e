import { ErrorCode, FaasError, type FunctionVersion } from '@faas/core';
import type { ArtifactHandle } from './artifact-cache.ts';
import type { IsolateGroups } from './isolate-groups.ts';
import { LoadFailure } from './load-failure.ts';
import { ABORTED_ERROR, timeoutError } from './outcome.ts';
import { type IsolateLimits, TopLevelOverBudget, WarmIsolate } from './warm-isolate.ts';

export interface VersionPoolOptions {
  artifact: ArtifactHandle;
  limits: IsolateLimits;
  /** Shared by every pool of the runtime: the isolates its contexts load into. */
  isolates: IsolateGroups;
}

/**
 * Longest a batch of synchronous starts may hold the server's thread (WarmIsolate.runSyncBatch),
 * wall clock: generous, so that the thread being descheduled on a busy machine does not cut
 * quick handlers.
 */
export const SYNC_BUDGET_MS = 20;
/** A start with more CPU time than this per invocation is slow… */
const SYNC_SLOW_MS = 0.5;
/**
 * …and a version half of whose last 16 judged starts were slow goes to the isolate's thread.
 * Half, not a few: on the shared 2-core machine at 100 functions and 32 connections, 2–3% of a
 * trivial handler's starts took over 0.5 ms (a scavenge, a descheduled thread), and at 4 of 16
 * such chance runs sent pools there; a handler that is slow most of the time still goes within
 * 8 starts.
 */
const SYNC_SLOW_STARTS = 8;
/**
 * An isolate's first starts are not judged: the first compiles the handler, and V8 compiles hot
 * functions again around the 9th and 10th (measured as above: 50–65% of fresh isolates' 9th and
 * 10th starts were slow, against 2–3% from the 11th on). With most calls cold (a thousand
 * functions), those starts of new isolates flipped pools that were not slow at all.
 */
const SYNC_WARMUP_STARTS = 16;
/** How long a version that ran past the budget, or got slow, starts on the isolate's thread. */
const SYNC_PAUSE_MS = 30_000;
/**
 * How long a call whose context's isolate is held by another function's load or call waits for
 * it before loading its version elsewhere: about what that load would cost (a cold start, ~5 ms
 * on an idle machine), so waiting is never slower than not waiting by more than that, and a long
 * call of a neighbour costs this much once. Without it, at 100 functions and 32 callers in one
 * process, every neighbour of a loading context loaded one elsewhere in turn: 201 contexts for
 * 100 functions, and half the calls/s.
 */
export const ISOLATE_PATIENCE_MS = 5;

/**
 * The warm contexts of one function version (WarmIsolate, each in an isolate it may share with
 * other versions of its project): idle ones are reused (most recently used first, so the rest
 * can expire), more are loaded while all are busy or their isolates are held by other
 * functions' calls, never more busy or loading than the version's `maxConcurrency`. A retired
 * pool takes no new ones and disposes each one as its invocation ends.
 */
export class VersionPool {
  readonly fn: FunctionVersion;
  /** Resolves once the pool is retired and holds no isolate. */
  readonly drained: Promise<void>;
  #options: VersionPoolOptions;
  #idle: WarmIsolate[] = [];
  #busy = new Set<WarmIsolate>();
  #loading = 0;
  /** Its top-level code outran the budget on a host's thread once (see WarmIsolate.load). */
  #slowTopLevel = false;
  #warming: Promise<void> | undefined;
  #waiters: Array<() => void> = [];
  #phase: 'open' | 'retired' | 'closed' = 'open';
  #resolveDrained: () => void = () => {};
  #syncPausedUntil = 0;
  /** One bit per recent synchronous start, newest lowest: set when it was slow. */
  #recentSlowStarts = 0;

  constructor(fn: FunctionVersion, options: VersionPoolOptions) {
    this.fn = fn;
    this.#options = options;
    this.drained = new Promise((resolve) => {
      this.#resolveDrained = resolve;
    });
  }

  /** Loaded contexts, idle or busy. */
  get size(): number {
    let idle = 0;
    for (const warm of this.#idle) if (!warm.disposed) idle++;
    return idle + this.#busy.size;
  }

  get busy(): number {
    return this.#busy.size;
  }

  /** Nothing loaded, loading or waiting: the pool can be dropped. */
  get unused(): boolean {
    return this.size === 0 && this.#loading === 0 && this.#waiters.length === 0;
  }

  /**
   * Makes sure one isolate is loaded (prepare). Concurrent calls share the load.
   * @throws LoadFailure, or FaasError COMPILE_ERROR when the artifact cannot be read.
   */
  warm(deadline: number): Promise<void> {
    if (this.size > 0) return Promise.resolve();
    this.#warming ??= this.#load(deadline)
      .then((warm) => this.release(warm))
      .finally(() => {
        this.#warming = undefined;
      });
    return this.#warming;
  }

  /**
   * A context for one invocation, to hand back with `release`: an idle one (waiting up to
   * ISOLATE_PATIENCE_MS for its isolate when another function holds it), a new one while under
   * `maxConcurrency`, else the next one released.
   * @throws LoadFailure when loading fails or no isolate frees up before `deadline`.
   */
  async acquire(deadline: number, signal?: AbortSignal): Promise<WarmIsolate> {
    const patienceEnds = Math.min(Date.now() + ISOLATE_PATIENCE_MS, deadline);
    for (;;) {
      if (this.#phase === 'closed') {
        throw new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The isolate runtime is closed');
      }
      const idle = this.takeIdle();
      if (idle) return idle;
      // Again while patience lasts: another call may take the isolate first when it frees up.
      const held = Date.now() < patienceEnds ? this.#idleInBusyIsolate() : undefined;
      if (held) {
        await held.whenIsolateFree(patienceEnds - Date.now(), signal);
        continue;
      }
      if (this.#warming) {
        await this.#warming;
        continue;
      }
      if (this.#busy.size + this.#loading < this.fn.maxConcurrency) {
        const warm = await this.#load(deadline, signal);
        if (this.#isClosed()) {
          // Closed while loading: the loop's first check throws.
          this.#busy.delete(warm);
          warm.dispose();
          continue;
        }
        warm.madeForNext();
        return warm;
      }
      await this.#waitForRelease(deadline, signal);
    }
  }

  /**
   * Whether invocations should start synchronously on the server's thread: yes for quick
   * handlers (most), no for a while after one ran past the budget or the average got slow, so a
   * busy handler does not hold up the gateway.
   */
  get startsSync(): boolean {
    return Date.now() >= this.#syncPausedUntil;
  }

  /**
   * The CPU time per invocation of a batch of synchronous starts ('over_budget' when it was
   * stopped); `isolateStarts`: how many starts the isolate had before this batch.
   */
  noteSyncStart(cpuTimeMs: number | 'over_budget', isolateStarts = Number.POSITIVE_INFINITY): void {
    if (cpuTimeMs === 'over_budget') {
      this.#pauseSync();
      return;
    }
    if (isolateStarts < SYNC_WARMUP_STARTS) return;
    this.#recentSlowStarts = ((this.#recentSlowStarts << 1) | (cpuTimeMs > SYNC_SLOW_MS ? 1 : 0)) & 0xffff;
    if (bitCount(this.#recentSlowStarts) >= SYNC_SLOW_STARTS) this.#pauseSync();
  }

  #pauseSync(): void {
    this.#syncPausedUntil = Date.now() + SYNC_PAUSE_MS;
    this.#recentSlowStarts = 0;
  }

  release(warm: WarmIsolate): void {
    this.#busy.delete(warm);
    this.#putIdle(warm);
    this.#wakeOne();
  }

  /** Disposes idle isolates now and busy ones when their invocations end. */
  retire(): void {
    if (this.#phase !== 'open') return;
    this.#phase = 'retired';
    for (const warm of this.#idle.splice(0)) warm.dispose();
    this.#checkDrained();
  }

  /** Disposes isolates idle since before `now - idleTimeoutMs`. */
  expireIdle(now: number, idleTimeoutMs: number): void {
    this.#idle = this.#idle.filter((warm) => {
      const keep = !warm.disposed && now - warm.lastUsedAt < idleTimeoutMs;
      if (!keep) warm.dispose();
      return keep;
    });
  }

  /** Disposes everything now; running invocations fail with RUNTIME_UNAVAILABLE. */
  close(): void {
    this.#phase = 'closed';
    for (const warm of this.#idle.splice(0)) warm.dispose();
    for (const warm of this.#busy) warm.terminate('closed');
    for (const wake of this.#waiters.splice(0)) wake();
    this.#resolveDrained();
  }

  /**
   * Loads a context, counted as loading and then busy without a gap (the slot never looks free),
   * in an isolate of the project's that is free and has room, else in a new one once the budget
   * has room for it. It comes back holding its isolate, ready for a call.
   */
  async #load(deadline: number, signal?: AbortSignal): Promise<WarmIsolate> {
    this.#loading++;
    let warm: WarmIsolate | undefined;
    try {
      const artifact = await this.#options.artifact.load();
      while (!warm) {
        const host = await this.#options.isolates.hostFor(this.fn, this, deadline, signal);
        try {
          warm = await WarmIsolate.load({
            fn: this.fn,
            owner: this,
            host,
            artifact,
            limits: this.#options.limits,
            deadline,
            topLevelOnCaller: !this.#slowTopLevel,
          });
        } catch (err) {
          host.letGo(this);
          // Once over the budget, this version's top-level code runs on the isolate's thread.
          if (!(err instanceof TopLevelOverBudget) || this.#slowTopLevel) throw err;
          this.#slowTopLevel = true;
        }
      }
    } catch (err) {
      this.#loading--;
      this.#wakeOne();
      throw err;
    }
    this.#loading--;
    this.#busy.add(warm);
    return warm;
  }

  /** A method, not a field test, so narrowing before an await does not hide a change after it. */
  #isClosed(): boolean {
    return this.#phase === 'closed';
  }

  /**
   * An idle context whose isolate is free, now, for `release` later; undefined when none is
   * (then `acquire`, which loads one elsewhere rather than wait for another function's call).
   */
  takeIdle(): WarmIsolate | undefined {
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const warm = this.#idle[i] as WarmIsolate;
      if (warm.disposed) {
        this.#idle.splice(i, 1);
        continue;
      }
      const taken = warm.take();
      if (taken === 'isolate_busy') continue;
      // No room to let it grow now: `acquire` waits for some.
      if (taken === 'no_room') return undefined;
      this.#idle.splice(i, 1);
      this.#busy.add(warm);
      return warm;
    }
    return undefined;
  }

  /** The most recently used idle context whose isolate another function holds, if any. */
  #idleInBusyIsolate(): WarmIsolate | undefined {
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const warm = this.#idle[i] as WarmIsolate;
      if (!warm.disposed && warm.isolateBusy) return warm;
    }
    return undefined;
  }

  #putIdle(warm: WarmIsolate): void {
    warm.putDown();
    if (warm.disposed || this.#phase !== 'open') {
      warm.dispose();
      this.#checkDrained();
      return;
    }
    this.#idle.push(warm);
  }

  #checkDrained(): void {
    if (this.#phase !== 'open' && this.#busy.size === 0 && this.#loading === 0) this.#resolveDrained();
  }

  #wakeOne(): void {
    this.#waiters.shift()?.();
    this.#checkDrained();
  }

  #waitForRelease(deadline: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (error?: LoadFailure) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.#waiters.indexOf(wake);
        if (index !== -1) this.#waiters.splice(index, 1);
        if (error) reject(error);
        else resolve();
      };
      const wake = () => settle();
      const onAbort = () => settle(new LoadFailure('failed', ABORTED_ERROR));
      const timer = setTimeout(
        () => settle(new LoadFailure('timed_out', timeoutError(this.fn.timeoutMs))),
        Math.max(0, deadline - Date.now()),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(wake);
    });
  }
}

function bitCount(n: number): number {
  let count = 0;
  for (let bits = n; bits !== 0; bits &= bits - 1) count++;
  return count;
}
