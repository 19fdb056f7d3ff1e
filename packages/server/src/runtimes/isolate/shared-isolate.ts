import type ivm from 'isolated-vm';
import type { IsolateBudget } from './isolate-budget.ts';
import { makeIsolate, type Premade } from './spare-isolate.ts';

/** A loaded function version in one of the isolate's contexts (a WarmIsolate). */
export interface Tenant {
  /** Which pool it belongs to: an isolate holds at most one context of each. */
  readonly owner: object;
  /** Heap its context holds, as far as the isolate's readings can tell (see WarmIsolate). */
  readonly bytes: number;
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
  /** Loaded contexts, least recently used first (a Set keeps insertion order). */
  #tenants = new Set<Tenant>();
  #holder: object | undefined;
  #firstContext: ivm.Context | undefined;
  #onGone: (() => void) | undefined;

  private constructor(project: string, budget: IsolateBudget, premade: Premade, memoryMb: number) {
    this.project = project;
    this.memoryMb = memoryMb;
    this.#budget = budget;
    this.isolate = premade.isolate;
    this.fromSnapshot = premade.fromSnapshot;
    this.#firstContext = premade.context;
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
    for (const tenant of this.#tenants) {
      if (tenant.owner === owner) return false;
      bytes += tenant.bytes;
    }
    return bytes <= this.#idleShareBytes();
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
    this.#tenants.delete(tenant);
    let others = 0;
    for (const other of this.#tenants) others += other.bytes;
    const share = this.#idleShareBytes();
    const largestFirst = [...this.#tenants].sort((a, b) => b.bytes - a.bytes);
    for (const other of largestFirst) {
      if (others <= share) break;
      others -= other.bytes;
      this.#tenants.delete(other);
      other.evict();
    }
    this.#tenants.add(tenant);
  }

  /** Heap the other contexts hold, by their own accounts. */
  othersBytes(tenant: Tenant): number {
    let bytes = 0;
    for (const other of this.#tenants) if (other !== tenant) bytes += other.bytes;
    return bytes;
  }

  /** A new context (the premade isolate's first one, else a fresh one) for the holder to load into. */
  async newContext(): Promise<ivm.Context> {
    const first = this.#firstContext;
    if (first) {
      this.#firstContext = undefined;
      return first;
    }
    const context = await this.isolate.createContext();
    // As in makeIsolate: WebAssembly memories live outside the heap and its limit.
    context.global.deleteSync('WebAssembly');
    return context;
  }

  join(tenant: Tenant): void {
    this.#tenants.add(tenant);
  }

  /** The holder is done; `heapBytes`: what the heap holds now (the budget's idle charge). */
  letGo(holder: object, heapBytes: number): void {
    if (this.#holder !== holder) return;
    this.#holder = undefined;
    if (this.#tenants.size === 0) {
      this.dispose();
      return;
    }
    if (!this.disposed) this.#budget.toIdle(this, heapBytes, { evict: () => this.dispose() });
  }

  /** `tenant` released its context; an isolate with none left (and no holder) is disposed. */
  leave(tenant: Tenant): void {
    this.#tenants.delete(tenant);
    if (this.#tenants.size === 0 && !this.busy) this.dispose();
  }

  /** Disposes the isolate and so every context in it. Idempotent. */
  dispose(): void {
    if (!this.isolate.isDisposed) {
      try {
        this.isolate.dispose();
      } catch {
        // Already going away (isolated-vm disposes on memory overflow by itself).
      }
    }
    this.#budget.gone(this);
    const onGone = this.#onGone;
    this.#onGone = undefined;
    onGone?.();
  }

  #idleShareBytes(): number {
    return this.memoryMb * 1024 * 1024 * IDLE_CONTEXTS_SHARE;
  }
}
