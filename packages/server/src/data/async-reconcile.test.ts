import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Invocation } from '@faas/core';
import { retryDeadLetter } from '../control/dead-letter-retry.ts';
import { openSqliteQueue } from '../queue/sqlite/sqlite-queue.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { DeadLetterSweep, reconcileOrphans } from './async-reconcile.ts';

const invocation = (id: string, status: Invocation['status']): Invocation => ({
  id,
  functionName: 'f',
  version: 1,
  mode: 'async',
  trigger: 'api',
  status,
  attempts: 1,
  createdAt: new Date().toISOString(),
});

/** `inv_hung`, recorded running, whose job's lease ran out on its last attempt: dead-lettered. */
async function hungOnItsLastAttempt() {
  let clock = 1_000_000;
  const store = await openSqliteStore({ path: ':memory:' });
  const queue = await openSqliteQueue({
    path: ':memory:',
    retry: { baseDelayMs: 10, maxDelayMs: 10 },
    now: () => clock,
  });
  await store.createInvocation(invocation('inv_hung', 'running'));
  await queue.enqueue({ id: 'inv_hung', payload: {}, maxAttempts: 1 });
  const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 50 });
  assert.equal(await queue.start('inv_hung', job?.leaseToken ?? ''), true);
  clock += 1000;
  assert.deepEqual(
    await queue.lease({ limit: 1, visibilityTimeoutMs: 50 }),
    [],
    'expired on its last attempt',
  );
  return { store, queue, advance: (ms: number) => (clock += ms) };
}

describe('async invocation reconciliation', () => {
  it('marks an invocation dead-lettered when the queue dead-lettered its job on lease expiry', async () => {
    const { store, queue } = await hungOnItsLastAttempt();
    const sweep = new DeadLetterSweep(store, queue);
    assert.equal(await sweep.run(), 1);
    assert.equal((await store.getInvocation('inv_hung'))?.status, 'dead_lettered');
    assert.equal(await sweep.run(), 0, 'idempotent');
    assert.equal(await new DeadLetterSweep(store, queue).run(), 0, 'idempotent on another node');
    await queue.close();
    await store.close();
  });

  it('leaves alone an invocation a retry took back after the dead letters were listed', async () => {
    const { store, queue } = await hungOnItsLastAttempt();
    const sweep = () => new DeadLetterSweep(store, queue).run();
    assert.equal(await sweep(), 1);

    // A sweep on another node read the dead letters, then the retry ran before it wrote.
    const stale = await queue.listDeadAfter({ deadAt: 0 }, 200);
    await retryDeadLetter({ store, queue, getInvocation: (id) => store.getInvocation(id) }, 'inv_hung');
    queue.listDeadAfter = async () => stale;
    assert.equal(await sweep(), 0);
    assert.equal((await store.getInvocation('inv_hung'))?.status, 'queued');

    // The retried job's next attempt has started: the stale dead letter's write is fenced off.
    const [again] = await queue.lease({ limit: 1, visibilityTimeoutMs: 50 });
    assert.equal(again?.attempt, 2);
    assert.equal(await queue.start('inv_hung', again?.leaseToken ?? ''), true);
    await store.recordAttempt('inv_hung', 2, { status: 'running' });
    assert.equal(await sweep(), 0);
    assert.equal((await store.getInvocation('inv_hung'))?.status, 'running');
    await queue.close();
    await store.close();
  });

  it('marks a job dead on lease expiry however many dead letters came after it', async () => {
    const { store, queue, advance } = await hungOnItsLastAttempt();
    // Another tenant's failing function: more dead letters than one page, each already recorded.
    for (let i = 0; i < 250; i++) {
      advance(1);
      const id = `inv_f${i}`;
      await store.createInvocation(invocation(id, 'dead_lettered'));
      await queue.enqueue({ id, payload: {}, maxAttempts: 1 });
      const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 50 });
      assert.equal((await queue.fail(id, job?.leaseToken ?? '', { error: 'boom' })).outcome, 'dead_lettered');
    }
    const sweep = new DeadLetterSweep(store, queue);
    let fixed = 0;
    for (let i = 0; i < 3; i++) fixed += await sweep.run();
    assert.equal((await store.getInvocation('inv_hung'))?.status, 'dead_lettered');
    assert.equal(fixed, 1);
    await queue.close();
    await store.close();
  });

  it('finds a job that died after the last sweep at a time before it (a clock stepped back)', async () => {
    const { store, queue, advance } = await hungOnItsLastAttempt();
    const sweep = new DeadLetterSweep(store, queue);
    assert.equal(await sweep.run(), 1);
    advance(-3000);
    await store.createInvocation(invocation('inv_hung2', 'running'));
    await queue.enqueue({ id: 'inv_hung2', payload: {}, maxAttempts: 1 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 50 });
    assert.equal(await queue.start('inv_hung2', job?.leaseToken ?? ''), true);
    advance(1000);
    assert.deepEqual(await queue.lease({ limit: 1, visibilityTimeoutMs: 50 }), []);
    assert.equal(await sweep.run(), 1);
    assert.equal((await store.getInvocation('inv_hung2'))?.status, 'dead_lettered');
    await queue.close();
    await store.close();
  });

  it('fails a queued invocation that has no job, and leaves one that has', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    const queue = await openSqliteQueue({ path: ':memory:', retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    await store.createInvocation(invocation('inv_lost', 'queued'));
    await store.createInvocation(invocation('inv_kept', 'queued'));
    await queue.enqueue({ id: 'inv_kept', payload: {}, maxAttempts: 1 });
    assert.equal(await reconcileOrphans(store, queue, { until: new Date(Date.now() + 1000) }), 1);
    const lost = await store.getInvocation('inv_lost');
    assert.deepEqual([lost?.status, lost?.error?.type], ['failed', 'Lost']);
    assert.equal((await store.getInvocation('inv_kept'))?.status, 'queued');
    await queue.close();
    await store.close();
  });

  it('leaves a record younger than its window alone: its node may be enqueuing it right now', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    const queue = await openSqliteQueue({ path: ':memory:', retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
    await store.createInvocation({ ...invocation('inv_young', 'queued'), createdAt: ago(1_000) });
    await store.createInvocation({ ...invocation('inv_old', 'queued'), createdAt: ago(60_000) });
    await store.createInvocation({ ...invocation('inv_older', 'queued'), createdAt: ago(600_000) });
    const window = { since: new Date(Date.now() - 120_000), until: new Date(Date.now() - 30_000) };
    assert.equal(await reconcileOrphans(store, queue, window), 1);
    assert.equal((await store.getInvocation('inv_young'))?.status, 'queued');
    assert.equal((await store.getInvocation('inv_old'))?.status, 'failed');
    assert.equal((await store.getInvocation('inv_older'))?.status, 'queued', 'before the window');
    await queue.close();
    await store.close();
  });
});
