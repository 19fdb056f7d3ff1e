import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, type FunctionRuntime, type InvokeOutcome, isFaasError, type Runtime } from '@faas/core';
import type { RuntimeFixtures } from './fixtures/runtime-fixtures.ts';
import {
  assertSucceeded,
  call,
  captureLogs,
  type EchoResult,
  errorOf,
  waitFor,
} from './runtime-suite-support.ts';

export interface RuntimeSuiteOptions {
  /** The functions to run, in this runtime's format. */
  fixtures: RuntimeFixtures;
  /** Function kinds the runtime must say it supports. */
  supports: FunctionRuntime[];
  /** The runtime's per-invocation log cap (made with its defaults). */
  maxLogBytes: number;
  /** Timeout of the `hang` cases. @default 300 */
  hangTimeoutMs?: number;
  /** How late after its deadline a stopped invocation may come back. @default 2000 */
  deadlineSlackMs?: number;
  /** Memory limit of the `memoryHog` case. @default 16 */
  hogMemoryMb?: number;
  /** Cases to skip (by their title), each with the reason. */
  skip?: Record<string, string>;
}

export interface MakeRuntimeOptions {
  /** Passed through to the runtime's idle expiry. */
  idleTimeoutMs?: number;
}

/**
 * The cases every Runtime must pass (DESIGN.md: an implementation is done when it passes the
 * shared suite). `makeRuntime` builds a fresh runtime reading the same code store as `fixtures`.
 *
 * @example
 * const blobs = new MemoryBlobStore();
 * defineRuntimeSuite('isolate', (o) => createIsolateRuntime({ blobs, ...o }), {
 *   fixtures: createJsFixtures(blobs), supports: ['js', 'ts'], maxLogBytes: 256 * 1024,
 * });
 */
