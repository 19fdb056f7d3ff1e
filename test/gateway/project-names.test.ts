import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';

type Json = Record<string, unknown> & { error?: { code: string } };

/**
 * Function names are per project (issue 19): creating a function whose name another project
 * used answered 409, which told that project the name was taken elsewhere. Now two projects each
 * have their own `hello`: its own code, answers, versions, invocations and logs, and neither sees
 * the other's. (Regression test: the second deploy of `hello` answered 409 before.)
 */
describe('projects: function names are per project', () => {
  let s: TestServer;
  const keys: Record<string, string> = {};

  const as = async (project: string, path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await s.api(path, { ...init, key: keys[project] as string });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, text, headers: res.headers };
  };
  const hello = (team: string) => ({
    name: 'hello',
    runtime: 'js',
    env: { TEAM: team },
    code: `export default (event, context) => { console.log("log-of-${team}"); return { team: "${team}", name: context.functionName, event } }`,
  });

  before(async () => {
    s = await startTestServer();
    for (const project of ['team-a', 'team-b']) {
      const made = await s.api('/api/v1/projects', { method: 'POST', json: { name: project } });
      assert.equal(made.status, 201, await made.clone().text());
      const key = await s.api('/api/v1/keys', { method: 'POST', json: { name: `${project} dev`, project } });
      assert.equal(key.status, 201, await key.clone().text());
      keys[project] = ((await key.json()) as { key: string }).key;
    }
  });
  after(() => s.close());

  it('both deploy `hello`; each lists, reads and versions its own', async () => {
    for (const team of ['team-a', 'team-b']) {
      const made = await as(team, '/api/v1/functions', { method: 'POST', json: hello(team) });
      assert.equal(made.status, 201, made.text);
      assert.equal(made.body.name, 'hello');
    }
    // The platform admin's default project may have one too.
    const own = await s.api('/api/v1/functions', { method: 'POST', json: hello('default') });
    assert.equal(own.status, 201);
    for (const team of ['team-a', 'team-b']) {
      const list = await as(team, '/api/v1/functions');
      const items = list.body.items as Array<{ name: string; latest: { env: Record<string, string> } }>;
      assert.deepEqual(
        items.map((f) => [f.name, f.latest.env.TEAM]),
        [['hello', team]],
      );
      const got = await as(team, '/api/v1/functions/hello');
      assert.equal((got.body.latest as { env: Record<string, string> }).env.TEAM, team);
    }
    // A new version of A's is A's alone.
    const patched = await as('team-a', '/api/v1/functions/hello', {
      method: 'PATCH',
      json: { description: 'second' },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.latestVersion, 2);
    assert.equal((await as('team-b', '/api/v1/functions/hello')).body.latestVersion, 1);
    const versionsB = await as('team-b', '/api/v1/functions/hello/versions');
    assert.deepEqual(
      (versionsB.body.items as Array<{ version: number; name: string }>).map((v) => [v.name, v.version]),
      [['hello', 1]],
    );
    assert.equal((await as('team-b', '/api/v1/functions/hello/versions/2')).status, 404);
    // The admin, across projects, sees three functions named `hello`, one per project.
    const all = (await (await s.api('/api/v1/functions')).json()) as Json;
    assert.deepEqual(
      (all.items as Array<{ name: string; latest: { project: string } }>)
        .map((f) => `${f.latest.project}/${f.name}`)
        .sort(),
      ['default/hello', 'team-a/hello', 'team-b/hello'],
    );
  });

  it('each invokes its own `hello`: API sync and async, /fn/hello, /fn/{project}.hello', async () => {
    for (const team of ['team-a', 'team-b']) {
      const sync = await as(team, '/api/v1/functions/hello/invoke', { method: 'POST', json: { n: 1 } });
      assert.equal(sync.status, 200, sync.text);
      // The function knows itself by its own name, not by the platform's stored name.
      assert.deepEqual(sync.body, { team, name: 'hello', event: { n: 1 } });
      const trigger = await as(team, '/fn/hello');
      assert.equal(trigger.status, 200, trigger.text);
      assert.equal(trigger.body.team, team);
      const full = await as(team, `/fn/${team}.hello`);
      assert.equal(full.body.team, team);
      const queued = await as(team, '/api/v1/functions/hello/invoke?async=true', {
        method: 'POST',
        json: { n: 2 },
        headers: { 'idempotency-key': 'same-key-in-both' },
      });
      assert.equal(queued.status, 202, queued.text);
      // The same idempotency key in another project is another invocation.
      assert.equal(queued.body.duplicate, undefined);
      const id = queued.body.invocationId as string;
      let record: Json = {};
      for (let i = 0; i < 200 && record.status !== 'succeeded'; i++) {
        record = (await as(team, `/api/v1/invocations/${id}`)).body;
        if (record.status !== 'succeeded') await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(record.status, 'succeeded', JSON.stringify(record));
      assert.equal(record.functionName, 'hello');
      assert.deepEqual(record.result, { team, name: 'hello', event: { n: 2 } });
    }
    // Another project's `{project}.{name}` is not found, as any of its objects.
    assert.equal((await as('team-b', '/fn/team-a.hello')).status, 404);
    assert.equal((await as('team-b', '/api/v1/functions/team-a.hello')).status, 404);
    assert.equal(
      (await as('team-b', '/api/v1/functions/team-a.hello/invoke', { method: 'POST' })).status,
      404,
    );
    const admin = await s.api('/api/v1/functions/hello/invoke', { method: 'POST', json: {} });
    assert.equal(((await admin.json()) as Json).team, 'default');
    // The default project is named too: `default.hello` is its `hello`, and no other project's.
    assert.equal(((await (await s.api('/fn/default.hello')).json()) as Json).team, 'default');
    assert.equal((await as('team-b', '/fn/default.hello')).status, 404);
    assert.equal((await as('team-b', '/api/v1/functions/default.hello')).status, 404);
    const named = await s.api('/api/v1/functions/hello/invoke', {
      method: 'POST',
      json: {},
      headers: { 'x-faas-project': 'team-b' },
    });
    assert.equal(((await named.json()) as Json).team, 'team-b');
  });

  it('invocations, logs and stats stay apart, each under the name `hello`', async () => {
    for (const [team, other] of [
      ['team-a', 'team-b'],
      ['team-b', 'team-a'],
    ] as const) {
      const list = await as(team, '/api/v1/invocations?functionName=hello');
      const items = list.body.items as Array<{ functionName: string; project: string }>;
      assert.ok(items.length >= 3, list.text);
      assert.ok(
        items.every((i) => i.functionName === 'hello' && i.project === team),
        list.text,
      );
      const logs = await as(team, '/api/v1/logs?functionName=hello');
      const lines = logs.body.items as Array<{ functionName: string; message: string }>;
      assert.ok(lines.length >= 3, logs.text);
      assert.ok(lines.every((l) => l.functionName === 'hello'));
      assert.ok(lines.some((l) => l.message.includes(`log-of-${team}`)));
      assert.doesNotMatch(logs.text, new RegExp(`log-of-${other}|log-of-default`));
      const stats = await as(team, '/api/v1/stats');
      assert.deepEqual(
        (stats.body.items as Array<{ functionName: string }>).map((i) => i.functionName),
        ['hello'],
      );
      const series = await as(team, '/api/v1/functions/hello/stats');
      const calls = (series.body.buckets as Array<{ calls: number }>).reduce((n, b) => n + b.calls, 0);
      // Four calls each, and the admin's through X-Faas-Project was B's.
      assert.equal(calls, team === 'team-b' ? 5 : 4, series.text);
    }
  });

  it("deleting A's `hello` leaves B's, and A may make a new one", async () => {
    assert.equal((await as('team-a', '/api/v1/functions/hello', { method: 'DELETE' })).status, 204);
    assert.equal((await as('team-a', '/fn/hello')).status, 404);
    assert.equal((await as('team-b', '/fn/hello')).body.team, 'team-b');
    const again = await as('team-a', '/api/v1/functions', { method: 'POST', json: hello('team-a') });
    assert.equal(again.status, 201, again.text);
    assert.equal(again.body.latestVersion, 1);
  });
});
