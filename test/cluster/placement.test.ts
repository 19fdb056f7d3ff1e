// A gateway sends container calls to the cluster's workers: warm first, the same answer as a
// single server; a worker killed during a call is a 502 FAAS_ERR_WORKER_LOST recorded on the
// invocation, never a hang, and the next calls go to the worker that is left.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClusterNodeRecord, Invocation } from '@faas/core';
import {
  CLUSTER_SECRET,
  type ClusterNode,
  clusterSkipReason,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.ts';
import { engineSkipReason, ownedContainers } from '../support/engine.ts';
import { ADMIN_KEY, request, waitFor } from '../support/server.ts';

const skip = clusterSkipReason() || engineSkipReason();

const SLOW_NODE = `export default async (event) => {
  await new Promise((r) => setTimeout(r, event.sleepMs ?? 0));
  console.log('slept', event.sleepMs ?? 0);
  return { n: event.n * 2 };
};`;

describe('container calls through a gateway', { skip }, () => {
  let cluster: TestCluster;
  let gateway: ClusterNode;
  let workers: ClusterNode[];
  const settings = { FAAS_WORKER_TIMEOUT_MS: '2000' };

  before(async () => {
    cluster = await startTestCluster();
    gateway = await cluster.start('gateway', settings);
    workers = [await cluster.start('worker', settings), await cluster.start('worker', settings)];
  });
  after(async () => {
    await cluster?.close();
  });

  const nodes = async () =>
    ((await (await request(gateway.url, '/api/v1/cluster/nodes')).json()) as { items: ClusterNodeRecord[] })
      .items;
  const invoke = (name: string, json: unknown) =>
    request(gateway.url, `/api/v1/functions/${name}/invoke`, { method: 'POST', json });

  it('deploys through a worker, and every call goes to the one with the warm container', async () => {
    const deployed = await request(gateway.url, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'hop', runtime: 'node', code: SLOW_NODE },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    // The deploy's preparation left a warm container on one worker; once its heartbeat told the
    // gateway (a heartbeat a second, the gateway's copy refreshed twice a second), calls go there.
    const warmOn = await waitFor(
      async () => {
        const holding = (await nodes()).filter((n) => n.warm.includes('hop:1'));
        return holding.length === 1 ? holding[0] : undefined;
      },
      10_000,
      'a worker to report the warm container',
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const first = await invoke('hop', { n: 21 });
    assert.equal(first.status, 200, await first.clone().text());
    assert.deepEqual(await first.json(), { n: 42 });
    const id = first.headers.get('x-invocation-id');
    assert.ok(id);
    for (let i = 0; i < 5; i++) {
      const res = await invoke('hop', { n: i });
      assert.deepEqual(await res.json(), { n: i * 2 });
    }
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(
      (await nodes()).filter((n) => n.warm.includes('hop:1')).map((n) => n.id),
      [warmOn.id],
      'no call went to the worker without a warm container (it would have made one)',
    );
    // The worker's log lines came back with the result and were recorded by the gateway.
    const record = await waitFor(
      async () => {
        const inv = (await (await request(gateway.url, `/api/v1/invocations/${id}`)).json()) as Invocation & {
          logs?: Array<{ message: string }>;
        };
        return inv.logs?.length ? inv : undefined;
      },
      10_000,
      'the first invocation’s logs',
    );
    assert.equal(record.status, 'succeeded');
    assert.ok(record.logs?.some((l) => l.message.includes('slept 0')));
  });

  it("a worker's internal API takes the cluster secret only, and the secret opens nothing on the user API", async () => {
    const worker = workers[0] as ClusterNode;
    const internal = (headers: Record<string, string>, body: unknown = {}) =>
      fetch(`${worker.url}/internal/v1/invoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    for (const authorization of [
      `Bearer ${ADMIN_KEY}`,
      `Bearer ${CLUSTER_SECRET}`,
      `Cluster ${ADMIN_KEY}`,
      'Cluster ',
    ]) {
      const res = await internal({ authorization });
      assert.equal(res.status, 401, authorization);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FAAS_ERR_UNAUTHORIZED');
    }
    assert.equal((await internal({})).status, 401);
    // The right secret and a body that is no call: refused as such, not a 500.
    const bad = await internal({ authorization: `Cluster ${CLUSTER_SECRET}` }, { fn: 'x', event: 3 });
    assert.equal(bad.status, 422, await bad.clone().text());
    // Hostile bodies on the path served ahead of the router: each its own 4xx, in the error format.
    const raw = (body: string | Buffer, type = 'application/json') =>
      fetch(`${worker.url}/internal/v1/invoke`, {
        method: 'POST',
        headers: { 'content-type': type, authorization: `Cluster ${CLUSTER_SECRET}` },
        body,
      });
    const refusals: [Response, number, string][] = [
      [await raw('{"invocationId": '), 400, 'FAAS_ERR_INVALID_JSON'],
      [await raw('null'), 422, 'FAAS_ERR_VALIDATION'],
      [await raw(Buffer.alloc(15 * 1024 * 1024, 0x20)), 413, 'FAAS_ERR_BODY_TOO_LARGE'],
      // Not JSON by its type: left to the router, which reads it as text, no call.
      [await raw('{}', 'text/plain'), 422, 'FAAS_ERR_VALIDATION'],
    ];
    const jsVersion = { name: 'x', version: 1, runtime: 'js' };
    const call = {
      invocationId: 'inv_x',
      digest: 'd',
      fn: jsVersion,
      event: { kind: 'json', value: 1 },
      deadline: Date.now() + 5000,
    };
    refusals.push([await raw(JSON.stringify(call)), 422, 'FAAS_ERR_VALIDATION']);
    for (const [res, status, code] of refusals) {
      const text = await res.text();
      assert.equal(res.status, status, text);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, code, text);
    }
    for (const key of [CLUSTER_SECRET]) {
      assert.equal((await request(gateway.url, '/api/v1/functions', { key })).status, 401);
      assert.equal((await request(worker.url, '/api/v1/functions', { key })).status, 401);
    }
    const clusterScheme = await fetch(`${gateway.url}/api/v1/functions`, {
      headers: { authorization: `Cluster ${CLUSTER_SECRET}` },
    });
    assert.equal(clusterScheme.status, 401);
  });

  it('a call whose gateway hangs up is stopped on the worker, not left running', async () => {
    const deployed = await request(gateway.url, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'hangup', runtime: 'node', code: SLOW_NODE },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    const fn = (
      (await (await request(gateway.url, '/api/v1/functions/hangup')).json()) as { latest: unknown }
    ).latest;
    const worker = workers[1] as ClusterNode;
    const running = async () => (await nodes()).find((n) => n.url === worker.url)?.running;
    const gatewaySide = new AbortController();
    const call = fetch(`${worker.url}/internal/v1/invoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Cluster ${CLUSTER_SECRET}` },
      body: JSON.stringify({
        invocationId: 'inv_hangup',
        digest: 'sent-whole',
        fn,
        event: { kind: 'json', value: { n: 1, sleepMs: 60_000 } },
        deadline: Date.now() + 90_000,
      }),
      signal: gatewaySide.signal,
    }).catch(() => undefined);
    await waitFor(async () => ((await running()) === 1 ? true : undefined), 30_000, 'the call to run');
    gatewaySide.abort();
    await call;
    // Its heartbeat (once a second) shows it stopped long before the function's minute is up.
    await waitFor(async () => ((await running()) === 0 ? true : undefined), 10_000, 'the call to stop');
  });

  it('a burst of calls spreads over both workers once the warm one has no idle container', async () => {
    // Regression test: placement went by "version warm there" alone, so every call of a burst
    // went to the worker that prepared the version and queued or started cold there, the other
    // worker idle. Now a warm worker counts only while it has an idle container (as this
    // gateway's own calls since the heartbeat leave it), then the calls go by load.
    const deployed = await request(gateway.url, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'burst', runtime: 'node', code: SLOW_NODE },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    await waitFor(
      async () => ((await nodes()).some((n) => n.idle?.['burst:1'] === 1) ? true : undefined),
      10_000,
      'a worker to report the idle container the deploy left',
    );
    const answers = await Promise.all(
      [1, 2, 3, 4].map(async (n) => {
        const res = await invoke('burst', { n, sleepMs: 1_000 });
        return { status: res.status, body: await res.json() };
      }),
    );
    assert.deepEqual(
      answers,
      [1, 2, 3, 4].map((n) => ({ status: 200, body: { n: n * 2 } })),
    );
    const holding = await waitFor(
      async () => {
        const ids = (await nodes()).filter((n) => n.warm.includes('burst:1')).map((n) => n.id);
        return ids.length === 2 ? ids : undefined;
      },
      5_000,
      'both workers to hold a container of burst (the burst ran on both)',
    );
    assert.equal(holding.length, 2);
  });

  it('a worker killed during a call: 502 FAAS_ERR_WORKER_LOST recorded on the invocation; the next call runs on the other worker', async () => {
    const holder = (await nodes()).find((n) => n.warm.includes('hop:1'));
    assert.ok(holder, 'a worker holds the warm container');
    const victim = workers.find((w) => w.url === holder.url) as ClusterNode;
    const call = invoke('hop', { n: 1, sleepMs: 4000 });
    await waitFor(
      async () => ((await nodes()).find((n) => n.id === holder.id)?.running ? true : undefined),
      10_000,
      'the call to run',
    );
    await victim.kill('SIGKILL');
    const orphans = ownedContainers(victim.dataDir);
    assert.ok(orphans.length > 0, 'the killed worker left its containers behind');
    const res = await call;
    assert.equal(res.status, 502, await res.clone().text());
    const body = (await res.json()) as {
      error: { code: string; message: string; details: { invocationId?: string } };
    };
    assert.equal(body.error.code, 'FAAS_ERR_WORKER_LOST');
    const invocationId = body.error.details.invocationId ?? res.headers.get('x-invocation-id');
    assert.ok(invocationId, JSON.stringify(body));
    const recorded = await waitFor(
      async () => {
        const r = await request(gateway.url, `/api/v1/invocations/${invocationId}`);
        return r.status === 200 ? ((await r.json()) as Invocation) : undefined;
      },
      10_000,
      'the failed invocation’s record',
    );
    assert.equal(recorded.status, 'failed');
    assert.equal(recorded.error?.type, 'FAAS_ERR_WORKER_LOST');
    // The reason, as the caller was told it: which worker went away.
    assert.equal(recorded.error?.message, body.error.message);
    assert.ok(recorded.error?.message.includes(holder.id), recorded.error?.message);
    // By its id only: a worker's internal address is not for callers.
    const address = new URL(holder.url).host;
    assert.ok(!JSON.stringify(body).includes(address), JSON.stringify(body));
    assert.ok(!JSON.stringify(recorded).includes(address), JSON.stringify(recorded));

    // The dead worker is still listed for up to FAAS_WORKER_TIMEOUT_MS: the call that picks it
    // finds no connection there and goes to the other one.
    const next = await invoke('hop', { n: 5 });
    assert.equal(next.status, 200, await next.clone().text());
    assert.deepEqual(await next.json(), { n: 10 });
  });

  it('a worker that comes back with the same identity removes the containers its killed run left', async () => {
    const dead = workers.find((w) => w.child.exitCode !== null || w.child.signalCode !== null) as ClusterNode;
    assert.ok(dead, 'the previous test killed a worker');
    const orphans = ownedContainers(dead.dataDir);
    assert.ok(orphans.length > 0);
    const back = await cluster.start('worker', settings, dead.dataDir);
    const left = await waitFor(
      async () => {
        const now = new Set(ownedContainers(back.dataDir));
        return orphans.some((id) => now.has(id)) ? undefined : true;
      },
      30_000,
      'the orphans to be removed',
    );
    assert.equal(left, true);
    const listed = (await nodes()).find((n) => n.url === back.url);
    assert.ok(listed, 'it is in the cluster again');
  });
});
