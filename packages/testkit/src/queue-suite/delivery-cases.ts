import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Queue } from '@faas/core';
import { sleep } from '../fresh-subject.ts';

type GetQueue = () => Queue;

/** Enqueue, lease, ack, order, visibility and lease ownership. */
export function deliveryCases(getQueue: GetQueue): void {
  it('delivers an enqueued job with its payload under a lease', async () => {
    const queue = getQueue();
    const payload = { invocationId: 'inv_1', nested: [1, 'two', null, { deep: true }], text: 'é🚀' };
    assert.deepEqual(await queue.enqueue({ id: 'job-1', payload, maxAttempts: 3 }), { duplicate: false });
    assert.equal(await queue.has('job-1'), true);
    const before = Date.now();
    const [job, ...rest] = await queue.lease({ limit: 10, visibilityTimeoutMs: 30_000 });
    assert.deepEqual(rest, []);
    assert.ok(job);
    assert.equal(job.id, 'job-1');
    assert.deepEqual(job.payload, payload);
    assert.equal(job.attempt, 1);
    assert.equal(job.maxAttempts, 3);
    assert.equal(typeof job.leaseToken, 'string');
    assert.ok(job.leaseToken.length > 0);
    assert.ok(job.leaseExpiresAt >= before + 30_000 && job.leaseExpiresAt <= Date.now() + 30_000);
  });

  it('enqueue is idempotent by id while the job is queued, leased or dead', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'j', payload: 'first', maxAttempts: 1 });
    assert.deepEqual(await queue.enqueue({ id: 'j', payload: 'second', maxAttempts: 5 }), {
      duplicate: true,
    });
    const [job] = await queue.lease({ limit: 5, visibilityTimeoutMs: 30_000 });
    assert.equal(job?.payload, 'first');
    assert.equal(job?.maxAttempts, 1);
    assert.deepEqual(await queue.enqueue({ id: 'j', payload: 'third', maxAttempts: 1 }), { duplicate: true });
    assert.deepEqual(await queue.lease({ limit: 5, visibilityTimeoutMs: 30_000 }), []);
    assert.deepEqual(await queue.fail('j', job?.leaseToken ?? '', { error: 'x' }), {
      outcome: 'dead_lettered',
    });
    assert.deepEqual(await queue.enqueue({ id: 'j', payload: 'fourth', maxAttempts: 1 }), {
      duplicate: true,
    });
    assert.deepEqual(await queue.lease({ limit: 5, visibilityTimeoutMs: 30_000 }), []);
    assert.equal((await queue.stats()).deadLettered, 1);
  });

  it('ack removes the job; a removed id can be enqueued again', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'a', payload: 1, maxAttempts: 2 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 30_000 });
    assert.ok(job);
    assert.equal(await queue.ack(job.id, job.leaseToken), true);
    assert.equal(await queue.has('a'), false);
    assert.deepEqual(await queue.stats(), { ready: 0, leased: 0, deadLettered: 0 });
    assert.equal(await queue.ack(job.id, job.leaseToken), false);
    assert.deepEqual(await queue.enqueue({ id: 'a', payload: 2, maxAttempts: 2 }), { duplicate: false });
    const [again] = await queue.lease({ limit: 1, visibilityTimeoutMs: 30_000 });
    assert.equal(again?.payload, 2);
    assert.equal(again?.attempt, 1);
  });

  it('leases at most `limit` jobs, oldest due first, enqueue order breaking ties', async () => {
    const queue = getQueue();
    const now = Date.now();
    await queue.enqueue({ id: 'due-2', payload: null, maxAttempts: 1, runAt: now - 2_000 });
    await queue.enqueue({ id: 'tie-a', payload: null, maxAttempts: 1, runAt: now - 1_000 });
    await queue.enqueue({ id: 'due-3', payload: null, maxAttempts: 1, runAt: now - 3_000 });
    await queue.enqueue({ id: 'tie-b', payload: null, maxAttempts: 1, runAt: now - 1_000 });
    await queue.enqueue({ id: 'future', payload: null, maxAttempts: 1, runAt: now + 60_000 });
    const first = await queue.lease({ limit: 2, visibilityTimeoutMs: 30_000 });
    assert.deepEqual(
      first.map((j) => j.id),
      ['due-3', 'due-2'],
    );
    const second = await queue.lease({ limit: 10, visibilityTimeoutMs: 30_000 });
    assert.deepEqual(
      second.map((j) => j.id),
      ['tie-a', 'tie-b'],
    );
    assert.deepEqual(await queue.lease({ limit: 10, visibilityTimeoutMs: 30_000 }), []);
    assert.deepEqual(await queue.lease({ limit: 0, visibilityTimeoutMs: 30_000 }), []);
  });

  it('holds a job with a future runAt until it is due', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'later', payload: null, maxAttempts: 1, runAt: Date.now() + 80 });
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 30_000 }), []);
    const wait = await queue.nextDueInMs();
    assert.ok(wait !== undefined && wait > 0 && wait <= 80, `nextDueInMs was ${wait}`);
    await sleep(wait + 5);
    assert.deepEqual(
      (await queue.lease({ limit: 1, visibilityTimeoutMs: 30_000 })).map((j) => j.id),
      ['later'],
    );
  });

  it('does not deliver a leased job again while its lease lasts', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'held', payload: null, maxAttempts: 3 });
    assert.equal((await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 })).length, 1);
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 }), []);
    assert.deepEqual(await queue.stats(), { ready: 0, leased: 1, deadLettered: 0 });
  });

  it('delivers a job again with attempt + 1 once its lease expires, and the old token is stale', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'lost', payload: 'p', maxAttempts: 3 });
    const [first] = await queue.lease({ limit: 1, visibilityTimeoutMs: 1 });
    assert.ok(first);
    await sleep(5);
    const [second] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.ok(second, 'the expired lease was not delivered again');
    assert.equal(second.id, 'lost');
    assert.equal(second.attempt, 2);
    assert.equal(second.payload, 'p');
    assert.notEqual(second.leaseToken, first.leaseToken);
    // The first consumer lost the job: nothing it does counts.
    assert.equal(await queue.ack('lost', first.leaseToken), false);
    assert.deepEqual(await queue.fail('lost', first.leaseToken, { error: 'late' }), {
      outcome: 'lease_lost',
    });
    assert.equal(await queue.extend('lost', first.leaseToken, 60_000), false);
    assert.deepEqual(await queue.stats(), { ready: 0, leased: 1, deadLettered: 0 });
    assert.equal(await queue.ack('lost', second.leaseToken), true);
  });

  it('ignores ack, fail and extend with a token that never leased the job', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'mine', payload: null, maxAttempts: 2 });
    assert.equal(await queue.ack('mine', 'forged'), false);
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.ok(job);
    assert.equal(await queue.ack('mine', 'forged'), false);
    assert.deepEqual(await queue.fail('mine', 'forged', { error: 'x', retryable: false }), {
      outcome: 'lease_lost',
    });
    assert.equal(await queue.extend('mine', 'forged', 1), false);
    assert.equal(await queue.ack('missing', job.leaseToken), false);
    assert.deepEqual(await queue.stats(), { ready: 0, leased: 1, deadLettered: 0 });
    assert.equal(await queue.ack('mine', job.leaseToken), true);
  });

  it('extend pushes the lease out so the job is not delivered again', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'long', payload: null, maxAttempts: 2 });
    // A lease of 0 ms is due again at once, so a redelivery needs no waiting.
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 0 });
    assert.ok(job);
    assert.equal(await queue.extend('long', job.leaseToken, 60_000), true);
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 }), []);
    assert.equal(await queue.ack('long', job.leaseToken), true);
  });

  it('a lease stays the holder’s after expiry until another consumer leases the job', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'slow', payload: null, maxAttempts: 2 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 0 });
    assert.ok(job);
    await sleep(2);
    assert.equal(await queue.ack('slow', job.leaseToken), true);
    assert.equal(await queue.has('slow'), false);
  });

  it('counts ready (due, backing off or scheduled), leased and dead jobs', async () => {
    const queue = getQueue();
    assert.deepEqual(await queue.stats(), { ready: 0, leased: 0, deadLettered: 0 });
    await queue.enqueue({ id: 'now', payload: null, maxAttempts: 1 });
    await queue.enqueue({ id: 'soon', payload: null, maxAttempts: 1, runAt: Date.now() + 60_000 });
    await queue.enqueue({ id: 'lease', payload: null, maxAttempts: 1, runAt: Date.now() - 10_000 });
    await queue.enqueue({ id: 'kill', payload: null, maxAttempts: 1, runAt: Date.now() - 20_000 });
    const [kill, lease] = await queue.lease({ limit: 2, visibilityTimeoutMs: 60_000 });
    assert.deepEqual([kill?.id, lease?.id], ['kill', 'lease']);
    await queue.fail('kill', kill?.leaseToken ?? '', { error: 'x' });
    assert.deepEqual(await queue.stats(), { ready: 2, leased: 1, deadLettered: 1 });
  });

  it('nextDueInMs: undefined when nothing waits, 0 when a job is due', async () => {
    const queue = getQueue();
    assert.equal(await queue.nextDueInMs(), undefined);
    await queue.enqueue({ id: 'held', payload: null, maxAttempts: 1 });
    assert.equal(await queue.nextDueInMs(), 0);
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.equal(await queue.nextDueInMs(), undefined, 'a job under a live lease is not waiting');
    await queue.fail('held', job?.leaseToken ?? '', { error: 'x' });
    assert.equal(await queue.nextDueInMs(), undefined, 'a dead job is not waiting');
    await queue.enqueue({ id: 'far', payload: null, maxAttempts: 1, runAt: Date.now() + 60_000 });
    await queue.enqueue({ id: 'near', payload: null, maxAttempts: 1, runAt: Date.now() + 30_000 });
    const wait = await queue.nextDueInMs();
    assert.ok(wait !== undefined && wait > 29_000 && wait <= 30_000, `nextDueInMs was ${wait}`);
  });

  it('never hands one job to two of many concurrent lease calls', async () => {
    const queue = getQueue();
    const ids = Array.from({ length: 60 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    for (const id of ids) await queue.enqueue({ id, payload: id, maxAttempts: 1 });
    const batches = await Promise.all(
      Array.from({ length: 12 }, () => queue.lease({ limit: 7, visibilityTimeoutMs: 60_000 })),
    );
    const leased = batches.flat().map((j) => j.id);
    assert.equal(new Set(leased).size, leased.length, 'a job was leased twice');
    assert.deepEqual([...leased].sort(), ids);
  });
}
