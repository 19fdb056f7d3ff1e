// The server on the production backends together: PostgreSQL (FAAS_DATABASE_URL), Redis
// (FAAS_QUEUE_URL) and S3 (FAAS_OBJECT_STORE_URL, an S3 protocol server on loopback), each
// server a process of its own, as a deployment runs them. The same API scenarios as the embedded
// default, a server killed with SIGKILL while invocations are queued, and bad S3 settings at start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Invocation, TERMINAL_STATUSES } from '@faas/core';
import { createTestDatabase, postgresSkipReason, postgresTestUrl } from '@faas/testkit';
import { startTestS3, type TestS3 } from '../../packages/server/src/blobs/s3/test-support.ts';
import {
  dropQueueKeys,
  NO_REDIS,
  TEST_REDIS_URL,
} from '../../packages/server/src/queue/redis/test-support.ts';
import { engineSkipReason, ownedContainers, removeContainers } from '../support/engine.ts';
import {
  ADMIN_KEY,
  request,
  type ServerProcess,
  spawnServer,
  tempDataDir,
  waitFor,
} from '../support/server.ts';

const MAIN = new URL('../../packages/server/src/main.ts', import.meta.url).pathname;
const skip = postgresSkipReason() ?? (TEST_REDIS_URL ? false : NO_REDIS);

type Api = (path: string, init?: RequestInit & { json?: unknown }) => Promise<Response>;
const apiOf =
  (server: ServerProcess): Api =>
  (path, init) =>
    request(server.url, path, init);

async function finished(api: Api, id: string, timeoutMs = 30_000): Promise<Invocation> {
  return waitFor(
    async () => {
      const inv = (await (await api(`/api/v1/invocations/${id}`)).json()) as Invocation;
      return TERMINAL_STATUSES.has(inv.status) ? inv : undefined;
    },
    timeoutMs,
    `invocation ${id} to finish`,
  );
}

