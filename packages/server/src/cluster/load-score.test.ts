import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOAD_EMA_ALPHA, LoadScore } from './load-score.ts';

describe('LoadScore', () => {
  it('weighs CPU, memory and I/O as documented, starting from the first sample', () => {
    const score = new LoadScore();
    assert.deepEqual(score.update({ cpu: 80, memory: 50, io: 10 }), {
      cpu: 80,
      memory: 50,
      io: 10,
      score: 57,
    });
  });

  it('smooths a spike instead of following it', () => {
    const score = new LoadScore();
    score.update({ cpu: 10, memory: 10, io: 0 });
    const after = score.update({ cpu: 100, memory: 10, io: 0 });
    assert.equal(after.cpu, 10 + LOAD_EMA_ALPHA * 90);
    assert.ok(after.score < 0.5 * 100 + 0.3 * 10);
  });

  it('keeps every part within 0–100 whatever it is fed', () => {
    const score = new LoadScore();
    const load = score.update({ cpu: Number.NaN, memory: 250, io: -3 });
    assert.deepEqual(load, { cpu: 0, memory: 100, io: 0, score: 30 });
  });
});
