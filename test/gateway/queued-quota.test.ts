import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deployments } from '../support/queue-backends.ts';
import { developerKeyOf, startTestServer, type TestServer, waitFor } from '../support/server.ts';

type Json = Record<string, unknown> & {
  error?: { code: string; message: string; details?: Record<string, unknown> };
};

/**
 * The `queuedInvocations` quota: a project's async invocations accepted and not finished (queued
 * or running), FAAS_MAX_QUEUED_PER_PROJECT by default. One tenant's flood of async calls must not
 * grow the queue without bound ahead of every other tenant's jobs.
 */
for (const backend of deployments('queued-quota')) {
  describe(`projects: the queued invocations quota (${backend.name})`, { skip: backend.skip }, () => {
    let s: TestServer;
    let a: string;
    let b: string;
    const cleanups: (() => Promise<void>)[] = [];

    const as = async (key: string, path: string, init: RequestInit & { json?: unknown } = {}) => {
      const res = await s.api(path, { ...init, key });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, text };
    };
    // One at a time (maxConcurrency 1), each as long as its event says: the others stay queued.
    const sleepAsync = (key: string, ms: number, idempotencyKey?: string) =>
      as(key, '/api/v1/functions/sleep/invoke?async=true', {
        method: 'POST',
        json: { ms },
        ...(idempotencyKey ? { headers: { 'idempotency-key': idempotencyKey } } : {}),
      });
    const unfinished = async (key: string) => {
      const listed = await as(key, '/api/v1/invocations?functionName=sleep&limit=100');
      const items = listed.body.items as { status: string }[];
      return items.filter((i) => i.status === 'queued' || i.status === 'running').length;
    };
    const deploy = async (key: string) => {
      const made = await as(key, '/api/v1/functions', {
        method: 'POST',
        json: {
          name: 'sleep',
          runtime: 'js',
          maxConcurrency: 1,
          code: 'export default async (e) => { await new Promise((r) => setTimeout(r, e.ms)); return "done" }',
        },
      });
      assert.equal(made.status, 201, made.text);
    };

    before(async () => {
      s = await startTestServer({ maxQueuedPerProject: 2, ...(await backend.setup(cleanups)) });
      a = await developerKeyOf(s.url, 'flood-a');
      b = await developerKeyOf(s.url, 'flood-b');
      await deploy(a);
      await deploy(b);
    });
    after(async () => {
      await s?.close();
      for (const cleanup of cleanups) await cleanup();
    });

    it('a project at its quota is refused 429 naming it, writing nothing; another project still enqueues', async () => {
      for (let i = 0; i < 2; i++) assert.equal((await sleepAsync(a, 1_500)).status, 202);
      const over = await sleepAsync(a, 0, 'refused-then-used');
      assert.equal(over.status, 429, over.text);
      assert.equal(over.body.error?.code, 'FAAS_ERR_QUOTA_EXCEEDED');
      assert.deepEqual(over.body.error?.details, { quota: 'queuedInvocations', limit: 2 });
      assert.match(over.body.error?.message ?? '', /queuedInvocations/);
      assert.equal(await unfinished(a), 2, 'the refused call left no record');
      assert.equal((await sleepAsync(b, 0)).status, 202, 'another project is not held back');
    });

    it("a platform admin's quota for the project replaces the default", async () => {
      const raise = await s.api('/api/v1/projects/flood-a', {
        method: 'PATCH',
        json: { quotas: { queuedInvocations: 3 } },
      });
      assert.equal(raise.status, 200, await raise.text());
      // The quota reaches the invoke path with the route table.
      await waitFor(async () => ((await sleepAsync(a, 1_500)).status === 202 ? true : undefined), 10_000);
      const over = await sleepAsync(a, 0);
      assert.equal(over.status, 429, over.text);
      assert.deepEqual(over.body.error?.details, { quota: 'queuedInvocations', limit: 3 });
    });

    it("a finished job frees room, and the refused call's idempotency key is used for it", async () => {
      // Below the quota once the first of the slow ones has finished.
      const queued = await waitFor(
        async () => {
          const got = await sleepAsync(a, 0, 'refused-then-used');
          return got.status === 202 ? got : undefined;
        },
        20_000,
        'room in the queue',
      );
      assert.equal(queued.body.duplicate, undefined, queued.text);
      assert.equal(queued.body.status, 'queued');
    });
  });
}
