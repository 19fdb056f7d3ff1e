import type { RateLimit } from './functions.ts';

/** Which limit a rate limit's bucket enforces: the caller's key, its project, the function, a client address. */
export const RATE_LIMIT_SCOPES = ['key', 'project', 'function', 'ip'] as const;
export type RateLimitScope = (typeof RATE_LIMIT_SCOPES)[number];

/** How a rate limit's refusal message begins: the scope in it is what metrics label the refusal with. */
export function rateLimitedPrefix(scope: RateLimitScope): string {
  return `Rate limit reached (${scope})`;
}

/** Which limit refused a recorded invocation, from its error message; undefined: none said. */
export function rateLimitScopeOf(message: string): RateLimitScope | undefined {
  const scope = /^Rate limit reached \((\w+)\)/.exec(message)?.[1];
  return RATE_LIMIT_SCOPES.find((s) => s === scope);
}

/** One bucket a request draws on. */
export interface Bucket {
  scope: RateLimitScope;
  /** Unique across scopes (the scope is part of it). */
  id: string;
  rule: RateLimit;
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
