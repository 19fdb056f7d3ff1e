import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ConsumerFactory, LeasedJob } from '@faas/core';
import { defineQueueSuite, eventually } from '@faas/testkit';
import { ConcurrencyLimiter } from '../../control/concurrency-limiter.ts';
import { QueueConsumer } from '../../data/queue-consumer.ts';
import { applyMigrations, loadMigrations } from '../../sqlite/migrations.ts';
import { SqliteDatabase } from '../../sqlite/sqlite-database.ts';
import { openSqliteQueue } from './sqlite-queue.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-sqlite-queue-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(root, `queue-${++n}`, 'faas.db');
const CHILD = fileURLToPath(new URL('./sqlite-queue.test-child.ts', import.meta.url));
const MIGRATIONS = new URL('./migrations/', import.meta.url);

/** The server's consumer over the queue under test, with its own slots. */
const consume: ConsumerFactory = (queue, options) =>
  new QueueConsumer(queue, { ...options, slots: new ConcurrencyLimiter(0) });

defineQueueSuite('SqliteQueue (file)', async ({ retry }) => {
  const path = freshPath();
  const queue = await openSqliteQueue({ path, retry });
  return {
    queue,
    consume,
    openPeer: () => openSqliteQueue({ path, retry }),
    cleanup: async () => {
      await queue.close();
      rmSync(join(path, '..'), { recursive: true, force: true });
    },
  };
});

defineQueueSuite('SqliteQueue (:memory:)', async ({ retry }) => {
  const queue = await openSqliteQueue({ path: ':memory:', retry });
  return { queue, consume, cleanup: () => queue.close() };
});

/** A queue on a clock the test moves: exact timings, no waiting. */
async function onFakeClock() {
  const clock = { now: 1_000_000 };
  const queue = await openSqliteQueue({
    path: ':memory:',
    retry: { baseDelayMs: 1_000, maxDelayMs: 60_000 },
    jitterRatio: 0,
    now: () => clock.now,
  });
  return { queue, clock };
}

describe('SqliteQueue timings on a fake clock', () => {
  it('schedules retries exactly base * 2^(attempt-1), capped, and delivers them when due', async () => {
    const { queue, clock } = await onFakeClock();
    await queue.enqueue({ id: 'j', payload: null, maxAttempts: 10 });
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 8; attempt++) {
      const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 5_000 });
      assert.equal(job?.attempt, attempt);
      const outcome = await queue.fail('j', job?.leaseToken ?? '', { error: 'e' });
      assert.equal(outcome.outcome, 'retrying');
      const delay = outcome.outcome === 'retrying' ? outcome.runAt - clock.now : -1;
      delays.push(delay);
      assert.equal(await queue.nextDueInMs(), delay);
      clock.now += delay - 1;
      assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 5_000 }), [], 'delivered early');
      clock.now += 1;
    }
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    await queue.close();
  });

  it('redelivers exactly when a lease expires, and extend moves that moment', async () => {
    const { queue, clock } = await onFakeClock();
    await queue.enqueue({ id: 'j', payload: null, maxAttempts: 5 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 10_000 });
    assert.equal(job?.leaseExpiresAt, clock.now + 10_000);
    assert.equal(await queue.start('j', job?.leaseToken ?? ''), true);
    clock.now += 9_999;
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 10_000 }), []);
    assert.equal(await queue.extend('j', job?.leaseToken ?? '', 10_000), true);
    clock.now += 9_999;
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 10_000 }), []);
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 1, deadLettered: 0 });
    clock.now += 1;
    assert.deepEqual(await queue.stats(), { ready: 1, delayed: 0, leased: 0, deadLettered: 0 });
    assert.equal(await queue.nextDueInMs(), 0);
    const [again] = await queue.lease({ limit: 1, visibilityTimeoutMs: 10_000 });
    assert.equal(again?.attempt, 2);
    await queue.close();
  });
});

