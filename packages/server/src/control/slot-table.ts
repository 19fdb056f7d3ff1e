/**
 * Running-invocation counters shared by every gateway thread (a SharedArrayBuffer), so that a
 * function's max concurrency holds for the server, not per thread. A key is identified by two
 * independent 32-bit hashes of its name. Beside each count, how many callers wait for a slot of
 * the key, in all threads: a thread that frees a slot gives others' waiters their turn.
 *
 * Each thread also counts, in a buffer of its own (`held`), the slots it holds and its callers
 * waiting: when a thread dies, the main thread gives its slots back and takes its waiters off
 * (`releaseHeld`), so a crash does not take a function's capacity for good. Entries are reused:
 * when a new name finds no empty entry, it takes over one whose count is 0 (a name nobody runs or
 * waits for now), so the table never fills with names of functions that come and go.
 */
const HEADER = 1; // [lock]
const ENTRY = 5; // [hash1, hash2, running, waiting, turns]
/** A thread's own cells per entry: [held, waiting]. */
const OWN = 2;
export const SLOT_TABLE_CAPACITY = 65_536;
/** `running` of an entry being handed to another name: no slot can be taken from it meanwhile. */
const MOVING = -1;

export class SlotTable {
  readonly buffer: SharedArrayBuffer;
  /** This thread's own counts, by entry (OWN): what `releaseHeld` gives back if the thread dies. */
  readonly held: SharedArrayBuffer;
  #cells: Int32Array;
  #held: Int32Array;
  #capacity: number;
  #where = new Map<string, number>();
  #hashes = new Map<string, [number, number]>();

