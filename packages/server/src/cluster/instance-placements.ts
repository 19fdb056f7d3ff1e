import { randomUUID } from 'node:crypto';
import {
  ErrorCode,
  FaasError,
  type InstanceView,
  type PlacementBounds,
  type PlacementRoom,
} from '@faas/core';
import type { Redis } from 'ioredis';

/** Where an instance lives, as every gateway reads it. */
export interface InstancePlacement {
  /** The worker's node id: every call for the instance goes there. */
  node: string;
  project: string;
  /** The API key that made it; absent when auth is off. */
  owner?: string;
  /** The instance as it was made: what GET shows once its worker is gone. */
  view: InstanceView;
  /** Set when its worker came back without it (restarted, its container gone). */
  lost?: string;
}

/**
 * Room held for instances being made: a make counts what its bounds count and the room other
 * makes hold, and takes its own, in one step, so that makes racing on two workers cannot both
 * pass a bound. KEYS: placements, room. ARGV: project, count, the project's limit (-1: none),
 * token, now ms, the room's end ms, owner ('': none), the owner's limit, the registry's node key
 * prefix, the prefix of the owners' live sets.
 * - The project's quota counts every entry of the project (lost ones too, until deleted).
 * - The owner's bound (FAAS_INSTANCE_MAX_PER_KEY) counts the ids in its live set (a few, not every
 *   entry of the cluster) whose entry is not lost and whose worker is still in the registry. An
 *   id whose entry went is dropped from the set here.
 * The node keys and live sets share the hash tag: one slot on Redis Cluster. Room whose end
 * passed (its worker died while making) is dropped as it is read.
 * Returns {1} when taken; {0, has} past the project's quota; {2, has} past the owner's bound.
 */
const RESERVE_SCRIPT = `
local project, count, projectLimit, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local owner, ownerLimit, nodePrefix, livePrefix = ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10]
local inProject, ofOwner = 0, 0
if projectLimit >= 0 then
  for _, raw in ipairs(redis.call('HVALS', KEYS[1])) do
    local ok, p = pcall(cjson.decode, raw)
    if ok and type(p) == 'table' and p.project == project then inProject = inProject + 1 end
  end
end
if owner ~= '' then
  local live, alive = livePrefix .. owner, {}
  for _, id in ipairs(redis.call('SMEMBERS', live)) do
    local raw = redis.call('HGET', KEYS[1], id)
    local ok, p = false, nil
    if raw then ok, p = pcall(cjson.decode, raw) end
    if not ok or type(p) ~= 'table' then
      redis.call('SREM', live, id)
    elseif p.lost == nil and type(p.node) == 'string' then
      if alive[p.node] == nil then alive[p.node] = redis.call('EXISTS', nodePrefix .. p.node) == 1 end
      if alive[p.node] then ofOwner = ofOwner + 1 end
    end
  end
end
local held = redis.call('HGETALL', KEYS[2])
for i = 1, #held, 2 do
  local ok, r = pcall(cjson.decode, held[i + 1])
  if not ok or type(r) ~= 'table' or tonumber(r['until']) == nil or tonumber(r['until']) < now then
    redis.call('HDEL', KEYS[2], held[i])
  else
    if r.project == project then inProject = inProject + (tonumber(r.count) or 0) end
    if owner ~= '' and r.owner == owner then ofOwner = ofOwner + (tonumber(r.count) or 0) end
  end
end
if projectLimit >= 0 and inProject + count > projectLimit then return {0, inProject} end
if owner ~= '' and ofOwner + count > ownerLimit then return {2, ofOwner} end
redis.call('HSET', KEYS[2], ARGV[4], cjson.encode({ project = project, owner = owner, count = count, ['until'] = tonumber(ARGV[6]) }))
return {1}
`;

/**
 * An instance started (ARGV id, '1', the live sets' prefix) or stopped ('0'): in or out of its
 * owner's live set, only while it has an entry, so that none is left behind.
 */
