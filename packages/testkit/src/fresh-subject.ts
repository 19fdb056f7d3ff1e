import { afterEach, beforeEach } from 'node:test';

/** What a conformance suite's factory hands back: the thing under test and how to dispose of it. */
export interface Disposable {
  /** Closes the instance and removes whatever it stored (temp files, schemas, keys). */
  cleanup(): Promise<void>;
}

/**
 * Registers hooks in the current `describe` that make a fresh subject before each case and clean
 * it up after, so cases never see each other's data. `get()` is the current case's subject.
 */
export function freshPerTest<T extends Disposable>(factory: () => Promise<T>): { get(): T } {
  let current: T | undefined;
  beforeEach(async () => {
    current = await factory();
  });
  afterEach(async () => {
    const subject = current;
    current = undefined;
    await subject?.cleanup();
  });
  return {
    get(): T {
      if (!current) throw new Error('the subject exists only inside a test case');
      return current;
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `check` holds, polling; rejects after `timeoutMs`. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 2_000,
  what = 'condition',
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}
