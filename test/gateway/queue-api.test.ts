// The queue's API over every queue implementation: GET /api/v1/queue, the dead letters as
// invocations (status=dead_lettered), POST /api/v1/invocations/{id}/retry.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Invocation, TERMINAL_STATUSES } from '@faas/core';
import { queueBackends } from '../support/queue-backends.ts';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

const BACKENDS = queueBackends('queue-api');

interface QueueCounts {
  depth: number;
  running: number;
  delayed: number;
  dead: number;
}

/** Fails until `event.until` (ms since epoch), logging each run. */
const FAILS_UNTIL = `export default (e) => {
  console.log('ran');
  if (Date.now() < e.until) throw new Error('not yet');
  return 'done';
}`;

for (const backend of BACKENDS) {
  describe(`queue API: ${backend.name}`, { skip: backend.skip }, () => {
    let s: TestServer;
    before(async () => {
      s = await startTestServer({ retryBaseDelayMs: 20, retryMaxDelayMs: 50, ...backend.overrides() });
    });
    after(async () => {
      await s?.close();
      await backend.cleanup();
    });

    const json = async <T>(res: Response | Promise<Response>): Promise<T> => (await (await res).json()) as T;
    const counts = () => json<QueueCounts>(s.api('/api/v1/queue'));
    const deploy = async (name: string, code: string, extra: Record<string, unknown> = {}) => {
      const res = await s.api('/api/v1/functions', {
        method: 'POST',
        json: { name, runtime: 'js', code, ...extra },
      });
      assert.equal(res.status, 201, await res.text());
    };
    const invokeAsync = async (name: string, event: unknown) => {
      const res = await s.api(`/api/v1/functions/${name}/invoke?async=true`, { method: 'POST', json: event });
      assert.equal(res.status, 202);
      return (await json<{ invocationId: string }>(res)).invocationId;
    };
    const invocation = (id: string) =>
      json<Invocation & { logs: Array<{ message: string }> }>(s.api(`/api/v1/invocations/${id}`));
    const finished = (id: string) =>
      waitFor(
        async () => {
          const inv = await invocation(id);
          return TERMINAL_STATUSES.has(inv.status) ? inv : undefined;
        },
        20_000,
        `invocation ${id} to finish`,
      );
    const retry = (id: string) => s.api(`/api/v1/invocations/${id}/retry`, { method: 'POST' });

    it('GET /queue counts nothing on a fresh server, and needs a key', async () => {
      assert.deepEqual(await counts(), { depth: 0, running: 0, delayed: 0, dead: 0 });
      assert.equal((await s.api('/api/v1/queue', { key: null })).status, 401);
    });

    it('a dead-lettered invocation is listed, counted, and retried: queued again, it runs once more and succeeds', async () => {
      await deploy('fails-until', FAILS_UNTIL, { maxRetries: 0 });
      // Room for the first attempt to start late on a loaded machine and still fail.
      const until = Date.now() + 4_000;
      const id = await invokeAsync('fails-until', { until });
      const dead = await finished(id);
      assert.equal(dead.status, 'dead_lettered');
      assert.equal(dead.attempts, 1);
      assert.equal((await counts()).dead, 1);
      const listed = await json<{ items: Invocation[] }>(s.api('/api/v1/invocations?status=dead_lettered'));
      assert.deepEqual(
        listed.items.map((i) => i.id),
        [id],
      );

      await waitFor(
        async () => (Date.now() > until + 10 ? true : undefined),
        10_000,
        'the function to stop failing',
      );
      const res = await retry(id);
      assert.equal(res.status, 202, await res.clone().text());
      assert.equal(res.headers.get('location'), `/api/v1/invocations/${id}`);
      assert.deepEqual(await res.json(), { invocationId: id, status: 'queued' });

      const again = await finished(id);
      assert.equal(again.status, 'succeeded', JSON.stringify(again));
      assert.equal(again.result, 'done');
      assert.equal(again.attempts, 2, 'attempt numbers go on from the dead-lettered run');
      assert.equal(again.logs.filter((l) => l.message === 'ran').length, 2, 'it ran once more, not more');
      assert.deepEqual(await counts(), { depth: 0, running: 0, delayed: 0, dead: 0 });
      assert.deepEqual(
        (await json<{ items: Invocation[] }>(s.api('/api/v1/invocations?status=dead_lettered'))).items,
        [],
      );
    });

    it('retrying an invocation that is not dead-lettered is 409 FAAS_ERR_NOT_DEAD_LETTERED; an unknown one 404', async () => {
      await deploy('ok', 'export default () => 1');
      const sync = await s.api('/api/v1/functions/ok/invoke', { method: 'POST', json: {} });
      const syncId = sync.headers.get('x-invocation-id') as string;
      assert.ok(syncId);
      const asyncId = await invokeAsync('ok', {});
      await finished(asyncId);
      for (const id of [syncId, asyncId]) {
        const res = await retry(id);
        assert.equal(res.status, 409);
        const body = await json<{ error: { code: string; message: string; details: { status: string } } }>(
          res,
        );
        assert.equal(body.error.code, 'FAAS_ERR_NOT_DEAD_LETTERED');
        assert.equal(body.error.details.status, 'succeeded');
        assert.match(body.error.message, /is succeeded, not dead-lettered/);
      }
      const unknown = await retry('inv_does_not_exist');
      assert.equal(unknown.status, 404);
      assert.equal(
        (await json<{ error: { code: string } }>(unknown)).error.code,
        'FAAS_ERR_INVOCATION_NOT_FOUND',
      );
      assert.equal(
        (await s.api(`/api/v1/invocations/${asyncId}/retry`, { method: 'POST', key: null })).status,
        401,
      );
    });

    it('a retry interrupted after taking the job back leaves it dead-lettered, and retryable again', async () => {
      await deploy('fails-until-2', FAILS_UNTIL, { maxRetries: 0 });
      const until = Date.now() + 1_000;
      const id = await invokeAsync('fails-until-2', { until });
      assert.equal((await finished(id)).status, 'dead_lettered');
      // What a retry that crashed before recording the invocation as queued leaves behind: the job
      // taken back under a short hold, never released.
      const held = await s.server.platform.queue.requeueDead(id, { visibilityTimeoutMs: 100 });
      assert.ok(held);
      await waitFor(
        async () =>
          (await s.server.platform.queue.listDead(100)).some((d) => d.id === id) ? true : undefined,
        20_000,
        'the job to go back to the dead letters',
      );
      assert.equal((await invocation(id)).status, 'dead_lettered');
      assert.equal(
        (await invocation(id)).logs.filter((l) => l.message === 'ran').length,
        1,
        'it ran unretried',
      );
      await waitFor(
        async () => (Date.now() > until + 10 ? true : undefined),
        5_000,
        'the function to stop failing',
      );
      assert.equal((await retry(id)).status, 202);
      const again = await finished(id);
      assert.equal(again.status, 'succeeded', JSON.stringify(again));
    });

    it('of concurrent retries of one dead letter exactly one is accepted, and the invocation runs once', async () => {
      // The retried run takes a while, so the other retries arrive while it is queued or running
      // (once it is dead again, a retry is rightly accepted again).
      await deploy(
        'always-fails',
        "export default async () => { console.log('ran'); await new Promise((r) => setTimeout(r, 1500)); throw new Error('nope') }",
        { maxRetries: 0, timeoutMs: 10_000 },
      );
      const id = await invokeAsync('always-fails', {});
      assert.equal((await finished(id)).status, 'dead_lettered');
      const answers = await Promise.all(Array.from({ length: 6 }, () => retry(id)));
      const statuses = answers.map((r) => r.status).sort();
      assert.deepEqual(statuses, [202, 409, 409, 409, 409, 409]);
      for (const r of answers) await r.arrayBuffer();
      const inv = await waitFor(
        async () => {
          const current = await invocation(id);
          return current.status === 'dead_lettered' && current.attempts === 2 ? current : undefined;
        },
        20_000,
        'the retried run to be dead-lettered again',
      );
      assert.equal(inv.error?.message, 'nope');
      assert.equal(inv.logs.filter((l) => l.message === 'ran').length, 2);
      assert.equal((await counts()).dead, 1);
    });
  });

  describe(`queue counts: ${backend.name}`, { skip: backend.skip }, () => {
    let s: TestServer;
    before(async () => {
      // One job at a time, and a retry delay no test waits out: what waits is counted as such.
      s = await startTestServer({
        queueConcurrency: 1,
        retryBaseDelayMs: 600_000,
        retryMaxDelayMs: 600_000,
        ...backend.overrides(),
      });
    });
    after(async () => {
      await s?.close();
      await backend.cleanup();
    });

    it('depth (due), running (leased), delayed (backing off) and dead are told apart', async () => {
      const deploy = (name: string, code: string, extra: Record<string, unknown> = {}) =>
        s.api('/api/v1/functions', { method: 'POST', json: { name, runtime: 'js', code, ...extra } });
      assert.equal(
        (await deploy('flaky', "export default () => { throw new Error('x') }", { maxRetries: 1 })).status,
        201,
      );
      assert.equal(
        (
          await deploy('slow', 'export default () => new Promise((r) => setTimeout(r, 3000))', {
            timeoutMs: 10_000,
          })
        ).status,
        201,
      );
      const invoke = (name: string) =>
        s.api(`/api/v1/functions/${name}/invoke?async=true`, { method: 'POST', json: {} });
      assert.equal((await invoke('flaky')).status, 202);
      // The flaky one failed its first attempt and backs off for 10 minutes: delayed.
      await waitFor(
        async () => {
          const c = (await (await s.api('/api/v1/queue')).json()) as QueueCounts;
          return c.delayed === 1 && c.running === 0 ? true : undefined;
        },
        15_000,
        'the failed attempt to back off',
      );
      for (let i = 0; i < 3; i++) assert.equal((await invoke('slow')).status, 202);
      const seen = await waitFor(
        async () => {
          const c = (await (await s.api('/api/v1/queue')).json()) as QueueCounts;
          return c.running === 1 && c.depth === 2 ? c : undefined;
        },
        15_000,
        'one slow job to run while two wait',
      );
      assert.deepEqual(seen, { depth: 2, running: 1, delayed: 1, dead: 0 });
    });
  });
}
