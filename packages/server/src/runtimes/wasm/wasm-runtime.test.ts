import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  ErrorCode,
  type FunctionVersion,
  type InvokeOutcome,
  type InvokeTrace,
  isFaasError,
  type LogLine,
} from '@faas/core';
import {
  cModule,
  jsFunctionVersion,
  MemoryBlobStore,
  type WatFixture,
  wabtMissing,
  wasiClangMissing,
  watModule,
} from '@faas/testkit';
import { createWasmRuntime, type WasmRuntime } from './wasm-runtime.ts';

const blobs = new MemoryBlobStore();

async function deploy(bytes: Uint8Array, overrides: Partial<FunctionVersion> = {}): Promise<FunctionVersion> {
  const stored = await blobs.put(bytes);
  return {
    ...jsFunctionVersion(stored, { name: `w-${randomUUID().slice(0, 8)}` }),
    runtime: 'wasm',
    handler: 'main._start',
    ...overrides,
  };
}

const wat = (name: WatFixture, overrides: Partial<FunctionVersion> = {}) =>
  deploy(watModule(name), overrides);

async function run(runtime: WasmRuntime, fn: FunctionVersion, event: unknown = null, trace?: InvokeTrace) {
  const logs: Array<{ level: LogLine['level']; message: string }> = [];
  const outcome = await runtime.invoke({
    invocationId: `inv-${randomUUID()}`,
    fn,
    event,
    deadline: Date.now() + fn.timeoutMs,
    log: (level, message) => logs.push({ level, message }),
    ...(trace ? { trace } : {}),
  });
  return { outcome, logs };
}

function resultOf(outcome: InvokeOutcome): unknown {
  if (outcome.status !== 'succeeded') throw new Error(`expected success, got ${JSON.stringify(outcome)}`);
  return outcome.result;
}

