import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs } from './backoff.ts';

const policy = { baseDelayMs: 1_000, maxDelayMs: 60_000 };

describe('backoffDelayMs', () => {
  it('doubles from the base delay per failed attempt and stops at the cap', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((attempt) => backoffDelayMs(policy, attempt));
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('jitter only shortens the delay, by at most its ratio', () => {
    assert.equal(
      backoffDelayMs(policy, 3, 0.1, () => 0),
      4_000,
    );
    assert.equal(
      backoffDelayMs(policy, 3, 0.1, () => 0.999999),
      3_600,
    );
    assert.equal(
      backoffDelayMs(policy, 30, 0.1, () => 0.5),
      57_000,
    );
  });
});
