import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type ApiKeyRole, ROLE_SCOPES, type Scope } from '@faas/core';
import { ROUTE_SCOPES } from '../../packages/server/src/tenancy/route-scopes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

type Json = Record<string, unknown> & { error?: { code: string } };

const ROLES = ['admin', 'owner', 'developer', 'invoker', 'viewer'] as const;

/** The route × scope table of docs/security.md: route → scope, and the roles it ticks. */
function docsTable(): Map<string, { scope: string; roles: string[] }> {
  const text = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
  const rows = new Map<string, { scope: string; roles: string[] }>();
  for (const line of text.split('\n')) {
    const m = /^\|\s*`([A-Z]+ \/api\/v1\/\S*)`\s*\|\s*`([a-z]+:[a-z]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    const ticks = (m[3] as string).split('|').map((c) => c.trim() === '✓');
    rows.set(m[1] as string, { scope: m[2] as string, roles: ROLES.filter((_, i) => ticks[i]) });
  }
  return rows;
}

describe('route × scope table', () => {
  it('docs/security.md shows exactly the table the server enforces, and the roles each scope is in', () => {
    const docs = docsTable();
    assert.deepEqual([...docs.keys()].sort(), Object.keys(ROUTE_SCOPES).sort());
    for (const [route, scope] of Object.entries(ROUTE_SCOPES)) {
      const row = docs.get(route);
      assert.equal(row?.scope, scope, route);
      assert.deepEqual(
        row?.roles,
        ROLES.filter((r) => ROLE_SCOPES[r].includes(scope)),
        route,
      );
    }
  });
});

/**
 * Walks the whole table for every role: an allowed request is not refused by auth (not 401, not
 * 403: it reaches its handler, which answers 2xx, or 404/422 for the absent ids and invalid bodies
 * the walk sends to routes that would change things); a refused one is 403 FAAS_ERR_FORBIDDEN;
 * another project's function, invocation or key is 404 to a key that has the scope.
 */
describe('route × scope × role, walked on a running server', () => {
  let s: TestServer;
  const keys = new Map<string, string>();
  let otherInvocation: string;
  let ownInvocation: string;
  let otherKeyId: string;

  const call = async (key: string, method: string, path: string, body?: unknown) => {
    const res = await s.api(path, {
      method,
      key,
      ...(body !== undefined ? { json: body } : {}),
    });
    const text = await res.text();
    let parsed: Json = {};
    try {
      parsed = JSON.parse(text) as Json;
    } catch {}
    return { status: res.status, body: parsed, text };
  };

  before(async () => {
    s = await startTestServer();
    for (const project of ['team-a', 'team-b']) {
      assert.equal(
        (await s.api('/api/v1/projects', { method: 'POST', json: { name: project } })).status,
        201,
      );
    }
    for (const role of ['owner', 'developer', 'invoker', 'viewer'] as const) {
      const res = await s.api('/api/v1/keys', {
        method: 'POST',
        json: { name: role, project: 'team-a', role },
      });
      assert.equal(res.status, 201, await res.clone().text());
      keys.set(role, ((await res.json()) as { key: string }).key);
    }
    keys.set('admin', (await import('../support/server.ts')).ADMIN_KEY);
    const bKey = await s.api('/api/v1/keys', {
      method: 'POST',
      json: { name: 'b', project: 'team-b', role: 'owner' },
    });
    const b = (await bKey.json()) as { key: string; id: string };
    otherKeyId = b.id;
    for (const [key, name] of [
      [keys.get('developer') as string, 'fa'],
      [b.key, 'fb'],
    ] as const) {
      const made = await call(key, 'POST', '/api/v1/functions', {
        name,
        runtime: 'js',
        env: { SECRET_ISH: 'plain-env-value' },
        code: 'export default () => 1',
      });
      assert.equal(made.status, 201, made.text);
      const res = await s.api(`/api/v1/functions/${name}/invoke`, { method: 'POST', key, json: {} });
      const id = res.headers.get('x-invocation-id') as string;
      if (name === 'fa') ownInvocation = id;
      else otherInvocation = id;
    }
  });
  after(() => s.close());

  /** A request for a row: ids of the caller's project (or absent ones), bodies that change nothing. */
  const requestFor = (route: string): { method: string; path: string; body?: unknown } => {
    const [method, pattern] = route.split(' ') as [string, string];
    const path = pattern
      .replace(':name', method === 'GET' || route.endsWith('/invoke') ? 'fa' : 'absent-fn')
      .replace(':version', '1')
      .replace('/invocations/:id', `/invocations/${ownInvocation}`)
      .replace(':id', 'absent_id');
    if (method === 'GET' || method === 'DELETE') return { method, path };
    // Invalid bodies (422) for routes that would make or change things; invoke runs `fa`.
    if (route.endsWith('/invoke')) return { method, path, body: {} };
    return { method, path, body: { 'not-a-field': true } };
  };

  for (const [route, scope] of Object.entries(ROUTE_SCOPES)) {
    it(`${route} needs ${scope}`, async () => {
      const { method, path, body } = requestFor(route);
      for (const role of ROLES) {
        const allowed = ROLE_SCOPES[role as ApiKeyRole].includes(scope as Scope);
        const got = await call(keys.get(role) as string, method, path, body);
        if (allowed) {
          assert.ok(got.status !== 401 && got.status !== 403, `${role}: ${got.status} ${got.text}`);
        } else {
          assert.equal(got.status, 403, `${role}: ${got.text}`);
          assert.equal(got.body.error?.code, 'FAAS_ERR_FORBIDDEN', role);
        }
      }
    });
  }

  it("another project's function, invocation and key are 404 to a key with the scope", async () => {
    const owner = keys.get('owner') as string;
    for (const [method, path, body] of [
      ['GET', '/api/v1/functions/fb'],
      ['GET', '/api/v1/functions/fb/versions'],
      ['GET', '/api/v1/functions/fb/versions/1'],
      ['PATCH', '/api/v1/functions/fb', { description: 'x' }],
      ['DELETE', '/api/v1/functions/fb'],
      ['POST', '/api/v1/functions/fb/invoke', {}],
      ['GET', `/api/v1/invocations/${otherInvocation}`],
      ['POST', `/api/v1/invocations/${otherInvocation}/retry`],
      ['DELETE', `/api/v1/keys/${otherKeyId}`],
    ] as Array<[string, string, unknown?]>) {
      const got = await call(owner, method, path, body);
      assert.equal(got.status, 404, `${method} ${path}: ${got.text}`);
    }
  });

  it('env values are shown only to keys that may edit the function', async () => {
    for (const role of ROLES) {
      // Names are the acting project's: the platform admin names team-a to reach its `fa`.
      const res = await s.api('/api/v1/functions/fa', {
        key: keys.get(role) as string,
        ...(role === 'admin' ? { headers: { 'x-faas-project': 'team-a' } } : {}),
      });
      const got = { body: (await res.json()) as Json };
      const env = (got.body.latest as { env: Record<string, string> }).env;
      const edits = ROLE_SCOPES[role].includes('functions:write');
      assert.deepEqual(env, { SECRET_ISH: edits ? 'plain-env-value' : '(hidden)' }, role);
      const listed = await call(keys.get(role) as string, 'GET', '/api/v1/functions');
      assert.equal(listed.text.includes('plain-env-value'), edits, role);
      const versions = await call(
        keys.get(role) as string,
        'GET',
        role === 'admin' ? '/api/v1/functions/team-a.fa/versions' : '/api/v1/functions/fa/versions',
      );
      assert.equal(versions.text.includes('plain-env-value'), edits, role);
    }
  });

  it('an owner makes keys in its own project only, never an admin key nor one with more scopes', async () => {
    const owner = keys.get('owner') as string;
    const made = await call(owner, 'POST', '/api/v1/keys', { name: 'ci', role: 'invoker' });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.body.project, 'team-a');
    assert.equal((await call(owner, 'POST', '/api/v1/keys', { name: 'x', role: 'admin' })).status, 403);
    const elsewhere = await call(owner, 'POST', '/api/v1/keys', { name: 'x', project: 'team-b' });
    assert.equal(elsewhere.status, 404);
    const listed = await call(owner, 'GET', '/api/v1/keys');
    assert.ok((listed.body.items as Array<{ project: string }>).every((k) => k.project === 'team-a'));
    const developer = await call(keys.get('developer') as string, 'POST', '/api/v1/keys', { name: 'x' });
    assert.equal(developer.status, 403);
    // An owner of the admin key's project cannot revoke it.
    const defaultOwner = await s.api('/api/v1/keys', {
      method: 'POST',
      json: { name: 'default owner', project: 'default', role: 'owner' },
    });
    const ownerOfDefault = ((await defaultOwner.json()) as { key: string }).key;
    const adminKey = (
      (await call(ownerOfDefault, 'GET', '/api/v1/keys')).body.items as Array<{ id: string; role: string }>
    ).find((k) => k.role === 'admin');
    assert.ok(adminKey);
    assert.equal((await call(ownerOfDefault, 'DELETE', `/api/v1/keys/${adminKey.id}`)).status, 403);
    assert.equal((await s.api('/api/v1/keys')).status, 200, 'the admin key still works');
  });

  it('a key narrowed to functions, expiring or rate limited makes and changes only keys within its limits', async () => {
    const inHour = Date.now() + 3_600_000;
    const limits = {
      functions: ['fa'],
      expiresAt: new Date(inHour).toISOString(),
      rateLimit: { requestsPerSecond: 1, burst: 1 },
    };
    const made = await call(keys.get('owner') as string, 'POST', '/api/v1/keys', {
      name: 'restricted',
      role: 'owner',
      ...limits,
    });
    assert.equal(made.status, 201, made.text);
    const restricted = made.body.key as string;
    const refused = async (method: string, path: string, body: unknown, exceeds: RegExp) => {
      const got = await call(restricted, method, path, body);
      assert.equal(got.status, 403, `${JSON.stringify(body)}: ${got.text}`);
      assert.equal(got.body.error?.code, 'FAAS_ERR_FORBIDDEN');
      assert.match(got.text, exceeds, JSON.stringify(body));
    };
    const later = new Date(inHour + 60_000).toISOString();
    for (const [body, exceeds] of [
      [{ name: 'x', role: 'owner' }, /functions/],
      [{ ...limits, functions: undefined }, /functions/],
      [{ ...limits, functions: [] }, /functions/],
      [{ ...limits, functions: ['fa', 'fb'] }, /fb/],
      [{ ...limits, expiresAt: undefined }, /expiresAt/],
      [{ ...limits, expiresAt: later }, /expiresAt/],
      [{ ...limits, rateLimit: undefined }, /rateLimit/],
      [{ ...limits, rateLimit: { requestsPerSecond: 2, burst: 1 } }, /rateLimit/],
      [{ ...limits, rateLimit: { requestsPerSecond: 1, burst: 2 } }, /rateLimit/],
    ] as Array<[Record<string, unknown>, RegExp]>) {
      await refused('POST', '/api/v1/keys', { name: 'x', role: 'owner', ...body }, exceeds);
    }
    // Within them: the same limits, or narrower.
    const within = await call(restricted, 'POST', '/api/v1/keys', {
      name: 'within',
      role: 'invoker',
      functions: ['fa'],
      expiresAt: new Date(inHour - 60_000).toISOString(),
      rateLimit: { requestsPerSecond: 0.5, burst: 1 },
    });
    assert.equal(within.status, 201, within.text);
    const withinId = within.body.id as string;
    assert.equal((await call(restricted, 'POST', '/api/v1/keys', { name: 'same', ...limits })).status, 201);

    // A change leaves the key within them too: no limit lifted, none loosened.
    for (const [body, exceeds] of [
      [{ expiresAt: null }, /expiresAt/],
      [{ expiresAt: later }, /expiresAt/],
      [{ rateLimit: null }, /rateLimit/],
      [{ rateLimit: { requestsPerSecond: 5, burst: 1 } }, /rateLimit/],
    ] as Array<[Record<string, unknown>, RegExp]>) {
      await refused('PATCH', `/api/v1/keys/${withinId}`, body, exceeds);
    }
    const renamed = await call(restricted, 'PATCH', `/api/v1/keys/${withinId}`, {
      name: 'renamed',
      rateLimit: limits.rateLimit,
    });
    assert.equal(renamed.status, 200, renamed.text);
    // Nor is a key that reaches more functions, or lives longer, changed by it.
    const wide = await call(keys.get('owner') as string, 'POST', '/api/v1/keys', {
      name: 'wide',
      role: 'invoker',
    });
    await refused('PATCH', `/api/v1/keys/${wide.body.id as string}`, { name: 'mine' }, /functions/);
    // Nor revoked by it; one within its limits is, and so is the key itself.
    await refused('DELETE', `/api/v1/keys/${wide.body.id as string}`, undefined, /functions/);
    assert.equal(
      (await call(wide.body.key as string, 'GET', '/api/v1/functions')).status,
      200,
      'still valid',
    );
    assert.equal((await call(restricted, 'DELETE', `/api/v1/keys/${withinId}`)).status, 204);
    assert.equal((await call(restricted, 'DELETE', `/api/v1/keys/${made.body.id as string}`)).status, 204);
    assert.equal((await call(restricted, 'GET', '/api/v1/functions')).status, 401);
  });

  it("no route takes requests of a function its key does not reach, in its project or another's", async () => {
    const owner = keys.get('owner') as string;
    const routed = await call(owner, 'POST', '/api/v1/functions', {
      name: 'routed',
      runtime: 'js',
      routes: ['GET /ra/items/:id'],
      code: 'export default () => "routed"',
    });
    assert.equal(routed.status, 201, routed.text);
    // A developer narrowed to fa: fa's route may not be a more specific one of `routed`'s.
    const made = await call(owner, 'POST', '/api/v1/keys', {
      name: 'dev-fa',
      role: 'developer',
      functions: ['fa'],
    });
    const devOnlyFa = made.body.key as string;
    const squat = await call(devOnlyFa, 'PATCH', '/api/v1/functions/fa', {
      public: true,
      routes: ['GET /ra/items/vip'],
    });
    assert.equal(squat.status, 403, squat.text);
    assert.equal(squat.body.error?.code, 'FAAS_ERR_FORBIDDEN');
    const own = await call(devOnlyFa, 'PATCH', '/api/v1/functions/fa', { routes: ['GET /ra/fa'] });
    assert.equal(own.status, 200, own.text);
    // Another project's, on the table both share: refused without naming anything of team-a.
    const b = await s.api('/api/v1/keys', {
      method: 'POST',
      json: { name: 'b-dev', project: 'team-b', role: 'developer' },
    });
    const bKey = ((await b.json()) as { key: string }).key;
    const other = await call(bKey, 'POST', '/api/v1/functions', {
      name: 'squat',
      runtime: 'js',
      public: true,
      routes: ['GET /ra/items/special'],
      code: 'export default (e) => e.headers.authorization ?? null',
    });
    assert.equal(other.status, 409, other.text);
    assert.equal(other.body.error?.code, 'FAAS_ERR_ROUTE_CONFLICT');
    assert.doesNotMatch(other.text, /routed|team-a|:id/);
    const served = await s.api('/ra/items/special', { key: owner });
    assert.equal(await served.text(), '"routed"');
  });

  it('a key that may deploy but not invoke does not make a function public', async () => {
    const owner = keys.get('owner') as string;
    const made = await call(owner, 'POST', '/api/v1/keys', {
      name: 'deploy-only',
      role: 'developer',
      scopes: ['functions:read', 'functions:write'],
    });
    assert.equal(made.status, 201, made.text);
    const deployOnly = made.body.key as string;
    const deploy = (body: Record<string, unknown>) =>
      call(deployOnly, 'PUT', '/api/v1/functions/pubfn', {
        runtime: 'js',
        code: 'export default () => 1',
        ...body,
      });
    const refused = await call(deployOnly, 'POST', '/api/v1/functions', {
      name: 'pub2',
      runtime: 'js',
      public: true,
      code: 'export default () => 1',
    });
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.text, /functions:invoke/);
    assert.equal((await deploy({ public: true })).status, 403);
    assert.equal((await s.api('/fn/team-a.pubfn')).status, 404, 'nothing made');
    // A function its owner made public stays so through the deploy key's new versions.
    assert.equal((await deploy({})).status, 201);
    assert.equal((await call(deployOnly, 'PATCH', '/api/v1/functions/pubfn', { public: true })).status, 403);
    assert.equal((await call(owner, 'PATCH', '/api/v1/functions/pubfn', { public: true })).status, 200);
    const redeployed = await deploy({ public: true, code: 'export default () => 2' });
    assert.equal(redeployed.status, 200, redeployed.text);
    assert.equal(await (await s.api('/fn/team-a.pubfn', { key: null })).text(), '2');
  });

  it('a key narrowed to scopes has only those; to functions, finds only those; an expired key is 401', async () => {
    const make = async (body: Record<string, unknown>) => {
      const res = await call(keys.get('owner') as string, 'POST', '/api/v1/keys', { name: 'n', ...body });
      assert.equal(res.status, 201, res.text);
      return res.body.key as string;
    };
    const readOnly = await make({ role: 'developer', scopes: ['functions:read'] });
    assert.equal((await call(readOnly, 'GET', '/api/v1/functions/fa')).status, 200);
    assert.equal((await call(readOnly, 'POST', '/api/v1/functions/fa/invoke', {})).status, 403);
    assert.equal((await call(readOnly, 'GET', '/api/v1/invocations')).status, 403);
    assert.equal((await s.api('/fn/fa', { key: readOnly })).status, 403);

    const made = await call(keys.get('developer') as string, 'POST', '/api/v1/functions', {
      name: 'fa2',
      runtime: 'js',
      code: 'export default () => 2',
    });
    assert.equal(made.status, 201);
    const onlyFa = await make({ role: 'invoker', functions: ['fa'] });
    assert.equal((await call(onlyFa, 'POST', '/api/v1/functions/fa/invoke', {})).status, 200);
    assert.equal((await call(onlyFa, 'POST', '/api/v1/functions/fa2/invoke', {})).status, 404);
    assert.equal((await call(onlyFa, 'POST', '/api/v1/functions/fa2/invoke?async=true', {})).status, 404);
    assert.equal((await s.api('/fn/fa2', { key: onlyFa })).status, 404);
    assert.equal((await call(onlyFa, 'GET', '/api/v1/functions/fa2')).status, 404);
    const list = await call(onlyFa, 'GET', '/api/v1/functions');
    assert.deepEqual(
      (list.body.items as Array<{ name: string }>).map((f) => f.name),
      ['fa'],
    );
    // Pages hold what the key reaches, and their cursors name nothing else.
    for (const name of ['fa1', 'fa9']) {
      const more = await call(keys.get('developer') as string, 'POST', '/api/v1/functions', {
        name,
        runtime: 'js',
        code: 'export default () => 9',
      });
      assert.equal(more.status, 201, more.text);
    }
    const pageThrough = async (key: string, limit: number) => {
      const names: string[] = [];
      let cursor: string | undefined;
      do {
        const query = `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await call(key, 'GET', `/api/v1/functions${query}`);
        assert.equal(page.status, 200, page.text);
        names.push(...(page.body.items as Array<{ name: string }>).map((f) => f.name));
        cursor = page.body.nextCursor as string | undefined;
        if (cursor) assert.doesNotMatch(Buffer.from(cursor, 'base64url').toString(), /fa[129]/, cursor);
      } while (cursor);
      return names;
    };
    for (const limit of [1, 2, 3])
      assert.deepEqual(await pageThrough(onlyFa, limit), ['fa'], `limit ${limit}`);
    const faAndFa9 = await make({ role: 'viewer', functions: ['fa9', 'fa'] });
    assert.deepEqual(await pageThrough(faAndFa9, 1), ['fa', 'fa9']);
    assert.equal((await call(onlyFa, 'GET', '/api/v1/invocations')).status, 422);
    assert.equal((await call(onlyFa, 'GET', '/api/v1/invocations?functionName=fa2')).status, 404);
    assert.equal((await call(onlyFa, 'GET', '/api/v1/invocations?functionName=fa')).status, 200);
    // The live tail names its function in the query too: another is as absent as an unknown one.
    const tail = await s.api('/api/v1/logs/stream?functionName=fa2', { key: onlyFa });
    await tail.body?.cancel();
    assert.equal(tail.status, 404);
    assert.equal(tail.headers.get('content-type')?.startsWith('application/json'), true);
    const ownTail = await s.api('/api/v1/logs/stream?functionName=fa', { key: onlyFa });
    await ownTail.body?.cancel();
    assert.equal(ownTail.status, 200);
    // Narrowed to functions, a key that may deploy makes no function outside them.
    const devOnlyFa = await make({ role: 'developer', functions: ['fa'] });
    const outside = await call(devOnlyFa, 'POST', '/api/v1/functions', {
      name: 'fa3',
      runtime: 'js',
      code: 'export default () => 3',
    });
    assert.equal(outside.status, 403, outside.text);
    assert.match(outside.text, /FAAS_ERR_FORBIDDEN/);
    assert.equal(
      (
        await call(devOnlyFa, 'PUT', '/api/v1/functions/fa3', {
          runtime: 'js',
          code: 'export default () => 3',
        })
      ).status,
      404,
    );
    assert.equal((await s.api('/api/v1/functions/fa3')).status, 404, 'nothing made');
    // A function list narrows functions only: a secret's or a project's name is no function's.
    const secret = await call(devOnlyFa, 'PUT', '/api/v1/secrets/SCOPED_TOKEN', { value: 'v' });
    assert.ok(secret.status >= 200 && secret.status < 300, secret.text);
    assert.equal((await call(devOnlyFa, 'DELETE', '/api/v1/secrets/SCOPED_TOKEN')).status, 204);
    const project = await call(onlyFa, 'GET', '/api/v1/projects/team-a');
    assert.equal(project.status, 200, project.text);

    const soon = await make({ role: 'viewer', expiresAt: new Date(Date.now() + 1500).toISOString() });
    assert.equal((await call(soon, 'GET', '/api/v1/functions')).status, 200);
    await new Promise((r) => setTimeout(r, 1600));
    const expired = await call(soon, 'GET', '/api/v1/functions');
    assert.equal(expired.status, 401);
    assert.match(expired.text, /expired/);
    for (const [expiresAt, message] of [
      ['2001-01-01T00:00:00Z', /in the future/],
      // In UTC the year 10000: it read back as "+010000-01-01T00:59:59.000Z".
      ['9999-12-31T23:59:59-01:00', /before the year 10000/],
      ['2030-12-31T23:59:60Z', /valid date/],
    ] as const) {
      const refused = await call(keys.get('owner') as string, 'POST', '/api/v1/keys', {
        name: 'old',
        expiresAt,
      });
      assert.equal(refused.status, 422, expiresAt);
      assert.match(refused.text, message);
    }
  });
});
