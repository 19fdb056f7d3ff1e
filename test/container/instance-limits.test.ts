import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason, ownedContainers } from '../support/engine.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

interface Answer {
  status: number;
  body: {
    processes?: Array<{ command: string }>;
    id?: string;
    status?: string;
    command?: string[] | null;
    instance_id?: string;
    instances?: Array<{ id: string }>;
    error?: { code: string; message: string; details?: unknown };
  };
}

const skip = engineSkipReason();

/** What the container's memory cgroup is charged now (cgroup v1 or v2), read on the host. */
function memoryCharged(containerId: string): number {
  const paths = [
    `/sys/fs/cgroup/memory/docker/${containerId}/memory.usage_in_bytes`,
    `/sys/fs/cgroup/system.slice/docker-${containerId}.scope/memory.current`,
    `/sys/fs/cgroup/docker/${containerId}/memory.current`,
  ];
  const path = paths.find((p) => existsSync(p));
  assert.ok(path, `no memory cgroup found for ${containerId}`);
  return Number(readFileSync(path, 'utf8').trim());
}

/**
 * The operator's bounds on instances: what one may ask for (422 naming the bound), and how many
 * may be live per API key and in all (429 FAAS_ERR_INSTANCE_LIMIT), through every way one is
 * made: create, start, restore, fork, the execute API's instance modes.
 */
