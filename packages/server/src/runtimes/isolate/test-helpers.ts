import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import type { FunctionVersion, InvokeOutcome, InvokeRequest, LogLine } from '@faas/core';
import { jsFunctionVersion, MemoryBlobStore } from '@faas/testkit';
import { createIsolateRuntime, type IsolateRuntime } from './isolate-runtime.ts';

/**
 * A maker of isolate runtimes over fresh memory blob stores, each closed after the test file.
 * Call at the file's top level (it registers the `after`).
 */
export function runtimesClosedAfter(): (options?: { maxIsolates?: number }) => {
  blobs: MemoryBlobStore;
  rt: IsolateRuntime;
} {
  const made: IsolateRuntime[] = [];
  after(async () => {
    for (const runtime of made) await runtime.close();
  });
  return (options = {}) => {
    const blobs = new MemoryBlobStore();
    const rt = createIsolateRuntime({ blobs, ...options });
    made.push(rt);
    return { blobs, rt };
  };
}

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

/**
 * Tenant code that replaces Promise.prototype.then to answer the prelude's read of its batch reply
 * with a forged one (an entry of NaN ms); the function's own export follows it.
 */
export const FORGES_BATCH_REPLY = `const then = Promise.prototype.then;
Promise.prototype.then = function (ok, no) {
  if (no === undefined && typeof ok === 'function') {
    Promise.prototype.then = then;
    return ok({ length: '0', toString: () => 'x:5:Rtrue' });
  }
  return then.call(this, ok, no);
};
`;
