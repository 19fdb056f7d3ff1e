import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('health, readiness and docs', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('/ready reports the store, the queue, the invocation records and each runtime', async () => {
    const res = await s.api('/ready', { key: null });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; checks: Record<string, string> };
    assert.equal(body.status, 'ready');
    assert.equal(body.checks.store, 'ok');
    assert.equal(body.checks.queue, 'ok');
    assert.equal(body.checks.records, 'ok');
    assert.equal(body.checks.isolate, 'ok');
    assert.equal(body.checks.wasm, 'ok');
    assert.ok(body.checks.container, 'the container runtime reports too, ready or not');
  });

  it("/ready gives a failing check's reason to a platform admin's key with cluster:read only; anyone else gets its code", async () => {
    const queue = s.server.platform.queue;
    const health = queue.health;
    queue.health = async () => ({
      ok: false,
      code: 'FAAS_ERR_STORAGE_UNAVAILABLE',
      reason: 'redis://10.1.2.3:6379 did not answer',
    });
    const narrowed = await s.api('/api/v1/keys', {
      method: 'POST',
      json: { name: 'invoke-only-admin', role: 'admin', scopes: ['functions:invoke'] },
    });
    assert.equal(narrowed.status, 201, await narrowed.clone().text());
    const { key: invokeOnly } = (await narrowed.json()) as { key: string };
    try {
      for (const key of [null, 'faas_not_a_key_0123456789abcdefghij', invokeOnly]) {
        const res = await s.api('/ready', { key });
        assert.equal(res.status, 503);
        const body = (await res.json()) as { checks: Record<string, string> };
        assert.equal(body.checks.queue, 'failing (FAAS_ERR_STORAGE_UNAVAILABLE)');
        assert.doesNotMatch(JSON.stringify(body), /10\.1\.2\.3/);
      }
      const admin = (await (await s.api('/ready')).json()) as { checks: Record<string, string> };
      assert.equal(
        admin.checks.queue,
        'failing (FAAS_ERR_STORAGE_UNAVAILABLE): redis://10.1.2.3:6379 did not answer',
      );
    } finally {
      queue.health = health;
    }
  });

  it('serves the OpenAPI document and its UI at /docs', async () => {
    const doc = (await (await s.api('/docs/json', { key: null })).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    assert.match(doc.openapi, /^3\./);
    for (const path of [
      '/api/v1/functions',
      '/api/v1/functions/{name}/invoke',
      '/api/v1/invocations/{id}',
      '/api/v1/keys',
    ]) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    const ui = await s.api('/docs', { key: null, redirect: 'follow' });
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /swagger/i);
  });
});
