// A worker that starts again as itself while its Docker Engine does not answer yet (slow at
// boot): once the engine answers, the entries of its previous run whose container is gone are
// marked lost, not left `running` where nothing serves them (yet counted in quotas).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { InstancePlacements } from '../../packages/server/src/cluster/instance-placements.ts';
import { nodeIdentity } from '../../packages/server/src/cluster/node-identity.ts';
import { TEST_REDIS_URL } from '../../packages/server/src/queue/redis/test-support.ts';
import { clusterSkipReason, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { engineSkipReason } from '../support/engine.ts';
import { tempDataDir, waitFor } from '../support/server.ts';

const skip = clusterSkipReason() || engineSkipReason();

/** A socket that forwards to the real engine's: an engine that comes up when this is called. */
function engineAt(path: string): Promise<Server> {
  const server = createServer((client) => {
    const engine = connect('/var/run/docker.sock');
    client.pipe(engine).pipe(client);
    const close = () => {
      client.destroy();
      engine.destroy();
    };
    client.on('error', close);
    engine.on('error', close);
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe('a worker whose engine answers only after it started', { skip }, () => {
  let cluster: TestCluster;
  let redis: Redis;
  let engine: Server | undefined;
  const socketDir = mkdtempSync(join(tmpdir(), 'faas-engine-late-'));

  before(async () => {
    cluster = await startTestCluster();
    redis = new Redis(TEST_REDIS_URL as string);
  });
  after(async () => {
    redis?.disconnect();
    engine?.close();
    await cluster?.close();
    rmSync(socketDir, { recursive: true, force: true });
  });

  it("marks its previous run's instances lost once the engine answers", async () => {
    const placements = new InstancePlacements(redis, cluster.env.FAAS_QUEUE_PREFIX as string);
    // The worker's identity and an entry of its previous run, whose container is gone.
    const dataDir = tempDataDir();
    const nodeId = nodeIdentity(dataDir);
    const id = 'ins_previousrun0000000001';
    await placements.record(
      nodeId,
      'team-a',
      { id, status: 'running', created_at: new Date().toISOString() } as never,
      undefined,
      true,
    );
    const socket = join(socketDir, 'docker.sock');
    await cluster.start('worker', { DOCKER_HOST: `unix://${socket}` }, dataDir);
    // Longer than the first attempt takes to fail (no engine: refused at once, or 2 s of ping).
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal((await placements.get(id))?.lost, undefined, 'nothing is marked without the engine');
    engine = await engineAt(socket);
    const marked = await waitFor(
      async () => (await placements.get(id))?.lost,
      60_000,
      'the entry of the previous run to be marked lost',
    );
    assert.match(marked, new RegExp(`its worker ${nodeId} restarted without its container`));
  });
});
