import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

// One system call fills randomness for 256 ids: an id per invocation is on the hot path.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;
const ALPHABET_CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));
const randomCodes: number[] = new Array(16).fill(0);
/** Ids made in the same millisecond share their head (prefix and time). */
let lastMs = Number.NaN;
let lastPrefix = '';
let lastHead = '';

/**
 * A time-ordered id: 10 chars of ms timestamp then 16 random chars (Crockford base32, lowercase),
 * so ids sort by creation time, like ULIDs. `prefix` tells kinds apart: `inv_…`, `key_…`.
 */
export function newId(prefix: string, now = Date.now()): string {
  if (now !== lastMs || prefix !== lastPrefix) {
    let time = '';
    let t = now;
    for (let i = 0; i < 10; i++) {
      time = ALPHABET[t % 32] + time;
      t = Math.floor(t / 32);
    }
    lastMs = now;
    lastPrefix = prefix;
    lastHead = `${prefix}_${time}`;
  }
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  for (let i = 0; i < 16; i++)
    randomCodes[i] = ALPHABET_CODES[(pool[poolOffset + i] as number) % 32] as number;
  poolOffset += 16;
  // One flat string: built by `+=`, the id was a rope that every Map lookup flattened again.
  return lastHead + String.fromCharCode(...randomCodes);
}
