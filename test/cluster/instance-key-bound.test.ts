// FAAS_INSTANCE_MAX_PER_KEY over a cluster: an API key's live instances are counted on every
// worker, so a key cannot hold the bound once per worker. Stopped ones do not count; starting
// one again is held to the bound like a create.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type ClusterNode,
  clusterSkipReason,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, developerKeyOf, request } from '../support/server.ts';

const skip = clusterSkipReason() || engineSkipReason();
const BOUND = 2;

interface View {
  id: string;
  status: string;
}
interface ErrorBody {
  error: { code: string; message: string };
}

describe("an API key's bound on live instances, over the cluster", { skip }, () => {
  let cluster: TestCluster;
  let gateway: ClusterNode;
  let workers: ClusterNode[];
  let key: string;
  const settings = { FAAS_INSTANCE_MAX_PER_KEY: String(BOUND), FAAS_WORKER_TIMEOUT_MS: '2000' };

  before(async () => {
    cluster = await startTestCluster();
    gateway = await cluster.start('gateway', settings);
    workers = [await cluster.start('worker', settings), await cluster.start('worker', settings)];
    key = await developerKeyOf(gateway.url, 'team-k');
  });
  after(async () => {
    await cluster?.close();
  });

  /** A create asked of `node` itself: each worker serves the user API too. */
  const create = (node: ClusterNode) =>
    request(node.url, '/api/v1/instances', { method: 'POST', key, json: {} });
  const made = async (res: Response) => {
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as View;
  };
  const refused = async (res: Response) => {
    assert.equal(res.status, 429, await res.clone().text());
    const { error } = (await res.json()) as ErrorBody;
    assert.equal(error.code, 'FAAS_ERR_INSTANCE_LIMIT');
    assert.match(error.message, /in the cluster.*FAAS_INSTANCE_MAX_PER_KEY/);
  };
  const call = (id: string, action: 'stop' | 'start') =>
    request(gateway.url, `/api/v1/instances/${id}/${action}`, { method: 'POST', key });
  const holder = async (id: string) => {
    for (const worker of workers) {
      if ((await request(worker.url, `/api/v1/instances/${id}`, { key: ADMIN_KEY })).status === 200)
        return worker;
    }
    throw new Error(`no worker holds ${id}`);
  };

  it('counts the live instances of a key on every worker, not those stopped', async () => {
    const [w1, w2] = workers as [ClusterNode, ClusterNode];
    // One on each worker: each alone holds less than the bound.
    const a = await made(await create(w1));
    const b = await made(await create(w2));
    assert.notEqual(await holder(a.id), await holder(b.id));
    await refused(await create(w1));
    await refused(await create(w2));

    // Stopped, `a` does not count: another fits, and then `a` may not start again.
    assert.equal((await call(a.id, 'stop')).status, 200);
    const c = await made(await create(w2));
    await refused(await call(a.id, 'start'));

    // Once one goes, it may.
    assert.equal(
      (await request(gateway.url, `/api/v1/instances/${c.id}`, { method: 'DELETE', key })).status,
      204,
    );
    const started = await call(a.id, 'start');
    assert.equal(started.status, 200, await started.clone().text());
    assert.equal(((await started.json()) as View).status, 'running');
    await refused(await create(w1));

    for (const id of [a.id, b.id]) {
      assert.equal(
        (await request(gateway.url, `/api/v1/instances/${id}`, { method: 'DELETE', key })).status,
        204,
      );
    }
  });
});
