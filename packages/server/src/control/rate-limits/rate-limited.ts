import { ErrorCode, FaasError, type RateDecision, type RateLimitScope, rateLimitedPrefix } from '@faas/core';

const WORDS: Record<RateLimitScope, string> = {
  key: "the API key's",
  project: "the project's",
  function: "the function's",
  ip: "this client address's (public functions')",
};

/** A refusal: 429 naming the limit, with what the RateLimit headers say (errorResponse writes them). */
export function rateLimited(decision: RateDecision & { allowed: false }): FaasError {
  const { scope, rule } = decision.bucket;
  const retryAfterSeconds = Math.max(1, Math.ceil(Number(decision.retryAfterUs) / 1_000_000));
  return new FaasError(
    ErrorCode.RATE_LIMITED,
    `${rateLimitedPrefix(scope)}: ${WORDS[scope]} limit is ${rule.requestsPerSecond} requests/s with a burst of ${rule.burst}; try again in ${retryAfterSeconds} s`,
    {
      details: {
        limit: scope,
        requestsPerSecond: rule.requestsPerSecond,
        burst: rule.burst,
        retryAfterSeconds,
        resetSeconds: seconds(decision.resetUs),
      },
    },
  );
}

function seconds(us: bigint): number {
  return Math.ceil(Number(us) / 1_000_000);
}
