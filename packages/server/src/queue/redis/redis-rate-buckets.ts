import { readFileSync } from 'node:fs';
import type { Bucket, RateBuckets, RateDecision } from '@faas/core';
import type { Redis } from 'ioredis';
import { connectRedis } from './redis-connection.ts';

const TAKE_SCRIPT = readFileSync(new URL('./scripts/rate-take.lua', import.meta.url), 'utf8');
/** A limit is checked on the request's path: Redis gets this long before the local buckets answer. */
const TIMEOUT_MS = 1_000;

type TakeReply = [number, number, number, number, number];
type WithTake = Redis & { faasRateTake(count: number, ...args: Array<string | number>): Promise<TakeReply> };

/**
 * Rate limits' buckets in Redis (FAAS_QUEUE_URL): every gateway of a deployment draws on the same
 * ones, in one Lua script per request (atomic: all of a request's buckets, or none; on Redis's
 * clock). While Redis does not answer, `fallback` (the server's buckets in memory) stands in: a
 * limit per server instead of none, and the failure is logged once until Redis answers again.
 */
export class RedisRateBuckets implements RateBuckets {
  #redis: WithTake;
  #prefix: string;
  #fallback: RateBuckets;
  #logger: Pick<Console, 'warn'>;
  #failing = false;

  private constructor(redis: Redis, prefix: string, fallback: RateBuckets, logger: Pick<Console, 'warn'>) {
    redis.defineCommand('faasRateTake', { lua: TAKE_SCRIPT });
    this.#redis = redis as WithTake;
    // The queue's hash tag: a request's buckets share one Redis Cluster slot, as one script needs.
    this.#prefix = `{${prefix}}:ratelimit:`;
    this.#fallback = fallback;
    this.#logger = logger;
  }

  /** @throws FaasError STORAGE_UNAVAILABLE naming FAAS_QUEUE_URL when Redis cannot be reached at start */
  static async open(
    url: string,
    prefix: string,
    fallback: RateBuckets,
    logger: Pick<Console, 'warn'> = console,
  ): Promise<RedisRateBuckets> {
    const redis = await connectRedis({ url, setting: 'FAAS_QUEUE_URL', timeoutMs: TIMEOUT_MS, logger });
    return new RedisRateBuckets(redis, prefix, fallback, logger);
  }

  async take(buckets: readonly Bucket[]): Promise<RateDecision> {
    const args: Array<string | number> = [];
    for (const b of buckets) args.push(this.#prefix + b.id);
    for (const b of buckets) args.push(b.rule.requestsPerSecond, b.rule.burst);
    let reply: TakeReply;
    try {
      reply = await this.#redis.faasRateTake(buckets.length, ...args);
    } catch (err) {
      if (!this.#failing)
        this.#logger.warn(
          'rate limits: Redis does not answer; this server counts on its own until it does',
          err,
        );
      this.#failing = true;
      return this.#fallback.take(buckets);
    }
    this.#failing = false;
    const [allowed, index, remaining, resetUs, retryAfterUs] = reply;
    const bucket = buckets[index - 1] as Bucket;
    return allowed === 1
      ? { allowed: true, bucket, remaining, resetUs: BigInt(resetUs) }
      : { allowed: false, bucket, resetUs: BigInt(resetUs), retryAfterUs: BigInt(retryAfterUs) };
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
