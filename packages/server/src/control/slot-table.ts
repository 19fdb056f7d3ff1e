/**
 * Running-invocation counters shared by every gateway thread (a SharedArrayBuffer), so that a
 * function's max concurrency holds for the server, not per thread. A key is identified by two
 * independent 32-bit hashes of its name; entries are never freed (a name that comes back reuses
 * its entry), so a thread can remember where a key lives.
 */
const HEADER = 1; // [lock]
const ENTRY = 3; // [hash1, hash2, running]
export const SLOT_TABLE_CAPACITY = 65_536;

export class SlotTable {
  readonly buffer: SharedArrayBuffer;
  #cells: Int32Array;
  #capacity: number;
  #where = new Map<string, number>();

  /** A new table, or a view of one another thread made (its `buffer`). */
  constructor(buffer?: SharedArrayBuffer, capacity = SLOT_TABLE_CAPACITY) {
    this.buffer = buffer ?? new SharedArrayBuffer((HEADER + capacity * ENTRY) * 4);
    this.#cells = new Int32Array(this.buffer);
    this.#capacity = (this.#cells.length - HEADER) / ENTRY;
  }

  /** Takes a slot when fewer than `limit` are taken. */
  tryAcquire(key: string, limit: number): boolean {
    const at = this.#counter(key);
    for (;;) {
      const running = Atomics.load(this.#cells, at);
      if (running >= limit) return false;
      if (Atomics.compareExchange(this.#cells, at, running, running + 1) === running) return true;
    }
  }

  release(key: string): void {
    const at = this.#counter(key);
    Atomics.sub(this.#cells, at, 1);
    Atomics.notify(this.#cells, at);
  }

  running(key: string): number {
    return Atomics.load(this.#cells, this.#counter(key));
  }

  /** Resolves when the key's count changes from `seen` (a release anywhere), or after `timeoutMs`. */
  async changed(key: string, seen: number, timeoutMs: number): Promise<void> {
    const at = this.#counter(key);
    const wait = Atomics.waitAsync(this.#cells, at, seen, Number.isFinite(timeoutMs) ? timeoutMs : undefined);
    if (wait.async) await wait.value;
  }

  /** Index of the key's counter, inserting the key under the table's lock the first time. */
  #counter(key: string): number {
    const known = this.#where.get(key);
    if (known !== undefined) return known;
    const [h1, h2] = hashes(key);
    lock(this.#cells);
    try {
      for (let probe = 0; probe < this.#capacity; probe++) {
        const entry = HEADER + ((h1 + probe) % this.#capacity) * ENTRY;
        const found = this.#cells[entry];
        if (found === 0) {
          this.#cells[entry + 1] = h2;
          Atomics.store(this.#cells, entry, h1);
        } else if (found !== h1 || this.#cells[entry + 1] !== h2) {
          continue;
        }
        this.#where.set(key, entry + 2);
        return entry + 2;
      }
    } finally {
      unlock(this.#cells);
    }
    throw new Error(
      `The concurrency slot table is full (${this.#capacity} function names); restart the server`,
    );
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
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x85ebca6b) ^ (b >>> 13);
  }
  return [(a >>> 1) | 1, b | 1];
}
