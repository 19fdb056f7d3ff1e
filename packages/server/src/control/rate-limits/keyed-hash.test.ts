import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyedHashes } from './keyed-hash.ts';

describe('keyedHashes', () => {
  it('is a function of the key and the seed: another seed puts a key elsewhere', () => {
    assert.deepEqual(keyedHashes('f team-a/hook 5/5', 1, 2), keyedHashes('f team-a/hook 5/5', 1, 2));
    assert.notDeepEqual(keyedHashes('f team-a/hook 5/5', 1, 2), keyedHashes('f team-a/hook 5/5', 1, 3));
    assert.notDeepEqual(keyedHashes('f team-a/hook 5/5', 1, 2), keyedHashes('f team-a/hook 5/5', 2, 2));
  });

  it('tells apart keys that differ by a trailing unit, an empty one, or a unit past Latin-1', () => {
    const seen = new Set<string>();
    for (const key of ['', 'a', 'a\0', 'ab', 'ab\0', 'ba', 'é', 'ṡ', 'k key_1 1/1', 'k key_1 1/10'])
      seen.add(keyedHashes(key, 7, 11).join(','));
    assert.equal(seen.size, 10);
  });

  it('spreads names one tenant would choose over a table evenly', () => {
    const buckets = new Array<number>(64).fill(0);
    for (let i = 0; i < 64_000; i++) {
      const at = (keyedHashes(`f t/c${i}`, 0x1234, 0x5678)[0] >>> 0) % 64;
      buckets[at] = (buckets[at] ?? 0) + 1;
    }
    for (const n of buckets) assert.ok(n > 800 && n < 1200, `${n} of 64,000 in one of 64`);
  });
});
