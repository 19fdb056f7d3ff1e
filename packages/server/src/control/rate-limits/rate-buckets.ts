import type { RateLimitScope } from '@faas/core';
import { type BucketShape, bucketShape, type RateRule } from './gcra.ts';
import { RateBucketTable } from './rate-bucket-table.ts';

/** One bucket a request draws on. */
export interface Bucket {
  scope: RateLimitScope;
  /** Unique across scopes (the scope is part of it). */
  id: string;
  rule: RateRule;
}

/** What the buckets say of a request: allowed, with the bucket nearest to refusing; or refused by one. */
export type RateDecision =
  | { allowed: true; bucket: Bucket; remaining: number; resetUs: bigint }
  | { allowed: false; bucket: Bucket; resetUs: bigint; retryAfterUs: bigint };

/**
 * Where buckets live: in the server's shared memory (every thread of one server), or in Redis
 * (every gateway of a deployment).
 */
export interface RateBuckets {
  /**
   * Takes a token from each bucket, or from none: a request one limit refuses does not count
   * against the others.
   */
  take(buckets: readonly Bucket[]): RateDecision | Promise<RateDecision>;
  close(): Promise<void>;
}

/** A rule's shape, computed once per rule object (a function version's limit is one object). */
const shapes = new WeakMap<RateRule, BucketShape>();
export function shapeOf(rule: RateRule): BucketShape {
  let shape = shapes.get(rule);
  if (!shape) {
    shape = bucketShape(rule);
    shapes.set(rule, shape);
  }
  return shape;
}

/**
 * Buckets in shared memory: the main thread makes the tables, each gateway thread views them.
 * Client addresses have a table of their own, so that a flood of addresses cannot push the
 * buckets of functions, projects and keys out.
 */
export class MemoryRateBuckets implements RateBuckets {
  readonly named: RateBucketTable;
  readonly addresses: RateBucketTable;

  constructor(tables: { named?: RateBucketTable; addresses?: RateBucketTable } = {}) {
    this.named = tables.named ?? new RateBucketTable();
    this.addresses = tables.addresses ?? new RateBucketTable();
  }

  /** Views of another thread's tables (their `buffers`). */
  static view(buffers: MemoryRateBuffers): MemoryRateBuckets {
    return new MemoryRateBuckets({
      named: new RateBucketTable(buffers.named),
      addresses: new RateBucketTable(buffers.addresses),
    });
  }

  get buffers(): MemoryRateBuffers {
    return { named: this.named.buffer, addresses: this.addresses.buffer };
  }

  take(buckets: readonly Bucket[]): RateDecision {
    let tightest: RateDecision | undefined;
    for (let i = 0; i < buckets.length; i++) {
      const bucket = buckets[i] as Bucket;
      const shape = shapeOf(bucket.rule);
      const taken = this.#table(bucket).take(bucket.id, shape);
      if (!taken) continue;
      if (!taken.allowed) {
        for (let j = 0; j < i; j++) {
          const before = buckets[j] as Bucket;
          this.#table(before).refund(before.id, shapeOf(before.rule));
        }
        return { allowed: false, bucket, resetUs: taken.resetUs, retryAfterUs: taken.retryAfterUs };
      }
      if (!tightest || (tightest.allowed && taken.remaining < tightest.remaining))
        tightest = { allowed: true, bucket, remaining: taken.remaining, resetUs: taken.resetUs };
    }
    // Every bucket was without room in its table: let through, as if unlimited.
    return (
      tightest ?? {
        allowed: true,
        bucket: buckets[0] as Bucket,
        remaining: (buckets[0] as Bucket).rule.burst,
        resetUs: 0n,
      }
    );
  }

  #table(bucket: Bucket): RateBucketTable {
    return bucket.scope === 'ip' ? this.addresses : this.named;
  }

  async close(): Promise<void> {}
}

export interface MemoryRateBuffers {
  named: SharedArrayBuffer;
  addresses: SharedArrayBuffer;
}
