import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Invocation, MetadataStore, StoredLogLine } from '@faas/core';
import { InvocationRecorder } from './invocation-recorder.ts';

function fakeStore() {
  const written: Invocation[] = [];
  const logs: Array<Omit<StoredLogLine, 'seq'>> = [];
  const store = {
    async createInvocations(batch: Invocation[]) {
      await new Promise<void>((r) => setImmediate(r));
      written.push(...batch);
    },
    async appendLogs(lines: Array<Omit<StoredLogLine, 'seq'>>) {
      logs.push(...lines);
    },
  } as unknown as MetadataStore;
  return { store, written, logs };
}

const inv = (id: string): Invocation => ({
  id,
  functionName: 'f',
  version: 1,
  mode: 'sync',
  trigger: 'api',
  status: 'succeeded',
  attempts: 1,
  createdAt: new Date().toISOString(),
});

describe('InvocationRecorder', () => {
  it('writes each record once, even with a backlog larger than a batch', async () => {
    const { store, written } = fakeStore();
    const recorder = new InvocationRecorder(store, { maxBatch: 16, flushIntervalMs: 1000 });
    for (let i = 0; i < 1000; i++) recorder.record(inv(`inv_${i}`), []);
    await recorder.close();
    assert.equal(written.length, 1000);
    assert.equal(new Set(written.map((w) => w.id)).size, 1000);
  });

  it('finds each record in whichever batch holds it until written, and writes them in order', async () => {
    const { store, written } = fakeStore();
    const recorder = new InvocationRecorder(store, { maxBatch: 4, flushIntervalMs: 1000 });
    const ids = Array.from({ length: 10 }, (_, i) => `inv_${i}`);
    for (const id of ids) recorder.record(inv(id), []);
    // Two full batches are being written, two records wait for the next.
    for (const id of ids) assert.equal(recorder.pending(id)?.id, id);
    assert.equal(recorder.pending('inv_10'), undefined);
    await recorder.close();
    for (const id of ids) assert.equal(recorder.pending(id), undefined);
    assert.deepEqual(
      written.map((w) => w.id),
      ids,
    );
  });

  it('answers a record and its logs until it is written, then leaves it to the store', async () => {
    const { store, written, logs } = fakeStore();
    const recorder = new InvocationRecorder(store, { flushIntervalMs: 1000 });
    const line = { invocationId: 'inv_a', functionName: 'f', ts: 1, level: 'log' as const, message: 'hi' };
    recorder.record(inv('inv_a'), [line]);
    assert.equal(recorder.pending('inv_a')?.id, 'inv_a');
    assert.deepEqual(recorder.pendingLogs('inv_a'), [line]);
    const flushing = recorder.flush();
    assert.equal(recorder.pending('inv_a')?.id, 'inv_a', 'still answered while being written');
    await flushing;
    assert.equal(recorder.pending('inv_a'), undefined);
    assert.deepEqual(recorder.pendingLogs('inv_a'), []);
    assert.equal(written.length, 1);
    assert.equal(logs.length, 1);
  });
});
