// Servers whose metadata store is PostgreSQL (FAAS_DATABASE_URL): what the store suite cannot
// show alone. Two servers share one database, as a scaled-out deployment runs them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Invocation, StoredLogLine } from '@faas/core';
import { createTestDatabase, postgresSkipReason, postgresTestUrl, queryTestDatabase } from '@faas/testkit';
import { ADMIN_KEY, startTestServer, type TestServer, tempDataDir, waitFor } from '../support/server.ts';

const MAIN = new URL('../../packages/server/src/main.ts', import.meta.url).pathname;

/** Long enough that only a NOTIFY can explain a change seen on the other server. */
/**
 * Servers sharing a store share its secret key (each data dir would otherwise make its own, and
 * the second to start refuses: docs/security.md).
 */
const SHARED_SECRET_KEY = Buffer.alloc(32, 7).toString('hex');
const NO_POLL = { routeSyncMs: 3_600_000, secretKey: SHARED_SECRET_KEY };

/** Runs `faas serve` as a process until it exits; what it printed. */
function runServer(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const dataDir = tempDataDir();
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--data-dir', dataDir], {
    env: { ...process.env, FAAS_ADMIN_KEY: ADMIN_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c));
  child.stderr.on('data', (c: Buffer) => (output += c));
  // 'close', not 'exit': everything printed has been read by then.
  return new Promise((resolve) => {
    child.once('close', (code) => {
      rmSync(dataDir, { recursive: true, force: true });
      resolve({ code, output });
    });
  });
}

