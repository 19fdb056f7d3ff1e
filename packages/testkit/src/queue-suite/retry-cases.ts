import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type DeadJob, type DeadPosition, ErrorCode, type Queue, type RetryPolicy } from '@faas/core';
import { rejectsWithCode } from '../assert-faas-error.ts';
import { sleep } from '../fresh-subject.ts';

type GetQueue = () => Queue;

/** How much earlier than the exact backoff a retry may come (jitter); it may never come later. */
export const MAX_JITTER_RATIO = 0.25;

/** Fails a leased job and checks that its retry is scheduled `delayMs` out, give or take jitter. */
async function failAndExpectRetry(queue: Queue, id: string, token: string, delayMs: number): Promise<number> {
  const before = Date.now();
  const outcome = await queue.fail(id, token, { error: `attempt failed` });
  const after = Date.now();
  assert.equal(outcome.outcome, 'retrying');
  const runAt = outcome.outcome === 'retrying' ? outcome.runAt : 0;
  assert.ok(
    runAt >= before + delayMs * (1 - MAX_JITTER_RATIO) && runAt <= after + delayMs,
    `expected a retry about ${delayMs} ms out, got ${runAt - before} ms`,
  );
  // Not before its time: the job waits, and nextDueInMs says how long.
  assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 }), []);
  const wait = await queue.nextDueInMs();
  assert.ok(
    wait !== undefined && wait <= delayMs && wait >= runAt - Date.now() - 1,
    `nextDueInMs was ${wait}`,
  );
  return runAt;
}

async function leaseWhenDue(queue: Queue, runAt: number) {
  await sleep(Math.max(0, runAt - Date.now()) + 2);
  const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
  assert.ok(job, 'the retry was not delivered once due');
  return job;
}

