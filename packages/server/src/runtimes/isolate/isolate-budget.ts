import { ErrorCode, FaasError } from '@faas/core';

const MB = 1024 * 1024;

/** An isolate the budget can take back while it is idle. */
export interface Evictable {
  /** Disposes it (its pool drops it); the budget hears of it through `gone`. */
  evict(): void;
}

interface Charge {
  bytes: number;
  limitBytes: number;
}

/**
 * Memory and count of all the isolates of a runtime together, so that functions with their own
 * limits cannot add up to more than the machine has. A busy isolate (running, or loading) is
 * charged its whole memory limit, which V8 lets it grow to; an idle one only what its heap holds
 * (it runs nothing, so it cannot grow). When a new isolate or a start would go over, the least
 * recently used idle isolates are disposed; when that is not enough, the caller waits for a busy
 * one to finish, until its deadline.
 */
export class IsolateBudget {
  readonly limitBytes: number;
  readonly maxIsolates: number;
  #usedBytes = 0;
  #count = 0;
  #charges = new Map<object, Charge>();
  /** Idle isolates, least recently used first (a Map keeps insertion order). */
  #idle = new Map<object, Evictable>();
  #waiters = new Set<() => void>();

  constructor(limitMb: number, maxIsolates: number) {
    this.limitBytes = limitMb * MB;
    this.maxIsolates = maxIsolates;
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  get count(): number {
    return this.#count;
  }

  /**
   * Room for a new isolate of `memoryMb`, charged to `owner` (busy) until `gone(owner)`.
   * @throws FaasError RUNTIME_UNAVAILABLE when it cannot fit by `deadline`, or never can.
   */
  async reserve(owner: object, memoryMb: number, deadline: number, signal?: AbortSignal): Promise<void> {
    const bytes = memoryMb * MB;
    if (bytes > this.limitBytes) {
      throw new FaasError(
        ErrorCode.RUNTIME_UNAVAILABLE,
        `A ${memoryMb} MB isolate does not fit this server's isolate memory budget of ${this.limitBytes / MB} MB (FAAS_ISOLATE_MEMORY_MB)`,
      );
    }
    while (!this.#fit(bytes, 1, undefined)) {
      await this.#changed(deadline, signal, () => this.#exhausted(memoryMb));
    }
    this.#charges.set(owner, { bytes, limitBytes: bytes });
    this.#usedBytes += bytes;
    this.#count++;
  }

  /**
   * Like `reserve`, but only when there is room now without evicting anything (for isolates
   * made ahead, see SpareIsolate). Answers whether it reserved.
   */
  reserveIfRoom(owner: object, memoryMb: number): boolean {
    const bytes = memoryMb * MB;
    if (this.#usedBytes + bytes > this.limitBytes || this.#count + 1 > this.maxIsolates) return false;
    this.#charges.set(owner, { bytes, limitBytes: bytes });
    this.#usedBytes += bytes;
    this.#count++;
    return true;
  }

  /** The charge of a reservation moves to the isolate it became. */
  adopt(from: object, to: object): void {
    const charge = this.#charges.get(from);
    if (!charge) return;
    this.#charges.delete(from);
    this.#charges.set(to, charge);
  }

  /** An idle isolate starts running: charged its whole limit again. False when that cannot fit now. */
  toBusy(owner: object): boolean {
    const charge = this.#charges.get(owner);
    if (!charge) return false;
    const more = charge.limitBytes - charge.bytes;
    if (more > 0 && !this.#fit(more, 0, owner)) return false;
    this.#idle.delete(owner);
    this.#usedBytes += more;
    charge.bytes = charge.limitBytes;
    return true;
  }

  /** A busy isolate is idle, holding `heapBytes`: newest in the eviction order. */
  toIdle(owner: object, heapBytes: number, evictable: Evictable): void {
    const charge = this.#charges.get(owner);
    if (!charge) return;
    const bytes = Math.min(charge.limitBytes, Math.max(0, heapBytes));
    this.#usedBytes += bytes - charge.bytes;
    charge.bytes = bytes;
    this.#idle.delete(owner);
    this.#idle.set(owner, evictable);
    this.#wake();
  }

  /** The isolate (or a reservation that never became one) is gone. Idempotent. */
  gone(owner: object): void {
    const charge = this.#charges.get(owner);
    if (!charge) return;
    this.#charges.delete(owner);
    this.#idle.delete(owner);
    this.#usedBytes -= charge.bytes;
    this.#count--;
    this.#wake();
  }

  /** Whether `bytes` more (and `isolates` more) fit, after evicting idle isolates other than `keep`. */
  #fit(bytes: number, isolates: number, keep: object | undefined): boolean {
    const fits = () =>
      this.#usedBytes + bytes <= this.limitBytes && this.#count + isolates <= this.maxIsolates;
    if (fits()) return true;
    // Evict nothing unless evicting every idle isolate would make room.
    let idleBytes = 0;
    let idleCount = 0;
    for (const owner of this.#idle.keys()) {
      if (owner === keep) continue;
      idleBytes += (this.#charges.get(owner) as Charge).bytes;
      idleCount++;
    }
    if (
      this.#usedBytes - idleBytes + bytes > this.limitBytes ||
      this.#count - idleCount + isolates > this.maxIsolates
    ) {
      return false;
    }
    for (const [owner, evictable] of this.#idle) {
      if (owner === keep) continue;
      evictable.evict();
      // evict() reaches gone(): the charge is off the books now.
      this.gone(owner);
      if (fits()) return true;
    }
    return false;
  }

  #changed(deadline: number, signal: AbortSignal | undefined, timedOut: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(wake);
        if (err) reject(err);
        else resolve();
      };
      const wake = () => done();
      const onAbort = () =>
        done(new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'The invocation was cancelled'));
      const timer = setTimeout(() => done(timedOut()), Math.max(0, deadline - Date.now()));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(wake);
    });
  }

  #wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  #exhausted(memoryMb: number): FaasError {
    return new FaasError(
      ErrorCode.RUNTIME_UNAVAILABLE,
      `No room for a ${memoryMb} MB isolate: running invocations hold ${Math.round(this.#usedBytes / MB)} MB of the ${this.limitBytes / MB} MB isolate memory budget and ${this.#count} of ${this.maxIsolates} isolates (FAAS_ISOLATE_MEMORY_MB, FAAS_MAX_ISOLATES)`,
    );
  }
}
