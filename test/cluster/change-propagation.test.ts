// Changes made through one gateway reach another at once, by PostgreSQL's NOTIFY, not by the
// FAAS_ROUTE_SYNC_MS backstop: here that backstop is an hour, so a change kind still waiting for
// it (or for a cache's own time to live) is never seen on gateway B and the test times out. Each
// delay is printed (B is polled until the change shows), never asserted.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import {
  type ClusterNode,
  clusterSkipReason,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.ts';
import { request, waitFor } from '../support/server.ts';

const skip = clusterSkipReason();

describe('changes made through one gateway reach the others', { skip }, () => {
  let cluster: TestCluster;
  let a: ClusterNode;
  let b: ClusterNode;
  const settings = { FAAS_ROUTE_SYNC_MS: '3600000' };

  before(async () => {
    cluster = await startTestCluster();
    a = await cluster.start('gateway', settings);
    b = await cluster.start('gateway', settings);
  });
  after(async () => {
    await cluster?.close();
  });

  /** Polls B until `seen` holds; prints how long after the change on A that was. */
  async function reaches(t: TestContext, what: string, seen: () => Promise<boolean>): Promise<number> {
    const began = performance.now();
    await waitFor(async () => ((await seen()) ? true : undefined), 30_000, `${what} on gateway B`);
    const ms = performance.now() - began;
    t.diagnostic(`${what}: ${ms.toFixed(0)} ms`);
    return ms;
  }

  const call = async (node: ClusterNode, path: string, key?: string) => {
    const res = await request(node.url, path, { method: 'POST', json: {}, ...(key ? { key } : {}) });
    return { status: res.status, body: await res.text() };
  };

  it('a deploy, a new version, a route, a delete, a secret, a project rate limit and a revoked key', async (t) => {
    // Every kind is cached on B first (a miss is not cached, a hit is), so only an announcement
    // of the change can move it.
    const deployed = await request(a.url, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'prop', runtime: 'js', code: 'export default () => "v1"' },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    await reaches(t, 'deploy', async () => (await call(b, '/api/v1/functions/prop/invoke')).body === '"v1"');

    const patched = await request(a.url, '/api/v1/functions/prop', {
      method: 'PATCH',
      json: { code: 'export default () => "v2"', routes: ['GET /prop-route'] },
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    await reaches(
      t,
      'new version',
      async () => (await call(b, '/api/v1/functions/prop/invoke')).body === '"v2"',
    );
    await reaches(t, 'route', async () => (await request(b.url, '/prop-route')).status === 200);

    // A result has the secret's value redacted: its length shows which value the call saw.
    const secret = await request(a.url, '/api/v1/secrets/PROP_SECRET', {
      method: 'PUT',
      json: { value: 's1' },
    });
    assert.equal(secret.status, 201, await secret.clone().text());
    const withSecret = await request(a.url, '/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'prop-secret',
        runtime: 'js',
        code: 'export default () => process.env.PROP_SECRET.length',
        secrets: ['PROP_SECRET'],
      },
    });
    assert.equal(withSecret.status, 201, await withSecret.clone().text());
    await reaches(
      t,
      'deploy naming a secret',
      async () => (await call(b, '/api/v1/functions/prop-secret/invoke')).body === '2',
    );
    const rotated = await request(a.url, '/api/v1/secrets/PROP_SECRET', {
      method: 'PUT',
      json: { value: 's222' },
    });
    assert.equal(rotated.status, 200, await rotated.clone().text());
    await reaches(
      t,
      'secret',
      async () => (await call(b, '/api/v1/functions/prop-secret/invoke')).body === '4',
    );

    const limited = await request(a.url, '/api/v1/projects/default', {
      method: 'PATCH',
      json: { rateLimit: { requestsPerSecond: 0.01, burst: 1 } },
    });
    assert.equal(limited.status, 200, await limited.clone().text());
    await reaches(
      t,
      'project rate limit',
      async () => (await call(b, '/api/v1/functions/prop/invoke')).status === 429,
    );
    const unlimited = await request(a.url, '/api/v1/projects/default', {
      method: 'PATCH',
      json: { rateLimit: null },
    });
    assert.equal(unlimited.status, 200, await unlimited.clone().text());
    await reaches(
      t,
      'project rate limit removed',
      async () => (await call(b, '/api/v1/functions/prop/invoke')).status === 200,
    );

    const created = await request(a.url, '/api/v1/keys', {
      method: 'POST',
      json: { name: 'prop', role: 'admin' },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { id, key } = (await created.json()) as { id: string; key: string };
    assert.equal((await call(b, '/api/v1/functions/prop/invoke', key)).status, 200, 'the key works on B');
    assert.equal((await request(a.url, `/api/v1/keys/${id}`, { method: 'DELETE' })).status, 204);
    await reaches(
      t,
      'revoked key',
      async () => (await call(b, '/api/v1/functions/prop/invoke', key)).status === 401,
    );

    assert.equal((await request(a.url, '/api/v1/functions/prop', { method: 'DELETE' })).status, 204);
    await reaches(t, 'delete', async () => (await call(b, '/api/v1/functions/prop/invoke')).status === 404);
  });

  it("a function deleted and made again: B never runs the old one's versions by number", async (t) => {
    const make = async (code: string) => {
      const res = await request(a.url, '/api/v1/functions', {
        method: 'POST',
        json: { name: 'reborn', runtime: 'js', code },
      });
      assert.equal(res.status, 201, await res.clone().text());
    };
    await make('export default () => "old 1"');
    const patched = await request(a.url, '/api/v1/functions/reborn', {
      method: 'PATCH',
      json: { code: 'export default () => "old 2"' },
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    await reaches(
      t,
      'deploy',
      async () => (await call(b, '/api/v1/functions/reborn:2/invoke')).body === '"old 2"',
    );
    assert.equal((await request(a.url, '/api/v1/functions/reborn', { method: 'DELETE' })).status, 204);
    await make('export default () => "new 1"');
    await reaches(
      t,
      'made again',
      async () => (await call(b, '/api/v1/functions/reborn/invoke')).body === '"new 1"',
    );
    // The new function has no version 2: B had the old one's cached, for good.
    const second = await call(b, '/api/v1/functions/reborn:2/invoke');
    assert.equal(second.status, 404, second.body);
    assert.match(second.body, /FAAS_ERR_VERSION_NOT_FOUND/);
  });
});
