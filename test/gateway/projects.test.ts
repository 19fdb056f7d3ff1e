import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason } from '../support/engine.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

type Json = Record<string, unknown> & { error?: { code: string } };

/**
 * Issue 19's first paragraph, step by step: with two ordinary keys of two projects, key B
 * listed key A's function and read its env, read A's invocations and logs, replaced A's code,
 * ran a command in another's instance and deleted it, got another's cached execute output; and
 * `/fn/{name}` invoked any function without a key. Each step is refused now: another project's
 * objects are 404, a trigger of a function that is not public needs a key of its project.
 * (Regression test: every step but the cached execute succeeded before projects.)
 */
describe('projects: isolation between two teams', () => {
  let s: TestServer;
  let keyA: string;
  let keyB: string;
  let invocationA: string;
  let asyncInvocationA: string;

  const as = async (key: string, path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await s.api(path, { ...init, key });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, text };
  };
  const makeKey = async (project: string) => {
    const res = await s.api('/api/v1/keys', { method: 'POST', json: { name: `${project} dev`, project } });
    assert.equal(res.status, 201, await res.clone().text());
    const body = (await res.json()) as { key: string; project: string };
    assert.equal(body.project, project);
    return body.key;
  };

  before(async () => {
    s = await startTestServer();
    for (const name of ['team-a', 'team-b']) {
      const res = await s.api('/api/v1/projects', { method: 'POST', json: { name } });
      assert.equal(res.status, 201, await res.clone().text());
    }
    keyA = await makeKey('team-a');
    keyB = await makeKey('team-b');
    const deployed = await as(keyA, '/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'a-billing',
        runtime: 'js',
        env: { DB_PASSWORD: 'hunter2-of-team-a' },
        routes: ['GET /a-billing/:id'],
        code: 'export default (e) => { console.log("a-log-line"); return { from: "A", id: e?.params?.id ?? null } }',
      },
    });
    assert.equal(deployed.status, 201, deployed.text);
    const res = await s.api('/api/v1/functions/a-billing/invoke', { method: 'POST', key: keyA, json: {} });
    assert.equal(res.status, 200);
    invocationA = res.headers.get('x-invocation-id') as string;
    const queued = await as(keyA, '/api/v1/functions/a-billing/invoke?async=true', {
      method: 'POST',
      json: {},
    });
    assert.equal(queued.status, 202, queued.text);
    asyncInvocationA = queued.body.invocationId as string;
  });
  after(() => s.close());

  it("B sees neither A's function in the stats nor its live log stream; A does", async () => {
    const statsOf = async (key: string) =>
      ((await as(key, '/api/v1/stats')).body.items as Array<{ functionName: string }>).map(
        (i) => i.functionName,
      );
    assert.deepEqual(await statsOf(keyB), []);
    assert.deepEqual(await statsOf(keyA), ['a-billing']);
    // Nor its time series: 404 as for its other routes, the numbers for A.
    const seriesB = await as(keyB, '/api/v1/functions/a-billing/stats');
    assert.equal(seriesB.status, 404);
    assert.equal(seriesB.body.error?.code, 'FAAS_ERR_FUNCTION_NOT_FOUND');
    assert.doesNotMatch(seriesB.text, /calls/);
    const seriesA = await as(keyA, '/api/v1/functions/a-billing/stats');
    assert.equal(seriesA.status, 200);
    const calls = (seriesA.body.buckets as Array<{ calls: number }>).reduce((n, b) => n + b.calls, 0);
    assert.ok(calls >= 1, seriesA.text);
    const stream = await as(keyB, '/api/v1/logs/stream?functionName=a-billing');
    assert.equal(stream.status, 404);
    assert.equal(stream.body.error?.code, 'FAAS_ERR_FUNCTION_NOT_FOUND');
    // The code of each version too (the console's editor reads it).
    const code = await as(keyB, '/api/v1/functions/a-billing/versions/1/code');
    assert.equal(code.status, 404);
    assert.doesNotMatch(code.text, /a-log-line/);
  });

  it("B does not see A's function in the list, nor its env (404 by name)", async () => {
    const list = await as(keyB, '/api/v1/functions');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items, []);
    for (const path of [
      '/api/v1/functions/a-billing',
      '/api/v1/functions/a-billing/versions',
      '/api/v1/functions/a-billing/versions/1',
      '/api/v1/functions/a-billing/versions/99',
    ]) {
      const got = await as(keyB, path);
      assert.equal(got.status, 404, path);
      assert.equal(got.body.error?.code, 'FAAS_ERR_FUNCTION_NOT_FOUND', path);
      assert.doesNotMatch(got.text, /hunter2/);
    }
    // A sees its own.
    const own = await as(keyA, '/api/v1/functions/a-billing');
    assert.equal(own.status, 200);
    assert.equal((own.body.latest as { project: string }).project, 'team-a');
  });

  it("B cannot read A's invocations, results or logs", async () => {
    for (const id of [invocationA, asyncInvocationA]) {
      const got = await as(keyB, `/api/v1/invocations/${id}`);
      assert.equal(got.status, 404);
      assert.equal(got.body.error?.code, 'FAAS_ERR_INVOCATION_NOT_FOUND');
    }
    const list = await as(keyB, '/api/v1/invocations');
    assert.deepEqual(list.body.items, []);
    const byName = await as(keyB, '/api/v1/invocations?functionName=a-billing');
    assert.deepEqual(byName.body.items, []);
    const logs = await as(keyB, '/api/v1/logs?functionName=a-billing');
    assert.deepEqual(logs.body.items, []);
    const allLogs = await as(keyB, '/api/v1/logs');
    assert.doesNotMatch(allLogs.text, /a-log-line/);
    const retry = await as(keyB, `/api/v1/invocations/${asyncInvocationA}/retry`, { method: 'POST' });
    assert.equal(retry.status, 404);
    // A reads its own, logs included.
    const own = await as(keyA, `/api/v1/invocations/${invocationA}`);
    assert.equal(own.status, 200);
    assert.equal(own.body.project, 'team-a');
    assert.match(own.text, /a-log-line/);
    const ownLogs = await as(keyA, '/api/v1/logs?functionName=a-billing');
    assert.match(ownLogs.text, /a-log-line/);
  });

  it("B cannot replace, patch or delete A's code; A's callers keep A's answers", async () => {
    const code = 'export default () => ({ from: "B" })';
    const patch = await as(keyB, '/api/v1/functions/a-billing', { method: 'PATCH', json: { code } });
    assert.equal(patch.status, 404);
    const del = await as(keyB, '/api/v1/functions/a-billing', { method: 'DELETE' });
    assert.equal(del.status, 404);
    // Names are per project: B's PUT makes B's own `a-billing` (a 409 told B that A has one).
    const put = await as(keyB, '/api/v1/functions/a-billing', {
      method: 'PUT',
      json: { runtime: 'js', code },
    });
    assert.equal(put.status, 201, put.text);
    const own = await as(keyB, '/api/v1/functions/a-billing/invoke', { method: 'POST', json: {} });
    assert.deepEqual(own.body, { from: 'B' });
    assert.equal((await as(keyB, '/api/v1/functions/a-billing', { method: 'DELETE' })).status, 204);
    const answer = await as(keyA, '/api/v1/functions/a-billing/invoke', { method: 'POST', json: {} });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { from: 'A', id: null });
    const versions = await as(keyA, '/api/v1/functions/a-billing/versions');
    assert.equal((versions.body.items as unknown[]).length, 1);
  });

  it("B cannot invoke A's function through the API, sync or async, by name or version", async () => {
    for (const path of [
      '/api/v1/functions/a-billing/invoke',
      '/api/v1/functions/a-billing:1/invoke',
      '/api/v1/functions/a-billing:99/invoke',
      '/api/v1/functions/a-billing/invoke?async=true',
    ]) {
      const got = await as(keyB, path, { method: 'POST', json: {} });
      assert.equal(got.status, 404, `${path}: ${got.text}`);
      assert.equal(got.body.error?.code, 'FAAS_ERR_FUNCTION_NOT_FOUND', path);
    }
  });

  it('HTTP triggers need a key of the function’s project unless the function is public', async () => {
    // `/fn/{name}` is the caller's project's name; `/fn/{project}.{name}` names one function.
    for (const path of ['/fn/a-billing', '/fn/team-a.a-billing', '/a-billing/7']) {
      const anonymous = await s.api(path, { key: null });
      assert.equal(anonymous.status, 401, path);
      assert.equal(((await anonymous.json()) as Json).error?.code, 'FAAS_ERR_UNAUTHORIZED');
      const other = await s.api(path, { key: keyB });
      assert.equal(other.status, 404, path);
      const own = await s.api(path, { key: keyA });
      assert.equal(own.status, 200, path);
    }
    // A declared route of another project's private function answers as no route: its name stays A's.
    const routed = await as(keyA, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'a-internal', runtime: 'js', routes: ['GET /a-orders'], code: 'export default () => 1' },
    });
    assert.equal(routed.status, 201, routed.text);
    const unmatched = await as(keyB, '/no-such-route');
    const declared = await as(keyB, '/a-orders');
    assert.equal(declared.status, 404, declared.text);
    assert.equal(declared.body.error?.code, unmatched.body.error?.code);
    assert.equal(declared.body.error?.code, 'FAAS_ERR_ROUTE_NOT_FOUND');
    assert.doesNotMatch(declared.text, /a-internal/);
    assert.equal((await as(keyA, '/a-orders')).status, 200);
    assert.equal((await as(keyA, '/api/v1/functions/a-internal', { method: 'DELETE' })).status, 204);
    // The key that opened a private function is the platform's: the function never sees it.
    const spy = await as(keyA, '/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'a-spy',
        runtime: 'js',
        code: 'export default (e) => ({ auth: e.headers.authorization ?? null })',
      },
    });
    assert.equal(spy.status, 201, spy.text);
    const spied = await s.api('/fn/a-spy', { key: keyA });
    assert.deepEqual(await spied.json(), { auth: null });
    // An unknown name answers as a private one does, without a key: names leak nothing.
    const unknown = await s.api('/fn/no-such-function', { key: null });
    assert.equal(unknown.status, 401);
    // Marked public, it answers anyone: with no key, and with another project's key.
    const made = await as(keyA, '/api/v1/functions/a-billing', { method: 'PATCH', json: { public: true } });
    assert.equal(made.status, 200, made.text);
    for (const key of [null, keyB]) {
      const open = await s.api('/fn/team-a.a-billing', { key });
      assert.equal(open.status, 200);
      assert.deepEqual(await open.json(), { from: 'A', id: null });
      // Without a project, the name is the caller's project's (default without a key): not A's.
      assert.equal((await s.api('/fn/a-billing', { key })).status, key ? 404 : 401);
    }
    // Public is for triggers only: the API stays the project's.
    const api = await as(keyB, '/api/v1/functions/a-billing/invoke', { method: 'POST', json: {} });
    assert.equal(api.status, 404);
    await as(keyA, '/api/v1/functions/a-billing', { method: 'PATCH', json: { public: false } });
    assert.equal((await s.api('/fn/team-a.a-billing', { key: null })).status, 401);
  });

  it('B cannot declare a route A holds, and the refusal does not name A’s function', async () => {
    const got = await as(keyB, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'b-fn', runtime: 'js', routes: ['GET /a-billing/:x'], code: 'export default () => 1' },
    });
    assert.equal(got.status, 409);
    assert.equal(got.body.error?.code, 'FAAS_ERR_ROUTE_CONFLICT');
    assert.doesNotMatch(got.text, /a-billing"/);
  });

  it('keys and projects: a project key manages neither; the platform admin sees each project', async () => {
    assert.equal((await as(keyB, '/api/v1/keys')).status, 403);
    assert.equal((await as(keyB, '/api/v1/projects', { method: 'POST', json: { name: 'x' } })).status, 403);
    const mine = await as(keyB, '/api/v1/projects');
    assert.deepEqual(
      (mine.body.items as Array<{ name: string }>).map((p) => p.name),
      ['team-b'],
    );
    assert.equal((await as(keyB, '/api/v1/queue')).status, 403);
    const admin = await s.api('/api/v1/functions', { headers: { 'x-faas-project': 'team-b' } });
    assert.deepEqual(((await admin.json()) as Json).items, []);
    const all = await s.api('/api/v1/functions');
    assert.deepEqual(
      (((await all.json()) as Json).items as Array<{ name: string }>).map((f) => f.name),
      ['a-billing', 'a-spy'],
    );
    const unknown = await s.api('/api/v1/functions', { headers: { 'x-faas-project': 'nope' } });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as Json).error?.code, 'FAAS_ERR_PROJECT_NOT_FOUND');
    const badKey = await s.api('/api/v1/keys', { method: 'POST', json: { name: 'k', project: 'nope' } });
    assert.equal(badKey.status, 404);
    const dup = await s.api('/api/v1/projects', { method: 'POST', json: { name: 'team-a' } });
    assert.equal(dup.status, 409);
    assert.equal(((await dup.json()) as Json).error?.code, 'FAAS_ERR_PROJECT_EXISTS');
  });
});

