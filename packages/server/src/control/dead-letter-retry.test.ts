import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Invocation, MetadataStore } from '@faas/core';
import { openSqliteQueue } from '../queue/sqlite/sqlite-queue.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { retryDeadLetter } from './dead-letter-retry.ts';

/** `target` with some methods replaced (its own keep their `this`: its private fields). */
function replacing<T extends object>(target: T, methods: Partial<T>): T {
  return new Proxy(target, {
    get: (t, key) => {
      if (key in methods) return methods[key as keyof T];
      const value = Reflect.get(t, key);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

/** A dead-lettered invocation and its dead job, on a queue whose clock the test moves. */
async function deadLettered() {
  let clock = 1_000_000;
  const store = await openSqliteStore({ path: ':memory:' });
  const queue = await openSqliteQueue({
    path: ':memory:',
    retry: { baseDelayMs: 10, maxDelayMs: 10 },
    now: () => clock,
  });
  const invocation: Invocation = {
    id: 'inv_dead',
    functionName: 'f',
    version: 1,
    mode: 'async',
    trigger: 'api',
    status: 'dead_lettered',
    attempts: 1,
    createdAt: new Date().toISOString(),
  };
  await store.createInvocation(invocation);
  await queue.enqueue({ id: 'inv_dead', payload: {}, maxAttempts: 1 });
  const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 1_000 });
  await queue.fail('inv_dead', job?.leaseToken ?? '', { error: 'boom' });
  return { store, queue, advance: (ms: number) => (clock += ms) };
}

describe('retryDeadLetter', () => {
  it('a retry whose record took longer than its hold does not answer with the job back in the dead letters', async () => {
    const { store, queue, advance } = await deadLettered();
    // The record's write stalls past the hold (30 s); meanwhile a consumer leases the job, reads
    // the record still dead-lettered and sends the job back (AsyncWorker's admit).
    const slowStore = replacing<MetadataStore>(store, {
      updateInvocation: async (id, patch) => {
        advance(31_000);
        const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 1_000 });
        assert.equal(job?.id, 'inv_dead');
        assert.equal((await store.getInvocation(id))?.status, 'dead_lettered');
        await queue.fail(id, job?.leaseToken ?? '', { error: 'still dead-lettered', retryable: false });
        return store.updateInvocation(id, patch);
      },
    });
    const queued = await retryDeadLetter(
      { store: slowStore, queue, getInvocation: (id) => store.getInvocation(id) },
      'inv_dead',
    );
    assert.equal(queued.status, 'queued');
    // What the 202 says is true: the job waits to run, it is not a dead letter.
    assert.deepEqual(await queue.stats(), { ready: 1, delayed: 0, leased: 0, deadLettered: 0 });
    const [again] = await queue.lease({ limit: 1, visibilityTimeoutMs: 1_000 });
    assert.equal(again?.id, 'inv_dead');
    await queue.close();
    await store.close();
  });

  it('answers 409 when the job cannot be released to run, rather than 202', async () => {
    const { store, queue } = await deadLettered();
    const lostHolds = replacing(queue, { release: async () => false });
    await assert.rejects(
      retryDeadLetter(
        { store, queue: lostHolds, getInvocation: (id) => store.getInvocation(id) },
        'inv_dead',
      ),
      (err: { code?: string; status?: number }) => err.code === 'FAAS_ERR_CONFLICT' && err.status === 409,
    );
    await queue.close();
    await store.close();
  });
});
