// The queue implementations a test server can run on, for tests that must hold for each of them.
import { createTestDatabase, postgresSkipReason, postgresTestUrl } from '@faas/testkit';
import {
  dropQueueKeys,
  NO_REDIS,
  TEST_REDIS_URL,
} from '../../packages/server/src/queue/redis/test-support.ts';
import type { startTestServer } from './server.ts';

type Overrides = NonNullable<Parameters<typeof startTestServer>[0]>;

export interface QueueBackend {
  name: string;
  /** Settings selecting this queue; each call gets keys of its own (a fresh Redis prefix). */
  overrides(): Overrides;
  /** Why the describe is skipped (the Redis queue without FAAS_TEST_REDIS_URL), or false. */
  skip: string | false;
  /** Deletes what `overrides` made outside the data dir (the Redis keys). */
  cleanup(): Promise<void>;
}

/** SQLite (embedded) and Redis; `label` keeps the Redis prefixes of two test files apart. */
export function queueBackends(label: string): QueueBackend[] {
  const prefix = `test:${label}:${process.pid}`;
  const used: string[] = [];
  return [
    { name: 'SQLite queue', overrides: () => ({}), skip: false, cleanup: async () => undefined },
    {
      name: 'Redis queue',
      overrides: () => {
        const queuePrefix = `${prefix}:${used.length + 1}`;
        used.push(queuePrefix);
        return { queueUrl: TEST_REDIS_URL as string, queuePrefix };
      },
      skip: TEST_REDIS_URL ? false : NO_REDIS,
      cleanup: async () => {
        if (!TEST_REDIS_URL) return;
        for (const p of used.splice(0)) await dropQueueKeys(TEST_REDIS_URL, p);
      },
    },
  ];
}

export interface Deployment {
  name: string;
  /** Why the describe is skipped (no PostgreSQL or Redis to test against), or false. */
  skip: string | false;
  /** Settings for the server; what it makes outside the data dir is dropped by `cleanups`. */
  setup(cleanups: (() => Promise<void>)[]): Promise<Overrides>;
}

/**
 * The two deployments: everything embedded, and PostgreSQL with the Redis queue (a cluster's);
 * `label` keeps the Redis prefixes of two test files apart.
 */
export function deployments(label: string): Deployment[] {
  return [
    { name: 'SQLite store and queue', skip: false, setup: async () => ({}) },
    {
      name: 'PostgreSQL store, Redis queue',
      skip: postgresSkipReason() ?? (TEST_REDIS_URL ? false : NO_REDIS),
      setup: async (cleanups) => {
        const db = await createTestDatabase(postgresTestUrl() as string);
        const queuePrefix = `test:${label}:${process.pid}`;
        cleanups.push(db.drop, () => dropQueueKeys(TEST_REDIS_URL as string, queuePrefix));
        return { databaseUrl: db.url, queueUrl: TEST_REDIS_URL as string, queuePrefix };
      },
    },
  ];
}
