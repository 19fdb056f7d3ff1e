// The queue implementations a test server can run on, for tests that must hold for each of them.
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
