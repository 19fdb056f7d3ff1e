import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually } from '@faas/testkit';
import { openSqliteQueue } from '../queue/sqlite/sqlite-queue.ts';
import { LeaseKeeper } from './lease-keeper.ts';

const retry = { baseDelayMs: 10, maxDelayMs: 10 };

async function leasedJob(leaseMs: number) {
  const queue = await openSqliteQueue({ path: ':memory:', retry });
  await queue.enqueue({ id: 'j', payload: null, maxAttempts: 3 });
  const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: leaseMs });
  assert.ok(job);
  return { queue, job };
}

describe('LeaseKeeper', () => {
  it('renews a held lease every half lease, so nobody else can lease the job', async () => {
    const { queue, job } = await leasedJob(100);
    const keeper = new LeaseKeeper({ queue, leaseMs: 100 });
    const signal = keeper.hold(job);
    keeper.start();
    try {
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 }), []);
      }
      assert.equal(signal.aborted, false);
      assert.equal(keeper.renewalFailures, 0);
    } finally {
      await keeper.stop();
      await queue.close();
    }
  });

  it('aborts a lease the queue says is lost', async () => {
    const { queue, job } = await leasedJob(60_000);
    const keeper = new LeaseKeeper({ queue, leaseMs: 60_000 });
    const signal = keeper.hold(job);
    assert.equal(await queue.ack(job.id, job.leaseToken), true);
    await keeper.renewNow();
    assert.equal(signal.aborted, true);
    assert.equal(keeper.leasesLost, 1);
    await queue.close();
  });

  it('gives up a lease it could not renew before it ran out (the queue unreachable)', async () => {
    const { queue, job } = await leasedJob(150);
    const keeper = new LeaseKeeper({ queue, leaseMs: 150 });
    const signal = keeper.hold(job);
    keeper.start();
    await queue.close();
    try {
      await eventually(async () => signal.aborted, 3_000, 'the lease to be given up');
      assert.ok(keeper.renewalFailures >= 1);
      assert.equal(keeper.leasesLost, 1);
    } finally {
      await keeper.stop();
    }
  });

  it('aborts the older lease of a job this consumer leased again after a stall', async () => {
    const { queue, job } = await leasedJob(20);
    const keeper = new LeaseKeeper({ queue, leaseMs: 60_000 });
    const older = keeper.hold(job);
    await new Promise((resolve) => setTimeout(resolve, 40));
    const [again] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.ok(again && again.leaseToken !== job.leaseToken);
    const newer = keeper.hold(again);
    assert.equal(older.aborted, true, 'the older run stops');
    assert.equal(newer.aborted, false);
    keeper.drop(job.id, job.leaseToken);
    await keeper.renewNow();
    assert.equal(newer.aborted, false, 'the older run ending leaves the newer lease held');
    await queue.close();
  });

  it('stops renewing a dropped lease', async () => {
    const { queue, job } = await leasedJob(60_000);
    const keeper = new LeaseKeeper({ queue, leaseMs: 60_000 });
    const signal = keeper.hold(job);
    keeper.drop(job.id, job.leaseToken);
    assert.equal(await queue.ack(job.id, job.leaseToken), true);
    await keeper.renewNow();
    assert.equal(signal.aborted, false, 'a dropped lease is not reported lost');
    await queue.close();
  });
});
