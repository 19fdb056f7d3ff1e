import type ivm from 'isolated-vm';
import type { IsolateBudget } from './isolate-budget.ts';
import { makeIsolate, type Premade, removeUnsafeGlobals } from './spare-isolate.ts';

/** A loaded function version in one of the isolate's contexts (a WarmIsolate). */
export interface Tenant {
  /** Which pool it belongs to: an isolate holds at most one context of each. */
  readonly owner: object;
  /** Releases its context because the isolate wants the room: it loads again on its next call. */
  evict(): void;
}

/**
 * Idle contexts of an isolate may hold this share of its memory limit together, at the start of
 * any call: the rest, less the prelude's few hundred KB, is the call's own, so a function's
 * `memoryMb` stays what one call may use, however many of its project's functions idle beside it.
 */
export const IDLE_CONTEXTS_SHARE = 1 / 16;
/** Contexts in one isolate at most (measured ~240 KB each: 64 are ~15 MB). */
export const MAX_CONTEXTS = 64;
/** What a new context is expected to hold before it is loaded and measured. */
export const NEW_CONTEXT_BYTES = 256 * 1024;
/**
 * An isolate with room left makes the next load's context once it has been idle this long: not
 * between a function's calls in a burst, which would wait for it (~1–2 ms).
 */
export const NEXT_CONTEXT_AFTER_IDLE_MS = 5;

/** What a context is taken to hold (see SharedIsolate.account). */
interface Estimate {
  bytes: number;
  /** What loading it added: the least it is taken to hold. */
  floorBytes: number;
}

/**
 * One V8 isolate whose contexts hold function versions of ONE project with ONE memory limit
 * (measured: a context costs ~240 KB, an isolate from the snapshot ~1.2 MB more). It runs one
 * thing at a time across all its contexts (a load or an invocation: the holder), so its CPU time
 * and heap readings belong to that one; a version whose isolate is held by another function's
 * call gets a context in another isolate instead of waiting. The budget charges the isolate as
 * a whole; an isolate with no context left is disposed. A fault that leaves its state unknown
 * (timeout, memory overflow, abort) disposes the isolate and with it every context: they are all
 * one project's, idle, and load again on their next call.
 */
export class SharedIsolate {
  readonly project: string;
  readonly memoryMb: number;
  readonly isolate: ivm.Isolate;
  readonly fromSnapshot: boolean;
  #budget: IsolateBudget;
  /** Loaded contexts and what each holds, least recently used first (a Map keeps insertion order). */
  #tenants = new Map<Tenant, Estimate>();
  /** The heap in use at the last reading (see `account`). */
  #lastUsedBytes = 0;
  #holder: object | undefined;
  /** A context for the next load: the premade isolate's first one, or one made ahead (see letGo). */
  #nextContext: ivm.Context | undefined;
  /** What making #nextContext added to the heap in use (0 for the premade isolate's). */
  #nextContextBytes = 0;
  /** Settles when the context being made ahead is (see #makeNextContext). */
  #making: Promise<void> | undefined;
  #idleSince = 0;
  #nextContextTimer: NodeJS.Timeout | undefined;
  #onGone: (() => void) | undefined;
  /** Called once the holder lets go or the isolate goes (see `whenFree`). */
  #freed = new Set<() => void>();

  private constructor(project: string, budget: IsolateBudget, premade: Premade, memoryMb: number) {
    this.project = project;
    this.memoryMb = memoryMb;
    this.#budget = budget;
    this.isolate = premade.isolate;
    this.fromSnapshot = premade.fromSnapshot;
    this.#nextContext = premade.context;
  }

