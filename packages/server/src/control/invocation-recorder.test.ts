import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { ErrorCode, type Invocation, isFaasError, type NewLogLine } from '@faas/core';
import { eventually } from '@faas/testkit';
import { openSqliteStore } from '../store/sqlite/sqlite-store.ts';
import { InvocationRecorder } from './invocation-recorder.ts';
import { RecordBacklog } from './record-backlog.ts';

const root = mkdtempSync(join(tmpdir(), 'faas-recorder-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/**
 * A real store, and a second connection that can hold SQLite's write lock: while it does, every
 * write of the store fails (SQLITE_BUSY after its busy timeout, STORAGE_UNAVAILABLE) and reads go
 * on, as with a store whose disk or server has trouble.
 */
async function blockableStore() {
  const path = join(root, `store-${++n}.db`);
  const store = await openSqliteStore({ path, busyTimeoutMs: 5 });
  const blocker = new DatabaseSync(path);
  return {
    store,
    block: () => blocker.exec('BEGIN IMMEDIATE'),
    unblock: () => blocker.exec('ROLLBACK'),
    close: async () => {
      if (blocker.isTransaction) blocker.exec('ROLLBACK');
      blocker.close();
      await store.close();
    },
  };
}

let clock = Date.parse('2031-01-01T00:00:00.000Z');
const nextCreatedAt = () => {
  clock += 1000;
  return new Date(clock).toISOString();
};
const inv = (id: string, overrides: Partial<Invocation> = {}): Invocation => ({
  id,
  functionName: 'f',
  version: 1,
  mode: 'sync',
  trigger: 'api',
  status: 'succeeded',
  attempts: 1,
  createdAt: nextCreatedAt(),
  ...overrides,
});
const line = (id: string, message: string): NewLogLine => ({
  invocationId: id,
  functionName: 'f',
  ts: 1,
  level: 'log',
  message,
});
const quiet = () => undefined;

describe('InvocationRecorder', () => {
  it('writes each record once, in order, even with a backlog larger than a batch', async () => {
    const { store, close } = await blockableStore();
    const recorder = new InvocationRecorder(store, { maxBatch: 16, flushIntervalMs: 1000 });
    const ids = Array.from({ length: 1000 }, (_, i) => `inv_${i}`);
    for (const id of ids) recorder.record(inv(id), [line(id, id)]);
    // Records being written and records waiting are both found.
    for (const id of ids) assert.equal(recorder.pending(id)?.id, id);
    await recorder.close();
    for (const id of ids) assert.equal(recorder.pending(id), undefined);
    const stored = await store.listInvocations({}, { limit: 500 });
    assert.equal(stored.items.length, 500);
    assert.deepEqual(
      (await store.tailLogs({ afterSeq: 0, limit: 10_000 })).map((l) => l.message),
      ids,
    );
    await close();
  });

  it('keeps records pending and readable while the store fails, then writes them all when it recovers', async () => {
    const { store, block, unblock, close } = await blockableStore();
    const errors: unknown[] = [];
    const recorder = new InvocationRecorder(store, {
      flushIntervalMs: 5,
      retryBaseDelayMs: 10,
      maxRetryDelayMs: 40,
      onError: (err) => errors.push(err),
    });
    block();
    const ids = Array.from({ length: 20 }, (_, i) => `inv_fail_${i}`);
    for (const id of ids) recorder.record(inv(id), [line(id, `log of ${id}`)]);
    await recorder.flush();
    await eventually(async () => recorder.stats().failedWrites >= 3, 5_000, 'several failed writes');
    for (const id of ids) {
      assert.equal(recorder.pending(id)?.id, id);
      assert.deepEqual(
        recorder.pendingLogs(id).map((l) => l.message),
        [`log of ${id}`],
      );
      assert.equal(await store.getInvocation(id), undefined);
    }
    const health = recorder.health();
    assert.equal(health.ok, false);
    assert.equal(!health.ok && health.code, ErrorCode.STORAGE_UNAVAILABLE);
    assert.equal(recorder.stats().pending, 20);
    assert.ok(
      errors.length >= 1 && errors.length < recorder.stats().failedWrites,
      'every failure was logged',
    );
    unblock();
    await eventually(async () => recorder.stats().pending === 0, 5_000, 'the records to be written');
    for (const id of ids) {
      assert.equal((await store.getInvocation(id))?.id, id);
      assert.deepEqual(
        (await store.getLogs(id)).map((l) => l.message),
        [`log of ${id}`],
      );
    }
    assert.deepEqual(recorder.health(), { ok: true });
    assert.ok(recorder.stats().failedWrites >= 3, 'the failure count stays for metrics');
    assert.equal(recorder.stats().consecutiveFailures, 0);
    await recorder.close();
    await close();
  });

  it('past maxPending refuses new calls (RECORDS_BACKLOG), on every thread, until the backlog is written', async () => {
    const { store, block, unblock, close } = await blockableStore();
    const recorder = new InvocationRecorder(store, {
      flushIntervalMs: 5,
      retryBaseDelayMs: 10,
      maxRetryDelayMs: 20,
      maxPending: 30,
      onError: quiet,
    });
    const otherThread = new RecordBacklog(recorder.backlog.buffer);
    block();
    for (let i = 0; i < 29; i++) {
      recorder.admit();
      recorder.record(inv(`inv_b_${i}`), []);
    }
    recorder.admit();
    recorder.record(inv('inv_b_29'), []);
    assert.throws(
      () => recorder.admit(),
      (err: unknown) => isFaasError(err) && err.code === ErrorCode.RECORDS_BACKLOG && err.status === 503,
    );
    assert.throws(() => otherThread.admit(), /Too many invocation records/);
    unblock();
    await eventually(async () => recorder.stats().pending === 0, 5_000, 'the backlog to be written');
    recorder.admit();
    otherThread.admit();
    assert.equal((await store.listInvocations({}, { limit: 100 })).items.length, 30);
    await recorder.close();
    await close();
  });

  it('flush gives up on a failing store at once instead of hanging its caller', async () => {
    const { store, block, close } = await blockableStore();
    const recorder = new InvocationRecorder(store, {
      retryBaseDelayMs: 60_000,
      onError: quiet,
      closeTimeoutMs: 0,
    });
    block();
    recorder.record(inv('inv_hang'), []);
    await recorder.flush();
    // The writer now waits a minute to try again; a second flush (a list request) does not.
    await recorder.flush();
    assert.equal(recorder.pending('inv_hang')?.id, 'inv_hang');
    await recorder.close();
    await close();
  });

  it('close tries for closeTimeoutMs, then says how many records are lost', async () => {
    const { store, block, close } = await blockableStore();
    const errors: unknown[] = [];
    const recorder = new InvocationRecorder(store, {
      retryBaseDelayMs: 10,
      closeTimeoutMs: 150,
      onError: (err) => errors.push(err),
    });
    block();
    recorder.record(inv('inv_lost_1'), []);
    recorder.record(inv('inv_lost_2'), []);
    await recorder.close();
    assert.match(
      String(errors.at(-1)),
      /2 invocation record\(s\) could not be written before shutdown and are lost/,
    );
    await close();
  });

  it('drops a record the store refuses as invalid, alone and loudly; the others are written', async () => {
    const { store, close } = await blockableStore();
    const errors: unknown[] = [];
    const recorder = new InvocationRecorder(store, {
      flushIntervalMs: 1000,
      onError: (err) => errors.push(err),
    });
    recorder.record(inv('inv_ok_1'), []);
    recorder.record(inv('inv_bad', { createdAt: 'not a time' }), []);
    recorder.record(inv('inv_ok_2'), []);
    await recorder.flush();
    assert.equal((await store.getInvocation('inv_ok_1'))?.id, 'inv_ok_1');
    assert.equal((await store.getInvocation('inv_ok_2'))?.id, 'inv_ok_2');
    assert.equal(recorder.stats().rejectedRecords, 1);
    assert.equal(recorder.stats().pending, 0);
    assert.match(String(errors[0]), /inv_bad was refused by the store and dropped/);
    await recorder.close();
    await close();
  });
});
