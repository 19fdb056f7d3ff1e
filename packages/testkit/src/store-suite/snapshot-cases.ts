import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode, type MetadataStore, type SnapshotRecord } from '@faas/core';
import { rejectsWithCode } from '../assert-faas-error.ts';

type GetStore = () => MetadataStore;

export function sampleSnapshot(id: string, overrides: Partial<SnapshotRecord> = {}): SnapshotRecord {
  return {
    id,
    instanceId: 'inst_a',
    kind: 'memory',
    spec: {
      image: 'faas/base:x',
      command: ['sh', '-c', 'sleep 1'],
      env: { A: '1' },
      memoryMb: 256,
      cpus: 1,
      pidsLimit: 128,
      diskMb: 64,
      network: false,
      isolation: 'gvisor',
      idleTtlMs: 0,
    },
    blobChecksum: 'a'.repeat(64),
    sizeBytes: 1234,
    createdAt: 1_000,
    ...overrides,
  };
}

export function snapshotCases(getStore: GetStore): void {
  it('round-trips a snapshot with its spec; optional fields stay absent when unset', async () => {
    const store = getStore();
    const full = sampleSnapshot('snap_1', {
      name: 'before',
      executionId: 'exe_1',
      processes: [
        { process: 7, pid: 12, command: ['sh', '-c', 'sleep 1'], tty: false, main: true },
        { process: 9, command: ['bash'], tty: true },
      ],
    });
    const bare = sampleSnapshot('snap_2', { kind: 'filesystem' });
    await store.createSnapshot(full);
    await store.createSnapshot(bare);
    assert.deepEqual(await store.getSnapshot('snap_1'), full);
    const got = await store.getSnapshot('snap_2');
    assert.deepEqual(got, bare);
    assert.equal(got && 'name' in got, false);
    assert.equal(got && 'executionId' in got, false);
    assert.equal(got && 'processes' in got, false);
    assert.equal(await store.getSnapshot('snap_none'), undefined);
  });

  it('refuses a second snapshot with the same id', async () => {
    const store = getStore();
    await store.createSnapshot(sampleSnapshot('snap_dup'));
    await rejectsWithCode(store.createSnapshot(sampleSnapshot('snap_dup')), ErrorCode.CONFLICT);
  });

  it('lists newest first, filters by instance and execution, and pages with a cursor', async () => {
    const store = getStore();
    for (let i = 1; i <= 5; i++) {
      await store.createSnapshot(
        sampleSnapshot(`snap_${i}`, {
          createdAt: 1000 + i,
          instanceId: i % 2 ? 'inst_odd' : 'inst_even',
          ...(i === 4 ? { executionId: 'exe_4' } : {}),
        }),
      );
    }
    const ids = async (filter: Parameters<MetadataStore['listSnapshots']>[0]) =>
      (await store.listSnapshots(filter, { limit: 50 })).items.map((s) => s.id);
    assert.deepEqual(await ids({}), ['snap_5', 'snap_4', 'snap_3', 'snap_2', 'snap_1']);
    assert.deepEqual(await ids({ instanceId: 'inst_even' }), ['snap_4', 'snap_2']);
    assert.deepEqual(await ids({ executionId: 'exe_4' }), ['snap_4']);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listSnapshots({}, { limit: 2, ...(cursor ? { cursor } : {}) });
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((s) => s.id));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, ['snap_5', 'snap_4', 'snap_3', 'snap_2', 'snap_1']);
  });

  it('deletes a snapshot once', async () => {
    const store = getStore();
    await store.createSnapshot(sampleSnapshot('snap_del'));
    assert.equal(await store.deleteSnapshot('snap_del'), true);
    assert.equal(await store.deleteSnapshot('snap_del'), false);
    assert.equal(await store.getSnapshot('snap_del'), undefined);
  });
}
