import { randomUUID } from 'node:crypto';
import type { FunctionVersion, InvokeOutcome, InvokeRequest, LogLine } from '@faas/core';
import { jsFunctionVersion, type MemoryBlobStore } from '@faas/testkit';
import type { IsolateRuntime } from './isolate-runtime.ts';

/** Stores a hand-written artifact (an iife script that sets `__faas`) and returns its version. */
export async function deployScript(
  blobs: MemoryBlobStore,
  script: string,
  overrides: Partial<FunctionVersion> = {},
): Promise<FunctionVersion> {
  const stored = await blobs.put(new TextEncoder().encode(script));
  return { ...jsFunctionVersion(stored, { name: `t-${randomUUID().slice(0, 8)}` }), ...overrides };
}

export interface Invoked {
  outcome: InvokeOutcome;
  logs: Array<{ level: LogLine['level']; message: string }>;
}

export async function invoke(
  runtime: IsolateRuntime,
  fn: FunctionVersion,
  event: unknown = null,
  extra: Partial<InvokeRequest> = {},
): Promise<Invoked> {
  const logs: Invoked['logs'] = [];
  const outcome = await runtime.invoke({
    invocationId: `inv-${randomUUID()}`,
    fn,
    event,
    deadline: Date.now() + fn.timeoutMs,
    log: (level, message) => logs.push({ level, message }),
    ...extra,
  });
  return { outcome, logs };
}

/** The result of a succeeded outcome; fails with the whole outcome otherwise. */
export function resultOf(outcome: InvokeOutcome): unknown {
  if (outcome.status !== 'succeeded') throw new Error(`expected success, got ${JSON.stringify(outcome)}`);
  return outcome.result;
}

/** A function that evaluates its event as JavaScript (seeing `context`) and returns the value. */
export const EVAL_SCRIPT = 'var __faas = { default: async (code, context) => await eval(code) };';
