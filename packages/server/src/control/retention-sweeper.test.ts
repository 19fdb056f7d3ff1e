import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Invocation } from '@faas/core';
import { openSqliteQueue } from '../queue/sqlite/sqlite-queue.ts';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { RetentionSweeper } from './retention-sweeper.ts';

const DAY_MS = 86_400_000;
const NOW = Date.parse('2032-06-30T12:00:00.000Z');

const inv = (id: string, daysAgo: number, status: Invocation['status'] = 'succeeded'): Invocation => ({
  id,
  functionName: 'f',
  version: 1,
  mode: status === 'succeeded' ? 'sync' : 'async',
  trigger: 'api',
  status,
  attempts: 1,
  createdAt: new Date(NOW - daysAgo * DAY_MS).toISOString(),
});

async function subject() {
  let clock = NOW - 40 * DAY_MS;
  const store = await openSqliteStore({ path: ':memory:' });
  const queue = await openSqliteQueue({
    path: ':memory:',
    retry: { baseDelayMs: 10, maxDelayMs: 10 },
    now: () => clock,
  });
  const kill = async (id: string) => {
    await queue.enqueue({ id, payload: null, maxAttempts: 1 });
    const [job] = await queue.lease({ limit: 1, visibilityTimeoutMs: 1_000 });
    await queue.fail(id, job?.leaseToken ?? '', { error: 'dead' });
  };
  return {
    store,
    queue,
    kill,
    setClock: (ms: number) => {
      clock = ms;
    },
    close: async () => {
      await queue.close();
      await store.close();
    },
  };
}

describe('RetentionSweeper', () => {
  it('deletes what is past FAAS_RETENTION_DAYS in batches: invocations, their logs, dead jobs, audit entries; never unfinished ones', async () => {
    const { store, queue, kill, setClock, close } = await subject();
    const old = Array.from({ length: 25 }, (_, i) => inv(`inv_old_${i}`, 31 + i));
    const stuck = inv('inv_stuck', 60, 'queued');
    const recent = inv('inv_recent', 29);
    await store.createInvocations([...old, stuck, recent]);
    await store.appendLogs(
      [...old, recent].map((i) => ({
        invocationId: i.id,
        functionName: 'f',
        ts: 0,
        level: 'log' as const,
        message: 'x',
      })),
    );
    await kill('job_old_dead');
    for (const [id, days] of [
      ['aud_0001', 31],
      ['aud_0002', 29],
    ] as const) {
      await store.appendAudit({
        id,
        at: new Date(NOW - days * DAY_MS).toISOString(),
        project: 'default',
        actor: { keyId: 'key_a', keyName: 'a', role: 'owner' },
        action: 'DELETE /api/v1/functions/:name',
        status: 204,
        address: '127.0.0.1',
      });
    }
    setClock(NOW - DAY_MS);
    await kill('job_recent_dead');

    const sweeper = new RetentionSweeper({
      store,
      queue,
      retentionDays: 30,
      maxInvocations: 0,
      batchSize: 10,
      now: () => NOW,
    });
    const result = await sweeper.sweep();
    assert.equal(result.invocations, 25);
    assert.equal(result.logLines, 25);
    assert.equal(result.deadJobs, 1);
    assert.equal(result.auditEntries, 1);
    assert.deepEqual(
      (await store.listAudit({}, {})).items.map((e) => e.id),
      ['aud_0002'],
    );
    assert.ok(result.batches >= 5, `${result.batches} batches of at most 10 rows`);
    assert.ok(result.longestBatchMs >= 0);
    assert.deepEqual(
      (await store.listInvocations({}, { limit: 100 })).items.map((i) => i.id),
      ['inv_recent', 'inv_stuck'],
    );
    assert.equal((await store.getLogs('inv_recent')).length, 1);
    assert.deepEqual(
      (await queue.listDead(10)).map((d) => d.id),
      ['job_recent_dead'],
    );
    const again = await sweeper.sweep();
    assert.deepEqual([again.invocations, again.logLines, again.deadJobs], [0, 0, 0]);
    await close();
  });

  it('keeps at most FAAS_RETENTION_MAX_ROWS invocations, the newest', async () => {
    const { store, queue, close } = await subject();
    await store.createInvocations(Array.from({ length: 12 }, (_, i) => inv(`inv_${i}`, 12 - i)));
    const sweeper = new RetentionSweeper({
      store,
      queue,
      retentionDays: 0,
      maxInvocations: 5,
      batchSize: 3,
      now: () => NOW,
    });
    assert.equal((await sweeper.sweep()).invocations, 7);
    assert.deepEqual(
      (await store.listInvocations({}, { limit: 100 })).items.map((i) => i.id),
      ['inv_11', 'inv_10', 'inv_9', 'inv_8', 'inv_7'],
    );
    await close();
  });

  it('does nothing when both are 0 (keep forever)', async () => {
    const { store, queue, kill, close } = await subject();
    await store.createInvocation(inv('inv_ancient', 10_000));
    await kill('job_ancient');
    const sweeper = new RetentionSweeper({
      store,
      queue,
      retentionDays: 0,
      maxInvocations: 0,
      now: () => NOW,
    });
    assert.equal(sweeper.enabled, false);
    assert.equal((await sweeper.sweep()).batches, 0);
    assert.ok(await store.getInvocation('inv_ancient'));
    assert.equal((await queue.listDead(1)).length, 1);
    await close();
  });
});