const SET_LIVE_SCRIPT = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local ok, p = pcall(cjson.decode, raw)
if not ok or type(p) ~= 'table' or type(p.owner) ~= 'string' then return 0 end
if ARGV[2] == '1' then redis.call('SADD', ARGV[3] .. p.owner, ARGV[1]) else redis.call('SREM', ARGV[3] .. p.owner, ARGV[1]) end
return 1
`;

/** Removes an instance's entry (ARGV id, the live sets' prefix), and its id from its owner's live set. */
const REMOVE_SCRIPT = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local ok, p = pcall(cjson.decode, raw)
if ok and type(p) == 'table' and type(p.owner) == 'string' then redis.call('SREM', ARGV[2] .. p.owner, ARGV[1]) end
return redis.call('HDEL', KEYS[1], ARGV[1])
`;

/**
 * Longest room is held for a create: past it a worker that died while making is taken to be gone.
 * Generous, as an instance's first create may build its image.
 */
const RESERVE_TTL_MS = 10 * 60_000;

type WithScripts = Redis & {
  faasInstancesReserve(...args: Array<string | number>): Promise<number[]>;
  faasInstancesSetLive(...args: Array<string | number>): Promise<number>;
  faasInstancesRemove(...args: Array<string | number>): Promise<number>;
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
  /** Then an owner (API key id): the set of its instances' ids that hold a running container. */
  #livePrefix: string;
  #nodePrefix: string;

  constructor(redis: Redis, prefix: string) {
    redis.defineCommand('faasInstancesReserve', { numberOfKeys: 2, lua: RESERVE_SCRIPT });
    redis.defineCommand('faasInstancesSetLive', { numberOfKeys: 1, lua: SET_LIVE_SCRIPT });
    redis.defineCommand('faasInstancesRemove', { numberOfKeys: 1, lua: REMOVE_SCRIPT });
    this.#redis = redis as WithScripts;
    // The registry's hash tag: one slot with the node keys on Redis Cluster.
    this.#key = `{${prefix}}:cluster:instances`;
    this.#roomKey = `{${prefix}}:cluster:instances-making`;
    this.#livePrefix = `{${prefix}}:cluster:instances-live:`;
    this.#nodePrefix = `{${prefix}}:cluster:node:`;
  }

  /** See PlacementBook.reserve (control/instance-service.ts). */
  async reserve(project: string, count: number, bounds: PlacementBounds): Promise<PlacementRoom> {
    const token = randomUUID();
    const now = Date.now();
    const [taken, has] = await unavailable(
      this.#redis.faasInstancesReserve(
        this.#key,
        this.#roomKey,
        project,
        count,
        bounds.projectLimit ?? -1,
        token,
        now,
        now + RESERVE_TTL_MS,
        bounds.owner?.id ?? '',
        bounds.owner?.limit ?? 0,
        this.#nodePrefix,
        this.#livePrefix,
      ),
    );
    if (taken !== 1) return { over: taken === 2 ? 'owner' : 'project', has: has ?? 0 };
    // Given back even when Redis fails then: the room ends by itself.
    return {
      release: async () => {
        await this.#redis.hdel(this.#roomKey, token).catch(() => undefined);
      },
    };
  }

  /** `live`: the instance holds a running container (what its owner's bound counts). */
  async record(
    node: string,
    project: string,
    view: InstanceView,
    owner: string | undefined,
    live: boolean,
  ): Promise<void> {
    const placement: InstancePlacement = { node, project, view, ...(owner !== undefined ? { owner } : {}) };
    const write = this.#redis.multi().hset(this.#key, view.id, JSON.stringify(placement));
    if (owner !== undefined && live) write.sadd(this.#livePrefix + owner, view.id);
    else if (owner !== undefined) write.srem(this.#livePrefix + owner, view.id);
    await unavailable(write.exec());
  }

  /** The instance started or stopped (or failed): what its owner's bound counts. */
  async setLive(id: string, live: boolean): Promise<void> {
    await unavailable(this.#redis.faasInstancesSetLive(this.#key, id, live ? '1' : '0', this.#livePrefix));
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
    await unavailable(this.#redis.faasInstancesRemove(this.#key, id, this.#livePrefix));
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
