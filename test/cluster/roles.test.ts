// Roles of `faas serve`: what a gateway and a worker refuse to start without, what each runs,
// and SIGTERM's drain (not ready, in-flight work finished, then exit).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { clusterSkipReason, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { request, startTestServer, tempDataDir } from '../support/server.ts';

const MAIN = new URL('../../packages/server/src/main.ts', import.meta.url).pathname;

describe('faas serve --role', () => {
  it('refuses a worker without the shared backends and cluster secret, naming each one', async () => {
    const dataDir = tempDataDir();
    try {
      const env = { ...process.env };
      for (const name of Object.keys(env))
        if (name.startsWith('FAAS_') && !name.startsWith('FAAS_TEST_')) delete env[name];
      const child = spawn(
        process.execPath,
        [MAIN, 'serve', '--role', 'worker', '--port', '0', '--data-dir', dataDir],
        {
          env: { ...env, FAAS_QUEUE_URL: 'redis://127.0.0.1:6379' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      child.stderr.on('data', (c: Buffer) => (out += c));
      const [code] = await once(child, 'exit');
      assert.equal(code, 1, out);
      assert.match(
        out,
        /FAAS_ROLE=worker: .*set FAAS_DATABASE_URL, FAAS_OBJECT_STORE_URL, FAAS_CLUSTER_SECRET/,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('drains: /ready says 503 draining while requests are still served', async () => {
    const server = await startTestServer();
    try {
      assert.equal((await server.api('/ready')).status, 200);
      await server.server.drain();
      const ready = await server.api('/ready');
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { status: string }).status, 'draining');
      assert.equal((await server.api('/health')).status, 200);
      const fn = await server.api('/api/v1/functions', {
        method: 'POST',
        json: { name: 'still-served', runtime: 'js', code: 'export default () => 7' },
      });
      assert.equal(fn.status, 201, await fn.text());
      const res = await server.api('/api/v1/functions/still-served/invoke', { method: 'POST', json: {} });
      assert.equal(await res.json(), 7);
    } finally {
      await server.close();
    }
  });

  describe('on the shared backends', { skip: clusterSkipReason() }, () => {
    let cluster: TestCluster;
    before(async () => {
      cluster = await startTestCluster();
    });
    after(async () => {
      await cluster?.close();
    });

    it('a gateway runs js functions itself and sends container calls to workers (none here); SIGTERM finishes a call in flight', async () => {
      const gateway = await cluster.start('gateway');
      const ready = await request(gateway.url, '/ready');
      const body = (await ready.json()) as { checks: Record<string, string> };
      assert.equal(ready.status, 200, JSON.stringify(body));
      assert.equal(body.checks.isolate, 'ok');
      assert.equal(
        body.checks.container,
        'ok',
        'its container runtime is the workers’, reached through the registry',
      );
      // No engine of its own, and no worker yet: a container deploy says so.
      const noWorker = await request(gateway.url, '/api/v1/functions', {
        method: 'POST',
        json: { name: 'no-worker', runtime: 'node', code: 'export default () => 1' },
      });
      assert.equal(noWorker.status, 503);
      assert.match(
        ((await noWorker.json()) as { error: { message: string } }).error.message,
        /No worker in the cluster/,
      );
      // Execute goes to a worker, and there is none: a clear 503, never a 500.
      const execute = await request(gateway.url, '/api/v1/execute', {
        method: 'POST',
        json: { command: ['true'] },
      });
      assert.equal(execute.status, 503, await execute.clone().text());
      assert.equal(
        ((await execute.json()) as { error: { code: string } }).error.code,
        'FAAS_ERR_RUNTIME_UNAVAILABLE',
      );
      assert.equal((await request(gateway.url, '/metrics')).status, 200);

      const deploy = await request(gateway.url, '/api/v1/functions', {
        method: 'POST',
        json: {
          name: 'slow',
          runtime: 'js',
          code: 'export default async () => { await new Promise((r) => setTimeout(r, 1500)); return "done"; }',
        },
      });
      assert.equal(deploy.status, 201, await deploy.text());
      const call = request(gateway.url, '/api/v1/functions/slow/invoke', { method: 'POST', json: {} });
      await new Promise((r) => setTimeout(r, 300));
      const exited = once(gateway.child, 'exit');
      gateway.child.kill('SIGTERM');
      const res = await call;
      assert.equal(res.status, 200);
      assert.equal(await res.json(), 'done');
      const [code] = await exited;
      assert.equal(code, 0, gateway.output());
    });

    it('a gateway serves container functions as soon as its first worker has joined', {
      skip: engineSkipReason(),
    }, async () => {
      const gateway = await cluster.start('gateway');
      await cluster.start('worker');
      // No wait: the gateway's health check of its container runtime ran before the worker existed.
      const deploy = await request(gateway.url, '/api/v1/functions', {
        method: 'POST',
        json: { name: 'first-worker', runtime: 'node', code: 'export default (e) => e.n + 1' },
      });
      assert.equal(deploy.status, 201, await deploy.text());
      const res = await request(gateway.url, '/api/v1/functions/first-worker/invoke', {
        method: 'POST',
        json: { n: 41 },
      });
      assert.equal(await res.json(), 42);
    });
  });
});
