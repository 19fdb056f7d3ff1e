import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEntry } from '@faas/core';
import { ADMIN_KEY, startTestServer, type TestServer, waitFor } from '../support/server.ts';

type Page = { items: AuditEntry[]; nextCursor?: string };

/** Issue 19's audit: every change, with who, what, when and from where, read by owners and admins. */
describe('the audit trail', () => {
  let s: TestServer;
  let owner: { key: string; id: string };
  let developer: { key: string; id: string };

  const as = (key: string, path: string, init: RequestInit & { json?: unknown } = {}) =>
    s.api(path, { ...init, key });
  const makeKey = async (project: string, role: string) => {
    const res = await s.api('/api/v1/keys', {
      method: 'POST',
      json: { name: `${project}-${role}`, project, role },
    });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as { key: string; id: string };
  };
  const audit = async (key: string, query = '') => {
    const res = await as(key, `/api/v1/audit${query}`);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as Page;
  };

  before(async () => {
    // Two gateway threads: changes made through either thread are recorded.
    s = await startTestServer({ gatewayThreads: 2 });
    for (const name of ['team-a', 'team-b']) {
      assert.equal((await s.api('/api/v1/projects', { method: 'POST', json: { name } })).status, 201);
    }
    owner = await makeKey('team-a', 'owner');
    developer = await makeKey('team-a', 'developer');
  });
  after(() => s.close());

  it("records a project's changes with who, what, when and from where; reads are not changes", async () => {
    const startedAt = new Date().toISOString();
    const code = 'export default () => 1';
    assert.equal(
      (
        await as(developer.key, '/api/v1/functions', {
          method: 'POST',
          json: { name: 'audited', runtime: 'js', code },
        })
      ).status,
      201,
    );
    assert.equal(
      (await as(developer.key, '/api/v1/functions/audited', { method: 'PATCH', json: { description: 'v2' } }))
        .status,
      200,
    );
    assert.equal((await as(developer.key, '/api/v1/functions/audited')).status, 200);
    assert.equal(
      (await as(developer.key, '/api/v1/functions/audited/invoke', { method: 'POST', json: {} })).status,
      200,
    );
    // Refused: not a change.
    assert.equal(
      (
        await as(developer.key, '/api/v1/functions', {
          method: 'POST',
          json: { name: 'Bad Name', runtime: 'js' },
        })
      ).status,
      422,
    );
    const made = await as(owner.key, '/api/v1/keys', {
      method: 'POST',
      json: { name: 'ci', role: 'invoker' },
    });
    const ci = (await made.json()) as { id: string };
    assert.equal((await as(owner.key, `/api/v1/keys/${ci.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await as(developer.key, '/api/v1/functions/audited', { method: 'DELETE' })).status, 204);

    // Since the test began: the admin's making of team-a and its keys is team-a's too.
    const { items } = await waitFor(async () => {
      const page = await audit(owner.key, `?since=${encodeURIComponent(startedAt)}`);
      return page.items.length >= 5 ? page : undefined;
    });
    assert.deepEqual(
      items.map((e) => [e.action, e.target, e.status, e.actor.keyId]),
      [
        ['DELETE /api/v1/functions/:name', 'functions/audited', 204, developer.id],
        ['DELETE /api/v1/keys/:id', `keys/${ci.id}`, 204, owner.id],
        ['POST /api/v1/keys', 'keys/ci', 201, owner.id],
        ['PATCH /api/v1/functions/:name', 'functions/audited', 200, developer.id],
        ['POST /api/v1/functions', 'functions/audited', 201, developer.id],
      ],
    );
    for (const e of items) {
      assert.equal(e.project, 'team-a');
      assert.equal(e.address, '127.0.0.1');
      assert.ok(e.at >= startedAt && e.id.startsWith('aud_'), JSON.stringify(e));
    }
    assert.deepEqual(items[0]?.actor, {
      keyId: developer.id,
      keyName: 'team-a-developer',
      role: 'developer',
    });
  });

  it('shows an owner only its project, an admin every project, and a developer nothing (403)', async () => {
    const ownerB = await makeKey('team-b', 'owner');
    const made = await as(ownerB.key, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'b-only', runtime: 'js', code: 'export default () => 2' },
    });
    assert.equal(made.status, 201);
    await waitFor(async () =>
      (await audit(ownerB.key)).items.some((e) => e.target === 'functions/b-only') ? true : undefined,
    );
    assert.ok((await audit(owner.key)).items.every((e) => e.project === 'team-a'));
    const all = await audit(ADMIN_KEY);
    assert.ok(all.items.some((e) => e.project === 'team-b'));
    assert.ok(all.items.some((e) => e.project === 'team-a'));
    // The admin's own changes (projects, keys) are there too.
    assert.ok(all.items.some((e) => e.action === 'POST /api/v1/projects' && e.target === 'projects/team-a'));
    const denied = await as(developer.key, '/api/v1/audit');
    assert.equal(denied.status, 403);
  });

  it('filters by action, actor and time, pages, and refuses a bad filter with 422', async () => {
    const byAction = await audit(owner.key, `?action=${encodeURIComponent('POST /api/v1/keys')}`);
    assert.deepEqual(
      byAction.items.map((e) => e.target),
      ['keys/ci', 'keys/team-a-developer', 'keys/team-a-owner'],
    );
    const byActor = await audit(owner.key, `?actorKeyId=${developer.id}`);
    assert.ok(byActor.items.length >= 3 && byActor.items.every((e) => e.actor.keyId === developer.id));
    assert.deepEqual((await audit(owner.key, '?since=2100-01-01T00:00:00Z')).items, []);
    const first = await audit(owner.key, '?limit=2');
    assert.equal(first.items.length, 2);
    assert.ok(first.nextCursor);
    const second = await audit(
      owner.key,
      `?limit=2&cursor=${encodeURIComponent(first.nextCursor as string)}`,
    );
    assert.ok((second.items[0]?.id ?? '') < (first.items[1]?.id ?? ''));
    const bad = await as(owner.key, '/api/v1/audit?since=yesterday');
    assert.equal(bad.status, 422);
  });

  it('refuses a time past year 9999 once in UTC (the store compares times as text) with 422', async () => {
    // 9999-12-31T23:59:59-01:00 is +010000-01-01T00:59:59Z, which sorts before every year as text.
    for (const field of ['since', 'until']) {
      for (const time of ['9999-12-31T23:59:59-01:00', '0000-01-01T00:00:00+01:00']) {
        const res = await as(owner.key, `/api/v1/audit?${field}=${encodeURIComponent(time)}`);
        const body = (await res.json()) as { error?: { code: string; details: Array<{ field: string }> } };
        assert.equal(res.status, 422, `${field}=${time}: ${JSON.stringify(body)}`);
        assert.equal(body.error?.code, 'FAAS_ERR_VALIDATION');
        assert.deepEqual(
          body.error?.details.map((d) => d.field),
          [`querystring.${field}`],
        );
      }
    }
    // The edges themselves are times.
    assert.deepEqual((await audit(owner.key, '?since=9999-12-31T23:59:59Z')).items, []);
    assert.ok((await audit(owner.key, '?since=0000-01-01T00:00:00Z')).items.length > 0);
  });

  it("files a platform admin's change of another project under that project, not the admin's own", async () => {
    const ownerDefault = await makeKey('default', 'owner');
    assert.equal((await s.api('/api/v1/projects', { method: 'POST', json: { name: 'team-c' } })).status, 201);
    const ownerC = await makeKey('team-c', 'owner');
    const ci = await makeKey('team-c', 'invoker');
    const patched = await s.api('/api/v1/projects/team-c', {
      method: 'PATCH',
      json: { rateLimit: { requestsPerSecond: 5, burst: 5 } },
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    assert.equal(
      (await s.api(`/api/v1/keys/${ci.id}`, { method: 'PATCH', json: { name: 'c-ci' } })).status,
      200,
    );
    assert.equal((await s.api(`/api/v1/keys/${ci.id}`, { method: 'DELETE' })).status, 204);
    const seenByC = await waitFor(async () => {
      const page = await audit(ownerC.key);
      return page.items.length >= 6 ? page : undefined;
    });
    assert.deepEqual(
      seenByC.items.map((e) => [e.action, e.target, e.project]),
      [
        ['DELETE /api/v1/keys/:id', `keys/${ci.id}`, 'team-c'],
        ['PATCH /api/v1/keys/:id', `keys/${ci.id}`, 'team-c'],
        ['PATCH /api/v1/projects/:name', 'projects/team-c', 'team-c'],
        ['POST /api/v1/keys', 'keys/team-c-invoker', 'team-c'],
        ['POST /api/v1/keys', 'keys/team-c-owner', 'team-c'],
        ['POST /api/v1/projects', 'projects/team-c', 'team-c'],
      ],
    );
    // The admin's key is of the default project: its owners see none of it.
    const seenByDefault = JSON.stringify((await audit(ownerDefault.key)).items);
    assert.doesNotMatch(seenByDefault, /team-c|team-a|team-b/);
  });

  it('shows a key narrowed to functions only the changes of those', async () => {
    for (const name of ['mine', 'theirs']) {
      const made = await as(owner.key, '/api/v1/functions', {
        method: 'POST',
        json: { name, runtime: 'js', code: 'export default () => 3' },
      });
      assert.equal(made.status, 201, await made.text());
    }
    const res = await as(owner.key, '/api/v1/keys', {
      method: 'POST',
      json: { name: 'narrowed', role: 'owner', functions: ['mine'] },
    });
    assert.equal(res.status, 201, await res.clone().text());
    const narrowed = (await res.json()) as { key: string };
    assert.equal(
      (await as(narrowed.key, '/api/v1/functions/mine', { method: 'PATCH', json: { description: 'v2' } }))
        .status,
      200,
    );
    const seen = await waitFor(async () => {
      const items = (await audit(narrowed.key)).items;
      return items.some((e) => e.action === 'PATCH /api/v1/functions/:name') ? items : undefined;
    });
    assert.deepEqual(
      seen.map((e) => [e.action, e.target]),
      [
        ['PATCH /api/v1/functions/:name', 'functions/mine'],
        ['POST /api/v1/functions', 'functions/mine'],
      ],
    );
    // The project's owner sees them all: the other function and the key made.
    const all = (await audit(owner.key)).items.map((e) => e.target);
    assert.ok(all.includes('functions/theirs') && all.some((t) => t?.startsWith('keys/')));
  });
});
