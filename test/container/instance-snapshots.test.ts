import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason, ownedContainers, removeContainers } from '../support/engine.ts';
import { peakGrowth } from '../support/process-memory.ts';
import { request, type ServerProcess, spawnServer, tempDataDir } from '../support/server.ts';

const MiB = 1024 * 1024;
/**
 * What the server may grow by while it moves a snapshot of WORKSPACE_MIB: far below its size
 * (what it holds is a few windows of the streams; the rest of the growth is garbage of the bytes
 * that went through, which V8 collects tens of MB at a time).
 */
const MAX_GROWTH_BYTES = 80 * MiB;
/** Past the growth allowed by half: a server that held a whole snapshot would pass the bound. */
const WORKSPACE_MIB = 128;
/** Moving a few hundred MB through the engine takes minutes on a loaded machine. */
const SLOW = { timeout: 900_000 };
const skip = engineSkipReason();

/**
 * Snapshots move between the engine, the instance and the blob store as streams: the server's
 * peak RSS (its process's high-water mark, read from /proc) must not grow with a snapshot of a
 * few hundred MB, taking it or restoring it.
 */
describe('snapshot streams', { skip }, () => {
  let server: ServerProcess;
  const dataDir = tempDataDir();
  const api = async <T>(path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await request(server.url, `/api/v1${path}`, init);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const exec = async (id: string, command: string) =>
    (
      await api<{ stdout: string; stderr: string; exit_code: number }>(`/instances/${id}/exec`, {
        method: 'POST',
        json: { command, timeout_ms: 300_000 },
      })
    ).body;
  const growth = <T>(work: () => Promise<T>) => peakGrowth(server.child.pid as number, work);
  const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

  before(async () => {
    server = await spawnServer(dataDir);
  });
  after(async () => {
    await server.kill('SIGKILL');
    removeContainers(ownedContainers(dataDir));
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const isolation of ['runc', 'gvisor'] as const) {
    it(
      `${isolation}: a ${WORKSPACE_MIB} MiB snapshot and its restore leave the server's memory flat`,
      SLOW,
      async (t) => {
        const created = await api<{ id: string }>('/instances', {
          method: 'POST',
          json: { isolation, memory_mb: 1024, disk_mb: 512, command: 'sleep 3600' },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const { id } = created.body;
        // 16 MiB of random bytes repeated: nothing compresses it (zstd's and runsc's windows are
        // smaller), and it is quick to make.
        const made = await exec(
          id,
          `head -c ${16 * MiB} /dev/urandom > seed && for i in $(seq ${WORKSPACE_MIB / 16}); do cat seed; done > data.bin && rm seed && sha256sum data.bin`,
        );
        assert.equal(made.exit_code, 0, made.stderr);
        const sum = made.stdout.split(' ')[0];

        const taken = await growth(() =>
          api<{ id: string; size_bytes: number; kind: string }>('/snapshots', {
            method: 'POST',
            json: { instance_id: id },
          }),
        );
        const snap = taken.result;
        assert.equal(snap.status, 201, JSON.stringify(snap.body));
        assert.equal(snap.body.kind, isolation === 'gvisor' ? 'memory' : 'filesystem');
        assert.ok(snap.body.size_bytes >= WORKSPACE_MIB * MiB, `size ${snap.body.size_bytes}`);
        t.diagnostic(
          `${isolation}: snapshot of ${mib(snap.body.size_bytes)}: server RSS ${mib(taken.beforeBytes)} before, peak growth ${mib(taken.growthBytes)}`,
        );
        assert.ok(
          taken.growthBytes < MAX_GROWTH_BYTES,
          `taking it grew the server by ${mib(taken.growthBytes)}`,
        );

        const forked = await growth(() =>
          api<{ instances: Array<{ id: string }> }>(`/snapshots/${snap.body.id}/fork`, {
            method: 'POST',
            json: { count: 2 },
          }),
        );
        assert.equal(forked.result.status, 201, JSON.stringify(forked.result.body));
        t.diagnostic(`${isolation}: fork of 2: peak growth ${mib(forked.growthBytes)}`);
        assert.ok(
          forked.growthBytes < MAX_GROWTH_BYTES,
          `restoring it grew the server by ${mib(forked.growthBytes)}`,
        );
        for (const fork of forked.result.body.instances) {
          assert.equal((await exec(fork.id, 'sha256sum data.bin')).stdout.split(' ')[0], sum);
          await api(`/instances/${fork.id}`, { method: 'DELETE' });
        }
        // The instance itself goes on after its snapshot.
        assert.equal((await exec(id, 'sha256sum data.bin')).stdout.split(' ')[0], sum);
        await api(`/instances/${id}`, { method: 'DELETE' });
        assert.equal((await api(`/snapshots/${snap.body.id}`, { method: 'DELETE' })).status, 204);
      },
    );
  }

  it('refuses to snapshot a workspace whose tar passes its bound (a sparse file)', SLOW, async () => {
    const created = await api<{ id: string }>('/instances', { method: 'POST', json: { disk_mb: 16 } });
    assert.equal(created.status, 201);
    await exec(created.body.id, 'truncate -s 10G sparse.bin');
    const snap = await api<{ error: { code: string; message: string } }>('/snapshots', {
      method: 'POST',
      json: { instance_id: created.body.id },
    });
    assert.equal(snap.status, 422, JSON.stringify(snap.body));
    assert.match(snap.body.error.message, /workspace/);
    const kept = await api<{ items: unknown[] }>(`/snapshots?instance_id=${created.body.id}`);
    assert.deepEqual(kept.body.items, []);
    await api(`/instances/${created.body.id}`, { method: 'DELETE' });
  });
});
