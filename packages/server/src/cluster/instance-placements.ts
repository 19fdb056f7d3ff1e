import { randomUUID } from 'node:crypto';
import { ErrorCode, FaasError, type InstanceView } from '@faas/core';
import type { Redis } from 'ioredis';

/** Where an instance lives, as every gateway reads it. */
export interface InstancePlacement {
  /** The worker's node id: every call for the instance goes there. */
  node: string;
  project: string;
  /** The instance as it was made: what GET shows once its worker is gone. */
  view: InstanceView;
  /** Set when its worker came back without it (restarted, its container gone). */
  lost?: string;
}

/**
 * Room held for instances being made: a create counts a project's placements and the room others
 * hold, and takes its own, in one step (KEYS[1] placements, KEYS[2] room; ARGV project, count,
 * limit, token, now ms, the room's end ms). Room whose end passed (its worker died while making)
 * is dropped as it is read. Returns 1 when taken, 0 when it would pass the limit.
 */
const RESERVE_SCRIPT = `
local project, count, limit, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local has = 0
for _, raw in ipairs(redis.call('HVALS', KEYS[1])) do
  local ok, p = pcall(cjson.decode, raw)
  if ok and type(p) == 'table' and p.project == project then has = has + 1 end
end
local held = redis.call('HGETALL', KEYS[2])
for i = 1, #held, 2 do
  local ok, r = pcall(cjson.decode, held[i + 1])
  if not ok or type(r) ~= 'table' or tonumber(r['until']) == nil or tonumber(r['until']) < now then
    redis.call('HDEL', KEYS[2], held[i])
  elseif r.project == project then
    has = has + (tonumber(r.count) or 0)
  end
end
if has + count > limit then return 0 end
redis.call('HSET', KEYS[2], ARGV[4], cjson.encode({ project = project, count = count, ['until'] = tonumber(ARGV[6]) }))
return 1
`;

/**
 * Longest room is held for a create: past it a worker that died while making is taken to be gone.
 * Generous, as an instance's first create may build its image.
 */
const RESERVE_TTL_MS = 10 * 60_000;

type WithScripts = Redis & {
  faasInstancesReserve(...args: Array<string | number>): Promise<number>;
};

/**
 * The cluster's instances and the worker each is pinned to, in one Redis hash (instance id →
 * placement) under the queue prefix. A worker writes an instance's entry before it answers the
 * request that made it and removes it on delete, so any gateway finds the instance's worker, and
 * still knows of the instance when that worker is gone (lost, not silently missing). Redis, not
 * PostgreSQL: the entry lives as long as a container, and gateways already read the registry there.
 */
export class InstancePlacements {
  #redis: WithScripts;
  #key: string;
  #roomKey: string;

  constructor(redis: Redis, prefix: string) {
    redis.defineCommand('faasInstancesReserve', { numberOfKeys: 2, lua: RESERVE_SCRIPT });
    this.#redis = redis as WithScripts;
    // The registry's hash tag: one slot with the node keys on Redis Cluster.
    this.#key = `{${prefix}}:cluster:instances`;
    this.#roomKey = `{${prefix}}:cluster:instances-making`;
  }

  /** See PlacementBook.reserve (control/instance-service.ts). */
  async reserve(project: string, count: number, limit: number): Promise<(() => Promise<void>) | undefined> {
    const token = randomUUID();
    const now = Date.now();
    const taken = await unavailable(
      this.#redis.faasInstancesReserve(
        this.#key,
        this.#roomKey,
        project,
        count,
        limit,
        token,
        now,
        now + RESERVE_TTL_MS,
      ),
    );
    if (taken !== 1) return undefined;
    // Given back even when Redis fails then: the room ends by itself.
    return async () => {
      await this.#redis.hdel(this.#roomKey, token).catch(() => undefined);
    };
  }

  async record(node: string, project: string, view: InstanceView): Promise<void> {
    const placement: InstancePlacement = { node, project, view };
    await unavailable(this.#redis.hset(this.#key, view.id, JSON.stringify(placement)));
  }

  async get(id: string): Promise<InstancePlacement | undefined> {
    const raw = await unavailable(this.#redis.hget(this.#key, id));
    return raw === null ? undefined : parse(raw);
  }

  /** Every placement: a hash of one entry per live instance, read in one call. */
  async list(): Promise<InstancePlacement[]> {
    const all = await unavailable(this.#redis.hvals(this.#key));
    return all.map(parse).filter((p): p is InstancePlacement => p !== undefined);
  }

  async remove(id: string): Promise<void> {
    await unavailable(this.#redis.hdel(this.#key, id));
  }

  /**
   * A worker that starts again with its old identity: its entries whose instance it does not have
   * (the container went with the machine, or was removed) are marked lost, with `reason`.
   * @returns how many were marked
   */
  async markLost(node: string, has: ReadonlySet<string>, reason: string): Promise<number> {
    let marked = 0;
    for (const placement of await this.list()) {
      if (placement.node !== node || has.has(placement.view.id) || placement.lost) continue;
      await unavailable(
        this.#redis.hset(this.#key, placement.view.id, JSON.stringify({ ...placement, lost: reason })),
      );
      marked++;
    }
    return marked;
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}

/** Redis failing is the API's 503, not a 500: the caller may try again. */
async function unavailable<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw new FaasError(
      ErrorCode.STORAGE_UNAVAILABLE,
      `The cluster's Redis (FAAS_QUEUE_URL) failed reading or writing where instances live: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function parse(raw: string): InstancePlacement | undefined {
  try {
    const p = JSON.parse(raw) as InstancePlacement;
    return typeof p?.node === 'string' && typeof p.view?.id === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}
