import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deployments } from '../support/queue-backends.ts';
import { developerKeyOf, startTestServer, type TestServer, waitFor } from '../support/server.ts';

interface Listed {
  items: Array<{ id: string; status: string; createdAt: string; startedAt?: string }>;
}

const BACKLOG = 24;
/** How long a call of a capped project's backlog runs. */
const SLOW_MS = 2_000;

/**
 * Projects take turns in the async queue: a project with a backlog does not hold another
 * project's next invocation back behind all of it (docs/queue.md).
 */
for (const backend of deployments('queue-turns')) {
  describe(`the async queue: projects take turns (${backend.name})`, { skip: backend.skip }, () => {
    let s: TestServer;
    let flood: string;
    let quiet: string;
    const cleanups: (() => Promise<void>)[] = [];

    const as = async (key: string, path: string, init: RequestInit & { json?: unknown } = {}) => {
      const res = await s.api(path, { ...init, key });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {}, text };
    };
    const deploy = async (key: string) => {
      const made = await as(key, '/api/v1/functions', {
        method: 'POST',
        json: {
          name: 'sleep',
          runtime: 'js',
          code: 'export default async () => { await new Promise((r) => setTimeout(r, 100)); return "done" }',
        },
      });
      assert.equal(made.status, 201, made.text);
    };
    const invocations = async (key: string) =>
      ((await as(key, '/api/v1/invocations?functionName=sleep&limit=100')).body as Listed).items;

    before(async () => {
      s = await startTestServer({
        queueConcurrency: 2,
        maxQueuedPerProject: 100,
        ...(await backend.setup(cleanups)),
      });
      flood = await developerKeyOf(s.url, 'turns-flood');
      quiet = await developerKeyOf(s.url, 'turns-quiet');
      await deploy(flood);
      await deploy(quiet);
    });
    after(async () => {
      await s?.close();
      for (const cleanup of cleanups) await cleanup();
    });

    it("one project's backlog of async calls does not hold another project's call back", async () => {
      for (let i = 0; i < BACKLOG; i++) {
        const queued = await as(flood, '/api/v1/functions/sleep/invoke?async=true', {
          method: 'POST',
          json: {},
        });
        assert.equal(queued.status, 202, queued.text);
      }
      const mine = await as(quiet, '/api/v1/functions/sleep/invoke?async=true', { method: 'POST', json: {} });
      assert.equal(mine.status, 202, mine.text);
      const quietCall = await waitFor(
        async () => (await invocations(quiet)).find((i) => i.status === 'succeeded'),
        15_000,
        "the quiet project's call",
      );
      const queuedAt = Date.parse(quietCall?.createdAt ?? '');
      const startedAt = Date.parse(quietCall?.startedAt ?? '');
      const floodCalls = await invocations(flood);
      const waiting = floodCalls.filter((i) => !i.startedAt || Date.parse(i.startedAt) >= queuedAt).length;
      const ahead = floodCalls.filter((i) => {
        const started = Date.parse(i.startedAt ?? '');
        return started >= queuedAt && started < startedAt;
      }).length;
      // Two run at once. As one line, the queue ran every call of the backlog still waiting before
      // this one; by turns it goes next, behind at most the one the rotation had given a turn.
      assert.ok(waiting >= 10, `only ${waiting} of the backlog were left when the call was queued`);
      assert.ok(ahead <= 3, `${ahead} of the ${waiting} calls of the backlog left started before it`);
      await waitFor(
        async () => (await invocations(flood)).every((i) => i.status === 'succeeded') || undefined,
        30_000,
        'the backlog',
      );
    });

    // Each project's backlog waits on a slot of one: its quota, or its function's maxConcurrency.
    for (const limit of ['concurrentInvocations', 'maxConcurrency'] as const) {
      it(`a project's backlog waiting on its ${limit} of 1 does not hold another project's call back`, async () => {
        const project = `turns-${limit.toLowerCase()}`;
        const capped = await developerKeyOf(s.url, project);
        if (limit === 'concurrentInvocations') {
          const set = await s.api(`/api/v1/projects/${project}`, {
            method: 'PATCH',
            json: { quotas: { concurrentInvocations: 1 } },
          });
          assert.equal(set.status, 200, await set.text());
        }
        const made = await as(capped, '/api/v1/functions', {
          method: 'POST',
          json: {
            name: 'slow',
            runtime: 'js',
            code: `export default async () => { await new Promise((r) => setTimeout(r, ${SLOW_MS})); return "done" }`,
            ...(limit === 'maxConcurrency' ? { maxConcurrency: 1 } : {}),
          },
        });
        assert.equal(made.status, 201, made.text);
        const slow = async () =>
          ((await as(capped, '/api/v1/invocations?functionName=slow&limit=100')).body as Listed).items;
        for (let i = 0; i < 2; i++) {
          const queued = await as(capped, '/api/v1/functions/slow/invoke?async=true', {
            method: 'POST',
            json: {},
          });
          assert.equal(queued.status, 202, queued.text);
        }
        await waitFor(
          async () => (await slow()).some((i) => i.status === 'running') || undefined,
          10_000,
          'a run',
        );
        const before = new Set((await invocations(quiet)).map((i) => i.id));
        const mine = await as(quiet, '/api/v1/functions/sleep/invoke?async=true', {
          method: 'POST',
          json: {},
        });
        assert.equal(mine.status, 202, mine.text);
        const call = await waitFor(
          async () => (await invocations(quiet)).find((i) => !before.has(i.id) && i.status === 'succeeded'),
          15_000,
          "the other project's call",
        );
        const waited = Date.parse(call?.startedAt ?? '') - Date.parse(call?.createdAt ?? '');
        // Two run at once. Before, the backlog's second call took the other place to wait for the
        // slot, and this one started only when the first ended.
        assert.ok(
          waited < SLOW_MS / 2,
          `it waited ${waited} ms to start, the backlog's calls run ${SLOW_MS} ms`,
        );
        await waitFor(
          async () => (await slow()).every((i) => i.status === 'succeeded') || undefined,
          30_000,
          'the backlog',
        );
      });
    }
  });
}
