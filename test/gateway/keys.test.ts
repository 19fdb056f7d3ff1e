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

  it('PATCH changes a key in its project only; role and scopes never, its own limit not by itself; audited', async () => {
    assert.equal(
      (await s.api('/api/v1/projects', { method: 'POST', json: { name: 'patch-a' } })).status,
      201,
    );
    assert.equal(
      (await s.api('/api/v1/projects', { method: 'POST', json: { name: 'patch-b' } })).status,
      201,
    );
    const make = async (json: Record<string, unknown>) => {
      const res = await s.api('/api/v1/keys', { method: 'POST', json });
      assert.equal(res.status, 201, await res.clone().text());
      return (await res.json()) as { id: string; key: string };
    };
    const ownerA = await make({ name: 'owner-a', project: 'patch-a', role: 'owner' });
    const devA = await make({
      name: 'dev-a',
      project: 'patch-a',
      role: 'developer',
      rateLimit: { requestsPerSecond: 1, burst: 1 },
    });
    const devB = await make({ name: 'dev-b', project: 'patch-b', role: 'developer' });
    const patch = (id: string, json: unknown, key?: string) =>
      s.api(`/api/v1/keys/${id}`, { method: 'PATCH', json, ...(key ? { key } : {}) });
    const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

    // The owner changes its project's key: name, limit, expiry; null takes the limit away.
    const limit = { requestsPerSecond: 50, burst: 100 };
    const changed = await patch(devA.id, { name: 'dev-a2', rateLimit: limit }, ownerA.key);
    assert.equal(changed.status, 200, await changed.clone().text());
    const body = (await changed.json()) as Record<string, unknown>;
    assert.equal(body.name, 'dev-a2');
    assert.deepEqual(body.rateLimit, limit);
    assert.equal(body.role, 'developer');
    assert.equal(body.key, undefined);
    assert.equal(body.hash, undefined);
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const cleared = await patch(devA.id, { rateLimit: null, expiresAt }, ownerA.key);
    assert.equal(cleared.status, 200);
    const clearedBody = (await cleared.json()) as Record<string, unknown>;
    assert.equal(clearedBody.rateLimit, undefined);
    assert.equal(clearedBody.expiresAt, expiresAt);
    assert.equal((await s.api('/api/v1/functions', { key: devA.key })).status, 200, 'the key still works');

    // Another project's key is as absent as an unknown one.
    const elsewhere = await patch(devB.id, { name: 'mine' }, ownerA.key);
    assert.equal(elsewhere.status, 404);
    assert.equal(await code(elsewhere), 'FAAS_ERR_API_KEY_NOT_FOUND');
    assert.equal((await patch('key_nope', { name: 'x' })).status, 404);
    // A developer has no keys:write.
    assert.equal((await patch(devA.id, { name: 'x' }, devA.key)).status, 403);
    // The platform admin's key is not an owner's to change.
    const adminId = (
      (await (await s.api('/api/v1/keys')).json()) as { items: Array<{ id: string; role: string }> }
    ).items.find((k) => k.role === 'admin')?.id as string;
    const ownerOfDefault = await make({ name: 'owner-d', role: 'owner' });
    assert.equal((await patch(adminId, { name: 'mine' }, ownerOfDefault.key)).status, 403);
    // A narrowed owner does not change a key that holds scopes it lacks.
    const narrowOwner = await make({
      name: 'owner-narrow',
      project: 'patch-a',
      role: 'owner',
      scopes: ['keys:read', 'keys:write'],
    });
    const wider = await patch(devA.id, { rateLimit: null }, narrowOwner.key);
    assert.equal(wider.status, 403);
    assert.equal(await code(wider), 'FAAS_ERR_FORBIDDEN');
    // A key does not lift its own limit or expiry; it may rename itself.
    const limited = await make({
      name: 'owner-limited',
      project: 'patch-a',
      role: 'owner',
      rateLimit: { requestsPerSecond: 1, burst: 1 },
    });
    const self = await patch(limited.id, { rateLimit: null }, limited.key);
    assert.equal(self.status, 403);
    assert.equal(await code(self), 'FAAS_ERR_FORBIDDEN');
    assert.equal((await patch(limited.id, { expiresAt: null }, limited.key)).status, 403);
    assert.equal((await patch(limited.id, { name: 'renamed-self' }, limited.key)).status, 200);

    // Bad bodies: 4xx with a code, never a 5xx.
    for (const bad of [
      {},
      { role: 'admin' },
      { scopes: ['keys:write'] },
      { project: 'patch-b' },
      { name: '' },
      { name: 'x'.repeat(101) },
      { name: 'admin (FAAS_ADMIN_KEY)' },
      { rateLimit: { requestsPerSecond: 0, burst: 1 } },
      { rateLimit: { requestsPerSecond: 1e300, burst: 1 } },
      { rateLimit: { requestsPerSecond: 1, burst: 1e12 } },
      { rateLimit: { requestsPerSecond: 1 } },
      { rateLimit: 'fast' },
      { expiresAt: '2001-01-01T00:00:00Z' },
      { expiresAt: 'tomorrow' },
      [],
      null,
      'name',
    ]) {
      const res = await patch(devA.id, bad, ownerA.key);
      assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(bad)}: ${res.status}`);
      assert.match(await code(res), /^FAAS_ERR_/);
    }
    const raised = await patch(devA.id, { role: 'admin' }, ownerA.key);
    assert.equal(raised.status, 422);
    assert.equal(await code(raised), 'FAAS_ERR_VALIDATION');
    const raw = await s.api(`/api/v1/keys/${devA.id}`, {
      method: 'PATCH',
      body: '{"name":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(raw.status, 400);
    assert.equal(
      (await patch(encodeURIComponent('x'.repeat(5000)), { name: 'x' }, ownerA.key)).status < 500,
      true,
    );
    const after = (await (await s.api('/api/v1/keys')).json()) as { items: Array<Record<string, unknown>> };
    const stored = after.items.find((k) => k.id === devA.id);
    assert.equal(stored?.role, 'developer', 'nothing a refused PATCH said was stored');
    assert.equal(stored?.name, 'dev-a2');

    // Audited, naming the key.
    const audit = (await (await s.api('/api/v1/audit?action=PATCH%20/api/v1/keys/:id')).json()) as {
      items: Array<{ target?: string; actor: { keyId: string }; status: number }>;
    };
    assert.ok(
      audit.items.some(
        (e) => e.target === `keys/${devA.id}` && e.actor.keyId === ownerA.id && e.status === 200,
      ),
      JSON.stringify(audit.items),
    );
  });

  it('an owner narrowed to fewer scopes does not revoke a key holding scopes it lacks', async () => {
    assert.equal(
      (await s.api('/api/v1/projects', { method: 'POST', json: { name: 'revoke-a' } })).status,
      201,
    );
    const make = async (json: Record<string, unknown>) => {
      const res = await s.api('/api/v1/keys', { method: 'POST', json: { project: 'revoke-a', ...json } });
      assert.equal(res.status, 201, await res.clone().text());
      return (await res.json()) as { id: string; key: string };
    };
    const narrow = await make({ name: 'narrow', role: 'owner', scopes: ['keys:read', 'keys:write'] });
    const full = await make({ name: 'full', role: 'owner' });
    const res = await s.api(`/api/v1/keys/${full.id}`, { method: 'DELETE', key: narrow.key });
    assert.equal(res.status, 403, await res.clone().text());
    const error = ((await res.json()) as { error: { code: string; details: { scopes: string[] } } }).error;
    assert.equal(error.code, 'FAAS_ERR_FORBIDDEN');
    assert.ok(error.details.scopes.includes('functions:write'), JSON.stringify(error));
    assert.equal((await s.api('/api/v1/keys', { key: full.key })).status, 200, 'the key still works');
    // One within its scopes it revokes.
    const reader = await make({ name: 'reader', role: 'owner', scopes: ['keys:read'] });
    assert.equal(
      (await s.api(`/api/v1/keys/${reader.id}`, { method: 'DELETE', key: narrow.key })).status,
      204,
    );
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