describe('SqliteQueue.expireLeases (a restart under the data-dir lock)', () => {
  it('makes every lease due now: a started one comes back as the next attempt, an unstarted one as the same', async () => {
    const queue = await openSqliteQueue({ path: ':memory:', retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    for (const id of ['started', 'waiting', 'last'])
      await queue.enqueue({ id, payload: null, maxAttempts: id === 'last' ? 1 : 3 });
    const held = await queue.lease({ limit: 3, visibilityTimeoutMs: 60_000 });
    for (const job of held)
      if (job.id !== 'waiting') assert.equal(await queue.start(job.id, job.leaseToken), true);
    assert.equal(await queue.expireLeases(), 3);
    const back = await queue.lease({ limit: 5, visibilityTimeoutMs: 60_000 });
    assert.deepEqual(
      back.map((j) => [j.id, j.attempt]),
      [
        ['started', 2],
        ['waiting', 1],
      ],
    );
    assert.deepEqual(
      (await queue.listDead(5)).map((d) => d.id),
      ['last'],
    );
    for (const job of back) await queue.ack(job.id, job.leaseToken);
    assert.equal(await queue.expireLeases(), 0);
    await queue.close();
  });
});

describe('SqliteQueue migrations', () => {
  it('002 keeps the attempt a lease taken under schema 1 counted when it was leased', async () => {
    const path = freshPath();
    const db = new SqliteDatabase(path);
    applyMigrations(db, 'queue', loadMigrations(MIGRATIONS).slice(0, 1));
    const expired = Date.now() - 1_000;
    db.run(
      `INSERT INTO queue_jobs (id, payload, state, attempt, max_attempts, visible_at, lease_token, enqueued_at)
        VALUES ('old-last', NULL, 'leased', 1, 1, ?, 'token', ?), ('old-more', NULL, 'leased', 1, 2, ?, 'token', ?)`,
      expired,
      expired,
      expired,
      expired,
    );
    db.close();
    const queue = await openSqliteQueue({ path, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    const [again, ...rest] = await queue.lease({ limit: 5, visibilityTimeoutMs: 60_000 });
    assert.deepEqual(rest, []);
    assert.equal(again?.id, 'old-more');
    assert.equal(again?.attempt, 2);
    assert.deepEqual(
      (await queue.listDead(5)).map((d) => [d.id, d.attempts]),
      [['old-last', 1]],
    );
    await queue.close();
  });
});

describe('SqliteQueue migration 003', () => {
  it('a job dead before the attempt budget existed is taken back with its maxAttempts as budget', async () => {
    const path = freshPath();
    const db = new SqliteDatabase(path);
    applyMigrations(db, 'queue', loadMigrations(MIGRATIONS).slice(0, 2));
    db.run(
      `INSERT INTO queue_jobs (id, payload, state, attempt, max_attempts, visible_at, enqueued_at, dead_at, last_error)
        VALUES ('old-dead', '"p"', 'dead', 3, 3, 0, 0, 1, 'gone')`,
    );
    db.close();
    const queue = await openSqliteQueue({ path, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    const held = await queue.requeueDead('old-dead', { visibilityTimeoutMs: 60_000 });
    assert.deepEqual([held?.attempt, held?.maxAttempts, held?.payload], [4, 6, 'p']);
    await queue.close();
  });
});

describe('SqliteQueue migration 004', () => {
  it('jobs waiting or leased before groups existed are delivered, in the group of jobs without one', async () => {
    const path = freshPath();
    const db = new SqliteDatabase(path);
    applyMigrations(db, 'queue', loadMigrations(MIGRATIONS).slice(0, 3));
    const past = Date.now() - 1_000;
    db.run(
      `INSERT INTO queue_jobs (id, payload, state, attempt, max_attempts, budget, visible_at, lease_token, enqueued_at)
        VALUES ('old-expired', NULL, 'leased', 0, 2, 2, ?, 'token', ?), ('old-ready', '"p"', 'ready', 0, 2, 2, ?, NULL, ?)`,
      past - 500,
      past - 500,
      past,
      past,
    );
    db.close();
    const queue = await openSqliteQueue({ path, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    await queue.enqueue({ id: 'new', payload: null, maxAttempts: 1, group: 'team-a' });
    await queue.enqueue({ id: 'new-ungrouped', payload: null, maxAttempts: 1 });
    assert.deepEqual(
      (await queue.lease({ limit: 10, visibilityTimeoutMs: 60_000 })).map((j) => [j.id, j.attempt]),
      // The two new ones took their turns when enqueued; the old ones get theirs at this lease.
      [
        ['new', 1],
        ['new-ungrouped', 1],
        ['old-expired', 1],
        ['old-ready', 1],
      ],
    );
    await queue.close();
  });
});

/** Runs sqlite-queue.test-child.ts; resolves each JSON line it prints through `lines`. */
function startChild(args: string[]): { child: ChildProcess; next: () => Promise<Record<string, unknown>> } {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const reader = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return {
    child,
    next: async () => {
      const { value, done } = await reader.next();
      if (done) throw new Error(`child ${args[0]} ended without answering`);
      return JSON.parse(value as string);
    },
  };
}

describe('SqliteQueue across processes', () => {
  it('keeps jobs, and the started leases of a consumer killed with SIGKILL come back with attempt + 1', async () => {
    const path = freshPath();
    const queue = await openSqliteQueue({ path, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    for (const id of ['a', 'b', 'c']) await queue.enqueue({ id, payload: { id }, maxAttempts: 3 });
    const { child, next } = startChild(['lease-and-hang', path, '400']);
    const { leased } = (await next()) as { leased: LeasedJob[] };
    child.kill('SIGKILL');
    const [, signal] = await once(child, 'exit');
    assert.equal(signal, 'SIGKILL');

    assert.deepEqual(
      leased.map((j) => j.id),
      ['a', 'b'],
    );
    for (const id of ['a', 'b', 'c', 'from-child']) assert.equal(await queue.has(id), true, `${id} was lost`);
    const fresh = await queue.lease({ limit: 10, visibilityTimeoutMs: 60_000 });
    assert.deepEqual(fresh.map((j) => [j.id, j.attempt]).sort(), [
      ['c', 1],
      ['from-child', 1],
    ]);
    const expiresAt = Math.max(...leased.map((j) => j.leaseExpiresAt));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 5));
    const back = await queue.lease({ limit: 10, visibilityTimeoutMs: 60_000 });
    assert.deepEqual(
      back.map((j) => [j.id, j.attempt, j.payload]),
      [
        ['a', 2, { id: 'a' }],
        ['b', 2, { id: 'b' }],
      ],
    );
    for (const job of leased)
      assert.equal(await queue.ack(job.id, job.leaseToken), false, 'a dead lease still counted');
    await queue.close();
  });

  it('a consumer process stopped (SIGSTOP) past its lease loses the job to another, and learns it on waking', async () => {
    const path = freshPath();
    const queue = await openSqliteQueue({ path, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    await queue.enqueue({ id: 'stall-me', payload: null, maxAttempts: 3 });
    const { child, next } = startChild(['consume', path, '300']);
    const ranHere: number[] = [];
    const here = new QueueConsumer(queue, {
      concurrency: 1,
      leaseMs: 300,
      pollMs: 20,
      slots: new ConcurrencyLimiter(0),
      processor: {
        admit: async () => ({ kind: 'run', value: undefined }),
        process: async (job) => {
          ranHere.push(job.attempt);
        },
      },
    });
    try {
      assert.deepEqual(await next(), { started: 'stall-me', attempt: 1 });
      child.kill('SIGSTOP');
      here.start();
      await eventually(async () => !(await queue.has('stall-me')), 10_000, 'the job to run here');
      assert.deepEqual(ranHere, [2]);
      child.kill('SIGCONT');
      const woke = (await next()) as { finished: string; aborted: boolean; owner: boolean };
      assert.equal(woke.finished, 'stall-me');
      assert.equal(woke.owner, false, 'the stopped process still owned the job');
    } finally {
      child.kill('SIGKILL');
      await here.stop();
    }
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, deadLettered: 0 });
    await queue.close();
  });

  it('two processes draining one file together never lease the same job', async (t) => {
    const path = freshPath();
    const queue = await openSqliteQueue({ path, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    const ids = Array.from({ length: 1_500 }, (_, i) => `job-${String(i).padStart(4, '0')}`);
    for (const id of ids) await queue.enqueue({ id, payload: null, maxAttempts: 1 });
    const children = [startChild(['drain', path, '2']), startChild(['drain', path, '3'])];
    for (const c of children) assert.deepEqual(await c.next(), { ready: true });
    for (const c of children) c.child.stdin?.write('go\n');
    const results = await Promise.all(children.map(async (c) => ((await c.next()) as { ids: string[] }).ids));
    await Promise.all(children.map((c) => (c.child.exitCode === null ? once(c.child, 'exit') : undefined)));
    const all = results.flat();
    assert.equal(new Set(all).size, all.length, 'a job was leased by both processes');
    assert.deepEqual(all.sort(), ids);
    // Both start on one signal; if the scheduler still ran them one after the other, say so.
    if (results.some((r) => r.length === 0)) t.diagnostic('the two processes did not overlap this run');
    assert.deepEqual(await queue.stats(), { ready: 0, delayed: 0, leased: 0, deadLettered: 0 });
    await queue.close();
  });
});
