// A cluster on loopback for tests: one PostgreSQL database, one Redis prefix and one S3 prefix
// shared by every node, each node a process of its own (`main.ts serve --role …`).
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createTestDatabase, postgresSkipReason, postgresTestUrl } from '@faas/testkit';
import { startTestS3, type TestS3 } from '../../packages/server/src/blobs/s3/test-support.ts';
import {
  dropQueueKeys,
  NO_REDIS,
  TEST_REDIS_URL,
} from '../../packages/server/src/queue/redis/test-support.ts';
import { engineSkipReason, ownedContainers, removeContainers } from './engine.ts';
import { type ServerProcess, spawnServer, tempDataDir } from './server.ts';

export const CLUSTER_SECRET = 'faas_cluster_Zr8Kq2Vx7Lm4Pw9Ty3Nb6Hd1Gf5Js0A';
const CLUSTER_SECRET_KEY = Buffer.alloc(32, 0x5a).toString('base64');

/** Why cluster tests cannot run here, or false. */
export const clusterSkipReason = (): string | false =>
  postgresSkipReason() || (TEST_REDIS_URL ? false : NO_REDIS);

export interface ClusterNode extends ServerProcess {
  dataDir: string;
}

export interface TestCluster {
  /** Settings every node shares. */
  env: Record<string, string>;
  /** Starts a node; `dataDir` again to restart one with the same identity. */
  start(
    role: 'all' | 'gateway' | 'worker',
    extra?: Record<string, string>,
    dataDir?: string,
  ): Promise<ClusterNode>;
  close(): Promise<void>;
}

export async function startTestCluster(): Promise<TestCluster> {
  const s3: TestS3 = await startTestS3();
  const database = await createTestDatabase(postgresTestUrl() as string);
  const prefix = `test:cluster:${process.pid}:${randomUUID().slice(0, 8)}`;
  const env: Record<string, string> = {
    ...s3.env,
    FAAS_DATABASE_URL: database.url,
    FAAS_QUEUE_URL: TEST_REDIS_URL as string,
    FAAS_QUEUE_PREFIX: prefix,
    FAAS_OBJECT_STORE_URL: `s3://${s3.bucket}/deployments/${randomUUID()}`,
    FAAS_S3_ENDPOINT: s3.endpoint,
    FAAS_CLUSTER_SECRET: CLUSTER_SECRET,
    // Nodes of one store share its secret key (a server with another is refused at start).
    FAAS_SECRET_KEY: CLUSTER_SECRET_KEY,
    FAAS_QUEUE_POLL_MS: '100',
    FAAS_ISOLATE_HOSTS: '1',
  };
  const nodes: ClusterNode[] = [];
  const dataDirs = new Set<string>();
  return {
    env,
    async start(role, extra = {}, dataDir = tempDataDir()) {
      dataDirs.add(dataDir);
      const node = { ...(await spawnServer(dataDir, { ...env, ...extra }, ['--role', role])), dataDir };
      nodes.push(node);
      return node;
    },
    async close() {
      for (const node of nodes) await node.kill('SIGKILL');
      for (const dir of dataDirs) {
        if (!engineSkipReason()) removeContainers(ownedContainers(dir));
        rmSync(dir, { recursive: true, force: true });
      }
      await dropQueueKeys(TEST_REDIS_URL as string, prefix);
      await database.drop();
      await s3.close();
    },
  };
}