describe('wasm runtime', { skip: wabtMissing() }, () => {
  let runtime: WasmRuntime;
  before(() => {
    runtime = createWasmRuntime({ blobs, maxWorkers: 4, maxResultBytes: 1024 * 1024, maxLogBytes: 4096 });
  });
  after(() => runtime.close());

  it('passes the event on stdin: JSON as JSON text, bytes as they are', async () => {
    const fn = await wat('echo');
    const event = { hello: ['world', 1, null, true], nested: { a: 'ü' } };
    assert.deepEqual(resultOf((await run(runtime, fn, event)).outcome), event);
    // Bytes come back as stdout's text (not JSON): the module saw exactly these bytes.
    assert.equal(resultOf((await run(runtime, fn, new TextEncoder().encode('raw ü'))).outcome), 'raw ü');
    // A Buffer is a view into a shared pool: only its own bytes reach stdin.
    assert.equal(resultOf((await run(runtime, fn, Buffer.from('pooled'))).outcome), 'pooled');
    assert.equal(resultOf((await run(runtime, fn, 'text')).outcome), 'text', 'a string event is JSON text');
    assert.equal(resultOf((await run(runtime, fn, undefined)).outcome), null, 'no event, no stdout: null');
  });

  it('returns stdout as JSON and stderr lines as error-level logs', async () => {
    const fn = await wat('result-and-logs');
    const { outcome, logs } = await run(runtime, fn);
    assert.deepEqual(resultOf(outcome), { ok: true, n: 42 });
    assert.deepEqual(logs, [
      { level: 'error', message: 'hello from wasm' },
      { level: 'error', message: 'a second line' },
    ]);
    assert.ok((outcome.metrics.peakMemoryBytes ?? 0) >= 65536, 'reports its memory');
  });

  it('a non-zero exit fails with the code and the last stderr lines', async () => {
    const fn = await wat('exit-code');
    const { outcome } = await run(runtime, fn);
    assert.equal(outcome.status, 'failed');
    assert.ok(outcome.status === 'failed');
    assert.equal(outcome.error.type, 'ExitError');
    assert.match(outcome.error.message, /exited with code 3/);
    assert.match(outcome.error.message, /starting\ndatabase unreachable/);
  });

  it('an infinite loop is stopped at the timeout and the next call works', async () => {
    const fn = await wat('hang', { timeoutMs: 300 });
    const { outcome } = await run(runtime, fn);
    assert.equal(outcome.status, 'timed_out', JSON.stringify(outcome));
    assert.deepEqual(resultOf((await run(runtime, await wat('echo'), { after: 'hang' })).outcome), {
      after: 'hang',
    });
  });

  it('a sleep (poll_oneoff) past the timeout is stopped too', async () => {
    const fn = await wat('sleep', { timeoutMs: 300 });
    assert.equal((await run(runtime, fn)).outcome.status, 'timed_out');
  });

  it('growing memory past memoryMb ends out_of_memory; the runtime works on', async () => {
    const fn = await wat('memory-hog', { memoryMb: 16 });
    const { outcome } = await run(runtime, fn);
    assert.equal(outcome.status, 'out_of_memory', JSON.stringify(outcome));
    assert.ok(outcome.status === 'out_of_memory');
    assert.match(outcome.error.message, /memory limit of 16 MB/);
    // It got near its limit (1 MiB steps from 64 KiB) and not past it: the cap is the module's
    // memory maximum.
    const peak = (o: InvokeOutcome) => (o.metrics.peakMemoryBytes ?? 0) / 65536;
    assert.equal(peak(outcome), 16 * 16 - 15);
    const bigger = await run(runtime, await wat('memory-hog', { memoryMb: 32 }));
    assert.equal(bigger.outcome.status, 'out_of_memory');
    assert.equal(peak(bigger.outcome), 32 * 16 - 15);
    assert.deepEqual(resultOf((await run(runtime, await wat('echo'), 1)).outcome), 1);
  });

  it('stdout past the result limit stops the module and fails the call', async () => {
    const fn = await wat('huge-output');
    const { outcome } = await run(runtime, fn);
    assert.equal(outcome.status, 'failed');
    assert.ok(outcome.status === 'failed');
    assert.equal(outcome.error.type, 'InvalidResult');
    assert.match(outcome.error.message, /more than 1048576 bytes/);
  });

  it('sees args [name] and only the function env; no file system; cannot signal the server', async () => {
    const fn = await wat('environment', { env: { GREETING: 'hi', EMPTY: '' } });
    process.env.FAAS_WASM_TEST_SECRET = 'must-not-leak';
    try {
      assert.equal(resultOf((await run(runtime, fn)).outcome), `${fn.name}\0|GREETING=hi\0EMPTY=\0`);
    } finally {
      delete process.env.FAAS_WASM_TEST_SECRET;
    }
    // proc_raise(SIGKILL) is ENOSYS (52), closing stdio is a no-op (0), opening a file finds no
    // directory: EBADF (08) for descriptor 3, ENOTSUP (58) for stdout. This process lives on.
    const hostEscape = await wat('host-escape');
    assert.equal(resultOf((await run(runtime, hostEscape)).outcome), '52,00,08,58');
    assert.deepEqual(resultOf((await run(runtime, hostEscape)).outcome), '52,00,08,58', 'and again');
  });

  it("finds the call's trace context in TRACEPARENT, over the function env's own", async () => {
    const fn = await wat('environment', { env: { GREETING: 'hi', TRACEPARENT: 'set-by-the-function' } });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const trace = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', traceparent };
    assert.equal(
      resultOf((await run(runtime, fn, null, trace)).outcome),
      `${fn.name}\0|GREETING=hi\0TRACEPARENT=${traceparent}\0`,
    );
    // No trace: the function's env as it is.
    assert.equal(
      resultOf((await run(runtime, fn)).outcome),
      `${fn.name}\0|GREETING=hi\0TRACEPARENT=set-by-the-function\0`,
    );
  });

  it('caps logs at maxLogBytes with a truncation notice, per invocation', async () => {
    const fn = await wat('log-flood');
    for (let call = 0; call < 2; call++) {
      const { outcome, logs } = await run(runtime, fn);
      assert.equal(resultOf(outcome), 'done');
      // 4096 bytes hold 40 lines of 99 and their newlines; then one notice.
      assert.equal(logs.length, 41);
      assert.equal(logs[0]?.message, 'x'.repeat(99));
      assert.deepEqual(logs.at(-1), {
        level: 'warn',
        message: '[faas] log output truncated: this invocation wrote more than 4096 bytes of logs',
      });
    }
  });

  it('counts newlines against the log cap: a flood of empty lines is cut too', async () => {
    const { outcome, logs } = await run(runtime, await wat('blank-lines'));
    assert.equal(resultOf(outcome), 'done');
    assert.equal(logs.length, 4096 + 1);
    assert.match(logs.at(-1)?.message ?? '', /truncated/);
  });

  it('prepare refuses modules it cannot run with COMPILE_ERROR', async () => {
    const cases: Array<[Uint8Array, RegExp, number?]> = [
      [
        new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5]),
        /main\.wasm is not a module this runtime can run/,
      ],
      [new TextEncoder().encode('not wasm at all'), /main\.wasm is not a module/],
      [watModule('forbidden-import'), /imports env\.host_exec \(function\)/],
      [watModule('imported-memory'), /imports env\.memory \(memory\)/],
      [
        watModule('big-initial-memory'),
        /starts at 1024 pages \(64 MiB\), more than the function's memoryMb/,
        16,
      ],
    ];
    for (const [bytes, message, memoryMb] of cases) {
      const fn = await deploy(bytes, memoryMb ? { memoryMb } : {});
      await assert.rejects(
        runtime.prepare(fn),
        (err) => isFaasError(err) && err.code === ErrorCode.COMPILE_ERROR && message.test(err.message),
        String(message),
      );
      const { outcome } = await run(runtime, fn);
      assert.equal(outcome.status, 'failed', 'invoking it fails as well');
    }
    // The same 64 MiB module is fine for a function allowed 128 MB.
    await runtime.prepare(await deploy(watModule('big-initial-memory'), { memoryMb: 128 }));
  });

  it('keeps a compiled module per version; retire drops it', async () => {
    const fn = await wat('echo');
    await runtime.prepare(fn);
    const key = `${fn.name}:${fn.version}`;
    assert.equal(runtime.stats().byVersion[key], 1);
    await runtime.retire(fn.name);
    assert.equal(runtime.stats().byVersion[key], undefined);
    assert.equal(resultOf((await run(runtime, fn, 2)).outcome), 2);
  });

  it('retire lets an in-flight invocation finish, then drops its module', async () => {
    const fn = await wat('nap');
    const running = run(runtime, fn);
    const key = `${fn.name}:${fn.version}`;
    while (runtime.stats().busy === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await runtime.retire(fn.name, fn.version);
    assert.equal(runtime.stats().byVersion[key], 1, 'kept while it runs');
    assert.equal(resultOf((await running).outcome), 'woke');
    assert.equal(runtime.stats().byVersion[key], undefined);
  });

  it('runs invocations in parallel across its threads', async () => {
    const fn = await wat('echo');
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => run(runtime, fn, { i })));
    assert.deepEqual(
      outcomes.map((o) => resultOf(o.outcome)),
      Array.from({ length: 10 }, (_, i) => ({ i })),
    );
  });

  it('runs a module built from C with clang --target=wasm32-wasi', { skip: wasiClangMissing() }, async () => {
    const fn = await deploy(cModule('hello'), { env: { GREETING: 'hej' } });
    const { outcome, logs } = await run(runtime, fn, { say: 'hi' });
    assert.deepEqual(resultOf(outcome), { name: fn.name, bytes: 12, greeting: 'hej' });
    assert.deepEqual(logs, [{ level: 'error', message: 'read 12 bytes' }]);
    const failed = (await run(runtime, fn, 'please fail')).outcome;
    assert.ok(failed.status === 'failed', JSON.stringify(failed));
    assert.match(
      failed.error.message,
      /exited with code 2; stderr ended with:\nread 13 bytes\nasked to fail/,
    );
  });

  it('close ends the runtime: health not ready, invoke throws RUNTIME_UNAVAILABLE', async () => {
    const closing = createWasmRuntime({ blobs });
    const fn = await wat('echo');
    assert.equal(resultOf((await run(closing, fn, 3)).outcome), 3);
    await closing.close();
    assert.equal((await closing.health()).ready, false);
    await assert.rejects(
      run(closing, fn),
      (err) => isFaasError(err) && err.code === ErrorCode.RUNTIME_UNAVAILABLE,
    );
  });
});
