// A gateway names the version of a container call by its digest, and sends the whole version only
// to a worker that answers it has no copy: a new worker, one whose copy was retired or evicted.
// Each of those still runs the version the gateway means, and never a stale copy of a version
// deployed again under the same name and number.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FunctionVersion } from '@faas/core';
import { versionDigest } from '../../packages/server/src/cluster/version-digest.ts';
import {
  CLUSTER_SECRET,
  type ClusterNode,
  clusterSkipReason,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { request } from '../support/server.ts';

const skip = clusterSkipReason() || engineSkipReason();

const answering = (tag: string) => `export default (event) => ({ tag: '${tag}', n: event.n });`;

describe('container calls name the version by digest', { skip }, () => {
  let cluster: TestCluster;
  let gateway: ClusterNode;
  let worker: ClusterNode;

  before(async () => {
    cluster = await startTestCluster();
    gateway = await cluster.start('gateway');
    worker = await cluster.start('worker');
  });
  after(async () => {
    await cluster?.close();
  });

  const deploy = async (name: string, tag: string) => {
    const res = await request(gateway.url, '/api/v1/functions', {
      method: 'POST',
      json: { name, runtime: 'node', code: answering(tag) },
    });
    assert.equal(res.status, 201, await res.clone().text());
  };
  const invoke = async (name: string, n: number) => {
    const res = await request(gateway.url, `/api/v1/functions/${name}/invoke`, {
      method: 'POST',
      json: { n },
    });
    assert.equal(res.status, 200, await res.clone().text());
    return res.json();
  };
  const internal = async (path: string, body: unknown) => {
    const res = await fetch(`${worker.url}/internal/v1/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Cluster ${CLUSTER_SECRET}` },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };

  it('a worker without a copy says so and runs nothing; sent the version, it runs it and keeps it; retired, it asks again', async () => {
    await deploy('known', 'one');
    const fn = (
      (await (await request(gateway.url, '/api/v1/functions/known')).json()) as { latest: FunctionVersion }
    ).latest;
    const call = (extra: Record<string, unknown>) =>
      internal('invoke', {
        invocationId: `inv_${Math.random().toString(36).slice(2)}`,
        event: { kind: 'json', value: { n: 7 } },
        deadline: Date.now() + 60_000,
        ...extra,
      });
    const digest = versionDigest(fn);
    // A digest no version has: never a guess at what the gateway meant.
    assert.deepEqual(await call({ digest: 'no-such-digest' }), {
      status: 200,
      body: { unknownVersion: true },
    });
    const whole = await call({ digest, fn });
    assert.equal(whole.status, 200, JSON.stringify(whole.body));
    assert.deepEqual((whole.body?.outcome as { result?: unknown } | undefined)?.result, {
      kind: 'json',
      value: { tag: 'one', n: 7 },
    });
    const byDigest = await call({ digest });
    assert.deepEqual((byDigest.body?.outcome as { result?: unknown } | undefined)?.result, {
      kind: 'json',
      value: { tag: 'one', n: 7 },
    });
    assert.equal((await internal('retire', { name: 'known', version: 1 })).status, 204);
    assert.deepEqual(await call({ digest }), { status: 200, body: { unknownVersion: true } });
    // Through the gateway, the worker that lost its copy gets the version again.
    assert.deepEqual(await invoke('known', 3), { tag: 'one', n: 3 });
    assert.deepEqual(await invoke('known', 4), { tag: 'one', n: 4 });
  });

  it('a version deployed again under the same name and number runs as deployed, never as the copy before', async () => {
    await deploy('again', 'first');
    assert.deepEqual(await invoke('again', 1), { tag: 'first', n: 1 });
    const deleted = await request(gateway.url, '/api/v1/functions/again', { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    await deploy('again', 'second');
    const fn = (
      (await (await request(gateway.url, '/api/v1/functions/again')).json()) as { latest: FunctionVersion }
    ).latest;
    assert.equal(fn.version, 1);
    assert.deepEqual(await invoke('again', 2), { tag: 'second', n: 2 });
  });

  it('a worker restarted (its copies gone) still runs the calls the gateway sends it', async () => {
    await deploy('restarted', 'kept');
    assert.deepEqual(await invoke('restarted', 1), { tag: 'kept', n: 1 });
    await worker.kill('SIGKILL');
    worker = await cluster.start('worker', {}, worker.dataDir);
    // The gateway's copy of the registry shows the worker again (a heartbeat, then a refresh).
    let answer: unknown;
    for (let i = 0; i < 40; i++) {
      const res = await request(gateway.url, '/api/v1/functions/restarted/invoke', {
        method: 'POST',
        json: { n: 2 },
      });
      if (res.status === 200) {
        answer = await res.json();
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(answer, { tag: 'kept', n: 2 });
  });
});