  /**
   * A new table, or a view of one another thread made (its `buffer`), with this thread's `held`
   * buffer (made here when not given).
   */
  constructor(buffer?: SharedArrayBuffer, held?: SharedArrayBuffer, capacity = SLOT_TABLE_CAPACITY) {
    this.buffer = buffer ?? new SharedArrayBuffer((HEADER + capacity * ENTRY) * 4);
    this.#cells = new Int32Array(this.buffer);
    this.#capacity = (this.#cells.length - HEADER) / ENTRY;
    this.held = held ?? SlotTable.heldBuffer(this.#capacity);
    this.#held = new Int32Array(this.held);
  }

  /** A `held` buffer for a thread's view of a table of `capacity` entries. */
  static heldBuffer(capacity = SLOT_TABLE_CAPACITY): SharedArrayBuffer {
    return new SharedArrayBuffer(capacity * OWN * 4);
  }

  /** Takes a slot when fewer than `limit` are taken. */
  tryAcquire(key: string, limit: number): boolean {
    for (;;) {
      const entry = this.#entry(key);
      const at = entry + 2;
      const running = Atomics.load(this.#cells, at);
      if (running === MOVING || !this.#owns(entry, key)) {
        this.#forget(key);
        continue;
      }
      if (running >= limit) return false;
      if (Atomics.compareExchange(this.#cells, at, running, running + 1) !== running) continue;
      // The entry went to another name between the look and the take: give it back, look again.
      if (!this.#owns(entry, key)) {
        this.#give(at);
        this.#forget(key);
        continue;
      }
      Atomics.add(this.#held, this.#index(entry) * OWN, 1);
      this.#turn(entry);
      return true;
    }
  }

  /** Gives back a slot this thread took (its entry cannot have moved: it was not at 0). */
  release(key: string): void {
    const entry = this.#entry(key);
    Atomics.sub(this.#held, this.#index(entry) * OWN, 1);
    this.#give(entry + 2);
  }

  /** Counts a caller of this thread waiting for a slot of the key; `stopWaiting(entry)` when it stops. */
  startWaiting(key: string): number {
    const entry = this.#entry(key);
    Atomics.add(this.#held, this.#index(entry) * OWN + 1, 1);
    Atomics.add(this.#cells, entry + 3, 1);
    return entry;
  }

  stopWaiting(entry: number): void {
    Atomics.sub(this.#held, this.#index(entry) * OWN + 1, 1);
    Atomics.sub(this.#cells, entry + 3, 1);
  }

  /**
   * Counts every take and give of the key's slots (it wraps): it moved when a slot was taken or
   * given, even if the running count is back where it was.
   */
  turns(key: string): number {
    return Atomics.load(this.#cells, this.#entry(key) + 4);
  }

  /** Resolves when the key's turns move from `seen` (a take or give anywhere), or after `timeoutMs`. */
  async turnsMoved(key: string, seen: number, timeoutMs: number): Promise<void> {
    const wait = Atomics.waitAsync(this.#cells, this.#entry(key) + 4, seen, timeoutMs);
    if (wait.async) await wait.value;
  }

  /** Whether callers of other threads wait for a slot of the key. */
  othersWaiting(key: string): boolean {
    const entry = this.#entry(key);
    return Atomics.load(this.#cells, entry + 3) > Atomics.load(this.#held, this.#index(entry) * OWN + 1);
  }

  running(key: string): number {
    return Math.max(0, Atomics.load(this.#cells, this.#entry(key) + 2));
  }

  /** Resolves when the key's count changes from `seen` (a release anywhere), or after `timeoutMs`. */
  async changed(key: string, seen: number, timeoutMs: number): Promise<void> {
    const at = this.#entry(key) + 2;
    const wait = Atomics.waitAsync(this.#cells, at, seen, Number.isFinite(timeoutMs) ? timeoutMs : undefined);
    if (wait.async) await wait.value;
  }

  /**
   * Gives back every slot a dead thread held (its `held` buffer), and takes its waiters off the
   * counts; returns how many slots.
   */
  releaseHeld(held: SharedArrayBuffer): number {
    const counts = new Int32Array(held);
    let released = 0;
    for (let i = 0; i < counts.length / OWN; i++) {
      const at = HEADER + i * ENTRY + 2;
      const waiting = Atomics.exchange(counts, i * OWN + 1, 0);
      if (waiting !== 0) Atomics.sub(this.#cells, at + 1, waiting);
      const n = Atomics.exchange(counts, i * OWN, 0);
      if (n <= 0) continue;
      released += n;
      Atomics.sub(this.#cells, at, n);
      Atomics.notify(this.#cells, at);
    }
    return released;
  }

  #forget(key: string): void {
    this.#where.delete(key);
    this.#hashes.delete(key);
  }

  #give(at: number): void {
    Atomics.sub(this.#cells, at, 1);
    this.#turn(at - 2);
    Atomics.notify(this.#cells, at);
  }

  /** A take or a give: wakes whoever waits for the key's turns to move (`turnsMoved`). */
  #turn(entry: number): void {
    Atomics.add(this.#cells, entry + 4, 1);
    Atomics.notify(this.#cells, entry + 4);
  }

  #index(entry: number): number {
    return (entry - HEADER) / ENTRY;
  }

  #owns(entry: number, key: string): boolean {
    const [h1, h2] = this.#hashes.get(key) ?? hashes(key);
    return Atomics.load(this.#cells, entry) === h1 && Atomics.load(this.#cells, entry + 1) === h2;
  }

  /**
   * The key's entry, inserting it under the table's lock the first time: into the first empty
   * entry of its probe sequence or, when the table has none left, into one whose count is 0 (a
   * name nobody runs now), taken over.
   */
  #entry(key: string): number {
    const known = this.#where.get(key);
    if (known !== undefined) return known;
    const [h1, h2] = hashes(key);
    lock(this.#cells);
    try {
      for (let probe = 0; probe < this.#capacity; probe++) {
        const entry = HEADER + ((h1 + probe) % this.#capacity) * ENTRY;
        const found = Atomics.load(this.#cells, entry);
        if (found === h1 && Atomics.load(this.#cells, entry + 1) === h2)
          return this.#remember(key, entry, h1, h2);
        if (found === 0) {
          Atomics.store(this.#cells, entry + 1, h2);
          Atomics.store(this.#cells, entry, h1);
          return this.#remember(key, entry, h1, h2);
        }
      }
      for (let probe = 0; probe < this.#capacity; probe++) {
        const entry = HEADER + ((h1 + probe) % this.#capacity) * ENTRY;
        // MOVING while the hashes change: no one takes a slot from it under either name. One
        // with callers waiting is in use, though nothing runs this moment.
        if (Atomics.load(this.#cells, entry + 3) !== 0) continue;
        if (Atomics.compareExchange(this.#cells, entry + 2, 0, MOVING) !== 0) continue;
        Atomics.store(this.#cells, entry, h1);
        Atomics.store(this.#cells, entry + 1, h2);
        Atomics.store(this.#cells, entry + 2, 0);
        return this.#remember(key, entry, h1, h2);
      }
    } finally {
      unlock(this.#cells);
    }
    throw new Error(`The concurrency slot table is full: ${this.#capacity} functions are running at once`);
  }

  #remember(key: string, entry: number, h1: number, h2: number): number {
    this.#where.set(key, entry);
    this.#hashes.set(key, [h1, h2]);
    return entry;
  }
}

function lock(cells: Int32Array): void {
  while (Atomics.compareExchange(cells, 0, 0, 1) !== 0) Atomics.wait(cells, 0, 1, 1);
}

function unlock(cells: Int32Array): void {
  Atomics.store(cells, 0, 0);
  Atomics.notify(cells, 0, 1);
}

/** FNV-1a and a multiplicative hash of the UTF-16 units; never 0 (0 marks an empty entry). */
export function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x85ebca6b) ^ (b >>> 13);
  }
  return [(a >>> 1) | 1, b | 1];
}