describe('instance bounds', { skip }, () => {
  let s: TestServer;
  let keyA: string;
  let keyB: string;
  const call = async (key: string | undefined, path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await s.api(`/api/v1${path}`, { ...init, ...(key ? { key } : {}) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : {} } as Answer;
  };
  const create = (key: string, json: object = {}) => call(key, '/instances', { method: 'POST', json });

  before(async () => {
    s = await startTestServer({
      instanceMaxMemoryMb: 256,
      instanceMaxDiskMb: 128,
      instanceMaxCpus: 2,
      instanceMaxPids: 1024,
      instanceMaxIdleTtlMs: 600_000,
      instanceMaxPerKey: 2,
      instanceMaxTotal: 3,
    });
    const newKey = async (name: string) =>
      ((await (await s.api('/api/v1/keys', { method: 'POST', json: { name } })).json()) as { key: string })
        .key;
    keyA = await newKey('a');
    keyB = await newKey('b');
  });
  after(() => s.close());

  it('refuses a spec past a bound with 422 naming it (65536 MB was accepted)', async () => {
    const cases: Array<[object, RegExp]> = [
      [{ memory_mb: 65_536 }, /memory_mb 65536 .* bound of 256 \(FAAS_INSTANCE_MAX_MEMORY_MB\)/],
      [{ disk_mb: 4096 }, /FAAS_INSTANCE_MAX_DISK_MB/],
      [{ cpus: 8 }, /FAAS_INSTANCE_MAX_CPUS/],
      [{ pids_limit: 65_536 }, /FAAS_INSTANCE_MAX_PIDS/],
      [{ idle_ttl_ms: 0 }, /never idle/],
      [{ idle_ttl_ms: 86_400_000 }, /FAAS_INSTANCE_MAX_IDLE_TTL_MS/],
      [{ memory_mb: 64, disk_mb: 128 }, /disk_mb 128 is over memory_mb 64/],
      [{ image: 'my image' }, /image is not an image reference/],
      [{ image: 'faas/base/json?' }, /image is not an image reference/],
    ];
    for (const [json, pattern] of cases) {
      const res = await create(keyA, json);
      assert.equal(res.status, 422, JSON.stringify(json));
      assert.equal(res.body.error?.code, 'FAAS_ERR_VALIDATION');
      assert.match(res.body.error?.message ?? '', pattern);
    }
    // The execute API's sandboxes share the memory bound, whatever the mode.
    for (const mode of ['ephemeral', 'persistent']) {
      const res = await call(keyA, '/execute/advanced', {
        method: 'POST',
        json: { mode, command: 'true', memory_mb: 1024 },
      });
      assert.equal(res.status, 422, mode);
      assert.match(res.body.error?.message ?? '', /FAAS_INSTANCE_MAX_MEMORY_MB/);
    }
    assert.deepEqual(ownedContainers(s.dataDir).length, (await settledCount()) ?? 0);
  });

  /** Containers the runtime counts as its own (spares and the like), for the leak check above. */
  async function settledCount(): Promise<number> {
    const runtime = s.server.platform.runtimes.all.find((r) => 'instances' in r) as unknown as {
      trackedContainers(): number;
      settled(): Promise<void>;
    };
    await runtime.settled();
    return runtime.trackedContainers();
  }

  it('bounds live instances per key and in all, through create, start, fork and execute', async () => {
    // Made at once, a key's creates pass its bound by none: exactly two of five.
    const burst = await Promise.all(
      Array.from({ length: 5 }, () => create(keyA, { memory_mb: 128, disk_mb: 64 })),
    );
    assert.deepEqual(burst.map((r) => r.status).sort(), [201, 201, 429, 429, 429]);
    const refused = burst.find((r) => r.status === 429) as Answer;
    assert.equal(refused.body.error?.code, 'FAAS_ERR_INSTANCE_LIMIT');
    assert.match(refused.body.error?.message ?? '', /FAAS_INSTANCE_MAX_PER_KEY/);
    const [a1, a2] = burst.filter((r) => r.status === 201).map((r) => r.body.id as string) as [
      string,
      string,
    ];

    // Key B: one more fits in all (3), then the total bound.
    const b1 = await create(keyB, { memory_mb: 128, disk_mb: 64 });
    assert.equal(b1.status, 201);
    const b2 = await create(keyB, { memory_mb: 128, disk_mb: 64 });
    assert.equal(b2.status, 429);
    assert.match(b2.body.error?.message ?? '', /FAAS_INSTANCE_MAX_TOTAL/);
    const persistent = await call(keyB, '/execute/advanced', {
      method: 'POST',
      json: { mode: 'persistent', command: 'sleep 600' },
    });
    assert.equal(persistent.status, 429);

    // A stopped instance is not live: its room is free, and starting it again needs room.
    assert.equal((await call(keyA, `/instances/${a1}/stop`, { method: 'POST' })).body.status, 'stopped');
    const snap = await call(keyA, '/snapshots', { method: 'POST', json: { instance_id: a2 } });
    assert.equal(snap.status, 201);
    const fork = await call(keyA, `/snapshots/${snap.body.id}/fork`, { method: 'POST', json: { count: 2 } });
    assert.equal(fork.status, 429, 'two more would pass the key’s bound');
    const restored = await call(keyA, `/snapshots/${snap.body.id}/restore`, { method: 'POST' });
    assert.equal(restored.status, 201);
    const restart = await call(keyA, `/instances/${a1}/start`, { method: 'POST' });
    assert.equal(restart.status, 429);
    assert.equal((await call(keyA, `/instances/${a1}`)).body.status, 'stopped');

    for (const id of [a1, a2, b1.body.id, restored.body.id])
      await call(undefined, `/instances/${id}`, { method: 'DELETE' });
    await call(undefined, `/snapshots/${snap.body.id}`, { method: 'DELETE' });
  });

  for (const isolation of ['runc', 'gvisor'] as const) {
    it(`${isolation}: files in /workspace are charged to the instance's memory cgroup`, async (t) => {
      const created = await create(keyA, { isolation, memory_mb: 256, disk_mb: 128 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      const container = execFileSync('docker', [
        'ps',
        '-q',
        '--no-trunc',
        '--filter',
        `label=faas.instance=${id}`,
      ])
        .toString()
        .trim();
      const before = memoryCharged(container);
      const wrote = await call(keyA, `/instances/${id}/exec`, {
        method: 'POST',
        json: { command: 'head -c 104857600 /dev/urandom > /workspace/data.bin && echo ok' },
      });
      assert.equal((wrote.body as { stdout?: string }).stdout, 'ok\n');
      const after = memoryCharged(container);
      t.diagnostic(
        `${isolation}: the cgroup's charge grew by ${((after - before) / 1024 / 1024).toFixed(1)} MiB for 100 MiB of files`,
      );
      assert.ok(after - before >= 90 * 1024 * 1024, `charged ${after - before} bytes for 100 MiB of files`);
      // And they cannot pass disk_mb (nor, so, memory_mb).
      const over = await call(keyA, `/instances/${id}/exec`, {
        method: 'POST',
        json: { command: 'head -c 104857600 /dev/zero > /workspace/more.bin' },
      });
      assert.notEqual((over.body as { exit_code?: number }).exit_code, 0);
      await call(undefined, `/instances/${id}`, { method: 'DELETE' });
    });
  }

  it('a persistent-mode instance shows its command, and runs it after its files are written', async () => {
    const res = await call(keyA, '/execute/advanced', {
      method: 'POST',
      json: {
        mode: 'persistent',
        command: 'test -f input.txt && sleep 600',
        files: { 'input.txt': 'from a file' },
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const id = res.body.instance_id as string;
    const got = await call(keyA, `/instances/${id}`);
    assert.deepEqual(got.body.command, ['sh', '-c', 'test -f input.txt && sleep 600']);
    // The file was there when it started: it sleeps on.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const running = (await call(keyA, `/instances/${id}`)).body;
    assert.deepEqual(
      running.processes?.map((p) => p.command),
      ['sh -c test -f input.txt && sleep 600'],
    );
    await call(undefined, `/instances/${id}`, { method: 'DELETE' });
  });
});
