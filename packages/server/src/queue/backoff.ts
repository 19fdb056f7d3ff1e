import type { RetryPolicy } from '@faas/core';

/**
 * Delay before the attempt after `failedAttempt`: `base * 2^(failedAttempt - 1)`, capped at
 * `maxDelayMs`, minus up to `jitterRatio` of it at random so jobs that failed together (a
 * dependency went down) do not all come back in the same millisecond. Never more than the cap.
 */
export function backoffDelayMs(
  retry: RetryPolicy,
  failedAttempt: number,
  jitterRatio = 0,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, failedAttempt - 1);
  const delay = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** exponent);
  return Math.max(0, Math.round(delay - delay * jitterRatio * random()));
}
