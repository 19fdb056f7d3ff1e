import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer, tempDataDir } from '../support/server.ts';

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
    assert.equal(created.role, 'developer');
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

describe('FAAS_ADMIN_KEY', () => {
  it('a new value revokes the key configured before; other keys stay', async (t) => {
    const { loadConfig } = await import('@faas/core');
    const { createPlatform } = await import('@faas/server');
    const { rmSync } = await import('node:fs');
    const dir = tempDataDir();
    const opened: Array<{ close(): Promise<void> }> = [];
    t.after(async () => {
      for (const p of opened) await p.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const first = 'faas_first_Kq3vT9pLm2Rz8KwYc4Nb7Hd1Gf6Js5A0';
    const second = 'faas_second_Zx8cV4bN1mQ7wE2rT6yU9iO3pA5sD0f';
    const open = async (adminKey: string) => {
      const p = await createPlatform(loadConfig({}, { dataDir: dir, logLevel: 'silent', adminKey }));
      opened.push(p);
      return p;
    };
    const closeLast = async () => (opened.pop() as { close(): Promise<void> }).close();
    const p1 = await open(first);
    const { key: userKey } = await p1.keys.create('ci', 'user');
    await closeLast();
    const p2 = await open(second);
    assert.equal(await p2.keys.verify(first), undefined, 'the old admin key is revoked');
    assert.equal((await p2.keys.verify(second))?.role, 'admin');
    assert.ok(await p2.keys.verify(userKey), 'keys made through the API are untouched');
    await closeLast();
    // Going back to the first value registers it again; the second is revoked in turn.
    const p3 = await open(first);
    assert.ok(await p3.keys.verify(first));
    assert.equal(await p3.keys.verify(second), undefined);
  });

  it("its key's name is reserved: the API cannot make a key that a restart would revoke", async (t) => {
    const s = await startTestServer();
    t.after(() => s.close());
    const res = await s.api('/api/v1/keys', { method: 'POST', json: { name: 'admin (FAAS_ADMIN_KEY)' } });
    assert.equal(res.status, 422);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FAAS_ERR_VALIDATION');
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
