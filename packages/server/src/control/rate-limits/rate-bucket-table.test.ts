import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { hashes } from '../slot-table.ts';
import { bucketShape } from './gcra.ts';
import { RATE_TABLE_CAPACITY, RateBucketTable } from './rate-bucket-table.ts';

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

  it('hands the entry of a full bucket to a new key, and refuses a key while every entry it may use refills', () => {
    let now = 1_000_000n;
    const clock = () => now;
    // Two entries: every key probes both.
    const table = new RateBucketTable(undefined, { capacity: 2, clock });
    const other = new RateBucketTable(table.buffer, { capacity: 2, clock });
    assert.equal(table.take('a', shape)?.allowed, true);
    now += 100_000n;
    assert.equal(table.take('b', shape)?.allowed, true);
    const c = table.take('c', shape);
    assert.equal(c?.allowed, false, 'no entry is free: refused, not let through unlimited');
    assert.equal(c?.retryAfterUs, 100_000n, "until a's bucket is full again");
    now += 1_000_000n; // a and b are full again
    for (let i = 0; i < 5; i++) assert.equal(other.take('c', shape)?.allowed, true);
    assert.equal(other.take('c', shape)?.allowed, false);
    // The view that knew `a` in c's entry (or b's) finds its key gone and looks again.
    const a = table.take('a', shape);
    assert.equal(a?.allowed, true, 'a has a fresh bucket');
    assert.equal(a?.remaining, 4);
    assert.equal(table.take('c', shape)?.allowed, false, "c's bucket is intact");
  });

  it('lets a key through when every entry refills, in a table told to (client addresses)', () => {
    const clock = () => 1_000_000n;
    const table = new RateBucketTable(undefined, { capacity: 2, clock, whenFull: 'allow' });
    const view = new RateBucketTable(table.buffer, { capacity: 2, clock, whenFull: 'allow' });
    assert.equal(table.take('a', shape)?.allowed, true);
    assert.equal(table.take('b', shape)?.allowed, true);
    assert.equal(view.take('c', shape), undefined);
  });

  it("names crafted offline to share a bucket's entries do not push it out and lift its limit", () => {
    let now = 1_000_000_000n;
    const clock = () => now;
    const table = new RateBucketTable(undefined, { clock });
    const oneASecond = bucketShape({ requestsPerSecond: 1, burst: 1 });
    // 32 names whose unseeded hash puts them where the key's does (any tenant can compute them).
    const start = hashes('k victim')[0] % RATE_TABLE_CAPACITY;
    const crafted: string[] = [];
    for (let i = 0; crafted.length < 32; i++)
      if (hashes(`f c${i}`)[0] % RATE_TABLE_CAPACITY === start) crafted.push(`f c${i}`);
    assert.equal(table.take('k victim', oneASecond)?.allowed, true);
    now += 2_000_000n; // the key's bucket is full again: its entry may be taken over
    const slow = bucketShape({ requestsPerSecond: 0.001, burst: 1 });
    for (const name of crafted) table.take(name, slow);
    let allowed = 0;
    for (let i = 0; i < 1000; i++) if (table.take('k victim', oneASecond)?.allowed !== false) allowed++;
    assert.equal(allowed, 1, `${allowed} calls at one instant under a limit of 1/s, burst 1`);
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
