import type { InvokeOutcome } from '@faas/core';

/**
 * The outcome with `metrics.coldStart` said: whether the call waited for a new isolate, container
 * or process to be made for it.
 */
export function withColdStart(outcome: InvokeOutcome, cold: boolean): InvokeOutcome {
  return { ...outcome, metrics: { ...outcome.metrics, coldStart: cold } };
}
