import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFaasError } from '@faas/core';
import { IsolateBudget } from './isolate-budget.ts';

const MB = 1024 * 1024;

/** An isolate as the budget sees it: evicting it tells the budget it is gone. */
function isolate(budget: IsolateBudget, evicted: string[], name: string) {
  const self = {
    name,
    evictable: {
      evict: () => {
        evicted.push(name);
        budget.gone(self);
      },
    },
  };
  return self;
}

describe('IsolateBudget', () => {
  it('charges a busy isolate its limit and an idle one its heap', async () => {
    const budget = new IsolateBudget(100, 10);
    const a = isolate(budget, [], 'a');
    await budget.reserve(a, 40, Date.now() + 1000);
    assert.equal(budget.usedBytes, 40 * MB);
    budget.toIdle(a, 3 * MB, a.evictable);
    assert.equal(budget.usedBytes, 3 * MB);
    assert.equal(budget.toBusy(a), true);
    assert.equal(budget.usedBytes, 40 * MB);
    budget.gone(a);
    budget.gone(a);
    assert.equal(budget.usedBytes, 0);
    assert.equal(budget.count, 0);
  });

  it('evicts the least recently used idle isolates to make room, never a busy one', async () => {
    const evicted: string[] = [];
    const budget = new IsolateBudget(100, 10);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => isolate(budget, evicted, n)) as [
      ReturnType<typeof isolate>,
      ReturnType<typeof isolate>,
      ReturnType<typeof isolate>,
    ];
    for (const x of [a, b, c]) await budget.reserve(x, 30, Date.now() + 1000);
    budget.toIdle(a, 30 * MB, a.evictable);
    budget.toIdle(b, 30 * MB, b.evictable);
    // c stays busy: 90 MB used. 40 more evicts a (the oldest idle); 50 more after that, b too.
    await budget.reserve(isolate(budget, evicted, 'd'), 40, Date.now() + 1000);
    assert.deepEqual(evicted, ['a']);
    assert.equal(budget.usedBytes, 100 * MB);
    // 50 more cannot fit even without b (c and d are busy): b stays.
    await assert.rejects(budget.reserve(isolate(budget, evicted, 'e'), 50, Date.now() + 20));
    assert.deepEqual(evicted, ['a']);
  });

  it('counts isolates too', async () => {
    const evicted: string[] = [];
    const budget = new IsolateBudget(1000, 2);
    const a = isolate(budget, evicted, 'a');
    const b = isolate(budget, evicted, 'b');
    await budget.reserve(a, 1, Date.now() + 1000);
    await budget.reserve(b, 1, Date.now() + 1000);
    budget.toIdle(b, MB, b.evictable);
    await budget.reserve(isolate(budget, evicted, 'c'), 1, Date.now() + 1000);
    assert.deepEqual(evicted, ['b']);
  });

  it('makes a start wait for a busy isolate to finish, and refuses at the deadline with what holds the memory', async () => {
    const budget = new IsolateBudget(64, 10);
    const a = isolate(budget, [], 'a');
    await budget.reserve(a, 60, Date.now() + 1000);
    const waiting = budget.reserve(isolate(budget, [], 'b'), 60, Date.now() + 5000);
    setTimeout(() => budget.gone(a), 20);
    await waiting;
    assert.equal(budget.usedBytes, 60 * MB);
    await assert.rejects(budget.reserve(isolate(budget, [], 'c'), 60, Date.now() + 30), (err) => {
      assert.ok(isFaasError(err));
      assert.equal(err.code, 'FAAS_ERR_RUNTIME_UNAVAILABLE');
      assert.match(err.message, /60 MB of the 64 MB isolate memory budget/);
      return true;
    });
  });

  it('refuses at once an isolate larger than the whole budget', async () => {
    const budget = new IsolateBudget(64, 10);
    await assert.rejects(budget.reserve({}, 128, Date.now() + 60_000), /does not fit/);
  });

  it('lets an idle isolate start again only when its growth fits, evicting others but not itself', async () => {
    const evicted: string[] = [];
    const budget = new IsolateBudget(100, 10);
    const a = isolate(budget, evicted, 'a');
    const b = isolate(budget, evicted, 'b');
    await budget.reserve(a, 60, Date.now() + 1000);
    budget.toIdle(a, 10 * MB, a.evictable);
    await budget.reserve(b, 60, Date.now() + 1000);
    // a needs 50 MB more; b is busy: no room, and a is not evicted to make room for itself.
    assert.equal(budget.toBusy(a), false);
    assert.deepEqual(evicted, []);
    budget.toIdle(b, 5 * MB, b.evictable);
    assert.equal(budget.toBusy(a), true);
    assert.deepEqual(evicted, []);
  });
});
