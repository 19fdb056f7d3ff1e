import type { InvokeTrace } from '@faas/core';

/**
 * The variable a function that sees only its environment (wasm modules, image functions) finds
 * its trace context in: the name OpenTelemetry gives the W3C `traceparent` when a process is
 * the carrier (its "environment variables as context propagation carriers" specification).
 */
export const TRACEPARENT_ENV = 'TRACEPARENT';

/**
 * A function's environment for one invocation: its own `env`, and `TRACEPARENT` when the call
 * runs in a trace. The platform's value wins over one the function's env sets: it names the
 * span that called this invocation, which the function's own cannot.
 */
export function envWithTrace(env: Readonly<Record<string, string>>, trace: InvokeTrace | undefined) {
  if (!trace) return env;
  return { ...env, [TRACEPARENT_ENV]: trace.traceparent };
}
