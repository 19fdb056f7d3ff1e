// On a gateway with several threads, a container call that lands on a gateway thread goes to a
// worker from that thread, not through the main thread: one Unix-socket round trip less on the
// hop (bench section 11). Its answer and its record are those of a call the main thread serves.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '@faas/core';
import { type RunningServer, startServer } from '@faas/server';
import { clusterSkipReason, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, request, tempDataDir, waitFor } from '../support/server.ts';

const skip = clusterSkipReason() || engineSkipReason();

/** One request on a connection of its own, so the kernel spreads them over the threads. */
function invokeOnce(
  base: string,
  name: string,
  event: unknown,
): Promise<{ status: number; body: string; id: string }> {
  const url = new URL(`/api/v1/functions/${name}/invoke`, base);
  const payload = JSON.stringify(event);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          authorization: `Bearer ${ADMIN_KEY}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, id: String(res.headers['x-invocation-id']) }),
        );
      },
    );
    req.once('error', reject);
    req.end(payload);
  });
}

describe('container calls on a gateway thread', { skip }, () => {
  let cluster: TestCluster;
  let gateway: RunningServer;
  const dataDir = tempDataDir();

  before(async () => {
    cluster = await startTestCluster();
    await cluster.start('worker');
    // The S3 credentials are read by the AWS SDK from the environment, as a node process's are.
    for (const [name, value] of Object.entries(cluster.env))
      if (name.startsWith('AWS_')) process.env[name] = value;
    const env = Object.fromEntries(Object.entries(cluster.env).filter(([name]) => name.startsWith('FAAS_')));
    gateway = await startServer(
      loadConfig(env, {
        port: 0,
        host: '127.0.0.1',
        dataDir,
        adminKey: ADMIN_KEY,
        logLevel: 'silent',
        role: 'gateway',
        gatewayThreads: 2,
      }),
    );
  });
  after(async () => {
    await gateway?.close();
    await cluster?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('are sent to a worker by the thread itself, answered and recorded as on the main thread', async () => {
    const deployed = await request(gateway.url, '/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'double',
        runtime: 'node',
        code: 'export default (e) => { console.log("n", e.n); return { n: e.n * 2 }; }',
      },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    const threads = gateway.threads;
    assert.ok(threads, 'a gateway thread besides the main one');
    const [before] = await threads.stats();
    assert.ok(before);
    const ids: string[] = [];
    for (let n = 0; n < 24; n++) {
      const res = await invokeOnce(gateway.url, 'double', { n });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(JSON.parse(res.body), { n: n * 2 });
      ids.push(res.id);
    }
    const [afterwards] = await threads.stats();
    assert.ok(afterwards);
    assert.ok(afterwards.served > before.served, 'the gateway thread served container calls');
    assert.equal(afterwards.passed, before.passed, 'it passed none on to the main thread');
    // Every call's record, whichever thread served it, with its log line from the worker.
    for (const [n, id] of ids.entries()) {
      const record = await waitFor(
        async () => {
          const res = await request(gateway.url, `/api/v1/invocations/${id}`);
          return res.status === 200
            ? ((await res.json()) as { status: string; logs: { message: string }[] })
            : undefined;
        },
        10_000,
        `the record of call ${n}`,
      );
      assert.equal(record.status, 'succeeded');
      assert.deepEqual(
        record.logs.map((l) => l.message),
        [`n ${n}`],
      );
    }
  });
});
