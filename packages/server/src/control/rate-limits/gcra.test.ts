import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketShape, take } from './gcra.ts';

/** Takes `n` tokens at `now`, threading the bucket's tat; the results in order. */
function takeMany(n: number, tat: bigint, now: bigint, shape: ReturnType<typeof bucketShape>) {
  const results = [];
  for (let i = 0; i < n; i++) {
    const r = take(tat, now, shape);
    tat = r.tat;
    results.push(r);
  }
  return { results, tat };
}

describe('token bucket arithmetic (GCRA)', () => {
  const shape = bucketShape({ requestsPerSecond: 5, burst: 5 });
  const t0 = 1_000_000_000n;

  it('a full bucket allows exactly its burst at one instant, counting down what remains', () => {
    const { results } = takeMany(7, 0n, t0, shape);
    assert.deepEqual(
      results.map((r) => r.allowed),
      [true, true, true, true, true, false, false],
    );
    assert.deepEqual(
      results.slice(0, 5).map((r) => r.remaining),
      [4, 3, 2, 1, 0],
    );
    const refused = results[5];
    assert.equal(refused?.remaining, 0);
    assert.equal(refused?.retryAfterUs, 200_000n, 'one token comes back after 1/5 s');
    assert.equal(refused?.resetUs, 1_000_000n, 'the bucket is full again after 1 s');
  });

  it('refills at the rate, never past the burst', () => {
    let { tat } = takeMany(5, 0n, t0, shape);
    assert.equal(take(tat, t0 + 199_999n, shape).allowed, false, 'not before the interval');
    const one = take(tat, t0 + 200_000n, shape);
    assert.equal(one.allowed, true);
    assert.equal(one.remaining, 0);
    tat = one.tat;
    assert.equal(take(tat, t0 + 200_000n, shape).allowed, false);
    // Idle for an hour: the bucket holds its burst, not 18,000 tokens.
    const later = t0 + 3_600_000_000n;
    assert.equal(takeMany(6, tat, later, shape).results.filter((r) => r.allowed).length, 5);
  });

  it('a clock that has not moved, or a bucket never used (tat 0), is handled as full or as now', () => {
    const first = take(0n, t0, shape);
    assert.equal(first.allowed, true);
    assert.equal(first.tat, t0 + 200_000n);
    // A clock reading earlier than the bucket's tat (another thread's later reading won): still counted.
    const early = take(first.tat, t0 - 50_000n, shape);
    assert.equal(early.allowed, true);
    assert.equal(early.remaining, 2);
  });

  it('fractional rates and a burst of one', () => {
    const slow = bucketShape({ requestsPerSecond: 0.5, burst: 1 });
    assert.equal(slow.intervalUs, 2_000_000n);
    const a = take(0n, t0, slow);
    assert.equal(a.allowed, true);
    assert.equal(a.remaining, 0);
    const b = take(a.tat, t0 + 1_000_000n, slow);
    assert.equal(b.allowed, false);
    assert.equal(b.retryAfterUs, 1_000_000n);
    assert.equal(take(a.tat, t0 + 2_000_000n, slow).allowed, true);
  });
});
