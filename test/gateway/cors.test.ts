// CORS per project (issue 19, "Transport") on a real server with its default gateway threads:
// every request goes on a connection of its own, so the kernel spreads them over the threads,
// and each answer shows the settings reached the thread that served it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Answer, once } from '../support/own-connection.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

const APP_A = 'https://app.a.example';
const EVIL = 'https://evil.example';

/** One request on a new connection, with the headers given as they are (Origin included). */
const send = (
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
) => once(base, method, path, { key: null, headers, ...(body === undefined ? {} : { text: body }) });

const corsHeaders = (a: Answer) =>
  Object.fromEntries(Object.entries(a.headers).filter(([k]) => k.startsWith('access-control-')));

const preflight = (origin: string, method = 'POST', requestHeaders = 'content-type, authorization') => ({
  origin,
  'access-control-request-method': method,
  'access-control-request-headers': requestHeaders,
});

describe('CORS per project', () => {
  let s: TestServer;
  const keys: Record<string, string> = {};
  const bearer = (who: string) => ({ authorization: `Bearer ${keys[who]}` });
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  /** Several requests, each on a new connection: they land on different gateway threads. */
  const many = async (count: number, make: () => Promise<Answer>) => {
    const out: Answer[] = [];
    for (let i = 0; i < count; i++) out.push(await make());
    return out;
  };
  const patch = (who: string, project: string, body: unknown) =>
    send(
      s.url,
      'PATCH',
      `/api/v1/projects/${project}`,
      { ...(who === 'admin' ? admin : bearer(who)), 'content-type': 'application/json' },
      JSON.stringify(body),
    );
  const deploy = async (project: string, body: Record<string, unknown>) => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      headers: { 'x-faas-project': project },
      json: { runtime: 'js', ...body },
    });
    assert.equal(res.status, 201, await res.text());
  };

  before(async () => {
    // 0: the default, one thread per core (at most 4).
    s = await startTestServer({ gatewayThreads: 0 });
    for (const project of ['team-a', 'team-b']) {
      assert.equal(
        (await s.api('/api/v1/projects', { method: 'POST', json: { name: project } })).status,
        201,
      );
      for (const role of ['owner', 'developer']) {
        const made = await s.api('/api/v1/keys', {
          method: 'POST',
          json: { name: `${project}-${role}`, project, role },
        });
        assert.equal(made.status, 201);
        keys[`${project}-${role}`] = ((await made.json()) as { key: string }).key;
      }
    }
    // A function that writes its own CORS headers: the project's settings must win over them.
    const code =
      'export default (e) => ({ statusCode: 200, headers: { "Access-Control-Allow-Origin": "*", "access-control-allow-credentials": "true", "x-from": "fn" }, body: String(e && e.method) })';
    await deploy('team-a', { name: 'hello', public: true, code, routes: ['ANY /a-hello'] });
    await deploy('team-a', { name: 'private', code });
    await deploy('team-b', { name: 'hello', public: true, code });
  });
  after(() => s?.close());

  it('with no project configured, answers as before: no CORS headers, OPTIONS reaches the function', async () => {
    const actual = await send(s.url, 'GET', '/fn/team-a.hello', { origin: APP_A });
    assert.equal(actual.status, 200);
    // The function's own headers stand: nothing was configured.
    assert.equal(actual.headers['access-control-allow-origin'], '*');
    assert.equal(actual.headers.vary, undefined);
    const options = await send(s.url, 'OPTIONS', '/fn/team-a.hello', preflight(APP_A));
    assert.equal(options.status, 200);
    assert.equal(options.body, 'OPTIONS');
    const api = await send(s.url, 'OPTIONS', '/api/v1/functions', preflight(APP_A));
    assert.equal(api.status, 404);
    assert.equal(JSON.parse(api.body).error.code, 'FAAS_ERR_NOT_FOUND');
    assert.deepEqual(corsHeaders(api), {});
  });

  it('is set by the project owner or a platform admin, checked hard, shown with the project', async () => {
    const bad: unknown[] = [
      { allowOrigins: [] },
      { allowOrigins: ['https://app.a.example/'] },
      { allowOrigins: ['https://app.a.example/path'] },
      { allowOrigins: ['HTTPS://APP.A.EXAMPLE'] },
      { allowOrigins: ['https://app.a.example:443'] },
      { allowOrigins: ['null'] },
      { allowOrigins: ['app.a.example'] },
      { allowOrigins: ['https://user@app.a.example'] },
      { allowOrigins: ['*', APP_A] },
      { allowOrigins: ['*'], allowCredentials: true },
      { allowOrigins: Array.from({ length: 65 }, (_, i) => `https://o${i}.example`) },
      { allowOrigins: [APP_A], allowMethods: ['GET POST'] },
      { allowOrigins: [APP_A], allowHeaders: ['x-a\r\nx-b'] },
      { allowOrigins: [APP_A], maxAgeSeconds: 86_401 },
      { allowOrigins: [APP_A], extra: true },
    ];
    for (const cors of bad) {
      const res = await patch('team-a-owner', 'team-a', { cors });
      assert.equal(res.status, 422, `${JSON.stringify(cors)}: ${res.body}`);
      assert.equal(JSON.parse(res.body).error.code, 'FAAS_ERR_VALIDATION');
    }
    // A developer may not; another project's owner does not see the project.
    assert.equal((await patch('team-a-developer', 'team-a', { cors: { allowOrigins: [EVIL] } })).status, 403);
    assert.equal((await patch('team-b-owner', 'team-a', { cors: { allowOrigins: [EVIL] } })).status, 404);

    const set = await patch('team-a-owner', 'team-a', {
      cors: {
        allowOrigins: [APP_A, 'http://localhost:5173'],
        allowMethods: ['get', 'POST', 'PUT'],
        allowHeaders: ['Content-Type', 'Authorization', 'X-Trace'],
        exposeHeaders: ['X-Invocation-Id', 'x-from'],
        allowCredentials: true,
        maxAgeSeconds: 600,
      },
    });
    assert.equal(set.status, 200, set.body);
    const expected = {
      allowOrigins: [APP_A, 'http://localhost:5173'],
      allowMethods: ['GET', 'POST', 'PUT'],
      allowHeaders: ['content-type', 'authorization', 'x-trace'],
      exposeHeaders: ['x-invocation-id', 'x-from'],
      allowCredentials: true,
      maxAgeSeconds: 600,
    };
    assert.deepEqual(JSON.parse(set.body).cors, expected);
    const shown = await send(s.url, 'GET', '/api/v1/projects/team-a', bearer('team-a-developer'));
    assert.equal(shown.status, 200, shown.body);
    assert.deepEqual(JSON.parse(shown.body).cors, expected);
    assert.equal((await send(s.url, 'GET', '/api/v1/projects/team-a', bearer('team-b-owner'))).status, 404);
  });

  it("answers a preflight for an origin the function's project allows, on every thread", async () => {
    for (const path of ['/fn/team-a.hello', '/fn/team-a.private', '/fn/team-a.absent', '/a-hello']) {
      for (const res of await many(6, () =>
        send(s.url, 'OPTIONS', path, preflight(APP_A, 'PUT', 'X-Trace')),
      )) {
        assert.equal(res.status, 204, `${path}: ${res.body}`);
        assert.deepEqual(corsHeaders(res), {
          'access-control-allow-origin': APP_A,
          'access-control-allow-methods': 'GET, POST, PUT',
          'access-control-allow-headers': 'x-trace',
          'access-control-allow-credentials': 'true',
          'access-control-max-age': '600',
        });
        assert.match(String(res.headers.vary), /Origin/);
        assert.equal(res.body, '');
      }
    }
  });

  it('refuses a preflight from an origin, for a method or a header the project does not allow', async () => {
    for (const headers of [
      preflight(EVIL),
      preflight('https://app.a.example.evil.example'),
      preflight(APP_A, 'DELETE'),
      preflight(APP_A, 'POST', 'x-other'),
      preflight(APP_A, 'POST', 'content-type,,x y'),
    ]) {
      for (const res of await many(3, () => send(s.url, 'OPTIONS', '/fn/team-a.hello', headers))) {
        assert.equal(res.status, 403, JSON.stringify(headers));
        assert.equal(JSON.parse(res.body).error.code, 'FAAS_ERR_FORBIDDEN');
        assert.deepEqual(corsHeaders(res), {});
        assert.equal(res.headers.vary, 'Origin');
      }
    }
  });

  it("puts the project's headers on actual responses to an allowed origin, over the function's own", async () => {
    for (const res of await many(6, () => send(s.url, 'GET', '/fn/team-a.hello', { origin: APP_A }))) {
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-from'], 'fn');
      assert.deepEqual(corsHeaders(res), {
        'access-control-allow-origin': APP_A,
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': 'x-invocation-id, x-from',
      });
      assert.equal(res.headers.vary, 'Origin');
    }
    // A private function with its project's key, and its refusal without one: the page can read both.
    const ok = await send(s.url, 'POST', '/fn/team-a.private', {
      origin: APP_A,
      ...bearer('team-a-developer'),
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], APP_A);
    const refused = await send(s.url, 'POST', '/fn/team-a.private', { origin: APP_A });
    assert.equal(refused.status, 401);
    assert.equal(JSON.parse(refused.body).error.code, 'FAAS_ERR_UNAUTHORIZED');
    assert.equal(refused.headers['access-control-allow-origin'], APP_A);
    // The declared route is the function's project's too.
    const declared = await send(s.url, 'GET', '/a-hello', { origin: 'http://localhost:5173' });
    assert.equal(declared.headers['access-control-allow-origin'], 'http://localhost:5173');
  });

  it("gives a refused origin no CORS header (not even the function's own), only Vary: Origin", async () => {
    for (const res of await many(4, () => send(s.url, 'GET', '/fn/team-a.hello', { origin: EVIL }))) {
      assert.equal(res.status, 200);
      assert.deepEqual(corsHeaders(res), {});
      assert.equal(res.headers.vary, 'Origin');
    }
  });

  it("never gives a function the console's session cookie, which credentialed requests carry", async () => {
    await deploy('team-a', {
      name: 'cookies',
      public: true,
      code: 'export default (e) => ({ cookie: e.headers.cookie ?? null })',
    });
    for (const [sent, seen] of [
      ['faas_session=s3cr3t; theme=dark', 'theme=dark'],
      ['theme=dark;faas_session=s3cr3t;lang=en', 'theme=dark;lang=en'],
      ['faas_session=s3cr3t', null],
      ['theme=dark', 'theme=dark'],
    ] as const) {
      const res = await send(s.url, 'GET', '/fn/team-a.cookies', { origin: APP_A, cookie: sent });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(JSON.parse(res.body), { cookie: seen });
    }
  });

  it("does not let one project's origins reach another project's functions", async () => {
    for (const res of await many(4, () => send(s.url, 'GET', '/fn/team-b.hello', { origin: APP_A }))) {
      assert.equal(res.status, 200);
      // team-b has no settings: its function's own headers, exactly as before.
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(res.headers.vary, undefined);
    }
    const options = await send(s.url, 'OPTIONS', '/fn/team-b.hello', preflight(APP_A));
    assert.equal(options.status, 200);
    assert.equal(options.body, 'OPTIONS', 'no settings: the function answers its OPTIONS as before');
    // `/fn/{name}` without a key is the default project's, which has no settings either.
    const unnamed = await send(s.url, 'OPTIONS', '/fn/hello', preflight(APP_A));
    assert.notEqual(unnamed.status, 204);
    assert.equal(unnamed.headers['access-control-allow-origin'], undefined);
    // team-b's key calling the API's invoke from team-a's origin: team-b's settings (none) answer.
    const invoked = await send(s.url, 'POST', '/api/v1/functions/hello/invoke', {
      origin: APP_A,
      ...bearer('team-b-developer'),
    });
    assert.equal(invoked.status, 200, invoked.body);
    assert.deepEqual(corsHeaders(invoked), {});
  });

  it("answers /api/v1 by the caller's project, never with credentials", async () => {
    const pre = await send(s.url, 'OPTIONS', '/api/v1/functions', preflight(APP_A, 'GET', 'authorization'));
    assert.equal(pre.status, 204, pre.body);
    assert.equal(pre.headers['access-control-allow-origin'], APP_A);
    assert.equal(pre.headers['access-control-allow-credentials'], undefined);
    assert.equal(pre.headers['access-control-allow-headers'], 'authorization');
    const evil = await send(s.url, 'OPTIONS', '/api/v1/functions', preflight(EVIL, 'GET', 'authorization'));
    assert.equal(evil.status, 403);
    assert.equal(JSON.parse(evil.body).error.code, 'FAAS_ERR_FORBIDDEN');
    assert.equal(evil.headers['access-control-allow-origin'], undefined);

    const own = await send(s.url, 'GET', '/api/v1/functions', {
      origin: APP_A,
      ...bearer('team-a-developer'),
    });
    assert.equal(own.status, 200);
    assert.equal(own.headers['access-control-allow-origin'], APP_A);
    assert.equal(own.headers['access-control-allow-credentials'], undefined);
    assert.match(String(own.headers.vary), /Origin/);
    const other = await send(s.url, 'GET', '/api/v1/functions', {
      origin: APP_A,
      ...bearer('team-b-developer'),
    });
    assert.equal(other.status, 200);
    assert.deepEqual(corsHeaders(other), {});
    const anonymous = await send(s.url, 'GET', '/api/v1/functions', { origin: APP_A });
    assert.equal(anonymous.status, 401);
    assert.deepEqual(corsHeaders(anonymous), {});

    for (const res of await many(4, () =>
      send(s.url, 'POST', '/api/v1/functions/hello/invoke', { origin: APP_A, ...bearer('team-a-developer') }),
    )) {
      assert.equal(res.status, 200, res.body);
      assert.equal(res.headers['access-control-allow-origin'], APP_A);
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
    }
  });

  it('any origin with "*", and removing the settings restores the defaults on every thread', async () => {
    assert.equal((await patch('admin', 'team-b', { cors: { allowOrigins: ['*'] } })).status, 200);
    for (const res of await many(4, () => send(s.url, 'GET', '/fn/team-b.hello', { origin: EVIL }))) {
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
    }
    const removed = await patch('team-a-owner', 'team-a', { cors: null });
    assert.equal(removed.status, 200);
    assert.equal(JSON.parse(removed.body).cors, undefined);
    assert.equal((await patch('admin', 'team-b', { cors: null })).status, 200);
    for (const res of await many(6, () => send(s.url, 'GET', '/fn/team-a.hello', { origin: APP_A }))) {
      assert.equal(res.headers['access-control-allow-origin'], '*', 'the function answers for itself again');
      assert.equal(res.headers.vary, undefined);
    }
    const options = await send(s.url, 'OPTIONS', '/fn/team-a.hello', preflight(APP_A));
    assert.equal(options.body, 'OPTIONS');
  });
});
