import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';

type Json = Record<string, unknown> & { error?: { code: string; message: string } };

/**
 * Declared routes are per project (issue 19): a project may own a host name (a custom domain),
 * and its routes answer requests with that Host alone, so two projects can both serve
 * `GET /hello`. Projects without a host share one table, where a conflict is refused without
 * naming the other project. (Before, the second `GET /hello` was 409 whatever the project.)
 */
describe('projects: declared routes per project, with a host name', () => {
  let s: TestServer;
  const keys: Record<string, string> = {};

  const as = async (who: string | undefined, path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await s.api(path, { ...init, ...(who ? { key: keys[who] as string } : {}) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, text };
  };
  /** A request with its own Host header (fetch does not let one set it). */
  const withHost = (host: string, path: string, key?: string) =>
    new Promise<{ status: number; body: Json }>((resolve, reject) => {
      const url = new URL(path, s.url);
      const req = request(
        url,
        { headers: { host, ...(key ? { authorization: `Bearer ${key}` } : {}) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as Json }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
  const deploy = (
    who: string | undefined,
    name: string,
    answer: string,
    extra: Record<string, unknown> = {},
  ) =>
    as(who, '/api/v1/functions', {
      method: 'POST',
      json: {
        name,
        runtime: 'js',
        public: true,
        routes: ['GET /hello'],
        code: `export default () => ({ from: "${answer}" })`,
        ...extra,
      },
    });

  before(async () => {
    s = await startTestServer();
    for (const project of ['team-a', 'team-b', 'team-c']) {
      const made = await as(undefined, '/api/v1/projects', { method: 'POST', json: { name: project } });
      assert.equal(made.status, 201, made.text);
      const key = await as(undefined, '/api/v1/keys', { method: 'POST', json: { name: project, project } });
      keys[project] = key.body.key as string;
    }
  });
  after(() => s.close());

  it('a platform admin gives a project a host; a bad, taken or unknown one is refused', async () => {
    const set = await as(undefined, '/api/v1/projects/team-a', {
      method: 'PATCH',
      json: { host: 'a.example.com' },
    });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.body.host, 'a.example.com');
    assert.equal(
      (await as(undefined, '/api/v1/projects/team-b', { method: 'PATCH', json: { host: 'b.example.com' } }))
        .status,
      200,
    );
    const taken = await as(undefined, '/api/v1/projects/team-c', {
      method: 'PATCH',
      json: { host: 'a.example.com' },
    });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error?.code, 'FAAS_ERR_HOST_TAKEN');
    for (const host of ['Not A Host', 'a.example.com:8080', 'localhost', '', 'x'.repeat(300)]) {
      const bad = await as(undefined, '/api/v1/projects/team-c', { method: 'PATCH', json: { host } });
      assert.equal(bad.status, 422, `${host}: ${bad.text}`);
      assert.equal(bad.body.error?.code, 'FAAS_ERR_VALIDATION');
    }
    const unknown = await as(undefined, '/api/v1/projects/nope', {
      method: 'PATCH',
      json: { host: 'n.example.com' },
    });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error?.code, 'FAAS_ERR_PROJECT_NOT_FOUND');
    // A project's own key cannot: the platform admin's setting.
    assert.equal(
      (await as('team-a', '/api/v1/projects/team-a', { method: 'PATCH', json: { host: 'z.example.com' } }))
        .status,
      403,
    );
    const mine = await as('team-a', '/api/v1/projects');
    assert.deepEqual(mine.body.items, [
      { name: 'team-a', createdAt: (mine.body.items as Json[])[0]?.createdAt, host: 'a.example.com' },
    ]);
  });

  it('two projects with a host both serve GET /hello, each on its own Host', async () => {
    assert.equal((await deploy('team-a', 'hello', 'A')).status, 201);
    assert.equal((await deploy('team-b', 'hello', 'B')).status, 201);
    assert.equal((await deploy('team-c', 'hello', 'C')).status, 201);
    assert.deepEqual((await withHost('a.example.com', '/hello')).body, { from: 'A' });
    assert.deepEqual((await withHost('B.example.com:443', '/hello')).body, { from: 'B' });
    // Any other host: the routes of projects without one.
    assert.deepEqual((await withHost('localhost', '/hello')).body, { from: 'C' });
    assert.deepEqual((await withHost('other.example.com', '/hello')).body, { from: 'C' });
  });

  it('a project without a host cannot take a route another one without a host holds; nothing is named', async () => {
    const refused = await deploy(undefined, 'hello', 'D');
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error?.code, 'FAAS_ERR_ROUTE_CONFLICT');
    assert.doesNotMatch(refused.text, /team-c|"hello"/);
    // Nor may team-a drop its host while team-c holds GET /hello: refused, its host kept.
    const kept = await as(undefined, '/api/v1/projects/team-a', { method: 'PATCH', json: { host: null } });
    assert.equal(kept.status, 409, kept.text);
    assert.equal(kept.body.error?.code, 'FAAS_ERR_ROUTE_CONFLICT');
    assert.doesNotMatch(kept.text, /team-c/);
    assert.deepEqual((await withHost('a.example.com', '/hello')).body, { from: 'A' });
  });

  it("a private function's route on its host needs a key of its project", async () => {
    const made = await as('team-b', '/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'private',
        runtime: 'js',
        routes: ['GET /private'],
        code: 'export default () => "b-private"',
      },
    });
    assert.equal(made.status, 201, made.text);
    assert.equal((await withHost('b.example.com', '/private')).status, 401);
    assert.equal((await withHost('b.example.com', '/private', keys['team-a'])).status, 404);
    const own = await withHost('b.example.com', '/private', keys['team-b']);
    assert.equal(own.status, 200);
    // On another host the route is not there at all.
    assert.equal((await withHost('a.example.com', '/private', keys['team-b'])).status, 404);
  });

  it('without its host, a project’s routes rejoin the shared table', async () => {
    assert.equal((await as('team-c', '/api/v1/functions/hello', { method: 'DELETE' })).status, 204);
    const cleared = await as(undefined, '/api/v1/projects/team-a', { method: 'PATCH', json: { host: null } });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(cleared.body.host, undefined);
    assert.deepEqual((await withHost('localhost', '/hello')).body, { from: 'A' });
    // a.example.com is nobody's now: the shared table answers it.
    assert.deepEqual((await withHost('a.example.com', '/hello')).body, { from: 'A' });
    assert.deepEqual((await withHost('b.example.com', '/hello')).body, { from: 'B' });
  });
});
