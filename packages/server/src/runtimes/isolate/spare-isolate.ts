import ivm from 'isolated-vm';
import type { IsolateBudget } from './isolate-budget.ts';
import { preludeSnapshot } from './prelude.ts';

/** A fresh isolate and its context, made before any function asked for one. */
export interface Premade {
  isolate: ivm.Isolate;
  context: ivm.Context;
  /** Whether the isolate holds the prelude already (made from the startup snapshot). */
  fromSnapshot: boolean;
}

/**
 * Removes from a new context, before any function code runs, the globals a function must not
 * have (V8 installs them in every new context, the snapshot's included):
 * - WebAssembly: its memories live outside V8's heap and outside the memory limit (a function
 *   limited to 8 MB held a 2 GB one);
 * - FinalizationRegistry: V8 runs its cleanup callbacks whenever it next enters the isolate,
 *   which in a shared isolate is another function's call (measured: a function's 1,000 callbacks
 *   of 300 ms each ran on its neighbour's call until that call timed out).
 */
export function removeUnsafeGlobals(context: ivm.Context): void {
  context.global.deleteSync('WebAssembly');
  context.global.deleteSync('FinalizationRegistry');
}

/** Makes a fresh isolate with a context from the startup snapshot (see removeUnsafeGlobals). */
export async function makeIsolate(
  memoryMb: number,
  onCatastrophicError: (message: string) => void,
): Promise<Premade> {
  const snapshot = preludeSnapshot();
  const isolate = new ivm.Isolate({
    memoryLimit: memoryMb,
    onCatastrophicError,
    ...(snapshot ? { snapshot } : {}),
  });
  try {
    const context = await isolate.createContext();
    removeUnsafeGlobals(context);
    return { isolate, context, fromSnapshot: snapshot !== null };
  } catch (err) {
    isolate.dispose();
    throw err;
  }
}

/**
 * One isolate of the default memory limit made ahead, so that a cold start of a function with
 * that limit skips the isolate's creation (measured: ~3 ms for the isolate from the snapshot and
 * ~1 ms for its context, of a ~5 ms cold start). Each spare becomes a new shared isolate of one
 * project (SharedIsolate), its context the first function's, and has run nothing before: no state
 * passes between projects. It is made only when the budget has room
 * without evicting anything, is charged there as an idle isolate, and is the budget's to evict
 * like any idle one; a new one is made after each is taken.
 */
export class SpareIsolate {
  readonly memoryMb: number;
  #budget: IsolateBudget;
  #onCatastrophicError: (message: string) => void;
  #spare: Premade | undefined;
  #making = false;
  #closed = false;
  /** Spares handed out. */
  taken = 0;

  constructor(memoryMb: number, budget: IsolateBudget, onCatastrophicError: (message: string) => void) {
    this.memoryMb = memoryMb;
    this.#budget = budget;
    this.#onCatastrophicError = onCatastrophicError;
  }

  /** Whether a spare is there now. */
  get ready(): boolean {
    return this.#spare !== undefined;
  }

  /** The spare, if there is one for `memoryMb` (see `refillAfter` for the next one). */
  take(memoryMb: number): Premade | undefined {
    const spare = this.#spare;
    if (!spare || memoryMb !== this.memoryMb) return undefined;
    this.#spare = undefined;
    this.#budget.gone(spare);
    this.taken++;
    return spare;
  }

  /** Makes a spare, after this turn of the event loop, unless one is there or on its way. */
  refill(): void {
    if (this.#spare || this.#making || this.#closed) return;
    this.#making = true;
    setImmediate(() => void this.#make());
  }

  /**
   * `refill`, one turn later: called as an invocation ends, so that the answer, which the host
   * writes at the end of the turn its outcome came in, goes out before the isolate is made (~3 ms
   * of this thread). Made at once on take, it ran while the load that took the spare waited
   * for the isolate's thread, and the cold start that took it waited as long as without one.
   */
  refillAfter(): void {
    if (this.#spare || this.#making || this.#closed) return;
    setImmediate(() => this.refill());
  }

  close(): void {
    this.#closed = true;
    const spare = this.#spare;
    this.#spare = undefined;
    if (spare) this.#dispose(spare);
  }

  async #make(): Promise<void> {
    const reservation = {};
    try {
      if (this.#closed || !this.#budget.reserveIfRoom(reservation, this.memoryMb)) return;
      let made: Premade;
      try {
        made = await makeIsolate(this.memoryMb, this.#onCatastrophicError);
      } catch {
        this.#budget.gone(reservation);
        return;
      }
      this.#budget.adopt(reservation, made);
      if (this.#closed) {
        this.#dispose(made);
        return;
      }
      this.#spare = made;
      const heap = made.isolate.getHeapStatisticsSync();
      this.#budget.toIdle(made, heap.total_heap_size + heap.externally_allocated_size, {
        evict: () => {
          if (this.#spare === made) this.#spare = undefined;
          this.#dispose(made);
        },
      });
    } finally {
      this.#making = false;
    }
  }

  #dispose(premade: Premade): void {
    this.#budget.gone(premade);
    if (!premade.isolate.isDisposed) premade.isolate.dispose();
  }
}
