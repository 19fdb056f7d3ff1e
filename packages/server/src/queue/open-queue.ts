import { type Config, type Queue, type RetryPolicy, UnreachableCaseError } from '@faas/core';
import { openRedisQueue } from './redis/redis-queue.ts';
import { openSqliteQueue } from './sqlite/sqlite-queue.ts';

/** The queue implementations the configuration can select. */
export type QueueBackend =
  /**
   * Embedded: a table in the data dir's SQLite file, for this server alone. `walCheckpoints:
   * 'off'` when the store is on that file too: its thread runs the checkpoints.
   */
  | { kind: 'sqlite'; path: string; walCheckpoints: 'auto' | 'off' }
  /** Redis, shared by every server of a deployment. */
  | { kind: 'redis'; url: string; prefix: string };

/** FAAS_QUEUE_URL set: Redis; unset: the SQLite file `dbPath`. */
export function queueBackend(config: Readonly<Config>, dbPath: string): QueueBackend {
  return config.queueUrl === undefined
    ? { kind: 'sqlite', path: dbPath, walCheckpoints: config.databaseUrl === undefined ? 'off' : 'auto' }
    : { kind: 'redis', url: config.queueUrl, prefix: config.queuePrefix };
}

/**
 * Opens the selected queue. Only for a server holding its data dir's lock: with the SQLite queue,
 * that lock proves the server that held its leases is gone, so they are made due at once.
 * @throws FaasError STORAGE_UNAVAILABLE naming FAAS_QUEUE_URL when Redis cannot be reached
 */
export async function openQueue(
  backend: QueueBackend,
  options: { retry: RetryPolicy; logger: Pick<Console, 'warn'> },
): Promise<Queue> {
  switch (backend.kind) {
    case 'sqlite': {
      const queue = await openSqliteQueue({
        path: backend.path,
        retry: options.retry,
        walCheckpoints: backend.walCheckpoints,
      });
      const expired = await queue.expireLeases();
      if (expired > 0) options.logger.warn(`${expired} async job(s) held by the previous run are due again`);
      return queue;
    }
    case 'redis':
      // Other servers may hold leases here: theirs run out on their own when those servers die.
      return openRedisQueue({
        url: backend.url,
        prefix: backend.prefix,
        retry: options.retry,
        setting: 'FAAS_QUEUE_URL',
        logger: options.logger,
      });
    default:
      throw new UnreachableCaseError(backend);
  }
}
