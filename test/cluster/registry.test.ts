// Workers register and heartbeat; one that stops (kill -9) is out after FAAS_WORKER_TIMEOUT_MS,
// and comes back under the same identity from its data dir.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClusterNodeRecord } from '@faas/core';
import { clusterSkipReason, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { request, waitFor } from '../support/server.ts';

const skip = clusterSkipReason() || engineSkipReason();

describe('the worker registry', { skip }, () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster();
  });
  after(async () => {
    await cluster?.close();
  });

  const nodes = async (gatewayUrl: string) => {
    const res = await request(gatewayUrl, '/api/v1/cluster/nodes');
    assert.equal(res.status, 200);
    return ((await res.json()) as { items: ClusterNodeRecord[] }).items;
  };

  it('lists each worker with its address and load; a killed one is out after the timeout and comes back as itself', async () => {
    const settings = { FAAS_WORKER_TIMEOUT_MS: '1500' };
    const gateway = await cluster.start('gateway', settings);
    const a = await cluster.start('worker', settings);
    const b = await cluster.start('worker', settings);
    const listed = await nodes(gateway.url);
    assert.deepEqual(listed.map((n) => n.url).sort(), [a.url, b.url].sort());
    for (const node of listed) {
      assert.equal(node.role, 'worker');
      assert.match(node.id, /^node_[a-z0-9]{20}$/);
      assert.ok(node.load.score >= 0 && node.load.score <= 100, JSON.stringify(node.load));
      assert.ok(node.capacity.cpus >= 1);
    }
    const idOfA = listed.find((n) => n.url === a.url)?.id;

    const viewer = await request(gateway.url, '/api/v1/keys', {
      method: 'POST',
      json: { name: 'viewer', role: 'viewer' },
    });
    assert.equal(viewer.status, 201, await viewer.clone().text());
    const viewerKey = ((await viewer.json()) as { key: string }).key;
    assert.equal((await request(gateway.url, '/api/v1/cluster/nodes', { key: viewerKey })).status, 403);

    await a.kill('SIGKILL');
    await waitFor(
      async () => ((await nodes(gateway.url)).some((n) => n.id === idOfA) ? undefined : true),
      10_000,
      'the killed worker to be out',
    );
    assert.deepEqual(
      (await nodes(gateway.url)).map((n) => n.url),
      [b.url],
    );

    const back = await cluster.start('worker', settings, a.dataDir);
    const again = await nodes(gateway.url);
    assert.equal(again.find((n) => n.url === back.url)?.id, idOfA);
  });
});
