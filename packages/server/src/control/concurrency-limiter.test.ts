import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFaasError } from '@faas/core';
import { ConcurrencyLimiter } from './concurrency-limiter.ts';

async function take(l: ConcurrencyLimiter, key: string, limit: number, waitMs?: number) {
  const slot = l.acquire(key, limit, waitMs);
  return typeof slot === 'function' ? slot : await slot;
}

describe('ConcurrencyLimiter', () => {
  it('lets up to the limit run, then queues the next until a slot frees', async () => {
    const l = new ConcurrencyLimiter(1000);
    const a = await take(l, 'f', 2);
    await take(l, 'f', 2);
    assert.equal(l.running('f'), 2);
    let third = false;
    const waiting = take(l, 'f', 2).then((r) => {
      third = true;
      return r;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(third, false);
    a();
    const c = await waiting;
    assert.equal(third, true);
    assert.equal(l.running('f'), 2);
    c();
  });

  it('rejects with 429 when no slot frees within the wait', async () => {
    const l = new ConcurrencyLimiter(20);
    await take(l, 'f', 1);
    await assert.rejects(take(l, 'f', 1), (err) => isFaasError(err) && err.status === 429);
  });

  it('keeps functions apart and ignores a second release', async () => {
    const l = new ConcurrencyLimiter(0);
    const a = await take(l, 'a', 1);
    await take(l, 'b', 1);
    a();
    a();
    assert.equal(l.running('a'), 0);
    assert.equal(l.running('b'), 1);
    assert.throws(
      () => l.acquire('b', 1),
      (err) => isFaasError(err) && err.code === 'FAAS_ERR_TOO_MANY_REQUESTS',
    );
  });
});
