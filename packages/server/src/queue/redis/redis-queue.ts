import { randomUUID } from 'node:crypto';
import {
  type BackendHealth,
  type DeadJob,
  type DeadPosition,
  ErrorCode,
  FaasError,
  type FailOutcome,
  type LeasedJob,
  type LeaseRef,
  type NewJob,
  type Queue,
  type QueueStats,
  type RetryPolicy,
  redactUrl,
} from '@faas/core';
import type { Redis } from 'ioredis';
import { FailureMemory, isStorageError } from '../../storage/storage-errors.ts';
import { LuaScripts, type ScriptName } from './lua-scripts.ts';
import { connectRedis } from './redis-connection.ts';
import { toRedisStorageError } from './redis-errors.ts';

export interface RedisQueueOptions {
  /** `redis://…` or `rediss://…` (FAAS_QUEUE_URL). */
  url: string;
  /** Every key starts with `{prefix}:` (a Redis Cluster hash tag: all keys on one node). @default 'faas' */
  prefix?: string;
  retry: RetryPolicy;
  /** Fraction of each backoff delay taken off at random. @default 0.1 */
  jitterRatio?: number;
  /** The setting `url` came from, named when Redis cannot be reached at start. @default 'FAAS_QUEUE_URL' */
  setting?: string;
  /** How long connecting, and then each call, may take before it fails. @default 5000 */
  timeoutMs?: number;
  /**
   * The clock, in ms since epoch. @default the Redis server's clock, one for every server sharing
   * the queue (their own clocks may disagree about when a lease ran out)
   */
  now?: () => number;
  logger?: Pick<Console, 'warn'>;
}

type RawLeased = [string, string | null, number, number, string];

const DEFAULT_JITTER_RATIO = 0.1;
const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * The Queue on Redis, shared by every server of a deployment. Each operation is one Lua script
 * (scripts/), so every step that touches several keys (the job's hash and the sorted sets of
 * waiting, leased and dead jobs) is atomic, and every call naming a lease checks its token in the
 * same script that changes the job. Waiting jobs are scored by due time and leased ones by lease
 * expiry, so leasing takes the due heads of both (a consumer that died, kill -9, leaves leases
 * that simply come due) and gives them their group's turns, then leases by turn. Times come from the Redis server's clock. Durability is Redis's: run it
 * with `appendonly yes` (docs/queue.md).
 *
 * Why not BullMQ: its model counts an attempt when a job is fetched and recovers stalled jobs with
 * a counter of its own, where this interface starts attempts apart from leases (a job waiting for
 * a concurrency slot holds none), hands jobs back uncounted, renews many leases at once naming the
 * lost ones, and gives groups turns. Mapping one onto the other would lose exactly the
 * exactly-once properties the conformance suite checks.
 */
export class RedisQueue implements Queue {
  #redis: Redis;
  #scripts: LuaScripts;
  #jobPrefix: string;
  #where: string;
  #retry: RetryPolicy;
  #jitterRatio: number;
  #now: (() => number) | undefined;
  #failures = new FailureMemory();
  #closed = false;

