import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { MetadataStore, NewLogLine } from '@faas/core';
import { nextCreatedAt, sampleInvocation } from './samples.ts';

type GetStore = () => MetadataStore;

const line = (invocationId: string, message: string): NewLogLine => ({
  invocationId,
  functionName: 'fn',
  ts: Date.now(),
  level: 'log',
  message,
});

const queued = () => sampleInvocation({ mode: 'async', status: 'queued', attempts: 0 });

/** recordAttempt: the fenced write of an async attempt. */
export function attemptCases(getStore: GetStore): void {
  it('recordAttempt records an attempt’s start, a retry and the end, with their logs', async () => {
    const store = getStore();
    const inv = queued();
    await store.createInvocation(inv);
    const startedAt = nextCreatedAt();
    const running = await store.recordAttempt(inv.id, 1, { status: 'running', startedAt });
    assert.deepEqual(running, { ...inv, status: 'running', attempts: 1, startedAt });
    const retry = await store.recordAttempt(
      inv.id,
      1,
      { status: 'queued', error: { type: 'Error', message: 'first' } },
      [line(inv.id, 'attempt 1')],
    );
    assert.equal(retry?.status, 'queued');
    assert.equal((await store.recordAttempt(inv.id, 2, { status: 'running' }))?.attempts, 2);
    const done = await store.recordAttempt(
      inv.id,
      2,
      { status: 'succeeded', result: { ok: true }, finishedAt: nextCreatedAt(), durationMs: 3 },
      [line(inv.id, 'attempt 2')],
    );
    assert.equal(done?.status, 'succeeded');
    assert.deepEqual(done?.result, { ok: true });
    assert.deepEqual(await store.getInvocation(inv.id), done);
    assert.deepEqual(
      (await store.getLogs(inv.id)).map((l) => l.message),
      ['attempt 1', 'attempt 2'],
    );
  });

  it('recordAttempt of an earlier attempt than the one recorded writes nothing, logs included', async () => {
    // Attempt 1 lost its lease and attempt 2 started; attempt 1 finishes late.
    const store = getStore();
    const inv = queued();
    await store.createInvocation(inv);
    await store.recordAttempt(inv.id, 1, { status: 'running' });
    const second = await store.recordAttempt(inv.id, 2, { status: 'running', startedAt: nextCreatedAt() });
    assert.ok(second);
    assert.equal(
      await store.recordAttempt(inv.id, 1, { status: 'succeeded', result: 'late' }, [line(inv.id, 'late')]),
      undefined,
    );
    assert.equal(await store.recordAttempt(inv.id, 1, { status: 'running' }), undefined);
    assert.deepEqual(await store.getInvocation(inv.id), second);
    assert.deepEqual(await store.getLogs(inv.id), []);
  });

  it('recordAttempt never changes a finished invocation, whatever the attempt', async () => {
    const store = getStore();
    const inv = queued();
    await store.createInvocation(inv);
    await store.recordAttempt(inv.id, 1, { status: 'running' });
    const done = await store.recordAttempt(inv.id, 1, {
      status: 'failed',
      error: { type: 'E', message: 'x' },
    });
    assert.equal(done?.status, 'failed');
    for (const attempt of [1, 2, 9]) {
      assert.equal(
        await store.recordAttempt(inv.id, attempt, { status: 'succeeded' }, [line(inv.id, 'after')]),
        undefined,
      );
    }
    assert.deepEqual(await store.getInvocation(inv.id), done);
    assert.deepEqual(await store.getLogs(inv.id), []);
    // Every terminal status is final.
    for (const status of ['succeeded', 'timed_out', 'out_of_memory', 'dead_lettered'] as const) {
      const other = sampleInvocation({ mode: 'async', status, attempts: 1 });
      await store.createInvocation(other);
      assert.equal(await store.recordAttempt(other.id, 2, { status: 'running' }), undefined, status);
    }
  });

  it('of two writes ending one attempt at once, exactly one lands', async () => {
    const store = getStore();
    const inv = queued();
    await store.createInvocation(inv);
    const results = await Promise.all([
      store.recordAttempt(inv.id, 1, { status: 'succeeded', result: 'a' }),
      store.recordAttempt(inv.id, 1, { status: 'succeeded', result: 'b' }),
    ]);
    assert.equal(results.filter((r) => r !== undefined).length, 1, 'both writes landed');
    const winner = results.find((r) => r !== undefined);
    assert.deepEqual(await store.getInvocation(inv.id), winner);
  });

  it('recordAttempt of an unknown invocation returns undefined', async () => {
    assert.equal(await getStore().recordAttempt('inv_missing', 1, { status: 'running' }), undefined);
  });
}
