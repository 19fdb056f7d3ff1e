import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { isFaasError } from '@faas/core';
import { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { SlotTable } from './slot-table.ts';

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

  it('a raised limit serves the callers waiting under the old one, and new callers, at once', async () => {
    const l = new ConcurrencyLimiter(200);
    const first = await take(l, 'f', 1);
    const waiting = take(l, 'f', 1);
    // Redeployed with maxConcurrency 10 while one caller waits.
    const raised = await Promise.allSettled([1, 2, 3].map(() => take(l, 'f', 10)));
    assert.deepEqual(
      raised.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.status)),
      ['fulfilled', 'fulfilled', 'fulfilled'],
    );
    const old = await waiting;
    assert.equal(l.running('f'), 5);
    for (const r of raised) if (r.status === 'fulfilled') r.value();
    first();
    old();
    assert.equal(l.running('f'), 0);
  });

  it('a lowered limit holds for callers waiting under the old one: releases do not hand slots past it', async () => {
    const l = new ConcurrencyLimiter(2000);
    const held = await Promise.all(Array.from({ length: 10 }, () => take(l, 'g', 10)));
    const old = take(l, 'g', 10);
    // Lowered to 2 while one caller waits; five more come.
    const lowered = [1, 2, 3, 4, 5].map(() => take(l, 'g', 2));
    for (const release of held) release();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(l.running('g'), 2, 'the old waiter and the first new caller run, no more');
    const running = [await old, await (lowered[0] as Promise<() => void>)];
    for (const next of lowered.slice(1)) {
      (running.shift() as () => void)();
      running.push(await next);
      assert.equal(l.running('g'), 2);
    }
    for (const release of running) release();
    assert.equal(l.running('g'), 0);
  });
});

describe('ConcurrencyLimiter across threads', () => {
  it("a thread with a steady line of callers does not keep a slot from another thread's waiter", async () => {
    // Two threads' limiters over one table; the busy one always has a caller waiting.
    const table = new SlotTable();
    const busy = new ConcurrencyLimiter(5_000, table);
    const other = new ConcurrencyLimiter(5_000, new SlotTable(table.buffer));
    let stop = false;
    const callers = [0, 1].map(async () => {
      while (!stop) {
        const release = await take(busy, 'f', 1);
        await new Promise((resolve) => setTimeout(resolve, 5));
        release();
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const began = performance.now();
    try {
      const release = await take(other, 'f', 1, 2_000);
      release();
      // Before, each slot the busy thread freed went to its own next caller: this one got 429.
      assert.ok(performance.now() - began < 200, `waited ${performance.now() - began} ms`);
    } finally {
      stop = true;
      await Promise.all(callers);
    }
    assert.equal(table.running('f'), 0);
  });

  it('a slot left to another thread that took it and gave it back is not left idle', async () => {
    const table = new SlotTable(undefined, undefined, 16);
    const a = new ConcurrencyLimiter(5_000, new SlotTable(table.buffer, SlotTable.heldBuffer(16)));
    const b = new ConcurrencyLimiter(5_000, new SlotTable(table.buffer, SlotTable.heldBuffer(16)));
    const first = await take(a, 'f', 1);
    const next = take(a, 'f', 1);
    const theirs = take(b, 'f', 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    first(); // b's caller waits too: a leaves the slot to it
    const release = await theirs;
    const began = performance.now();
    release(); // back where a left it, but a took no turn meanwhile
    (await next)();
    assert.ok(
      performance.now() - began < 10,
      `a's caller waited ${performance.now() - began} ms for a free slot`,
    );
    assert.equal(table.running('f'), 0);
  });

  it('counts slots taken by another thread and wakes when that thread releases one', async () => {
    const table = new SlotTable();
    const here = new ConcurrencyLimiter(5_000, table);
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const cells = new Int32Array(workerData);
       parentPort.on('message', (m) => { Atomics.store(cells, m.at, m.value); Atomics.notify(cells, m.at); parentPort.postMessage('ok'); });`,
      { eval: true, workerData: table.buffer },
    );
    try {
      const a = await take(here, 'f', 2);
      await take(here, 'f', 2);
      a();
      assert.equal(here.running('f'), 1);
      // The other thread takes the freed slot: f is full though this thread holds only one.
      const at = counterIndex(table, 'f');
      const tell = (value: number) =>
        new Promise((resolve) => {
          worker.once('message', resolve);
          worker.postMessage({ at, value });
        });
      await tell(2);
      assert.throws(
        () => here.acquire('f', 2, 0),
        (err) => isFaasError(err) && err.status === 429,
      );
      const waiting = take(here, 'f', 2);
      await tell(1);
      const c = await waiting;
      assert.equal(here.running('f'), 2);
      c();
    } finally {
      await worker.terminate();
    }
  });
});

/** Where the table keeps a key's count: found by flipping it from another view of the buffer. */
function counterIndex(table: SlotTable, key: string): number {
  const before = new Int32Array(table.buffer).slice();
  const probe = new SlotTable(table.buffer);
  probe.tryAcquire(key, Number.MAX_SAFE_INTEGER);
  const after = new Int32Array(table.buffer);
  const at = after.findIndex((v, i) => v !== before[i]);
  probe.release(key);
  return at;
}