const skip = engineSkipReason();

describe('projects: sandboxes are isolated between teams', { skip }, () => {
  let s: TestServer;
  let keyA: string;
  let keyB: string;
  const as = async (key: string, path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await s.api(path, { ...init, key });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, text };
  };

  before(async () => {
    s = await startTestServer();
    const keys: string[] = [];
    for (const project of ['team-a', 'team-b']) {
      await s.api('/api/v1/projects', { method: 'POST', json: { name: project } });
      const res = await s.api('/api/v1/keys', { method: 'POST', json: { name: project, project } });
      keys.push(((await res.json()) as { key: string }).key);
    }
    [keyA, keyB] = keys as [string, string];
  });
  after(() => s.close());

  it("B cannot see, exec in, snapshot, stop or delete A's instance", async () => {
    const made = await as(keyA, '/api/v1/instances', { method: 'POST', json: {} });
    assert.equal(made.status, 201, made.text);
    const id = made.body.id as string;
    const listed = await as(keyB, '/api/v1/instances');
    assert.deepEqual(listed.body.items, []);
    const attempts: Array<[string, string, unknown?]> = [
      ['GET', `/api/v1/instances/${id}`],
      ['POST', `/api/v1/instances/${id}/exec`, { command: 'echo pwned' }],
      ['POST', `/api/v1/instances/${id}/stop`],
      ['POST', `/api/v1/instances/${id}/start`],
      ['GET', `/api/v1/instances/${id}/files?path=/workspace`],
      ['GET', `/api/v1/instances/${id}/events`],
      ['POST', '/api/v1/snapshots', { instance_id: id }],
      ['DELETE', `/api/v1/instances/${id}`],
    ];
    for (const [method, path, json] of attempts) {
      const got = await as(keyB, path, { method, ...(json ? { json } : {}) });
      assert.equal(got.status, 404, `${method} ${path}: ${got.text}`);
    }
    const exec = await as(keyA, `/api/v1/instances/${id}/exec`, {
      method: 'POST',
      json: { command: 'echo mine' },
    });
    assert.equal(exec.status, 200);
    assert.equal(exec.body.stdout, 'mine\n');

    const snap = await as(keyA, '/api/v1/snapshots', { method: 'POST', json: { instance_id: id } });
    assert.equal(snap.status, 201, snap.text);
    const snapId = snap.body.id as string;
    assert.deepEqual((await as(keyB, '/api/v1/snapshots')).body.items, []);
    for (const [method, path] of [
      ['GET', `/api/v1/snapshots/${snapId}`],
      ['POST', `/api/v1/snapshots/${snapId}/restore`],
      ['POST', `/api/v1/snapshots/${snapId}/fork`],
      ['DELETE', `/api/v1/snapshots/${snapId}`],
    ] as const) {
      const got = await as(keyB, path, { method, ...(method === 'POST' ? { json: {} } : {}) });
      assert.equal(got.status, 404, `${method} ${path}: ${got.text}`);
    }
    const branched = await as(keyB, '/api/v1/execute/advanced', {
      method: 'POST',
      json: { command: 'true', mode: 'branched', parent: snapId },
    });
    assert.equal(branched.status, 404, branched.text);
    assert.equal((await as(keyA, `/api/v1/snapshots/${snapId}`)).status, 200);
    assert.equal((await as(keyA, `/api/v1/snapshots/${snapId}`, { method: 'DELETE' })).status, 204);
    assert.equal((await as(keyA, `/api/v1/instances/${id}`, { method: 'DELETE' })).status, 204);
  });

  it("B does not get A's cached execute output", async () => {
    const body = {
      command: 'cat /proc/sys/kernel/random/uuid',
      mode: 'cached',
      env: { N: String(Date.now()) },
    };
    const a = await as(keyA, '/api/v1/execute/advanced', { method: 'POST', json: body });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.cache, 'miss');
    const again = await as(keyA, '/api/v1/execute/advanced', { method: 'POST', json: body });
    assert.equal(again.body.cache, 'hit');
    const b = await as(keyB, '/api/v1/execute/advanced', { method: 'POST', json: body });
    assert.equal(b.body.cache, 'miss');
    assert.notEqual(b.body.stdout, a.body.stdout);
  });
});
