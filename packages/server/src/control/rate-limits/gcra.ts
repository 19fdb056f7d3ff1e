/**
 * Token-bucket arithmetic in the form that needs one number per bucket (GCRA, the generic cell
 * rate algorithm): instead of a count of tokens and the time it was counted, a bucket keeps the
 * time at which it will be full again (its "theoretical arrival time", `tat`). A request takes a
 * token by moving `tat` one interval later; it is refused when that would put `tat` more than
 * `burst` intervals past now. One number can be swapped atomically (in shared memory, in Redis),
 * so no lock guards a bucket. Times are whole microseconds (bigint).
 */

/** A bucket's size and refill: `requestsPerSecond` tokens come back each second, up to `burst`. */
export interface RateRule {
  requestsPerSecond: number;
  burst: number;
}

/** A rule in the bucket's units: microseconds per token, and the burst's span. */
export interface BucketShape {
  intervalUs: bigint;
  spanUs: bigint;
}

export function bucketShape(rule: RateRule): BucketShape {
  const intervalUs = BigInt(Math.max(1, Math.round(1_000_000 / rule.requestsPerSecond)));
  return { intervalUs, spanUs: intervalUs * BigInt(rule.burst) };
}

/** What one take says of a bucket: the IETF RateLimit fields, and the bucket's new `tat`. */
export interface TakeResult {
  allowed: boolean;
  /** The bucket's `tat` after the take (unchanged when refused). */
  tat: bigint;
  /** Tokens left after this take. */
  remaining: number;
  /** Microseconds until the bucket is full again. */
  resetUs: bigint;
  /** Refused: microseconds until one token is back. 0 when allowed. */
  retryAfterUs: bigint;
}

/** Takes one token from a bucket whose `tat` is `tat` (0n: never used, full), at `nowUs`. */
export function take(tat: bigint, nowUs: bigint, shape: BucketShape): TakeResult {
  const base = tat > nowUs ? tat : nowUs;
  const next = base + shape.intervalUs;
  const ahead = next - nowUs;
  if (ahead > shape.spanUs) {
    return {
      allowed: false,
      tat,
      remaining: 0,
      resetUs: base - nowUs,
      retryAfterUs: ahead - shape.spanUs,
    };
  }
  return {
    allowed: true,
    tat: next,
    remaining: Number((shape.spanUs - ahead) / shape.intervalUs),
    resetUs: ahead,
    retryAfterUs: 0n,
  };
}
