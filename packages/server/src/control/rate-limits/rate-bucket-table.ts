import { randomFillSync } from 'node:crypto';
import { type BucketShape, type TakeResult, take } from './gcra.ts';
import { keyedHashes } from './keyed-hash.ts';

/** Bytes before the entries: the table's lock (an Int32), its hash seed (two Int32), padding. */
const HEADER_BYTES = 16;
/** BigInt64 cells per entry: [owner (the key's two hashes), tat]. */
const ENTRY = 2;
/** Entries a key may sit in, from its hash on: past them the table has no room for it. */
const PROBES = 32;
/** `tat` of an entry being handed to another key: no token is taken from it meanwhile. */
const MOVING = -1n;
export const RATE_TABLE_CAPACITY = 65_536;

/** Microseconds of the process's monotonic clock: the same on every thread of the process. */
export function monotonicUs(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/**
 * What a table does with a key when every entry it may use holds a bucket still refilling:
 * `refuse` the request until one is full again (keys', projects', functions' limits: a limit must
 * not lift because other buckets are busy), or `allow` it as if unlimited (client addresses: a
 * flood of addresses must not turn into a refusal of everyone).
 */
export type WhenFull = 'refuse' | 'allow';

/**
 * Token buckets shared by every gateway thread (a SharedArrayBuffer), so that a limit holds for
 * the server, not per thread. Each bucket is one GCRA `tat` (gcra.ts) changed by compare-and-swap;
 * a key is found by its two 32-bit hashes in a few entries from its hash on. The hash is keyed
 * with a random seed the table's maker puts in the buffer, so where a key lands cannot be worked
 * out offline (names are chosen by tenants). A bucket that is full is the same as no bucket, so a
 * new key takes over any entry whose bucket is full (the table never fills with keys that came
 * and went); taking one over happens under the table's lock. When every entry a key may use holds
 * a bucket still refilling, `whenFull` says what `take` answers.
 */
export class RateBucketTable {
  readonly buffer: SharedArrayBuffer;
  #lock: Int32Array;
  #cells: BigInt64Array;
  #capacity: number;
  #clock: () => bigint;
  #seed: Int32Array;
  #whenFull: WhenFull;
  /** When a take found no entry for its key: when the first of the entries it may use is full again. */
  #freeAt = 0n;
  /** Where this thread last found each key, and the key's owner word. */
  #where = new Map<string, { entry: number; owner: bigint }>();

  /** A new table, or a view of one another thread made (its `buffer`: the seed comes with it). */
  constructor(
    buffer?: SharedArrayBuffer,
    options: { capacity?: number; clock?: () => bigint; whenFull?: WhenFull } = {},
  ) {
    const capacity = options.capacity ?? RATE_TABLE_CAPACITY;
    this.buffer = buffer ?? new SharedArrayBuffer(HEADER_BYTES + capacity * ENTRY * 8);
    this.#lock = new Int32Array(this.buffer, 0, 1);
    this.#seed = new Int32Array(this.buffer, 4, 2);
    if (!buffer) randomFillSync(this.#seed);
    this.#whenFull = options.whenFull ?? 'refuse';
    this.#cells = new BigInt64Array(this.buffer, HEADER_BYTES);
    this.#capacity = this.#cells.length / ENTRY;
    this.#clock = options.clock ?? monotonicUs;
  }

  /**
   * Takes a token from the key's bucket. No room for the key: refused until an entry frees, or
   * undefined (not limited) in a table that allows then.
   */
  take(key: string, shape: BucketShape): TakeResult | undefined {
    for (;;) {
      const now = this.#clock();
      const entry = this.#entry(key, now);
      if (entry === undefined) return this.#full(now);
      const at = entry + 1;
      const tat = Atomics.load(this.#cells, at);
      if (tat === MOVING || !this.#owns(entry, key)) {
        this.#where.delete(key);
        continue;
      }
      const result = take(tat, now, shape);
      if (!result.allowed) return result;
      // `tat` only grows (a take moves it later, a take-over sets it past the old one), so an
      // entry handed to another key meanwhile cannot hold the value seen here: the swap fails.
      if (Atomics.compareExchange(this.#cells, at, tat, result.tat) === tat) return result;
    }
  }

  /** Gives back a token taken from the key's bucket (a request another limit refused). */
  refund(key: string, shape: BucketShape): void {
    const found = this.#where.get(key);
    if (!found) return;
    const at = found.entry + 1;
    for (;;) {
      const tat = Atomics.load(this.#cells, at);
      if (tat === MOVING || Atomics.load(this.#cells, found.entry) !== found.owner) return;
      const back = tat - shape.intervalUs;
      // Never below a value this entry held: the swap above relies on `tat` never coming back.
      if (back <= 0n) return;
      if (Atomics.compareExchange(this.#cells, at, tat, back) === tat) return;
    }
  }

  #full(now: bigint): TakeResult | undefined {
    if (this.#whenFull === 'allow') return undefined;
    const waitUs = this.#freeAt > now ? this.#freeAt - now : 1n;
    return { allowed: false, tat: 0n, remaining: 0, resetUs: waitUs, retryAfterUs: waitUs };
  }

  #owns(entry: number, key: string): boolean {
    return Atomics.load(this.#cells, entry) === this.#where.get(key)?.owner;
  }

  /** The key's entry: where this thread last saw it, else found or taken over under the lock. */
  #entry(key: string, now: bigint): number | undefined {
    const known = this.#where.get(key);
    if (known !== undefined) return known.entry;
    const [h1, h2] = keyedHashes(key, Atomics.load(this.#seed, 0), Atomics.load(this.#seed, 1));
    // Signed, as the cells hold it; never 0 (an entry never used has owner 0).
    const owner = BigInt.asIntN(64, (BigInt(h1 >>> 0) << 32n) | BigInt((h2 | 1) >>> 0));
    const start = (h1 >>> 0) % this.#capacity;
    lock(this.#lock);
    try {
      for (;;) {
        let free: number | undefined;
        let freeAt: bigint | undefined;
        for (let probe = 0; probe < PROBES && probe < this.#capacity; probe++) {
          const entry = ((start + probe) % this.#capacity) * ENTRY;
          if (Atomics.load(this.#cells, entry) === owner) return this.#remember(key, entry, owner);
          const tat = Atomics.load(this.#cells, entry + 1);
          if (tat === MOVING) continue;
          if (free === undefined && tat < now) free = entry;
          if (freeAt === undefined || tat < freeAt) freeAt = tat;
        }
        if (free === undefined) {
          this.#freeAt = freeAt ?? now;
          return undefined;
        }
        const old = Atomics.load(this.#cells, free + 1);
        // A take racing this one (on the old key) fails its swap; no take starts while MOVING.
        // Lost to such a take (the bucket is no longer full): look again.
        if (old >= now || Atomics.compareExchange(this.#cells, free + 1, old, MOVING) !== old) continue;
        Atomics.store(this.#cells, free, owner);
        // A full bucket, and later than anything the entry held before.
        Atomics.store(this.#cells, free + 1, now > old ? now : old + 1n);
        return this.#remember(key, free, owner);
      }
    } finally {
      unlock(this.#lock);
    }
  }

  #remember(key: string, entry: number, owner: bigint): number {
    // Client addresses come and go: what this thread remembers stays bounded.
    if (this.#where.size >= this.#capacity) this.#where.clear();
    this.#where.set(key, { entry, owner });
    return entry;
  }
}

function lock(cell: Int32Array): void {
  while (Atomics.compareExchange(cell, 0, 0, 1) !== 0) Atomics.wait(cell, 0, 1, 1);
}

function unlock(cell: Int32Array): void {
  Atomics.store(cell, 0, 0);
  Atomics.notify(cell, 0, 1);
}
