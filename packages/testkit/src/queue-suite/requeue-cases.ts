import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { LeasedJob, Queue } from '@faas/core';
import { sleep } from '../fresh-subject.ts';

type GetQueue = () => Queue;

/** Leases the only due job, waiting out a backoff first; fails the case when none comes. */
async function leaseNext(queue: Queue): Promise<LeasedJob> {
  for (let waited = 0; waited < 2_000; waited += 5) {
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    if (job) return job;
    await sleep(5);
  }
  throw new Error('no job was delivered within 2 s');
}

/** Enqueues a job and fails every attempt of it until it is dead-lettered. */
async function killJob(queue: Queue, id: string, maxAttempts: number, payload: unknown = id): Promise<void> {
  await queue.enqueue({ id, payload, maxAttempts });
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const job = await leaseNext(queue);
    assert.equal(job.attempt, attempt);
    await queue.fail(id, job.leaseToken, { error: `failure ${attempt}` });
  }
  assert.deepEqual(
    (await queue.listDead(10)).filter((d) => d.id === id).map((d) => d.attempts),
    [maxAttempts],
  );
}

/** Taking dead-lettered jobs back (the API's retry of a dead-lettered invocation). */
export function requeueCases(getQueue: GetQueue): void {
  it('requeueDead holds a dead job under an unstarted lease with a fresh budget; released, it runs on from its attempts', async () => {
    const queue = getQueue();
    await killJob(queue, 'again', 2, { keep: 'me' });
    const before = Date.now();
    const held = await queue.requeueDead('again', { visibilityTimeoutMs: 60_000 });
    assert.ok(held, 'the dead job was not taken back');
    assert.equal(held.id, 'again');
    assert.deepEqual(held.payload, { keep: 'me' });
    assert.equal(held.attempt, 3, 'attempt numbers go on from those used');
    assert.equal(held.maxAttempts, 4, 'two attempts used plus a fresh budget of two');
    assert.ok(held.leaseExpiresAt >= before + 60_000 && held.leaseExpiresAt <= Date.now() + 60_000);
    assert.deepEqual(await queue.listDead(10), []);
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 1, deadLettered: 0 });
    assert.deepEqual(
      await queue.lease({ limit: 5, visibilityTimeoutMs: 60_000 }),
      [],
      'delivered while held',
    );
    assert.equal(await queue.has('again'), true);
    assert.deepEqual(await queue.enqueue({ id: 'again', payload: 'other', maxAttempts: 1 }), {
      duplicate: true,
    });

    assert.equal(await queue.release('again', held.leaseToken), true);
    const third = await leaseNext(queue);
    assert.deepEqual([third.attempt, third.maxAttempts, third.payload], [3, 4, { keep: 'me' }]);
    assert.equal(await queue.start('again', third.leaseToken), true);
    const outcome = await queue.fail('again', third.leaseToken, { error: 'third' });
    assert.equal(outcome.outcome, 'retrying', 'the fresh budget was not given');
    const fourth = await leaseNext(queue);
    assert.equal(fourth.attempt, 4);
    assert.deepEqual(await queue.fail('again', fourth.leaseToken, { error: 'fourth' }), {
      outcome: 'dead_lettered',
    });
    assert.deepEqual(await queue.listDead(10), [
      { id: 'again', payload: { keep: 'me' }, error: 'fourth', attempts: 4 },
    ]);
  });

  it('each requeue gives the original budget again, not the grown one', async () => {
    const queue = getQueue();
    await killJob(queue, 'once', 1);
    for (const attempt of [2, 3]) {
      const held = await queue.requeueDead('once', { visibilityTimeoutMs: 60_000 });
      assert.deepEqual([held?.attempt, held?.maxAttempts], [attempt, attempt]);
      await queue.release('once', held?.leaseToken ?? '');
      const job = await leaseNext(queue);
      assert.deepEqual(await queue.fail('once', job.leaseToken, { error: 'e' }), {
        outcome: 'dead_lettered',
      });
    }
    assert.equal((await queue.listDead(1))[0]?.attempts, 3);
  });

  it('requeueDead changes nothing for a job that is waiting, leased, acked or unknown', async () => {
    const queue = getQueue();
    assert.equal(await queue.requeueDead('unknown', { visibilityTimeoutMs: 60_000 }), undefined);
    await queue.enqueue({ id: 'live', payload: null, maxAttempts: 3 });
    await queue.enqueue({ id: 'later', payload: null, maxAttempts: 3, runAt: Date.now() + 60_000 });
    assert.equal(await queue.requeueDead('live', { visibilityTimeoutMs: 60_000 }), undefined);
    assert.equal(await queue.requeueDead('later', { visibilityTimeoutMs: 60_000 }), undefined);
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.equal(job?.id, 'live');
    assert.equal(await queue.requeueDead('live', { visibilityTimeoutMs: 60_000 }), undefined);
    assert.deepEqual(await queue.stats(), { ready: 1, delayed: 1, leased: 1, deadLettered: 0 });
    assert.equal(await queue.ack('live', job?.leaseToken ?? ''), true, 'the lease was taken away');
    assert.equal(await queue.requeueDead('live', { visibilityTimeoutMs: 60_000 }), undefined);
    assert.equal(await queue.has('live'), false);
  });

  it('of concurrent requeueDead calls for one job exactly one gets it', async () => {
    const queue = getQueue();
    await killJob(queue, 'contended', 1);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => queue.requeueDead('contended', { visibilityTimeoutMs: 60_000 })),
    );
    const winners = results.filter((r) => r !== undefined);
    assert.equal(winners.length, 1);
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 1, deadLettered: 0 });
  });

  it('a held requeue whose holder never releases it is delivered, unstarted, as the same attempt', async () => {
    // The caller died between taking the job back and releasing it: nothing is lost.
    const queue = getQueue();
    await killJob(queue, 'orphaned', 1);
    const held = await queue.requeueDead('orphaned', { visibilityTimeoutMs: 50 });
    assert.equal(held?.attempt, 2);
    await sleep(60);
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.equal(job?.id, 'orphaned');
    assert.equal(job?.attempt, 2);
    assert.equal(await queue.release('orphaned', held?.leaseToken ?? ''), false, 'the old hold still counts');
    assert.equal(await queue.ack('orphaned', job?.leaseToken ?? ''), true);
  });

  it('retention does not delete a job taken back from the dead letters', async () => {
    const queue = getQueue();
    await killJob(queue, 'revived', 1);
    await sleep(2);
    const held = await queue.requeueDead('revived', { visibilityTimeoutMs: 60_000 });
    assert.ok(held);
    assert.equal(await queue.deleteDead({ deadBefore: Date.now() + 1_000, limit: 10 }), 0);
    assert.equal(await queue.has('revived'), true);
  });
}
