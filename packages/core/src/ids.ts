import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

// One system call fills randomness for 256 ids: an id per invocation is on the hot path.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

/**
 * A time-ordered id: 10 chars of ms timestamp then 16 random chars (Crockford base32, lowercase),
 * so ids sort by creation time, like ULIDs. `prefix` tells kinds apart: `inv_…`, `key_…`.
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[(pool[poolOffset + i] as number) % 32];
  poolOffset += 16;
  return `${prefix}_${time}${rand}`;
}