  constructor(redis: Redis, options: RedisQueueOptions) {
    const base = `{${options.prefix ?? 'faas'}}:`;
    this.#redis = redis;
    this.#scripts = new LuaScripts(
      redis,
      ['ready', 'leased', 'dead', 'seq', 'turns', 'turns-due', 'groups', 'clock'].map((key) => base + key),
    );
    this.#jobPrefix = `${base}job:`;
    this.#where = redactUrl(options.url);
    this.#retry = options.retry;
    this.#jitterRatio = options.jitterRatio ?? DEFAULT_JITTER_RATIO;
    this.#now = options.now;
  }

  /** Loads the scripts: a Redis that refuses them (no scripting, no permission) is found at start. */
  async prepare(): Promise<void> {
    await this.#call(() => this.#scripts.load());
  }

  async enqueue(job: NewJob): Promise<{ duplicate: boolean }> {
    if (!Number.isInteger(job.maxAttempts) || job.maxAttempts < 1) {
      throw new FaasError(
        ErrorCode.VALIDATION,
        `maxAttempts must be a whole number ≥ 1, got ${job.maxAttempts}`,
        { details: { id: job.id, maxAttempts: job.maxAttempts } },
      );
    }
    if (job.runAt !== undefined && !Number.isFinite(job.runAt)) {
      throw new FaasError(ErrorCode.VALIDATION, `runAt must be a time in ms, got ${job.runAt}`, {
        details: { id: job.id },
      });
    }
    const payload = job.payload === undefined ? '' : JSON.stringify(job.payload);
    const runAt = job.runAt === undefined ? '' : Math.trunc(job.runAt);
    const added = await this.#run('enqueue', [job.id, payload, job.maxAttempts, runAt, job.group ?? '']);
    return { duplicate: added === 0 };
  }

  async lease(options: { limit: number; visibilityTimeoutMs: number }): Promise<LeasedJob[]> {
    const limit = Math.trunc(options.limit);
    if (!(limit >= 1)) return [];
    const [leaseExpiresAt, rows] = (await this.#run('lease', [
      limit,
      Math.trunc(options.visibilityTimeoutMs),
      randomUUID(),
    ])) as [number, RawLeased[]];
    return rows.map(([id, payload, attempt, maxAttempts, leaseToken]) => ({
      id,
      payload: payload === null ? undefined : JSON.parse(payload),
      attempt,
      maxAttempts,
      leaseToken,
      leaseExpiresAt,
    }));
  }

  async start(id: string, leaseToken: string): Promise<boolean> {
    return (await this.#run('start', [id, leaseToken])) === 1;
  }

  async ack(id: string, leaseToken: string): Promise<boolean> {
    return (await this.#run('ack', [id, leaseToken])) === 1;
  }

  async fail(
    id: string,
    leaseToken: string,
    options: { error: string; retryable?: boolean },
  ): Promise<FailOutcome> {
    const [outcome, runAt] = (await this.#run('fail', [
      id,
      leaseToken,
      options.error,
      options.retryable === false ? '0' : '1',
      this.#retry.baseDelayMs,
      this.#retry.maxDelayMs,
      this.#jitterRatio * Math.random(),
    ])) as [string, number | undefined];
    switch (outcome) {
      case 'retrying':
        return { outcome, runAt: runAt as number };
      case 'dead_lettered':
      case 'lease_lost':
        return { outcome };
      default:
        throw new Error(`The queue's fail script answered ${outcome}`);
    }
  }

  async release(id: string, leaseToken: string, options: { runAt?: number } = {}): Promise<boolean> {
    const runAt = options.runAt === undefined ? '' : Math.trunc(options.runAt);
    return (await this.#run('release', [id, leaseToken, runAt])) === 1;
  }

  async extend(id: string, leaseToken: string, visibilityTimeoutMs: number): Promise<boolean> {
    return (await this.extendMany([{ id, leaseToken }], visibilityTimeoutMs)).length === 0;
  }

  async extendMany(leases: readonly LeaseRef[], visibilityTimeoutMs: number): Promise<string[]> {
    if (leases.length === 0) return [];
    const pairs = leases.flatMap((l) => [l.id, l.leaseToken]);
    return (await this.#run('extend', [Math.trunc(visibilityTimeoutMs), ...pairs])) as string[];
  }

  async requeueDead(id: string, options: { visibilityTimeoutMs: number }): Promise<LeasedJob | undefined> {
    const row = (await this.#run('requeue-dead', [
      id,
      Math.trunc(options.visibilityTimeoutMs),
      randomUUID(),
    ])) as [string, string | null, number, number, string, number] | null;
    if (!row) return undefined;
    const [, payload, attempt, maxAttempts, leaseToken, leaseExpiresAt] = row;
    return {
      id,
      payload: payload === null ? undefined : JSON.parse(payload),
      attempt,
      maxAttempts,
      leaseToken,
      leaseExpiresAt,
    };
  }

  async has(id: string): Promise<boolean> {
    return (await this.#call(() => this.#redis.exists(this.#jobPrefix + id))) === 1;
  }

  async listDead(
    limit: number,
  ): Promise<Array<{ id: string; payload: unknown; error: string; attempts: number }>> {
    const n = Math.trunc(limit);
    if (!(n >= 1)) return [];
    const rows = (await this.#run('list-dead', [n])) as Array<[string, string | null, string | null, number]>;
    return rows.map(([id, payload, error, attempts]) => ({
      id,
      payload: payload === null ? undefined : JSON.parse(payload),
      error: error ?? '',
      attempts,
    }));
  }

  /** `tiebreak` is the job's member in the dead set, which orders the jobs of one score. */
  async listDeadAfter(position: DeadPosition, limit: number): Promise<DeadJob[]> {
    const n = Math.trunc(limit);
    if (!(n >= 1) || !Number.isFinite(position.deadAt)) return [];
    const rows = (await this.#run('list-dead-after', [
      Math.trunc(position.deadAt),
      position.tiebreak ?? '',
      n,
    ])) as Array<[string, string | null, string | null, number, string, string]>;
    return rows.map(([id, payload, error, attempts, deadAt, member]) => ({
      id,
      payload: payload === null ? undefined : JSON.parse(payload),
      error: error ?? '',
      attempts,
      deadAt: Number(deadAt),
      tiebreak: member,
    }));
  }

  async deleteDead(options: { deadBefore: number; limit: number }): Promise<number> {
    const limit = Math.trunc(options.limit);
    if (!(limit >= 1) || !Number.isFinite(options.deadBefore)) return 0;
    return (await this.#run('delete-dead', [Math.trunc(options.deadBefore), limit])) as number;
  }

  async stats(): Promise<QueueStats> {
    const [ready, delayed, leased, deadLettered] = (await this.#run('stats', [])) as number[];
    return { ready: ready ?? 0, delayed: delayed ?? 0, leased: leased ?? 0, deadLettered: deadLettered ?? 0 };
  }

  async nextDueInMs(): Promise<number | undefined> {
    const ms = (await this.#run('next-due', [])) as number;
    return ms < 0 ? undefined : ms;
  }

  async oldestDueAgeMs(): Promise<number | undefined> {
    const ms = (await this.#run('oldest-due', [])) as number;
    return ms < 0 ? undefined : ms;
  }

  /** Unhealthy while Redis does not answer a PING, or refused a write in the last 30 s. */
  async health(): Promise<BackendHealth> {
    try {
      await this.#call(() => this.#redis.ping());
    } catch (err) {
      const code = isStorageError(err) ? err.code : ErrorCode.STORAGE_UNAVAILABLE;
      return { ok: false, code, reason: (err as Error).message };
    }
    return this.#failures.health();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#redis.quit();
    } catch {
      // Not connected: nothing to say goodbye to.
      this.#redis.disconnect();
    }
  }

  #run(name: ScriptName, args: Array<string | number>): Promise<unknown> {
    const now = this.#now ? Math.trunc(this.#now()) : '';
    return this.#call(() => this.#scripts.run(name, [this.#jobPrefix, now, ...args]));
  }

  async #call<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const mapped = toRedisStorageError(err, this.#where);
      // Refused writes (out of memory, read-only) are remembered: a PING still answers then. An
      // unreachable Redis is seen by the PING itself, and is over once it answers again.
      if (isStorageError(mapped) && mapped.code !== ErrorCode.STORAGE_UNAVAILABLE)
        this.#failures.note(mapped);
      throw mapped;
    }
  }
}

/**
 * Connects to Redis and readies the queue's scripts.
 * @throws FaasError STORAGE_UNAVAILABLE naming `options.setting` when Redis cannot be reached or
 *   refuses the scripts (the server does not start).
 */
export async function openRedisQueue(options: RedisQueueOptions): Promise<RedisQueue> {
  const setting = options.setting ?? 'FAAS_QUEUE_URL';
  const redis = await connectRedis({
    url: options.url,
    setting,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const queue = new RedisQueue(redis, options);
  try {
    await queue.prepare();
  } catch (err) {
    await queue.close();
    throw new FaasError(
      ErrorCode.STORAGE_UNAVAILABLE,
      `${setting}: the Redis at ${redactUrl(options.url)} does not run the queue's scripts: ${(err as Error).message}`,
      { details: { setting, url: redactUrl(options.url) }, cause: err },
    );
  }
  return queue;
}