/** One invoke on a new connection (with several gateway threads, the kernel picks the thread). */
function invokeOnce(server: TestServer, name: string): Promise<{ status: number; body: string }> {
  const url = new URL(`${server.url}/api/v1/functions/${name}/invoke`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: url.pathname,
        agent: false,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

/**
 * Data dirs whose `blobs` folder is one shared folder: servers sharing a database must share the
 * blobs too (code and artifacts), as they will through S3; until then, through the file system.
 */
function sharedBlobs(): { dataDir(): string; remove(): void } {
  const blobs = join(tempDataDir(), 'blobs');
  mkdirSync(blobs);
  return {
    dataDir() {
      const dir = tempDataDir();
      symlinkSync(blobs, join(dir, 'blobs'));
      return dir;
    },
    remove: () => rmSync(join(blobs, '..'), { recursive: true, force: true }),
  };
}

describe('servers on PostgreSQL', { skip: postgresSkipReason() }, () => {
  const blobsShared = sharedBlobs();
  let db: { url: string; drop(): Promise<void> };
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    db = await createTestDatabase(postgresTestUrl() as string);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
    blobsShared.remove();
  });

  it('two servers starting together on one empty database both start: one migrates, one admin key', async () => {
    const started = await Promise.allSettled([
      startTestServer({ databaseUrl: db.url, ...NO_POLL }, blobsShared.dataDir()),
      startTestServer({ databaseUrl: db.url, ...NO_POLL }, blobsShared.dataDir()),
    ]);
    [a, b] = started.map((r) => (r.status === 'fulfilled' ? r.value : undefined)) as [TestServer, TestServer];
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const keys = await queryTestDatabase<{ name: string }>(
      db.url,
      'SELECT name FROM api_keys WHERE revoked_at IS NULL',
    );
    assert.deepEqual(
      keys.map((k) => k.name),
      ['admin (FAAS_ADMIN_KEY)'],
    );
    for (const s of [a, b]) {
      const ready = (await (await s.api('/ready', { key: null })).json()) as {
        checks: Record<string, string>;
      };
      assert.equal(ready.checks.store, 'ok');
    }
  });

  it('keeps functions, invocations and their logs in PostgreSQL, readable from either server', async () => {
    const created = await a.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'pg-echo',
        runtime: 'js',
        code: 'export default (e) => { console.log("seen", e.n); return e.n * 2; }',
      },
    });
    assert.equal(created.status, 201, await created.text());
    const res = await a.api('/api/v1/functions/pg-echo/invoke', { method: 'POST', json: { n: 21 } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '42');
    const id = res.headers.get('x-invocation-id');
    assert.ok(id);
    // The record is written in a batch, then read by the other server from the database.
    const record = await waitFor(
      async () => {
        const r = await b.api(`/api/v1/invocations/${id}`);
        return r.status === 200 ? ((await r.json()) as Invocation & { logs: StoredLogLine[] }) : undefined;
      },
      15_000,
      'the record on the other server',
    );
    assert.equal(record.status, 'succeeded');
    assert.deepEqual(
      record.logs.map((l) => l.message),
      ['seen 21'],
    );
    const rows = await queryTestDatabase(db.url, 'SELECT id FROM invocations WHERE id = $1', [id]);
    assert.equal(rows.length, 1, 'the row is in PostgreSQL');
  });

  it('runs an async invocation to its end and lists both invocations, newest first, from the other server', async () => {
    const res = await a.api('/api/v1/functions/pg-echo/invoke?async=true', {
      method: 'POST',
      json: { n: 5 },
    });
    assert.equal(res.status, 202, await res.clone().text());
    const { invocationId } = (await res.json()) as { invocationId: string };
    const done = await waitFor(
      async () => {
        const r = await b.api(`/api/v1/invocations/${invocationId}`);
        const inv = r.status === 200 ? ((await r.json()) as Invocation) : undefined;
        return inv && inv.status !== 'queued' && inv.status !== 'running' ? inv : undefined;
      },
      15_000,
      'the async invocation finished, seen from the other server',
    );
    assert.equal(done.status, 'succeeded');
    assert.equal(done.result, 10);
    assert.equal(done.attempts, 1);
    const list = (await (await b.api('/api/v1/invocations?functionName=pg-echo&limit=10')).json()) as {
      items: Invocation[];
    };
    assert.deepEqual(
      list.items.map((i) => i.mode),
      ['async', 'sync'],
    );
    assert.equal(list.items[0]?.id, invocationId);
    const failedOnly = (await (
      await b.api('/api/v1/invocations?functionName=pg-echo&status=failed')
    ).json()) as {
      items: Invocation[];
    };
    assert.deepEqual(failedOnly.items, []);
  });

  it('a deploy on one server is served by the other at once (NOTIFY), its routes and new versions too', async () => {
    const deploy = (code: string) =>
      a.api('/api/v1/functions', {
        method: 'POST',
        json: { name: 'pg-route', runtime: 'js', public: true, routes: ['GET /pg-route'], code },
      });
    assert.equal((await deploy('export default () => ({ statusCode: 200, body: "one" })')).status, 201);
    await waitFor(
      async () => ((await b.api('/pg-route', { key: null })).status === 200 ? true : undefined),
      15_000,
      'the route on the other server',
    );
    assert.equal(await (await b.api('/pg-route', { key: null })).text(), 'one');
    // A new version replaces the one the other server has cached.
    const updated = await a.api('/api/v1/functions/pg-route', {
      method: 'PUT',
      json: {
        runtime: 'js',
        public: true,
        routes: ['GET /pg-route'],
        code: 'export default () => ({ statusCode: 200, body: "two" })',
      },
    });
    assert.ok(updated.status < 300, await updated.text());
    await waitFor(
      async () => ((await (await b.api('/pg-route', { key: null })).text()) === 'two' ? true : undefined),
      15_000,
      'the new version on the other server',
    );
    assert.equal((await a.api('/api/v1/functions/pg-route', { method: 'DELETE' })).status, 204);
    await waitFor(
      async () => ((await b.api('/pg-route', { key: null })).status === 404 ? true : undefined),
      15_000,
      'the route gone from the other server',
    );
  });

  it("a project's CORS settings changed on one server hold on the other at once (NOTIFY)", async () => {
    const origin = 'https://app.pg.example';
    const made = await a.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'pg-cors', runtime: 'js', public: true, code: 'export default () => 1' },
    });
    assert.equal(made.status, 201, await made.text());
    const allowed = async () =>
      (await b.api('/fn/pg-cors', { key: null, headers: { origin } })).headers.get(
        'access-control-allow-origin',
      );
    assert.equal(await allowed(), null);
    const set = await a.api('/api/v1/projects/default', {
      method: 'PATCH',
      json: { cors: { allowOrigins: [origin] } },
    });
    assert.equal(set.status, 200, await set.text());
    await waitFor(
      async () => ((await allowed()) === origin ? true : undefined),
      15_000,
      'CORS on the other server',
    );
    assert.equal(
      (await a.api('/api/v1/projects/default', { method: 'PATCH', json: { cors: null } })).status,
      200,
    );
    await waitFor(
      async () => ((await allowed()) === null ? true : undefined),
      15_000,
      'CORS gone on the other server',
    );
  });

  it("a function deleted on one server leaves the other's /metrics too (NOTIFY)", async () => {
    const made = await a.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'pg-gone', runtime: 'js', code: 'export default () => 1' },
    });
    assert.equal(made.status, 201, await made.text());
    assert.equal((await b.api('/api/v1/functions/pg-gone/invoke', { method: 'POST', json: {} })).status, 200);
    const series = async () =>
      (await (await b.api('/metrics')).text()).split('\n').filter((l) => l.includes('function="pg-gone"'));
    assert.ok((await series()).length > 0, 'the other server counted the invocation');
    assert.equal((await a.api('/api/v1/functions/pg-gone', { method: 'DELETE' })).status, 204);
    await waitFor(
      async () => ((await series()).length === 0 ? true : undefined),
      15_000,
      "the deleted function's series gone from the other server",
    );
  });

  it('gateway threads read the database through pools of their own', async () => {
    const threaded = await startTestServer(
      { databaseUrl: db.url, gatewayThreads: 2, secretKey: SHARED_SECRET_KEY },
      blobsShared.dataDir(),
    );
    try {
      const before = await threaded.server.threads?.stats();
      const answers = await Promise.all(Array.from({ length: 30 }, () => invokeOnce(threaded, 'pg-echo')));
      assert.deepEqual(new Set(answers.map((r) => r.status)), new Set([200]));
      const afterwards = await threaded.server.threads?.stats();
      assert.ok(
        (afterwards?.[0]?.served ?? 0) > (before?.[0]?.served ?? 0),
        'the second thread served invokes',
      );
    } finally {
      await threaded.close();
    }
  });

  it('a database that goes away fails /ready with the store’s code; warm invocations still answer', async () => {
    // Warm: the function and the key are in the server's caches. A key is trusted for 5 s after
    // it was last read from the store: a key made now is read now, by this call.
    const made = await a.api('/api/v1/keys', { method: 'POST', json: { name: 'warm', role: 'developer' } });
    assert.equal(made.status, 201, await made.clone().text());
    const { key } = (await made.json()) as { key: string };
    assert.equal(
      (await a.api('/api/v1/functions/pg-echo/invoke', { method: 'POST', key, json: { n: 1 } })).status,
      200,
    );
    await db.drop();
    const ready = await a.api('/ready', { key: null });
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { checks: Record<string, string> };
    // Its reason (naming FAAS_DATABASE_URL) is for a platform admin's key only.
    assert.match(body.checks.store ?? '', /^(failing \(FAAS_ERR_STORAGE_UNAVAILABLE\)|unavailable)$/);
    const warm = await a.api('/api/v1/functions/pg-echo/invoke', { method: 'POST', key, json: { n: 2 } });
    assert.equal(warm.status, 200);
    assert.equal(await warm.text(), '4');
    // A call that needs the database is a 503 with the storage code, not a 500.
    const list = await a.api('/api/v1/functions');
    assert.equal(list.status, 503);
    assert.equal(
      ((await list.json()) as { error: { code: string } }).error.code,
      'FAAS_ERR_STORAGE_UNAVAILABLE',
    );
  });
});

describe('a server whose FAAS_DATABASE_URL is wrong', { skip: postgresSkipReason() }, () => {
  it('stops at start with a message naming the setting: no stack trace, no password', async () => {
    const url = new URL(postgresTestUrl() as string);
    url.password = 'hunter2-not-it';
    const { code, output } = await runServer({ FAAS_DATABASE_URL: url.toString() });
    assert.equal(code, 1);
    assert.match(output, /FAAS_DATABASE_URL/);
    assert.match(output, /password authentication failed/);
    assert.doesNotMatch(output, /hunter2/);
    assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
  });

  it('a malformed URL is a configuration error that does not echo it', async () => {
    const { code, output } = await runServer({ FAAS_DATABASE_URL: 'postgres://faas:hunter2%zz@db/faas' });
    assert.equal(code, 1);
    assert.match(output, /FAAS_DATABASE_URL: has a malformed %-escape in its password/);
    assert.doesNotMatch(output, /hunter2/);
  });
});