/** Retries with backoff, dead letters. `retry` is the policy the factory was given. */
export function retryCases(getQueue: GetQueue, retry: RetryPolicy): void {
  it('retries with exponential backoff, capped at maxDelayMs, counting attempts', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'flaky', payload: 'p', maxAttempts: 5 });
    let job = (await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 }))[0];
    assert.ok(job);
    const expected = [1, 2, 3].map((attempt) =>
      Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1)),
    );
    assert.ok(
      (expected[2] as number) < retry.baseDelayMs * 4,
      'the suite policy must reach its cap by attempt 3',
    );
    for (const [i, delayMs] of expected.entries()) {
      assert.equal(job.attempt, i + 1);
      const runAt = await failAndExpectRetry(queue, 'flaky', job.leaseToken, delayMs);
      // Backing off, or due by now: either way waiting, not delivered.
      const { delayed, ...counts } = await queue.stats();
      assert.deepEqual(counts, { ready: 1, leased: 0, deadLettered: 0 });
      assert.ok(delayed <= 1);
      job = await leaseWhenDue(queue, runAt);
      assert.equal(job.payload, 'p');
    }
    assert.equal(job.attempt, 4);
    assert.equal(await queue.ack('flaky', job.leaseToken), true);
  });

  it('dead-letters after maxAttempts, keeping payload, last error and attempts', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'doomed', payload: { n: 1 }, maxAttempts: 2 });
    const [first] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.ok(first);
    const runAt = await failAndExpectRetry(queue, 'doomed', first.leaseToken, retry.baseDelayMs);
    const second = await leaseWhenDue(queue, runAt);
    assert.equal(second.attempt, 2);
    assert.deepEqual(await queue.fail('doomed', second.leaseToken, { error: 'final error' }), {
      outcome: 'dead_lettered',
    });
    assert.deepEqual(await queue.listDead(10), [
      { id: 'doomed', payload: { n: 1 }, error: 'final error', attempts: 2 },
    ]);
    assert.equal(await queue.has('doomed'), true);
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, deadLettered: 1 });
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 }), []);
    assert.equal(await queue.ack('doomed', second.leaseToken), false);
  });

  it('dead-letters at once when a failure is not retryable', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'bad-input', payload: null, maxAttempts: 10 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.ok(job);
    assert.deepEqual(await queue.fail('bad-input', job.leaseToken, { error: 'gone', retryable: false }), {
      outcome: 'dead_lettered',
    });
    assert.deepEqual(await queue.listDead(1), [
      { id: 'bad-input', payload: null, error: 'gone', attempts: 1 },
    ]);
  });

  it('fail counts the attempt whether or not it was started', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'two', payload: null, maxAttempts: 2 });
    const [first] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.equal(await queue.start('two', first?.leaseToken ?? ''), true);
    const outcome = await queue.fail('two', first?.leaseToken ?? '', { error: 'started, failed' });
    assert.equal(outcome.outcome, 'retrying');
    const second = await leaseWhenDue(queue, outcome.outcome === 'retrying' ? outcome.runAt : 0);
    assert.equal(second.attempt, 2);
    // Failed before it started (it could not even be set up): still the last attempt.
    assert.deepEqual(await queue.fail('two', second.leaseToken, { error: 'unstarted' }), {
      outcome: 'dead_lettered',
    });
    assert.deepEqual(await queue.listDead(1), [
      { id: 'two', payload: null, error: 'unstarted', attempts: 2 },
    ]);
  });

  it('a single-attempt job is dead-lettered on its first failure', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'once', payload: null, maxAttempts: 1 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.deepEqual(await queue.fail('once', job?.leaseToken ?? '', { error: 'e' }), {
      outcome: 'dead_lettered',
    });
  });

  it('lists dead jobs newest first, at most `limit`', async () => {
    const queue = getQueue();
    for (const id of ['d1', 'd2', 'd3']) {
      await queue.enqueue({ id, payload: id, maxAttempts: 1 });
      const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
      await queue.fail(id, job?.leaseToken ?? '', { error: `error ${id}` });
      await sleep(2);
    }
    assert.deepEqual(
      (await queue.listDead(2)).map((d) => d.id),
      ['d3', 'd2'],
    );
    assert.deepEqual(
      (await queue.listDead(10)).map((d) => d.error),
      ['error d3', 'error d2', 'error d1'],
    );
  });

  it('listDeadAfter walks the dead jobs oldest first, a page at a time, each once, several of one ms too', async () => {
    const queue = getQueue();
    // No sleeps: several die in the same ms, which the tiebreak orders.
    const ids = Array.from({ length: 7 }, (_, i) => `walk-${i}`);
    for (const id of ids) {
      await queue.enqueue({ id, payload: { id }, maxAttempts: 1 });
      const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
      await queue.fail(id, job?.leaseToken ?? '', { error: `error ${id}` });
    }
    const walked: string[] = [];
    let position: DeadPosition = { deadAt: 0 };
    for (let page = 0; page < 10; page++) {
      const jobs = await queue.listDeadAfter(position, 2);
      assert.ok(jobs.length <= 2);
      if (jobs.length === 0) break;
      for (const job of jobs) walked.push(job.id);
      const last = jobs.at(-1) as DeadJob;
      position = { deadAt: last.deadAt, tiebreak: last.tiebreak };
    }
    assert.deepEqual(walked, ids);
    const [first] = await queue.listDeadAfter({ deadAt: 0 }, 1);
    assert.deepEqual(first && { ...first, deadAt: typeof first.deadAt, tiebreak: typeof first.tiebreak }, {
      id: 'walk-0',
      payload: { id: 'walk-0' },
      error: 'error walk-0',
      attempts: 1,
      deadAt: 'number',
      tiebreak: 'string',
    });
    assert.ok(first && first.deadAt >= Date.now() - 60_000 && first.deadAt <= Date.now() + 1_000);
    // A position without a tiebreak is before every job of its time.
    const fromTime = await queue.listDeadAfter({ deadAt: first?.deadAt ?? 0 }, 1);
    assert.equal(fromTime[0]?.id, 'walk-0');
    assert.deepEqual(await queue.listDeadAfter(position, 10), [], 'nothing after the last');
  });

  it('listDeadAfter finds a job taken back and dead again after where the walk stopped', async () => {
    const queue = getQueue();
    await queue.enqueue({ id: 'twice', payload: null, maxAttempts: 1 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    await queue.fail('twice', job?.leaseToken ?? '', { error: 'first death' });
    const [dead] = await queue.listDeadAfter({ deadAt: 0 }, 10);
    assert.ok(dead);
    const position = { deadAt: dead.deadAt, tiebreak: dead.tiebreak };
    await sleep(2);
    const held = await queue.requeueDead('twice', { visibilityTimeoutMs: 60_000 });
    assert.ok(held);
    await queue.fail('twice', held.leaseToken, { error: 'second death' });
    const again = await queue.listDeadAfter(position, 10);
    assert.deepEqual(
      again.map((d) => [d.id, d.error, d.attempts]),
      [['twice', 'second death', 2]],
    );
    assert.ok((again[0]?.deadAt ?? 0) > dead.deadAt);
  });

  it('dead-letters a job whose lease expired on its last attempt instead of delivering it again', async () => {
    // A job that kills its consumer would otherwise come back forever.
    const queue = getQueue();
    await queue.enqueue({ id: 'poison', payload: null, maxAttempts: 1 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    assert.equal(await queue.start('poison', job?.leaseToken ?? ''), true);
    // The lease runs out now (a short first lease could run out before the start when busy).
    assert.equal(await queue.extend('poison', job?.leaseToken ?? '', 1), true);
    await sleep(30);
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 }), []);
    const [dead] = await queue.listDead(1);
    assert.equal(dead?.id, 'poison');
    assert.equal(dead?.attempts, 1);
    assert.ok(dead?.error, 'the dead letter says why');
  });

  it('deleteDead removes jobs dead before the cutoff, oldest first, at most limit, and no live job', async () => {
    const queue = getQueue();
    for (const id of ['dead-1', 'dead-2', 'dead-3']) {
      await queue.enqueue({ id, payload: id, maxAttempts: 1 });
      const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
      await queue.fail(id, job?.leaseToken ?? '', { error: 'x' });
      await sleep(2);
    }
    await queue.enqueue({ id: 'alive', payload: null, maxAttempts: 1 });
    const [leased] = await queue.lease({ limit: 1, visibilityTimeoutMs: 60_000 });
    await queue.enqueue({ id: 'waiting', payload: null, maxAttempts: 1 });
    const cutoff = Date.now() + 1;
    assert.equal(await queue.deleteDead({ deadBefore: cutoff, limit: 2 }), 2);
    assert.deepEqual(
      (await queue.listDead(10)).map((d) => d.id),
      ['dead-3'],
    );
    assert.equal(await queue.deleteDead({ deadBefore: cutoff, limit: 10 }), 1);
    assert.equal(await queue.deleteDead({ deadBefore: cutoff, limit: 10 }), 0);
    assert.deepEqual(await queue.stats(), { ready: 1, delayed: 0, leased: 1, deadLettered: 0 });
    assert.equal(await queue.ack('alive', leased?.leaseToken ?? ''), true);
    // A deleted dead job's id is free again.
    assert.deepEqual(await queue.enqueue({ id: 'dead-1', payload: 'again', maxAttempts: 1 }), {
      duplicate: false,
    });
  });

  it('rejects maxAttempts below 1 with VALIDATION', async () => {
    const queue = getQueue();
    await rejectsWithCode(queue.enqueue({ id: 'zero', payload: null, maxAttempts: 0 }), ErrorCode.VALIDATION);
    assert.equal(await queue.has('zero'), false);
  });
}
