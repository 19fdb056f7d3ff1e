import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { FaaSClient, FaasApiError } from '@faas/sdk';
import { runSession } from '../examples/sandbox-session/session.ts';
import { engineSkipReason } from './support/engine.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from './support/server.ts';

/** Every folder of examples/ deployed with `faas deploy` (or run, for the session) and exercised. */

const FAAS = new URL('../bin/faas', import.meta.url).pathname;
const EXAMPLES = new URL('../examples/', import.meta.url).pathname;
const engineSkip = engineSkipReason();

describe('examples/', () => {
  let s: TestServer;
  let client: FaaSClient;
  // Asynchronously: the server answering the CLI runs on this process's event loop.
  const deploy = async (folder: string) => {
    await promisify(execFile)(FAAS, ['deploy', `${EXAMPLES}${folder}`], {
      env: { ...process.env, FAAS_URL: s.url, FAAS_API_KEY: ADMIN_KEY },
    });
  };

  before(async () => {
    s = await startTestServer();
    client = new FaaSClient({ baseUrl: s.url, apiKey: ADMIN_KEY });
  });
  after(async () => {
    assert.deepEqual(await s.close(), [], 'the examples left containers behind');
  });

  it('http-api answers on its routes', async () => {
    await deploy('http-api');
    const list = await fetch(`${s.url}/books`);
    assert.equal(list.status, 200);
    assert.equal(((await list.json()) as { items: unknown[] }).items.length, 2);
    const one = await fetch(`${s.url}/books/2`);
    assert.equal(((await one.json()) as { year: number }).year, 1985);
    assert.equal((await fetch(`${s.url}/books/9`)).status, 404);
    const post = (body: string) => fetch(`${s.url}/books`, { method: 'POST', body });
    const created = await post('{"title":" Refactoring ","year":1999}');
    assert.equal(created.status, 201);
    assert.deepEqual(await created.json(), { id: '3', title: 'Refactoring', year: 1999 });
    assert.equal((await post('{"year":1}')).status, 422);
    assert.equal((await post('not json')).status, 400);
  });

  it('queue-consumer succeeds once per idempotency key, retries a failing order then dead-letters it', async () => {
    await deploy('queue-consumer');
    const order = {
      id: 'o-1',
      items: [
        { price: 2.5, quantity: 4 },
        { price: 1.25, quantity: 2 },
      ],
    };
    const first = await client.invokeAsync('orders', order, { idempotencyKey: 'o-1' });
    const again = await client.invokeAsync('orders', order, { idempotencyKey: 'o-1' });
    assert.equal(again.invocationId, first.invocationId);
    const done = await client.wait(first.invocationId);
    assert.deepEqual([done.status, done.result], ['succeeded', { id: 'o-1', total: 12.5, items: 2 }]);

    const bad = await client.invokeAsync('orders', { id: 'o-2', items: [] });
    const dead = await client.wait(bad.invocationId, { timeoutMs: 60_000 });
    assert.equal(dead.status, 'dead_lettered');
    assert.equal(dead.attempts, 3, 'one attempt and maxRetries (2) retries');
    assert.equal(dead.error?.message, 'order o-2 has no items');
  });

  it('python-data-job computes statistics of a CSV', { skip: engineSkip }, async () => {
    await deploy('python-data-job');
    const { result } = await client.invoke('csv-stats', {
      csv: 'city,value\nParis,3\nLyon,5\nParis,10\n',
      group_by: 'city',
    });
    assert.deepEqual(result, {
      count: 3,
      mean: 6,
      median: 5,
      stdev: 3.6056,
      sum_by_group: { Lyon: 5, Paris: 13 },
    });
    await assert.rejects(client.invoke('csv-stats', { csv: 'value\n' }), (err) => {
      assert.ok(err instanceof FaasApiError);
      assert.equal(err.code, 'FAAS_ERR_FUNCTION_ERROR');
      return true;
    });
  });

  it('sandbox-session sets up once, snapshots, forks two variants and cleans up', {
    skip: engineSkip,
  }, async () => {
    const result = await runSession(client);
    assert.equal(result.setup, '4');
    assert.equal(result.variants.top1, '      2 apple\n5\n');
    assert.equal(result.variants.top3, '      2 apple\n      1 pear\n      1 fig\n4\n');
    assert.deepEqual(await client.sandboxes.listInstances(), []);
    assert.deepEqual((await client.sandboxes.listSnapshots()).items, []);
  });
});
