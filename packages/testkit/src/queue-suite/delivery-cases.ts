import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { LeasedJob, Queue } from '@faas/core';
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
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, deadLettered: 0 });
    assert.equal(await queue.ack(job.id, job.leaseToken), false);
    assert.deepEqual(await queue.enqueue({ id: 'a', payload: 2, maxAttempts: 2 }), { duplicate: false });
    const [again] = await queue.lease({ limit: 1, visibilityTimeoutMs: 30_000 });
    assert.equal(again?.payload, 2);
    assert.equal(again?.attempt, 1);
  });

  it('leases at most `limit` jobs by turn: taken when enqueued due, else at the first lease after coming due', async () => {
    const queue = getQueue();
    const now = Date.now();
    await queue.enqueue({ id: 'first', payload: null, maxAttempts: 1 });
    await queue.enqueue({ id: 'soon', payload: null, maxAttempts: 1, runAt: now + 40 });
    await queue.enqueue({ id: 'past', payload: null, maxAttempts: 1, runAt: now - 3_000 });
    await queue.enqueue({ id: 'second', payload: null, maxAttempts: 1 });
    await queue.enqueue({ id: 'future', payload: null, maxAttempts: 1, runAt: now + 60_000 });
    await sleep(60);
    await queue.enqueue({ id: 'last', payload: null, maxAttempts: 1 });
    const first = await queue.lease({ limit: 2, visibilityTimeoutMs: 30_000 });
    assert.deepEqual(
      first.map((j) => j.id),
      ['first', 'past'],
    );
    const second = await queue.lease({ limit: 10, visibilityTimeoutMs: 30_000 });
    assert.deepEqual(
      second.map((j) => j.id),
      ['second', 'last', 'soon'],
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

  it('says how long the job due the longest has waited: none due, a due job, an expired lease', async () => {
    const queue = getQueue();
    assert.equal(await queue.oldestDueAgeMs(), undefined, 'an empty queue');
    await queue.enqueue({ id: 'future', payload: null, maxAttempts: 1, runAt: Date.now() + 60_000 });
    assert.equal(await queue.oldestDueAgeMs(), undefined, 'a job not due yet has not waited');
    await queue.enqueue({ id: 'due', payload: null, maxAttempts: 2 });
    await sleep(40);
    const age = await queue.oldestDueAgeMs();
    assert.ok(age !== undefined && age >= 35 && age < 60_000, `oldestDueAgeMs was ${age}`);
    const [leased] = await queue.lease({ limit: 1, visibilityTimeoutMs: 30 });
    assert.equal(leased?.id, 'due');
    assert.equal(await queue.oldestDueAgeMs(), undefined, 'a job under a live lease is not waiting');
    await sleep(60);
    const expired = await queue.oldestDueAgeMs();
    assert.ok(expired !== undefined && expired >= 25 && expired < 60_000, `after the lease: ${expired}`);
  });

  it('does not deliver a leased job again while its lease lasts', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'held', payload: null, maxAttempts: 3 });
    assert.equal((await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 })).length, 1);
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 }), []);
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 1, deadLettered: 0 });
  });

  it('delivers a started job again with attempt + 1 once its lease expires, and the old token is stale', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'lost', payload: 'p', maxAttempts: 3 });
    // Started under a long lease, which then runs out: a short first lease could run out before
    // the start on a busy machine.
    const [first] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.ok(first);
    assert.equal(await queue.start('lost', first.leaseToken), true);
    assert.equal(await queue.extend('lost', first.leaseToken, 1), true);
    await sleep(30);
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
    assert.equal(await queue.start('lost', first.leaseToken), false);
    assert.equal(await queue.release('lost', first.leaseToken), false);
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 1, deadLettered: 0 });
    assert.equal(await queue.ack('lost', second.leaseToken), true);
  });

  it('a lease that runs out before its attempt starts costs no attempt', async () => {
    // A consumer that stalled or died while it waited for capacity never ran the job.
    const queue = getQueue();
    await queue.enqueue({ id: 'waited', payload: null, maxAttempts: 1 });
    const [first] = await queue.lease({ limit: 1, visibilityTimeoutMs: 0 });
    assert.equal(first?.attempt, 1);
    await sleep(2);
    const [again] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.ok(again, 'a single-attempt job whose attempt never started was not delivered again');
    assert.equal(again.attempt, 1);
    assert.deepEqual(await queue.listDead(10), []);
    assert.equal(await queue.start('waited', again.leaseToken), true);
    assert.equal(await queue.ack('waited', again.leaseToken), true);
  });

  it('start counts the attempt once, and only under a live lease', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 's', payload: null, maxAttempts: 2 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.ok(job);
    assert.equal(await queue.start('s', 'forged'), false);
    assert.equal(await queue.start('missing', job.leaseToken), false);
    assert.equal(await queue.start('s', job.leaseToken), true);
    assert.equal(await queue.start('s', job.leaseToken), true, 'a second start of the same lease');
    // One attempt counted: failing it leaves one more.
    assert.equal((await queue.fail('s', job.leaseToken, { error: 'first' })).outcome, 'retrying');
    // A lease that ran out cannot start: the next lease call of anyone may take the job.
    await queue.enqueue({ id: 'late', payload: null, maxAttempts: 2 });
    const [late] = await queue.lease({ limit: 1, visibilityTimeoutMs: 0 });
    assert.equal(late?.id, 'late');
    await sleep(2);
    assert.equal(await queue.start('late', late?.leaseToken ?? ''), false);
    const [retaken] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.equal(retaken?.id, 'late');
    assert.equal(retaken?.attempt, 1, 'the refused start counted an attempt');
  });

  it('release hands a job back unstarted without counting an attempt, due at runAt', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'r', payload: 'keep', maxAttempts: 1 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.ok(job);
    assert.equal(await queue.release('r', 'forged'), false);
    assert.equal(await queue.release('r', job.leaseToken, { runAt: Date.now() + 60 }), true);
    assert.equal(await queue.ack('r', job.leaseToken), false, 'the released lease is gone');
    assert.deepEqual(await queue.stats(), { ready: 1, delayed: 1, leased: 0, deadLettered: 0 });
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 }), [], 'before runAt');
    const wait = await queue.nextDueInMs();
    assert.ok(wait !== undefined && wait > 0 && wait <= 60, `nextDueInMs was ${wait}`);
    await sleep(wait + 5);
    const [again] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.equal(again?.attempt, 1);
    assert.equal(again?.payload, 'keep');
    // Released at once (no runAt): due now.
    assert.equal(await queue.release('r', again?.leaseToken ?? ''), true);
    const [third] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.equal(third?.attempt, 1);
    assert.equal(await queue.start('r', third?.leaseToken ?? ''), true);
    assert.equal(await queue.ack('r', third?.leaseToken ?? ''), true);
  });

  it('extendMany renews every live lease in one call and names the lost ones', async () => {
    const queue = getQueue();
    for (const id of ['x', 'y', 'z']) await queue.enqueue({ id, payload: null, maxAttempts: 2 });
    const jobs = await queue.lease({ limit: 3, visibilityTimeoutMs: 0 });
    assert.equal(jobs.length, 3);
    const [x, y, z] = jobs as [LeasedJob, LeasedJob, LeasedJob];
    assert.equal(await queue.ack(z.id, z.leaseToken), true);
    const lost = await queue.extendMany(
      [
        { id: x.id, leaseToken: x.leaseToken },
        { id: y.id, leaseToken: 'forged' },
        { id: z.id, leaseToken: z.leaseToken },
      ],
      60_000,
    );
    assert.deepEqual([...lost].sort(), ['y', 'z']);
    assert.deepEqual(await queue.extendMany([], 60_000), []);
    await sleep(2);
    // x was renewed; y's lease (0 ms) ran out and goes to whoever leases next.
    assert.deepEqual(
      (await queue.lease({ limit: 3, visibilityTimeoutMs: 60_000 })).map((j) => j.id),
      ['y'],
    );
    assert.equal(await queue.ack(x.id, x.leaseToken), true);
  });

  it('reports itself healthy', async () => {
    assert.deepEqual(await getQueue().health(), { ok: true });
  });

  it('ignores ack, fail, extend, start and release with a token that never leased the job', async () => {
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
    assert.equal(await queue.start('mine', 'forged'), false);
    assert.equal(await queue.release('mine', 'forged'), false);
    assert.equal(await queue.ack('missing', job.leaseToken), false);
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 1, deadLettered: 0 });
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
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, deadLettered: 0 });
    await queue.enqueue({ id: 'kill', payload: null, maxAttempts: 1 });
    await queue.enqueue({ id: 'lease', payload: null, maxAttempts: 1, runAt: Date.now() - 10_000 });
    await queue.enqueue({ id: 'soon', payload: null, maxAttempts: 1, runAt: Date.now() + 60_000 });
    await queue.enqueue({ id: 'wait', payload: null, maxAttempts: 1 });
    const [kill, lease] = await queue.lease({ limit: 2, visibilityTimeoutMs: 60_000 });
    assert.deepEqual([kill?.id, lease?.id], ['kill', 'lease']);
    await queue.fail('kill', kill?.leaseToken ?? '', { error: 'x' });
    assert.deepEqual(await queue.stats(), { ready: 2, delayed: 1, leased: 1, deadLettered: 1 });
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