async function deploy(api: Api, name: string, code: string, extra: Record<string, unknown> = {}) {
  const res = await api('/api/v1/functions', {
    method: 'POST',
    json: { name, runtime: 'js', code, ...extra },
  });
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

async function invokeAsync(api: Api, name: string, json: unknown): Promise<string> {
  const res = await api(`/api/v1/functions/${name}/invoke?async=true`, { method: 'POST', json });
  assert.equal(res.status, 202, await res.clone().text());
  return ((await res.json()) as { invocationId: string }).invocationId;
}

describe('a server on PostgreSQL, Redis and S3 together', { skip }, () => {
  let s3: TestS3;
  let database: { url: string; drop(): Promise<void> };
  const prefix = `test:backends:${process.pid}`;
  const dataDirs: string[] = [];
  /** Settings of every server of this "deployment": they share the three backends. */
  let env: Record<string, string>;
  const servers: ServerProcess[] = [];
  const start = async (extra: Record<string, string> = {}) => {
    const dataDir = tempDataDir();
    dataDirs.push(dataDir);
    const server = await spawnServer(dataDir, { ...env, ...extra });
    servers.push(server);
    return server;
  };

  before(async () => {
    s3 = await startTestS3();
    database = await createTestDatabase(postgresTestUrl() as string);
    env = {
      ...s3.env,
      FAAS_DATABASE_URL: database.url,
      FAAS_QUEUE_URL: TEST_REDIS_URL as string,
      FAAS_QUEUE_PREFIX: prefix,
      FAAS_OBJECT_STORE_URL: `s3://${s3.bucket}/deployments/${randomUUID()}`,
      FAAS_S3_ENDPOINT: s3.endpoint,
      FAAS_RETRY_BASE_DELAY_MS: '20',
      FAAS_RETRY_MAX_DELAY_MS: '100',
      FAAS_QUEUE_POLL_MS: '100',
      // No paused restores kept ready: no test here takes one, and each is a restore of the
      // snapshot run beside the test's own.
      FAAS_RESTORE_STANDBYS: '0',
      // One key for every server of the store (each data dir would make its own).
      FAAS_SECRET_KEY: Buffer.alloc(32, 5).toString('hex'),
    };
  });
  after(async () => {
    for (const server of servers) await server.kill('SIGTERM');
    for (const dir of dataDirs) {
      if (!engineSkipReason()) removeContainers(ownedContainers(dir));
      rmSync(dir, { recursive: true, force: true });
    }
    await dropQueueKeys(TEST_REDIS_URL as string, prefix);
    await database?.drop();
    await s3?.close();
  });

  it('/ready names each backend ok; functions, versions, sync and async invocations, retries and dead letters work', async () => {
    const server = await start();
    const api = apiOf(server);
    const ready = await api('/ready');
    const body = (await ready.json()) as { checks: Record<string, string> };
    assert.equal(ready.status, 200, JSON.stringify(body));
    assert.equal(body.checks.store, 'ok');
    assert.equal(body.checks.queue, 'ok');
    assert.equal(body.checks.blobs, 'ok');

    await deploy(api, 'greet', 'export default (e) => `hello ${e.name}`');
    const put = await api('/api/v1/functions/greet', {
      method: 'PUT',
      json: { runtime: 'js', code: 'export default (e) => `hi ${e.name}`' },
    });
    assert.equal(put.status, 200, await put.clone().text());
    assert.equal(((await put.json()) as { latestVersion: number }).latestVersion, 2);
    const versions = (await (await api('/api/v1/functions/greet/versions')).json()) as {
      items: Array<{ version: number }>;
    };
    assert.deepEqual(
      versions.items.map((v) => v.version),
      [2, 1],
    );
    const sync = await api('/api/v1/functions/greet/invoke', { method: 'POST', json: { name: 'ada' } });
    assert.equal(sync.status, 200, await sync.clone().text());
    assert.equal(await sync.json(), 'hi ada');
    const old = await api('/api/v1/functions/greet:1/invoke', { method: 'POST', json: { name: 'ada' } });
    assert.equal(await old.json(), 'hello ada');

    await deploy(api, 'double', 'export default (e) => e.n * 2');
    const done = await finished(api, await invokeAsync(api, 'double', { n: 21 }));
    assert.equal(done.status, 'succeeded');
    assert.equal(done.result, 42);

    await deploy(api, 'always-fails', 'export default () => { throw new Error("nope") }', { maxRetries: 2 });
    const dead = await finished(api, await invokeAsync(api, 'always-fails', {}));
    assert.equal(dead.status, 'dead_lettered');
    assert.equal(dead.attempts, 3);
    assert.equal(dead.error?.message, 'nope');
  });

  it('another server with an empty cache runs a function: its isolate hosts get the code from S3 through it', async () => {
    const [writer, reader] = [await start(), await start()];
    await deploy(apiOf(writer), 'shared', 'export default (e) => `hi ${e.name}`');
    const res = await apiOf(reader)('/api/v1/functions/shared/invoke', {
      method: 'POST',
      json: { name: 'bob' },
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.json(), 'hi bob');
  });

  for (const isolation of ['runc', 'gvisor'] as const) {
    it(`${isolation}: a snapshot taken on one server is restored on another (its data through S3)`, {
      skip: engineSkipReason() ?? false,
      timeout: 600_000,
    }, async () => {
      const [one, two] = [await start(), await start()];
      const call = async <T>(
        server: ServerProcess,
        path: string,
        init: RequestInit & { json?: unknown } = {},
      ) => {
        const res = await request(server.url, `/api/v1${path}`, init);
        const text = await res.text();
        return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
      };
      const exec = async (server: ServerProcess, id: string, command: string) =>
        (
          await call<{ stdout: string; stderr: string; exit_code: number }>(server, `/instances/${id}/exec`, {
            method: 'POST',
            json: { command, timeout_ms: 120_000 },
          })
        ).body;
      const created = await call<{ id: string }>(one, '/instances', {
        method: 'POST',
        json: { isolation, command: 'sleep 3600' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const made = await exec(one, created.body.id, 'echo "made on the first server" > note.txt');
      assert.equal(made.exit_code, 0, made.stderr);
      const snap = await call<{ id: string }>(one, '/snapshots', {
        method: 'POST',
        json: { instance_id: created.body.id },
      });
      assert.equal(snap.status, 201, JSON.stringify(snap.body));
      await call(one, `/instances/${created.body.id}`, { method: 'DELETE' });

      const forked = await call<{ instances: Array<{ id: string }> }>(
        two,
        `/snapshots/${snap.body.id}/fork`,
        {
          method: 'POST',
          json: { count: 1 },
        },
      );
      assert.equal(forked.status, 201, JSON.stringify(forked.body));
      const fork = forked.body.instances[0] as { id: string };
      assert.equal((await exec(two, fork.id, 'cat note.txt')).stdout, 'made on the first server\n');
      await call(two, `/instances/${fork.id}`, { method: 'DELETE' });
      assert.equal((await call(two, `/snapshots/${snap.body.id}`, { method: 'DELETE' })).status, 204);
    });
  }

  it('killed with SIGKILL while invocations are queued: after a restart each completes exactly once', async () => {
    const queuedEnv = { FAAS_QUEUE_CONCURRENCY: '1', FAAS_QUEUE_LEASE_MS: '1000' };
    const first = await start(queuedEnv);
    const api = apiOf(first);
    await deploy(api, 'slow', 'export default (e) => new Promise((r) => setTimeout(() => r(e.n * 2), 400))', {
      timeoutMs: 5_000,
    });
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) ids.push(await invokeAsync(api, 'slow', { n }));
    await waitFor(async () => {
      const inv = (await (await api(`/api/v1/invocations/${ids[0]}`)).json()) as Invocation;
      return inv.status === 'running' || inv.status === 'succeeded' ? true : undefined;
    });
    await first.kill('SIGKILL');

    // A new machine: its own data dir, the same three backends.
    const second = await start(queuedEnv);
    const api2 = apiOf(second);
    const results = [];
    for (const id of ids) results.push(await finished(api2, id));
    assert.deepEqual(
      results.map((inv) => [inv.status, inv.result]),
      ids.map((_, n) => ['succeeded', n * 2]),
    );
    // Only a job that was running when the server died runs twice; none is left behind.
    assert.ok(
      results.filter((inv) => inv.attempts > 1).length <= 1,
      JSON.stringify(results.map((i) => i.attempts)),
    );
    const list = (await (await api2('/api/v1/invocations?functionName=slow&limit=100')).json()) as {
      items: Invocation[];
    };
    assert.deepEqual(list.items.map((inv) => inv.id).sort(), [...ids].sort());
    const queue = (await (await api2('/api/v1/queue')).json()) as Record<string, number>;
    assert.deepEqual(
      queue,
      { depth: 0, running: 0, delayed: 0, dead: 1 },
      'the one dead letter is always-fails',
    );
  });
});

/** Runs `faas serve` until it exits: its exit code and what it printed. */
async function serveOnce(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const dataDir = tempDataDir();
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--data-dir', dataDir], {
    env: { ...process.env, FAAS_ADMIN_KEY: ADMIN_KEY, FAAS_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c));
  child.stderr.on('data', (c: Buffer) => (output += c));
  const [code] = await once(child, 'close');
  rmSync(dataDir, { recursive: true, force: true });
  return { code: code as number | null, output };
}

describe('a server whose FAAS_OBJECT_STORE_URL cannot be used', () => {
  let s3: TestS3;
  before(async () => {
    s3 = await startTestS3();
  });
  after(() => s3.close());

  const cases: Array<[string, () => Record<string, string>, RegExp]> = [
    [
      'a malformed URL',
      () => ({ FAAS_OBJECT_STORE_URL: 'https://bucket.example.com/x' }),
      /FAAS_OBJECT_STORE_URL: must look like s3:\/\/bucket\/prefix/,
    ],
    [
      'a bucket that does not exist',
      () => ({ ...s3.env, FAAS_OBJECT_STORE_URL: 's3://no-such-bucket/x', FAAS_S3_ENDPOINT: s3.endpoint }),
      /^FAAS_OBJECT_STORE_URL: cannot use the S3 bucket "no-such-bucket" .*does not exist/m,
    ],
    [
      'a key S3 does not know',
      () => ({
        ...s3.env,
        AWS_ACCESS_KEY_ID: 'WRONG-KEY',
        AWS_SECRET_ACCESS_KEY: 'wrong-secret-value',
        FAAS_OBJECT_STORE_URL: `s3://${s3.bucket}/x`,
        FAAS_S3_ENDPOINT: s3.endpoint,
      }),
      /^FAAS_OBJECT_STORE_URL: cannot use the S3 bucket .*refused/m,
    ],
    [
      'an endpoint nothing listens on',
      () => ({
        ...s3.env,
        FAAS_OBJECT_STORE_URL: `s3://${s3.bucket}/x`,
        FAAS_S3_ENDPOINT: 'http://127.0.0.1:1',
      }),
      /^FAAS_OBJECT_STORE_URL: cannot use the S3 bucket .* at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/m,
    ],
  ];
  for (const [what, envOf, message] of cases) {
    it(`${what}: exits 1 with one line naming the setting, no stack trace, no secret`, async () => {
      const { code, output } = await serveOnce(envOf());
      assert.equal(code, 1, output);
      assert.match(output, message);
      assert.ok(!/^\s+at /m.test(output), `a stack trace was printed:\n${output}`);
      assert.ok(!output.includes('wrong-secret-value'), output);
    });
  }
});
