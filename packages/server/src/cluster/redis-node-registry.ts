import type { ClusterNodeRecord, NodeRegistry } from '@faas/core';
import type { Redis } from 'ioredis';

/** How long a registry call may take: a heartbeat is a second apart, placement is on a request's path. */
export const CLUSTER_REDIS_TIMEOUT_MS = 1_000;

/**
 * The cluster's nodes in Redis: one key per node holding its last heartbeat, set with a time to
 * live of FAAS_WORKER_TIMEOUT_MS, and a set of the ids ever seen. Redis rather than PostgreSQL
 * because a heartbeat a second per worker is a write a second that nobody needs tomorrow: in
 * PostgreSQL each is a dead row for vacuum, in Redis it overwrites a key in memory. And the key's
 * expiry is the timeout itself, measured by one clock (Redis's), so nodes with skewed clocks
 * never judge each other alive or dead wrongly.
 */
export class RedisNodeRegistry implements NodeRegistry {
  #redis: Redis;
  #nodesKey: string;
  #nodePrefix: string;
  #owned: boolean;

  /** `owned`: close disconnects the client. */
  constructor(redis: Redis, prefix: string, owned = true) {
    this.#redis = redis;
    // One hash tag for every key: they share a slot on Redis Cluster, so MGET works there too.
    this.#nodesKey = `{${prefix}}:cluster:nodes`;
    this.#nodePrefix = `{${prefix}}:cluster:node:`;
    this.#owned = owned;
  }

  async heartbeat(node: ClusterNodeRecord, ttlMs: number): Promise<void> {
    await this.#redis
      .multi()
      .set(this.#nodePrefix + node.id, JSON.stringify(node), 'PX', ttlMs)
      .sadd(this.#nodesKey, node.id)
      .exec();
  }

  async leave(id: string): Promise<void> {
    await this.#redis
      .multi()
      .del(this.#nodePrefix + id)
      .srem(this.#nodesKey, id)
      .exec();
  }

  async list(): Promise<ClusterNodeRecord[]> {
    const ids = await this.#redis.smembers(this.#nodesKey);
    if (ids.length === 0) return [];
    const values = await this.#redis.mget(ids.map((id) => this.#nodePrefix + id));
    const nodes: ClusterNodeRecord[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const raw = values[i];
      if (raw) nodes.push(JSON.parse(raw) as ClusterNodeRecord);
      else gone.push(id);
    });
    // Expired: out of the cluster. Removing its id keeps the set to the nodes that may come back.
    if (gone.length > 0) await this.#redis.srem(this.#nodesKey, ...gone);
    return nodes.sort((a, b) => a.id.localeCompare(b.id));
  }

  async close(): Promise<void> {
    if (this.#owned) this.#redis.disconnect();
  }
}