  /**
   * A new isolate for `project`, charged to the budget (waiting for room until `deadline`) and
   * held by `holder` (see `hold`).
   * @throws FaasError RUNTIME_UNAVAILABLE when the budget has no room by `deadline`.
   */
  static async make(options: {
    project: string;
    memoryMb: number;
    holder: object;
    budget: IsolateBudget;
    deadline: number;
    signal?: AbortSignal | undefined;
    /** An isolate made ahead for this limit (SpareIsolate), if there is one. */
    takeSpare: () => Premade | undefined;
    onCatastrophicError: (message: string) => void;
    onGone: () => void;
  }): Promise<SharedIsolate> {
    const { budget } = options;
    const reservation = {};
    let shared: SharedIsolate;
    try {
      await budget.reserve(reservation, options.memoryMb, options.deadline, options.signal);
      const premade =
        options.takeSpare() ?? (await makeIsolate(options.memoryMb, options.onCatastrophicError));
      shared = new SharedIsolate(options.project, budget, premade, options.memoryMb);
    } catch (err) {
      budget.gone(reservation);
      throw err;
    }
    budget.adopt(reservation, shared);
    shared.#holder = options.holder;
    shared.#onGone = options.onGone;
    return shared;
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  get busy(): boolean {
    return this.#holder !== undefined;
  }

  get contexts(): number {
    return this.#tenants.size;
  }

  /** Whether a context of `owner` may be added now: free, none of that pool yet, and room left. */
  hasRoomFor(owner: object): boolean {
    if (this.busy || this.disposed || this.#tenants.size >= MAX_CONTEXTS) return false;
    let bytes = NEW_CONTEXT_BYTES;
    for (const [tenant, estimate] of this.#tenants) {
      if (tenant.owner === owner) return false;
      bytes += estimate.bytes;
    }
    // Half the share: room for the contexts to grow (and for garbage their estimates include)
    // before calls start evicting them.
    return bytes <= this.#idleShareBytes() / 2;
  }

  /**
   * Takes the isolate for a load or a call of `holder`; false when another holds it, it is
   * gone, or the budget has no room now to let it grow to its limit.
   */
  hold(holder: object): boolean {
    if (this.busy || this.disposed) return false;
    if (!this.#budget.toBusy(this)) return false;
    this.#holder = holder;
    return true;
  }

  /**
   * Before a call of `tenant`: evicts other contexts until those left hold at most their share
   * of the limit together, the largest first (least recently used among equals: a few large
   * ones are what eats a call's room, and evicting them costs the fewest cold starts), and makes
   * `tenant` the most recently used.
   */
  makeRoomFor(tenant: Tenant): void {
    const own = this.#tenants.get(tenant);
    if (!own) return;
    this.#tenants.delete(tenant);
    let others = 0;
    for (const estimate of this.#tenants.values()) others += estimate.bytes;
    const share = this.#idleShareBytes();
    const largestFirst = [...this.#tenants].sort((a, b) => b[1].bytes - a[1].bytes);
    for (const [other, estimate] of largestFirst) {
      if (others <= share) break;
      others -= estimate.bytes;
      this.#tenants.delete(other);
      other.evict();
    }
    this.#tenants.set(tenant, own);
  }

  /**
   * The heap in use now, before a load: a lone context is taken to hold all of it then (it was
   * not measured while alone, see `account`), so its neighbour-to-be does not inherit its growth.
   */
  usedBeforeLoad(): number {
    const used = this.#usedBytes();
    if (this.#tenants.size === 1) {
      for (const estimate of this.#tenants.values()) estimate.bytes = Math.max(estimate.floorBytes, used);
    }
    this.#lastUsedBytes = used;
    // A context made ahead is the loading one's: what it took counts in that one's floor.
    return used - (this.#nextContext ? this.#nextContextBytes : 0);
  }

  /**
   * After a call of `tenant`, when it has neighbours: what the heap in use grew by since the last
   * reading is its (allocations of its call: what it keeps, and garbage until collected), and when
   * a collection left the heap holding less than all estimates together, every estimate shrinks in
   * proportion (to no less than its floor). So a context that keeps memory is found out by its own
   * calls, and garbage does not pile up on whoever was measured last.
   */
  account(tenant: Tenant): void {
    const own = this.#tenants.get(tenant);
    if (!own || this.#tenants.size < 2 || this.disposed) return;
    const used = this.#usedBytes();
    own.bytes = Math.max(own.floorBytes, own.bytes + used - this.#lastUsedBytes);
    this.#lastUsedBytes = used;
    let total = 0;
    for (const estimate of this.#tenants.values()) total += estimate.bytes;
    if (total <= used) return;
    const scale = used / total;
    for (const estimate of this.#tenants.values()) {
      estimate.bytes = Math.max(estimate.floorBytes, estimate.bytes * scale);
    }
  }

  #usedBytes(): number {
    if (this.disposed) return 0;
    const heap = this.isolate.getHeapStatisticsSync();
    return heap.used_heap_size + heap.externally_allocated_size;
  }

  /**
   * Resolves when the holder lets go or the isolate goes, or after `patienceMs` or on `signal`,
   * whichever comes first.
   */
  whenFree(patienceMs: number, signal?: AbortSignal): Promise<void> {
    if (!this.busy || this.disposed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#freed.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, patienceMs));
      signal?.addEventListener('abort', done, { once: true });
      this.#freed.add(done);
    });
  }

  #wakeFreed(): void {
    for (const done of [...this.#freed]) done();
  }

  /** A new context (one made ahead, else a fresh one) for the holder to load into. */
  async newContext(): Promise<ivm.Context> {
    const next = this.#nextContext;
    if (next) {
      this.#nextContext = undefined;
      return next;
    }
    const context = await this.isolate.createContext();
    removeUnsafeGlobals(context);
    return context;
  }

  /** `tenant` is loaded; `usedBefore`: `usedBeforeLoad()`'s answer. */
  join(tenant: Tenant, usedBefore: number): void {
    const used = this.#usedBytes();
    const floorBytes = Math.max(0, used - usedBefore);
    this.#tenants.set(tenant, { bytes: floorBytes, floorBytes });
    this.#lastUsedBytes = used;
  }

  /**
   * The holder is done; `heapBytes`: the committed heap as last read (the budget's idle charge),
   * read now when not given.
   */
  letGo(holder: object, heapBytes?: number): void {
    if (!this.#release(holder, heapBytes) || this.#nextContext || this.#nextContextTimer) return;
    this.#nextContextTimer = setTimeout(() => this.#makeNextContext(), NEXT_CONTEXT_AFTER_IDLE_MS);
    this.#nextContextTimer.unref();
  }

  /** letGo's work; true when the isolate is left idle. */
  #release(holder: object, heapBytes?: number): boolean {
    if (this.#holder !== holder) return false;
    this.#holder = undefined;
    this.#idleSince = performance.now();
    this.#wakeFreed();
    if (this.#tenants.size === 0) {
      this.dispose();
      return false;
    }
    if (this.disposed) return false;
    let bytes = heapBytes;
    if (bytes === undefined) {
      const heap = this.isolate.getHeapStatisticsSync();
      bytes = heap.total_heap_size + heap.externally_allocated_size;
    }
    // Evicted by the budget, it goes whole: releasing some of its contexts would give back
    // nothing until V8 collects them, and only a whole isolate frees a FAAS_MAX_ISOLATES slot.
    this.#budget.toIdle(this, bytes, { evict: () => this.dispose() });
    return true;
  }

  /**
   * Makes the next load's context ahead, once the isolate has been idle for
   * NEXT_CONTEXT_AFTER_IDLE_MS and while it has room for one more: a context costs ~1–2 ms to
   * make (from the snapshot, on the isolate's thread), half a load into an isolate with room.
   * Nothing runs in it before a function of this project loads there.
   */
  #makeNextContext(): void {
    this.#nextContextTimer = undefined;
    if (this.#nextContext || this.busy || !this.hasRoomFor(this)) return;
    const idleFor = performance.now() - this.#idleSince;
    if (idleFor < NEXT_CONTEXT_AFTER_IDLE_MS) {
      this.#nextContextTimer = setTimeout(
        () => this.#makeNextContext(),
        NEXT_CONTEXT_AFTER_IDLE_MS - idleFor,
      );
      this.#nextContextTimer.unref();
      return;
    }
    const maker = {};
    if (!this.hold(maker)) return;
    const usedBefore = this.#usedBytes();
    this.#making = this.isolate
      .createContext()
      .then((context) => {
        if (this.disposed) return;
        removeUnsafeGlobals(context);
        this.#nextContext = context;
        this.#nextContextBytes = Math.max(0, this.#usedBytes() - usedBefore);
        // Not a neighbour's growth (see account): the loading one's, once taken.
        this.#lastUsedBytes += this.#nextContextBytes;
      })
      // The isolate went meanwhile (disposed, out of memory): the next load makes its own.
      .catch(() => undefined)
      .finally(() => {
        this.#making = undefined;
        this.#release(maker);
      });
  }

  /**
   * While the isolate is held only to make the next load's context: settles once it is made,
   * for a load to wait for rather than make an isolate of its own.
   */
  get makingContext(): Promise<void> | undefined {
    return this.#making;
  }

  /** Whether a context waits for the next load (made ahead, or the premade isolate's first). */
  get contextReady(): boolean {
    return this.#nextContext !== undefined;
  }

  /** `tenant` released its context; an isolate with none left (and no holder) is disposed. */
  leave(tenant: Tenant): void {
    this.#tenants.delete(tenant);
    if (this.#tenants.size === 0 && !this.busy) this.dispose();
  }

  /** Disposes the isolate and so every context in it. Idempotent. */
  dispose(): void {
    clearTimeout(this.#nextContextTimer);
    if (!this.isolate.isDisposed) {
      try {
        this.isolate.dispose();
      } catch {
        // Already going away (isolated-vm disposes on memory overflow by itself).
      }
    }
    this.#budget.gone(this);
    this.#wakeFreed();
    const onGone = this.#onGone;
    this.#onGone = undefined;
    onGone?.();
  }

  #idleShareBytes(): number {
    return this.memoryMb * 1024 * 1024 * IDLE_CONTEXTS_SHARE;
  }
}