export function defineRuntimeSuite(
  name: string,
  makeRuntime: (options: MakeRuntimeOptions) => Runtime | Promise<Runtime>,
  options: RuntimeSuiteOptions,
): void {
  const { fixtures } = options;
  const hangTimeoutMs = options.hangTimeoutMs ?? 300;
  const slackMs = options.deadlineSlackMs ?? 2000;
  const skip = (title: string) => options.skip?.[title] ?? false;

  describe(`Runtime conformance: ${name}`, () => {
    let runtime: Runtime;
    before(async () => {
      runtime = await makeRuntime({});
    });
    after(async () => {
      await runtime.close();
    });

    it('is ready and supports its function kinds', { skip: skip('health') }, async () => {
      assert.deepEqual(await runtime.health(), { ready: true });
      for (const kind of options.supports) assert.equal(runtime.supports(kind), true, kind);
      assert.equal(
        runtime.supports('image') && runtime.supports('js'),
        false,
        'one runtime does not run everything',
      );
    });

    it('echoes JSON, text and byte events and passes the context', { skip: skip('echo') }, async () => {
      const fn = await fixtures.echo({ version: 3 });
      const deadline = Date.now() + fn.timeoutMs;
      const event = { hello: ['world', 1, null, true], nested: { a: 'ü' } };
      const outcome = await runtime.invoke({ invocationId: 'inv-echo', fn, event, deadline, log: () => {} });
      const result = assertSucceeded(outcome) as EchoResult;
      assert.equal(result.kind, 'json');
      assert.deepEqual(result.event, event);
      const { remainingMs, ...context } = result.context;
      assert.deepEqual(context, { invocationId: 'inv-echo', functionName: fn.name, version: 3, deadline });
      assert.ok(remainingMs > 0 && remainingMs <= fn.timeoutMs, `remaining ${remainingMs} ms`);

      const text = assertSucceeded(await call(runtime, fn, 'plain text')) as EchoResult;
      assert.deepEqual([text.kind, text.event], ['text', 'plain text']);
      const bytes = assertSucceeded(await call(runtime, fn, new Uint8Array([0, 1, 254, 255]))) as EchoResult;
      assert.deepEqual([bytes.kind, bytes.event], ['bytes', [0, 1, 254, 255]]);
    });

    it('awaits async handlers and reports metrics', { skip: skip('async') }, async () => {
      const fn = await fixtures.slow();
      const outcome = await call(runtime, fn, { ms: 40, tag: 'a' });
      const result = assertSucceeded(outcome) as { sleptMs: number; tag: string };
      assert.equal(result.tag, 'a');
      assert.ok(result.sleptMs >= 39, `slept ${result.sleptMs} ms`);
      assert.ok(outcome.metrics.durationMs >= 39, `took ${outcome.metrics.durationMs} ms`);
    });

    it('says whether a call waited for a new instance: the first of a version cold, the next warm', {
      skip: skip('coldStart'),
    }, async () => {
      const fn = await fixtures.echo();
      const first = await call(runtime, fn, { n: 1 });
      assertSucceeded(first);
      assert.equal(first.metrics.coldStart, true, 'nothing of the version was warm');
      const second = await call(runtime, fn, { n: 2 });
      assertSucceeded(second);
      assert.equal(second.metrics.coldStart, false, 'the instance of the first call served it');
    });

    it('a thrown error fails with its type, message and stack', { skip: skip('crash') }, async () => {
      const fn = await fixtures.crash();
      for (const async of [false, true]) {
        const error = errorOf(await call(runtime, fn, { reason: `async=${async}`, async }), 'failed');
        assert.equal(error.type, 'TypeError');
        assert.equal(error.message, `fixture crashed: async=${async}`);
        assert.match(error.stack ?? '', /fixture crashed/);
      }
      // A failure does not poison the instance.
      assert.equal((await call(runtime, fn, { reason: 'again' })).status, 'failed');
    });

    it('an infinite loop is stopped at its deadline and the runtime keeps working', {
      skip: skip('hang'),
    }, async () => {
      const fn = await fixtures.hang({ timeoutMs: hangTimeoutMs });
      const started = Date.now();
      const outcome = await call(runtime, fn);
      const elapsed = Date.now() - started;
      assert.equal(outcome.status, 'timed_out', JSON.stringify(outcome));
      assert.ok(elapsed >= hangTimeoutMs - 5, `stopped after ${elapsed} ms, before the deadline`);
      assert.ok(elapsed < hangTimeoutMs + slackMs, `stopped after ${elapsed} ms`);
      const echo = await fixtures.echo();
      assert.equal((await call(runtime, echo, 'still alive')).status, 'succeeded');
    });

    it('a promise that never settles times out at its deadline', { skip: skip('hangAsync') }, async () => {
      const fn = await fixtures.hangAsync({ timeoutMs: hangTimeoutMs });
      const started = Date.now();
      const outcome = await call(runtime, fn);
      const elapsed = Date.now() - started;
      assert.equal(outcome.status, 'timed_out', JSON.stringify(outcome));
      assert.ok(
        elapsed >= hangTimeoutMs - 5 && elapsed < hangTimeoutMs + slackMs,
        `stopped after ${elapsed} ms`,
      );
    });

    it('a memory hog ends out_of_memory and its version still works after', {
      skip: skip('memoryHog'),
    }, async () => {
      const fn = await fixtures.memoryHog({ memoryMb: options.hogMemoryMb ?? 16 });
      const outcome = await call(runtime, fn, { hog: true });
      assert.equal(outcome.status, 'out_of_memory', JSON.stringify(outcome));
      assert.equal(assertSucceeded(await call(runtime, fn, { hog: false })), 'fine');
    });

    it('console output reaches the log sink in order', { skip: skip('console') }, async () => {
      const fn = await fixtures.console();
      const logs = captureLogs();
      assert.equal(assertSucceeded(await call(runtime, fn, null, logs)), 'done');
      assert.deepEqual(
        logs.lines.map((l) => l.message.trimEnd()),
        ["one 1 { a: [ 1, 'two' ] }", 'two', 'three', 'four', 'five'],
      );
      assert.equal(logs.lines[3]?.level, 'error');
    });

    it('huge output: logs are capped with a marker, a large result comes back', {
      skip: skip('hugeOutput'),
    }, async () => {
      const fn = await fixtures.hugeOutput();
      const logs = captureLogs();
      const logBytes = options.maxLogBytes * 4;
      const outcome = await call(runtime, fn, { logBytes, resultChars: 1_000_000 }, logs);
      assert.equal((assertSucceeded(outcome) as string).length, 1_000_000);
      const kept = logs.lines.reduce((sum, l) => sum + Buffer.byteLength(l.message), 0);
      assert.ok(kept < options.maxLogBytes + 1024, `kept ${kept} bytes of logs`);
      assert.ok(kept >= options.maxLogBytes / 2, `kept only ${kept} bytes of logs`);
      assert.match(logs.lines.at(-1)?.message ?? '', /truncated/);
      // The next invocation logs again from zero.
      const next = captureLogs();
      assertSucceeded(await call(runtime, fn, { logBytes: 2048, resultChars: 1 }, next));
      assert.equal(next.lines.length, 2);
    });

    it('a result that is not JSON fails with a clear message', { skip: skip('unserializable') }, async () => {
      const fn = await fixtures.unserializable();
      assert.match(errorOf(await call(runtime, fn), 'failed').message, /BigInt/);
    });

    it('code that fails to load: invoke fails, prepare throws COMPILE_ERROR', {
      skip: skip('loadError'),
    }, async () => {
      const fn = await fixtures.loadError();
      assert.match(errorOf(await call(runtime, fn), 'failed').message, /fixture failed to load/);
      await assert.rejects(
        runtime.prepare(fn),
        (err) => isFaasError(err) && err.code === ErrorCode.COMPILE_ERROR,
      );
    });

    it('runs parallel invocations, never more instances than maxConcurrency', {
      skip: skip('concurrency'),
    }, async () => {
      const fn = await fixtures.slow({ maxConcurrency: 3 });
      const outcomes = await Promise.all(
        Array.from({ length: 7 }, (_, i) => call(runtime, fn, { ms: 30, tag: i })),
      );
      assert.deepEqual(
        outcomes.map((o) => (assertSucceeded(o) as { tag: number }).tag),
        [0, 1, 2, 3, 4, 5, 6],
      );
      const warm = runtime.stats().byVersion[`${fn.name}:${fn.version}`] ?? 0;
      assert.ok(warm >= 1 && warm <= 3, `${warm} warm instances`);
    });

    it('keeps module state between calls of a warm instance', { skip: skip('warmState') }, async () => {
      const fn = await fixtures.counter({ maxConcurrency: 1 });
      await runtime.prepare(fn);
      assert.deepEqual(assertSucceeded(await call(runtime, fn)), { calls: 1 });
      assert.deepEqual(assertSucceeded(await call(runtime, fn)), { calls: 2 });
    });

    it('retire drops warm instances and the next invoke prepares again', {
      skip: skip('retire'),
    }, async () => {
      const fn = await fixtures.counter();
      await runtime.prepare(fn);
      await runtime.prepare(fn);
      const key = `${fn.name}:${fn.version}`;
      assert.equal(runtime.stats().byVersion[key], 1);
      assert.deepEqual(assertSucceeded(await call(runtime, fn)), { calls: 1 });
      await runtime.retire(fn.name);
      assert.ok(await waitFor(() => runtime.stats().byVersion[key] === undefined, 5000), 'instances dropped');
      assert.deepEqual(assertSucceeded(await call(runtime, fn)), { calls: 1 }, 'a fresh instance');
      assert.equal(runtime.stats().byVersion[key], 1);
    });

    it('retire lets in-flight invocations finish, then drops their instances', {
      skip: skip('retireInFlight'),
    }, async () => {
      const fn = await fixtures.slow();
      const running = call(runtime, fn, { ms: 150, tag: 'in-flight' });
      await waitFor(() => runtime.stats().busy > 0, 5000);
      await runtime.retire(fn.name, fn.version);
      assert.equal((assertSucceeded(await running) as { tag: string }).tag, 'in-flight');
      const key = `${fn.name}:${fn.version}`;
      assert.ok(await waitFor(() => runtime.stats().byVersion[key] === undefined, 5000), 'instance dropped');
    });

    it('keeps versions apart: v1 and v2 answer their own code', { skip: skip('versions') }, async () => {
      const fnName = `versioned-${randomUUID().slice(0, 8)}`;
      const v1 = await fixtures.versioned({ name: fnName, version: 1, tag: 'first' });
      const v2 = await fixtures.versioned({ name: fnName, version: 2, tag: 'second' });
      const [a, b] = await Promise.all([call(runtime, v1), call(runtime, v2)]);
      assert.deepEqual(assertSucceeded(a as InvokeOutcome), { tag: 'first' });
      assert.deepEqual(assertSucceeded(b as InvokeOutcome), { tag: 'second' });
      await runtime.retire(fnName, 1);
      assert.deepEqual(assertSucceeded(await call(runtime, v2)), { tag: 'second' });
      assert.ok(await waitFor(() => runtime.stats().byVersion[`${fnName}:1`] === undefined, 5000));
      assert.equal(runtime.stats().byVersion[`${fnName}:2`], 1);
    });

    it('drops idle instances after idleTimeoutMs', { skip: skip('idle') }, async () => {
      const idleRuntime = await makeRuntime({ idleTimeoutMs: 100 });
      try {
        const fn = await fixtures.echo();
        assertSucceeded(await call(idleRuntime, fn));
        assert.equal(idleRuntime.stats().warm, 1);
        assert.ok(await waitFor(() => idleRuntime.stats().warm === 0, 10_000), 'idle instance dropped');
        assertSucceeded(await call(idleRuntime, fn));
      } finally {
        await idleRuntime.close();
      }
    });

    it('close ends the runtime: health not ready, invoke throws RUNTIME_UNAVAILABLE', {
      skip: skip('close'),
    }, async () => {
      const closing = await makeRuntime({});
      const fn = await fixtures.echo();
      assertSucceeded(await call(closing, fn));
      await closing.close();
      assert.equal((await closing.health()).ready, false);
      await assert.rejects(
        call(closing, fn),
        (err) => isFaasError(err) && err.code === ErrorCode.RUNTIME_UNAVAILABLE,
      );
      assert.equal(closing.stats().warm, 0);
    });
  });
}
