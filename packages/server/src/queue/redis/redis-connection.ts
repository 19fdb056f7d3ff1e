import { ErrorCode, FaasError, redactUrl } from '@faas/core';
import type { Redis } from 'ioredis';

export interface RedisConnectOptions {
  url: string;
  /** The setting the URL came from, named when it cannot be reached. */
  setting: string;
  /** How long connecting, and then each command, may take. */
  timeoutMs: number;
  logger?: Pick<Console, 'warn'>;
}

/** Longest wait between reconnection attempts once the server runs. */
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * A connected client for a server's lifetime. While Redis is unreachable, calls fail at once (no
 * offline queue) and in at most `timeoutMs` when Redis hangs, so a request gets a 503 instead of
 * waiting; the client reconnects in the background meanwhile. Reaching Redis at start is
 * different: a URL that cannot be reached stops the server with a message naming the setting.
 * @throws FaasError STORAGE_UNAVAILABLE
 */
export async function connectRedis(options: RedisConnectOptions): Promise<Redis> {
  let started = false;
  // Loaded only when a Redis URL is set: a few MB in every thread that would import it.
  const { Redis } = await import('ioredis');
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: options.timeoutMs,
    commandTimeout: options.timeoutMs,
    connectionName: 'faas-queue',
    // Before the server runs, one try: the caller reports the failure.
    retryStrategy: (times) => (started ? Math.min(times * 100, MAX_RECONNECT_DELAY_MS) : null),
  });
  // Connection errors reach the callers of commands; unheard, the event would crash the process.
  redis.on('error', () => undefined);
  try {
    await withDeadline(redis.connect(), options.timeoutMs);
  } catch (err) {
    redis.disconnect();
    const where = redactUrl(options.url);
    throw new FaasError(
      ErrorCode.STORAGE_UNAVAILABLE,
      `${options.setting}: cannot reach the queue's Redis at ${where}: ${(err as Error).message}`,
      { details: { setting: options.setting, url: where }, cause: err },
    );
  }
  started = true;
  await warnOfEviction(redis, options);
  return redis;
}

/**
 * A Redis that evicts keys when full would drop jobs silently; it should refuse writes instead
 * (maxmemory-policy noeviction), which the queue reports as STORAGE_FULL.
 */
async function warnOfEviction(redis: Redis, options: RedisConnectOptions): Promise<void> {
  try {
    const info = await redis.info('memory');
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (policy && policy !== 'noeviction') {
      options.logger?.warn(
        `${options.setting}: the queue's Redis evicts keys when full (maxmemory-policy ${policy}): jobs may be lost; set maxmemory-policy noeviction`,
      );
    }
  } catch {
    // INFO may be disabled (managed Redis): nothing to check then.
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
