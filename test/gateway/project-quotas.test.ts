import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason } from '../support/engine.ts';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

type Json = Record<string, unknown> & { error?: { code: string; details?: Record<string, unknown> } };

/**
 * Quotas per project (issue 19), set by the platform admin: functions, concurrent invocations
 * (across every gateway thread), instances, snapshot storage. Past one: 403, or 429 for
 * concurrency, FAAS_ERR_QUOTA_EXCEEDED naming the quota. Without quotas nothing is limited.
 */
describe('projects: quotas', () => {
  let s: TestServer;
  let key: string;

  const as = async (who: string | undefined, path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await s.api(path, { ...init, ...(who ? { key: who } : {}) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, text };
  };
  const setQuotas = (quotas: Record<string, number | null>) =>
    as(undefined, '/api/v1/projects/team-q', { method: 'PATCH', json: { quotas } });

  before(async () => {
    // Two gateway threads: the concurrency quota must hold for the server, not per thread.
    s = await startTestServer({ gatewayThreads: 2 });
    assert.equal(
      (await as(undefined, '/api/v1/projects', { method: 'POST', json: { name: 'team-q' } })).status,
      201,
    );
    key = (await as(undefined, '/api/v1/keys', { method: 'POST', json: { name: 'q', project: 'team-q' } }))
      .body.key as string;
  });
  after(() => s.close());

  it('a platform admin sets and clears quotas; a bad one is refused', async () => {
    const set = await setQuotas({ functions: 1, concurrentInvocations: 1 });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.body.quotas, { functions: 1, concurrentInvocations: 1 });
    for (const bad of [{ functions: -1 }, { functions: 1.5 }, { nope: 1 }, {}]) {
      const got = await as(undefined, '/api/v1/projects/team-q', { method: 'PATCH', json: { quotas: bad } });
      assert.equal(got.status, 422, `${JSON.stringify(bad)}: ${got.text}`);
    }
    const own = await as(key, '/api/v1/projects/team-q', {
      method: 'PATCH',
      json: { quotas: { functions: 99 } },
    });
    assert.equal(own.status, 403);
  });

  it('past the functions quota a create is 403 naming it; other projects are not limited', async () => {
    const fn = (name: string) => ({
      name,
      runtime: 'js',
      // Slow enough that two calls overlap.
      code: 'export default async () => { await new Promise((r) => setTimeout(r, 700)); return "done" }',
    });
    assert.equal((await as(key, '/api/v1/functions', { method: 'POST', json: fn('slow') })).status, 201);
    const over = await as(key, '/api/v1/functions', { method: 'POST', json: fn('second') });
    assert.equal(over.status, 403, over.text);
    assert.equal(over.body.error?.code, 'FAAS_ERR_QUOTA_EXCEEDED');
    assert.deepEqual(over.body.error?.details, { quota: 'functions', limit: 1 });
    assert.equal(
      (await as(undefined, '/api/v1/functions', { method: 'POST', json: fn('second') })).status,
      201,
    );
  });

  it('past the concurrent invocations quota a call is 429 naming it, on whichever thread', async () => {
    // Each call on a connection of its own: the kernel spreads them over the threads.
    const calls = await Promise.all(
      [0, 1, 2, 3].map(() =>
        fetch(`${s.url}/api/v1/functions/slow/invoke`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, connection: 'close' },
        }).then(async (res) => ({ status: res.status, body: (await res.json()) as Json })),
      ),
    );
    const statuses = calls.map((c) => c.status).sort();
    assert.equal(statuses.filter((st) => st === 200).length, 1, JSON.stringify(calls));
    for (const refused of calls.filter((c) => c.status !== 200)) {
      assert.equal(refused.status, 429, JSON.stringify(refused));
      assert.equal(refused.body.error?.code, 'FAAS_ERR_QUOTA_EXCEEDED');
      assert.deepEqual(refused.body.error?.details?.quota, 'concurrentInvocations');
    }
    // The slot is given back: the next call runs.
    assert.equal((await as(key, '/api/v1/functions/slow/invoke', { method: 'POST' })).status, 200);
    // Cleared, calls overlap freely.
    await setQuotas({ concurrentInvocations: null });
    const free = await Promise.all(
      [0, 1].map(() => as(key, '/api/v1/functions/slow/invoke', { method: 'POST' }).then((r) => r.status)),
    );
    assert.deepEqual(free, [200, 200]);
  });

  it('past the concurrent invocations quota async jobs wait: one runs at a time, each completes once', async () => {
    await setQuotas({ functions: null, concurrentInvocations: 1 });
    // A second function: the quota, not a function's maxConcurrency, is what holds them apart.
    const made = await as(key, '/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'slow-too',
        runtime: 'js',
        code: 'export default async () => { await new Promise((r) => setTimeout(r, 400)); return "done" }',
      },
    });
    assert.equal(made.status, 201, made.text);
    const ids: string[] = [];
    for (const name of ['slow', 'slow-too', 'slow', 'slow-too', 'slow', 'slow-too']) {
      const queued = await as(key, `/api/v1/functions/${name}/invoke?async=true`, {
        method: 'POST',
        json: {},
      });
      assert.equal(queued.status, 202, queued.text);
      ids.push(queued.body.invocationId as string);
    }
    type Record = { status: string; attempts: number; startedAt?: string; finishedAt?: string };
    const records = await waitFor(
      async () => {
        const all = await Promise.all(
          ids.map(async (id) => (await as(key, `/api/v1/invocations/${id}`)).body),
        );
        return all.every((r) => r.status === 'succeeded') ? (all as unknown as Record[]) : undefined;
      },
      60_000,
      'every async invocation succeeded',
    );
    for (const r of records) assert.equal(r.attempts, 1, JSON.stringify(r));
    // Each attempt ran inside the project's one slot: no two of them overlap.
    const spans = records
      .map((r) => ({ start: Date.parse(r.startedAt as string), end: Date.parse(r.finishedAt as string) }))
      .sort((a, b) => a.start - b.start);
    spans.reduce((previous, span) => {
      assert.ok(span.start >= previous.end, `attempts overlap: ${JSON.stringify(records)}`);
      return span;
    });
    await setQuotas({ concurrentInvocations: null });
  });

  it('past the instances quota a new instance is 403 naming it', { skip: engineSkipReason() }, async () => {
    await setQuotas({ instances: 0 });
    const got = await as(key, '/api/v1/instances', { method: 'POST', json: {} });
    assert.equal(got.status, 403, got.text);
    assert.equal(got.body.error?.code, 'FAAS_ERR_QUOTA_EXCEEDED');
    assert.deepEqual(got.body.error?.details, { quota: 'instances', limit: 0 });
  });

  it('a snapshot past the storage quota is 403 and leaves no blob and no row; a blob another snapshot has stays', {
    skip: engineSkipReason(),
  }, async () => {
    await setQuotas({ instances: null, snapshotStorageBytes: null });
    const made = await as(key, '/api/v1/instances', { method: 'POST', json: { isolation: 'runc' } });
    assert.equal(made.status, 201, made.text);
    const id = made.body.id as string;
    try {
      const put = await s.api(`/api/v1/instances/${id}/files?path=/workspace/a.txt`, {
        method: 'PUT',
        key,
        body: `first ${Math.random()}`,
      });
      assert.equal(put.status, 201, await put.text());
      const first = await as(key, '/api/v1/snapshots', { method: 'POST', json: { instance_id: id } });
      assert.equal(first.status, 201, first.text);
      const blobsBefore = blobFiles(s.dataDir);
      const snapshotsBefore = (await as(key, '/api/v1/snapshots')).body.items as unknown[];

      // The same folder again: the same bytes, so the same blob, and the quota is full.
      await setQuotas({ snapshotStorageBytes: first.body.size_bytes as number });
      const same = await as(key, '/api/v1/snapshots', { method: 'POST', json: { instance_id: id } });
      assert.equal(same.status, 403, same.text);
      assert.equal(same.body.error?.code, 'FAAS_ERR_QUOTA_EXCEEDED');
      assert.deepEqual(blobFiles(s.dataDir), blobsBefore, "the first snapshot's blob stays");
      const restored = await as(key, `/api/v1/snapshots/${first.body.id}/restore`, {
        method: 'POST',
        json: {},
      });
      assert.equal(restored.status, 201, restored.text);
      await as(key, `/api/v1/instances/${restored.body.id}`, { method: 'DELETE' });

      // New bytes past the quota: refused, and nothing of them is kept.
      await s.api(`/api/v1/instances/${id}/files?path=/workspace/b.txt`, {
        method: 'PUT',
        key,
        body: `second ${Math.random()}`,
      });
      const over = await as(key, '/api/v1/snapshots', { method: 'POST', json: { instance_id: id } });
      assert.equal(over.status, 403, over.text);
      assert.deepEqual(over.body.error?.details, {
        quota: 'snapshotStorageBytes',
        limit: first.body.size_bytes as number,
      });
      assert.deepEqual(blobFiles(s.dataDir), blobsBefore, 'no blob of the refused snapshot');
      assert.deepEqual((await as(key, '/api/v1/snapshots')).body.items, snapshotsBefore, 'no row');
    } finally {
      await as(key, `/api/v1/instances/${id}`, { method: 'DELETE' });
      await setQuotas({ snapshotStorageBytes: null });
    }
  });
});

/** The local blob store's files (FAAS_OBJECT_STORE_URL unset: `<data dir>/blobs`), sorted. */
function blobFiles(dataDir: string): string[] {
  const root = join(dataDir, 'blobs');
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}
