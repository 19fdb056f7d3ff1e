import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('API keys', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('creates a key shown once, lists it without the secret, and revokes it at once', async () => {
    const res = await s.api('/api/v1/keys', { method: 'POST', json: { name: 'ci' } });
    assert.equal(res.status, 201);
    const created = (await res.json()) as { id: string; key: string; role: string; prefix: string };
    assert.equal(created.role, 'user');
    assert.ok(created.key.startsWith(created.prefix));

    assert.equal((await s.api('/api/v1/functions', { key: created.key })).status, 200);
    const list = (await (await s.api('/api/v1/keys')).json()) as { items: Array<Record<string, unknown>> };
    const listed = list.items.find((k) => k.id === created.id);
    assert.ok(listed);
    assert.equal(listed.key, undefined);
    assert.equal(listed.hash, undefined);

    assert.equal((await s.api(`/api/v1/keys/${created.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await s.api('/api/v1/functions', { key: created.key })).status, 401);
  });

  it('a user key cannot manage keys (403)', async () => {
    const { key } = (await (await s.api('/api/v1/keys', { method: 'POST', json: { name: 'u' } })).json()) as {
      key: string;
    };
    const res = await s.api('/api/v1/keys', { key });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FAAS_ERR_FORBIDDEN');
  });
});

describe('first start without FAAS_ADMIN_KEY', () => {
  it('generates an admin key once, and auth can be turned off', async () => {
    const { loadConfig } = await import('@faas/core');
    const { createPlatform } = await import('@faas/server');
    const { tempDataDir } = await import('../support/server.ts');
    const dir = tempDataDir();
    const config = loadConfig({}, { dataDir: dir, logLevel: 'silent' });
    const p1 = await createPlatform(config);
    const key = p1.generatedAdminKey;
    assert.match(key ?? '', /^faas_/);
    assert.ok(await p1.keys.verify(key as string));
    await p1.close();
    const p2 = await createPlatform(config);
    assert.equal(p2.generatedAdminKey, undefined, 'printed only once');
    await p2.close();

    const open = await startTestServer({ auth: false });
    assert.equal((await open.api('/api/v1/functions', { key: null })).status, 200);
    await open.close();
  });
});
