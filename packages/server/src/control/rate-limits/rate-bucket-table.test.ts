import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { bucketShape } from './gcra.ts';
import { RateBucketTable } from './rate-bucket-table.ts';

const shape = bucketShape({ requestsPerSecond: 5, burst: 5 });

describe('RateBucketTable', () => {
  it('keeps one bucket per key across views of one buffer', () => {
    let now = 1_000_000n;
    const clock = () => now;
    const main = new RateBucketTable(undefined, { clock });
    const other = new RateBucketTable(main.buffer, { clock });
    const allowed = [main, other, main, other, main, other, main].map((t) => t.take('f', shape)?.allowed);
    assert.deepEqual(allowed, [true, true, true, true, true, false, false]);
    assert.equal(main.take('g', shape)?.allowed, true, 'another key has its own bucket');
    now += 200_000n;
    assert.equal(other.take('f', shape)?.allowed, true, 'refilled for both views');
    assert.equal(main.take('f', shape)?.allowed, false);
  });

  it('gives a refunded token back', () => {
    const clock = () => 1_000_000n;
    const table = new RateBucketTable(undefined, { clock });
    for (let i = 0; i < 5; i++) table.take('f', shape);
    assert.equal(table.take('f', shape)?.allowed, false);
    table.refund('f', shape);
    assert.equal(table.take('f', shape)?.allowed, true);
  });

  it('hands the entry of a full bucket to a new key, and has no room while every entry refills', () => {
    let now = 1_000_000n;
    const clock = () => now;
    // Two entries: every key probes both.
    const table = new RateBucketTable(undefined, { capacity: 2, clock });
    const other = new RateBucketTable(table.buffer, { capacity: 2, clock });
    assert.equal(table.take('a', shape)?.allowed, true);
    assert.equal(table.take('b', shape)?.allowed, true);
    assert.equal(table.take('c', shape), undefined, 'no entry is free: not limited');
    now += 1_000_000n; // a and b are full again
    for (let i = 0; i < 5; i++) assert.equal(other.take('c', shape)?.allowed, true);
    assert.equal(other.take('c', shape)?.allowed, false);
    // The view that knew `a` in c's entry (or b's) finds its key gone and looks again.
    const a = table.take('a', shape);
    assert.equal(a?.allowed, true, 'a has a fresh bucket');
    assert.equal(a?.remaining, 4);
    assert.equal(table.take('c', shape)?.allowed, false, "c's bucket is intact");
  });

  it('counts exactly across threads taking at once', async () => {
    const table = new RateBucketTable(undefined, { capacity: 64 });
    // A bucket that cannot refill during the test: 0.001 requests/s, burst 1000.
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      parentPort.once('message', async () => {
        const { RateBucketTable } = await import(${JSON.stringify(new URL('./rate-bucket-table.ts', import.meta.url).href)});
        const { bucketShape } = await import(${JSON.stringify(new URL('./gcra.ts', import.meta.url).href)});
        const table = new RateBucketTable(workerData.buffer, { capacity: 64 });
        const shape = bucketShape({ requestsPerSecond: 0.001, burst: 1000 });
        let allowed = 0;
        for (let i = 0; i < 600; i++) if (table.take('shared', shape)?.allowed) allowed++;
        parentPort.postMessage(allowed);
      });
    `;
    const workers = [0, 1, 2, 3].map(
      () => new Worker(code, { eval: true, workerData: { buffer: table.buffer } }),
    );
    const counts = await Promise.all(
      workers.map(
        (w) =>
          new Promise<number>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
            w.postMessage('go');
          }),
      ),
    );
    await Promise.all(workers.map((w) => w.terminate()));
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      1000,
      `2400 takes by 4 threads, 1000 allowed (${counts.join(', ')})`,
    );
  });
});
