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
 * The cluster's instances and the worker each is pinned to, in one Redis hash (instance id →
 * placement) under the queue prefix. A worker writes an instance's entry before it answers the
 * request that made it and removes it on delete, so any gateway finds the instance's worker, and
 * still knows of the instance when that worker is gone (lost, not silently missing). Redis, not
 * PostgreSQL: the entry lives as long as a container, and gateways already read the registry there.
 */
export class InstancePlacements {
  #redis: Redis;
  #key: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    // The registry's hash tag: one slot with the node keys on Redis Cluster.
    this.#key = `{${prefix}}:cluster:instances`;
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
