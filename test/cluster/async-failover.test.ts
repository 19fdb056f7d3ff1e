// Async container invocations in a cluster: consumed by the gateway (through a worker) and by the
// workers themselves; a worker killed with SIGKILL while it runs them: each still completes,
// once, on the worker that is left.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ClusterNodeRecord, type Invocation, TERMINAL_STATUSES } from '@faas/core';
import {
  type ClusterNode,
  clusterSkipReason,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { request, waitFor } from '../support/server.ts';

const skip = clusterSkipReason() || engineSkipReason();

const SLOW = `export default async (event) => {
  await new Promise((r) => setTimeout(r, 2500));
  return { n: event.n };
};`;

describe('async container invocations when a worker dies', { skip }, () => {
  let cluster: TestCluster;
  let gateway: ClusterNode;
  let workers: ClusterNode[];
  const settings = {
    FAAS_WORKER_TIMEOUT_MS: '2000',
    // A dead holder's jobs come back after this; renewed every half of it while held.
    FAAS_QUEUE_LEASE_MS: '2000',
    FAAS_RETRY_BASE_DELAY_MS: '50',
    FAAS_RETRY_MAX_DELAY_MS: '200',
    FAAS_QUEUE_CONCURRENCY: '4',
  };

  before(async () => {
    cluster = await startTestCluster();
    gateway = await cluster.start('gateway', settings);
    workers = [await cluster.start('worker', settings), await cluster.start('worker', settings)];
  });
  after(async () => {
    await cluster?.close();
  });

  it('each invocation succeeds exactly once on the worker that is left', async () => {
    const deployed = await request(gateway.url, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'job', runtime: 'node', code: SLOW, maxRetries: 3 },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) {
      const res = await request(gateway.url, '/api/v1/functions/job/invoke?async=true', {
        method: 'POST',
        json: { n },
        headers: { 'idempotency-key': `job-${n}` },
      });
      assert.equal(res.status, 202, await res.clone().text());
      ids.push(((await res.json()) as { invocationId: string }).invocationId);
    }
    const busy = await waitFor(
      async () => {
        const res = await request(gateway.url, '/api/v1/cluster/nodes');
        return ((await res.json()) as { items: ClusterNodeRecord[] }).items.find((n) => n.running > 0);
      },
      30_000,
      'a worker to run some of them',
    );
    const victim = workers.find((w) => w.url === busy.url) as ClusterNode;
    await victim.kill('SIGKILL');

    const done = await Promise.all(
      ids.map((id) =>
        waitFor(
          async () => {
            const inv = (await (
              await request(gateway.url, `/api/v1/invocations/${id}`)
            ).json()) as Invocation;
            return TERMINAL_STATUSES.has(inv.status) ? inv : undefined;
          },
          60_000,
          `invocation ${id} to finish`,
        ),
      ),
    );
    assert.deepEqual(
      done.map((inv) => [inv.status, inv.result]),
      ids.map((_, n) => ['succeeded', { n }]),
      JSON.stringify(done.map((inv) => ({ status: inv.status, error: inv.error, attempts: inv.attempts }))),
    );
    // The same keys again answer the same invocations: nothing runs twice.
    for (let n = 0; n < 6; n++) {
      const again = await request(gateway.url, '/api/v1/functions/job/invoke?async=true', {
        method: 'POST',
        json: { n },
        headers: { 'idempotency-key': `job-${n}` },
      });
      assert.equal(((await again.json()) as { invocationId: string }).invocationId, ids[n]);
    }
  });
});
