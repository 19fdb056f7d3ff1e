import type { Bucket, RateBuckets, RateDecision, RateLimit } from '@faas/core';
import { type BucketShape, bucketShape } from './gcra.ts';
import { RateBucketTable } from './rate-bucket-table.ts';

/** A rule's shape, computed once per rule object (a function version's limit is one object). */
const shapes = new WeakMap<RateLimit, BucketShape>();
export function shapeOf(rule: RateLimit): BucketShape {
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
 * buckets of functions, projects and keys out. A key, project or function its table has no room
 * for is refused (its limit must hold); an address is let through (a flood of addresses must not
 * refuse everyone).
 */
export class MemoryRateBuckets implements RateBuckets {
  readonly named: RateBucketTable;
  readonly addresses: RateBucketTable;

  constructor(tables: { named?: RateBucketTable; addresses?: RateBucketTable } = {}) {
    this.named = tables.named ?? new RateBucketTable();
    this.addresses = tables.addresses ?? new RateBucketTable(undefined, { whenFull: 'allow' });
  }

  /** Views of another thread's tables (their `buffers`). */
  static view(buffers: MemoryRateBuffers): MemoryRateBuckets {
    return new MemoryRateBuckets({
      named: new RateBucketTable(buffers.named),
      addresses: new RateBucketTable(buffers.addresses, { whenFull: 'allow' }),
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
    // Every bucket was an address's without room in its table: let through, as if unlimited.
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
