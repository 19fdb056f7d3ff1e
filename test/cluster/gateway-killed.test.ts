// A gateway killed (SIGKILL) while async invocations are being enqueued through it and sync calls
// run through it: every 202 it answered completes, exactly once, on the nodes left; and no
// invocation record is left half-written (queued or running for ever). The half-written ones are
// the async records it wrote but whose job it never enqueued (killed between the two writes):
// the nodes left fail them as orphans (data/async-reconcile.ts), and a client's retry with the
// same idempotency key then runs anew. Sync calls in flight on it have
// no record at all (a sync record is written once the call ends).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Invocation, TERMINAL_STATUSES } from '@faas/core';
import {
  type ClusterNode,
  clusterSkipReason,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { request, waitFor } from '../support/server.ts';

const skip = clusterSkipReason() || engineSkipReason();

const JOB = `export default async (event) => {
  await new Promise((r) => setTimeout(r, event.sleepMs ?? 300));
  return { n: event.n };
};`;

describe('a gateway killed mid-request', { skip }, () => {
  let cluster: TestCluster;
  let doomed: ClusterNode;
  let survivor: ClusterNode;
  const settings = {
    FAAS_WORKER_TIMEOUT_MS: '2000',
    // The dead gateway's leased jobs come back after this.
    FAAS_QUEUE_LEASE_MS: '2000',
    FAAS_RETRY_BASE_DELAY_MS: '50',
    FAAS_RETRY_MAX_DELAY_MS: '200',
    FAAS_QUEUE_CONCURRENCY: '4',
  };

  before(async () => {
    cluster = await startTestCluster();
    doomed = await cluster.start('gateway', settings);
    survivor = await cluster.start('gateway', settings);
    await cluster.start('worker', settings);
  });
  after(async () => {
    await cluster?.close();
  });

  it('loses nothing it acknowledged: each 202 completes once on the nodes left', async (t) => {
    const deployed = await request(survivor.url, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'job', runtime: 'node', code: JOB, maxRetries: 3, maxConcurrency: 50 },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());

    const acknowledged = new Map<string, number>();
    let stop = false;
    let n = 0;
    // Four clients enqueue through the doomed gateway as fast as it answers; two run sync calls.
    const enqueuers = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const mine = n++;
        try {
          const res = await request(doomed.url, '/api/v1/functions/job/invoke?async=true', {
            method: 'POST',
            json: { n: mine },
            headers: { 'idempotency-key': `job-${mine}` },
          });
          if (res.status === 202)
            acknowledged.set(((await res.json()) as { invocationId: string }).invocationId, mine);
        } catch {
          return; // the gateway is gone: this request got no answer, so nothing was promised
        }
      }
    });
    const syncCalls = Array.from({ length: 2 }, async () => {
      while (!stop) {
        try {
          await (
            await request(doomed.url, '/api/v1/functions/job/invoke', {
              method: 'POST',
              json: { n: -1, sleepMs: 200 },
            })
          ).arrayBuffer();
        } catch {
          return;
        }
      }
    });
    await waitFor(
      async () => (acknowledged.size >= 20 ? true : undefined),
      60_000,
      '20 async invocations acknowledged',
    );
    await doomed.kill('SIGKILL');
    stop = true;
    await Promise.all([...enqueuers, ...syncCalls]);
    assert.ok(acknowledged.size >= 20);

    // Every acknowledged invocation finishes, succeeded with its own result, on the nodes left.
    for (const [id, mine] of acknowledged) {
      const inv = await waitFor(
        async () => {
          const res = await request(survivor.url, `/api/v1/invocations/${id}`);
          if (res.status !== 200) return undefined;
          const got = (await res.json()) as Invocation;
          return TERMINAL_STATUSES.has(got.status) ? got : undefined;
        },
        60_000,
        `invocation ${id} to finish`,
      );
      assert.deepEqual([inv.status, inv.result], ['succeeded', { n: mine }], JSON.stringify(inv));
    }
    // Exactly once: the same keys answer the same invocations, and each n has one record.
    for (const [id, mine] of acknowledged) {
      const again = await request(survivor.url, '/api/v1/functions/job/invoke?async=true', {
        method: 'POST',
        json: { n: mine },
        headers: { 'idempotency-key': `job-${mine}` },
      });
      assert.equal(((await again.json()) as { invocationId: string }).invocationId, id);
    }
    let open: Invocation[] = [];
    // No half-written record: every async record of the function ends (those the gateway wrote
    // but died before answering run too, or are refused), none stays queued or running.
    await waitFor(
      async () => {
        open = [];
        for (const status of ['queued', 'running']) {
          const res = await request(
            survivor.url,
            `/api/v1/invocations?functionName=job&status=${status}&limit=500`,
          );
          open.push(...((await res.json()) as { items: Invocation[] }).items);
        }
        return open.length === 0 ? true : undefined;
      },
      60_000,
      'every record of the function to end',
    ).catch((err: Error) => {
      const shown = open.map((inv) => ({ id: inv.id, status: inv.status, trigger: inv.trigger }));
      throw new Error(`${err.message}: ${JSON.stringify(shown)}`);
    });
    // The records settled so are those whose client got no 202: failed as orphans (type Lost,
    // settled by a node's sweep within the lease plus 10 s), never an acknowledged one.
    const failed = await request(
      survivor.url,
      '/api/v1/invocations?functionName=job&status=failed&limit=500',
    );
    const orphans = ((await failed.json()) as { items: Invocation[] }).items;
    for (const inv of orphans) {
      assert.equal(acknowledged.has(inv.id), false, JSON.stringify(inv));
      assert.deepEqual([inv.mode, inv.error?.type], ['async', 'Lost'], JSON.stringify(inv));
    }
    // Their clients got no 202, so they retry with the same keys: each retry makes an invocation
    // that runs (the orphan gave its key up), and the orphan stays failed.
    for (const orphan of orphans) {
      const mine = Number(orphan.idempotencyKey?.slice('job-'.length));
      const retry = await request(survivor.url, '/api/v1/functions/job/invoke?async=true', {
        method: 'POST',
        json: { n: mine },
        headers: { 'idempotency-key': `job-${mine}` },
      });
      assert.equal(retry.status, 202, await retry.clone().text());
      const id = ((await retry.json()) as { invocationId: string }).invocationId;
      assert.notEqual(id, orphan.id);
      const ran = await waitFor(
        async () => {
          const got = (await (await request(survivor.url, `/api/v1/invocations/${id}`)).json()) as Invocation;
          return TERMINAL_STATUSES.has(got.status) ? got : undefined;
        },
        60_000,
        `the retry of ${orphan.idempotencyKey} to finish`,
      );
      assert.deepEqual([ran.status, ran.result], ['succeeded', { n: mine }], JSON.stringify(ran));
    }
    t.diagnostic(`${acknowledged.size} acknowledged, ${orphans.length} orphan record(s) failed as Lost`);
  });
});
