// Helpers of the runtime conformance suite (runtime-suite.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { FunctionVersion, InvocationError, InvokeOutcome, LogLine, Runtime } from '@faas/core';

export interface EchoResult {
  kind: 'json' | 'text' | 'bytes';
  event: unknown;
  context: {
    invocationId: string;
    functionName: string;
    version: number;
    deadline: number;
    remainingMs: number;
  };
}

export interface CapturedLogs {
  lines: Array<Pick<LogLine, 'level' | 'message'>>;
  log: (level: LogLine['level'], message: string) => void;
}

export function captureLogs(): CapturedLogs {
  const lines: CapturedLogs['lines'] = [];
  return { lines, log: (level, message) => lines.push({ level, message }) };
}

export function call(runtime: Runtime, fn: FunctionVersion, event: unknown = null, logs = captureLogs()) {
  return runtime.invoke({
    invocationId: `inv-${randomUUID()}`,
    fn,
    event,
    deadline: Date.now() + fn.timeoutMs,
    log: logs.log,
  });
}

export function assertSucceeded(outcome: InvokeOutcome): unknown {
  assert.equal(outcome.status, 'succeeded', `expected success, got ${JSON.stringify(outcome)}`);
  assert.ok(outcome.metrics.durationMs >= 0);
  return outcome.status === 'succeeded' ? outcome.result : undefined;
}

export function errorOf(
  outcome: InvokeOutcome,
  status: Exclude<InvokeOutcome['status'], 'succeeded'>,
): InvocationError {
  assert.equal(outcome.status, status, `expected ${status}, got ${JSON.stringify(outcome)}`);
  return (outcome as Extract<InvokeOutcome, { error: unknown }>).error;
}

export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}
