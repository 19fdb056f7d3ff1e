import { ErrorCode, FaasError } from '@faas/core';
import type { Instance } from './instance.ts';

/** How many live instances may exist: per API key and in all. */
export interface InstanceCountLimits {
  /** Live instances on this server. */
  maxLive: number;
  /** Live instances of one owner (API key); ownerless ones (auth off) count only in all. */
  maxLivePerOwner: number;
}

/** Room taken for instances on their way: given back one by one as each is listed, or all at once. */
export interface Reservation {
  /** One of the reserved instances is now listed (and counted as live itself). */
  take(): void;
  /** Gives back what was not taken. Idempotent. */
  release(): void;
}

/**
 * The count bounds on live instances. A create, start, restore or fork reserves its room
 * synchronously before its first await, so instances started at once cannot pass a bound
 * together; the room is given back when the instance is listed (it then counts itself) or
 * when making it failed.
 */
export class InstanceQuota {
  #limits: InstanceCountLimits;
  #instances: () => Iterable<Instance>;
  #pending = new Map<string, number>();
  #pendingTotal = 0;

  constructor(limits: InstanceCountLimits, instances: () => Iterable<Instance>) {
    this.#limits = limits;
    this.#instances = instances;
  }

  /** @throws FaasError INSTANCE_LIMIT when `count` more would pass a bound */
  reserve(owner: string | undefined, count: number): Reservation {
    let live = this.#pendingTotal;
    let liveOfOwner = owner === undefined ? 0 : (this.#pending.get(owner) ?? 0);
    for (const instance of this.#instances()) {
      if (!instance.live) continue;
      live += 1;
      if (owner !== undefined && instance.owner === owner) liveOfOwner += 1;
    }
    if (owner !== undefined && liveOfOwner + count > this.#limits.maxLivePerOwner) {
      throw limitError(
        `This API key has ${liveOfOwner} live instance(s); ${count} more would pass its bound of ${this.#limits.maxLivePerOwner} (FAAS_INSTANCE_MAX_PER_KEY): stop or delete one`,
        { setting: 'FAAS_INSTANCE_MAX_PER_KEY', limit: this.#limits.maxLivePerOwner, live: liveOfOwner },
      );
    }
    if (live + count > this.#limits.maxLive) {
      throw limitError(
        `This server has ${live} live instance(s); ${count} more would pass its bound of ${this.#limits.maxLive} (FAAS_INSTANCE_MAX_TOTAL)`,
        { setting: 'FAAS_INSTANCE_MAX_TOTAL', limit: this.#limits.maxLive, live },
      );
    }
    let left = count;
    this.#add(owner, count);
    return {
      take: () => {
        if (left === 0) return;
        left -= 1;
        this.#add(owner, -1);
      },
      release: () => {
        this.#add(owner, -left);
        left = 0;
      },
    };
  }

  #add(owner: string | undefined, n: number): void {
    this.#pendingTotal += n;
    if (owner === undefined) return;
    const now = (this.#pending.get(owner) ?? 0) + n;
    if (now === 0) this.#pending.delete(owner);
    else this.#pending.set(owner, now);
  }
}

function limitError(message: string, details: object): FaasError {
  return new FaasError(ErrorCode.INSTANCE_LIMIT, message, { details });
}
