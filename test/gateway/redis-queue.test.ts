// The server on the Redis queue (FAAS_QUEUE_URL): a Redis it cannot reach at start, one that goes
// away while it runs, and a server killed with SIGKILL while it runs an async invocation.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { type Invocation, isFaasError, loadConfig } from '@faas/core';
import { startServer } from '@faas/server';
import {
  dropQueueKeys,
  NO_REDIS,
  startTcpProxy,
  TEST_REDIS_URL,
} from '../../packages/server/src/queue/redis/test-support.ts';
import { ADMIN_KEY, request, spawnServer, startTestServer, tempDataDir, waitFor } from '../support/server.ts';

const MAIN = new URL('../../packages/server/src/main.ts', import.meta.url).pathname;
const PREFIX = `test:redis-server:${process.pid}`;
let n = 0;
const freshPrefix = () => `${PREFIX}:${++n}`;

async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

describe('a server whose FAAS_QUEUE_URL cannot be reached', () => {
  it('does not start: one line naming the setting, the password hidden, no stack trace', async () => {
    const dataDir = tempDataDir();
    after(() => rmSync(dataDir, { recursive: true, force: true }));
    const url = `redis://faas:hunter2-secret@127.0.0.1:${await closedPort()}/0`;
    const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--data-dir', dataDir], {
      env: { ...process.env, FAAS_ADMIN_KEY: ADMIN_KEY, FAAS_QUEUE_URL: url, FAAS_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 1, output);
    assert.match(
      output,
      /^FAAS_QUEUE_URL: cannot reach the queue's Redis at redis:\/\/faas:\*\*\*@127\.0\.0\.1:\d+\/0: /m,
    );
    assert.ok(!output.includes('hunter2'), output);
    assert.ok(!/^\s+at /m.test(output), `a stack trace was printed:\n${output}`);
  });

  it('startServer rejects with STORAGE_UNAVAILABLE and leaves the data dir free for the next start', async () => {
    const dataDir = tempDataDir();
    after(() => rmSync(dataDir, { recursive: true, force: true }));
    const base = {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      adminKey: ADMIN_KEY,
      logLevel: 'silent',
      gatewayThreads: 1,
    };
    const config = loadConfig({}, { ...base, queueUrl: `redis://127.0.0.1:${await closedPort()}` });
    await assert.rejects(startServer(config), (err: unknown) => {
      assert.ok(isFaasError(err), String(err));
      assert.equal(err.code, 'FAAS_ERR_STORAGE_UNAVAILABLE');
      return true;
    });
    const embedded = await startServer(loadConfig({}, base));
    await embedded.close();
  });
});

describe('a server on the Redis queue', { skip: TEST_REDIS_URL ? false : NO_REDIS }, () => {
  const url = TEST_REDIS_URL as string;

  it('/ready reports the queue failing while Redis is unreachable, async invokes get 503, and both recover', async (t) => {
    const proxy = await startTcpProxy(url);
    const prefix = freshPrefix();
    const s = await startTestServer({ queueUrl: proxy.url, queuePrefix: prefix, queuePollMs: 50 });
    t.after(async () => {
      await proxy.restore().catch(() => undefined);
      await s.close();
      await proxy.close();
      await dropQueueKeys(url, prefix);
    });
    const ready = async () => {
      const res = await s.api('/ready');
      return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
    };
    assert.equal((await ready()).status, 200);
    assert.equal(
      (
        await s.api('/api/v1/functions', {
          method: 'POST',
          json: { name: 'one', runtime: 'js', code: 'export default () => 1' },
        })
      ).status,
      201,
    );

    await proxy.cut();
    const down = await ready();
    assert.equal(down.status, 503);
    assert.match(
      down.body.checks.queue ?? '',
      /^failing \(FAAS_ERR_STORAGE_UNAVAILABLE\): The queue's Redis \(redis:/,
    );
    assert.equal(down.body.checks.store, 'ok');
    const refused = await s.api('/api/v1/functions/one/invoke?async=true', { method: 'POST', json: {} });
    assert.equal(refused.status, 503);
    assert.equal(
      ((await refused.json()) as { error: { code: string } }).error.code,
      'FAAS_ERR_STORAGE_UNAVAILABLE',
    );
    const counts = await s.api('/api/v1/queue');
    assert.equal(counts.status, 503);
    await counts.arrayBuffer();
    // Sync invocations do not touch the queue.
    assert.equal((await s.api('/api/v1/functions/one/invoke', { method: 'POST', json: {} })).status, 200);

    await proxy.restore();
    await waitFor(
      async () => ((await ready()).status === 200 ? true : undefined),
      15_000,
      'the queue to recover',
    );
    const res = await s.api('/api/v1/functions/one/invoke?async=true', { method: 'POST', json: {} });
    assert.equal(res.status, 202);
    const { invocationId } = (await res.json()) as { invocationId: string };
    const inv = await waitFor(
      async () => {
        const current = (await (await s.api(`/api/v1/invocations/${invocationId}`)).json()) as Invocation;
        return current.status === 'succeeded' ? current : undefined;
      },
      15_000,
      'the async invocation to run',
    );
    assert.equal(inv.result, 1);
  });

  it('the job of a server killed with SIGKILL mid-run comes back after its lease and completes on the next server', async (t) => {
    const dataDir = tempDataDir();
    const prefix = freshPrefix();
    // A lease longer than the run (renewed every half lease): a loaded machine that delays one
    // renewal by half a second must not hand the second server's run to a third attempt.
    const env = { FAAS_QUEUE_URL: url, FAAS_QUEUE_PREFIX: prefix, FAAS_QUEUE_LEASE_MS: '4000' };
    t.after(async () => {
      rmSync(dataDir, { recursive: true, force: true });
      await dropQueueKeys(url, prefix);
    });
    const first = await spawnServer(dataDir, env);
    let id: string;
    try {
      const api = (path: string, init?: RequestInit & { json?: unknown }) => request(first.url, path, init);
      const created = await api('/api/v1/functions', {
        method: 'POST',
        json: {
          name: 'slow',
          runtime: 'js',
          timeoutMs: 5_000,
          code: 'export default (e) => new Promise((r) => setTimeout(() => r(e.n * 2), 1500))',
        },
      });
      assert.equal(created.status, 201, await created.clone().text());
      const res = await api('/api/v1/functions/slow/invoke?async=true', { method: 'POST', json: { n: 21 } });
      id = ((await res.json()) as { invocationId: string }).invocationId;
      await waitFor(async () => {
        const inv = (await (await api(`/api/v1/invocations/${id}`)).json()) as Invocation;
        return inv.status === 'running' ? true : undefined;
      });
    } finally {
      await first.kill('SIGKILL');
    }
    // The data dir's lock says nothing about a shared queue's leases: this one runs out by itself.
    const second = await spawnServer(dataDir, env);
    try {
      const inv = await waitFor(
        async () => {
          const current = (await (
            await request(second.url, `/api/v1/invocations/${id}`)
          ).json()) as Invocation;
          return current.status === 'succeeded' ? current : undefined;
        },
        30_000,
        'the invocation to complete on the second server',
      );
      assert.equal(inv.result, 42);
      assert.equal(inv.attempts, 2);
    } finally {
      await second.kill('SIGTERM');
    }
  });
});
