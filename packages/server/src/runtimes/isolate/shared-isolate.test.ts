import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FunctionVersion } from '@faas/core';
import type { IsolateRuntime } from './isolate-runtime.ts';
import { deployScript, invoke, resultOf, runtimesClosedAfter } from './test-helpers.ts';

const runtime = runtimesClosedAfter();

/** Loads each version (prepare), one after another, so that they pack into one isolate. */
async function prepareAll(rt: IsolateRuntime, fns: FunctionVersion[]): Promise<void> {
  for (const fn of fns) await rt.prepare(fn);
}

describe('isolates shared by the functions of one project', () => {
  it('runs two functions of one project in one isolate, sharing no globals', async () => {
    const { blobs, rt } = runtime();
    const writer = await deployScript(
      blobs,
      `globalThis.leak = 'at load';
      var __faas = { default: () => {
        globalThis.later = 'in a call';
        Object.prototype.polluted = 'object';
        Array.prototype.polluted = 'array';
        Array.prototype.map = () => 'patched map';
        JSON.stringify = () => 'patched JSON';
        Object.defineProperty(globalThis, 'fixed', { value: 1, configurable: false });
        return JSON.stringify({ a: 1 });
      } };`,
      { project: 'p' },
    );
    const reader = await deployScript(
      blobs,
      `var __faas = { default: () => [
        typeof globalThis.leak, typeof globalThis.later, typeof ({}).polluted, typeof [].polluted,
        [1, 2].map((n) => n * 2), JSON.stringify({ a: 1 }), typeof globalThis.fixed,
      ] };`,
      { project: 'p' },
    );
    await prepareAll(rt, [writer, reader]);
    assert.equal(rt.isolates, 1, 'both loaded into one isolate');
    assert.equal(resultOf((await invoke(rt, writer)).outcome), 'patched JSON');
    assert.deepEqual(resultOf((await invoke(rt, reader)).outcome), [
      'undefined',
      'undefined',
      'undefined',
      'undefined',
      [2, 4],
      '{"a":1}',
      'undefined',
    ]);
    assert.equal(rt.isolates, 1);
  });

  it('makes the next load’s context while the isolate idles, fresh for the function that takes it', async () => {
    const { blobs, rt } = runtime();
    const writer = await deployScript(
      blobs,
      `var __faas = { default: () => {
        globalThis.later = 'in a call';
        Object.prototype.polluted = 'object';
        return 'wrote';
      } };`,
      { project: 'p' },
    );
    const reader = await deployScript(
      blobs,
      'var __faas = { default: () => [typeof globalThis.later, typeof ({}).polluted] };',
      { project: 'p' },
    );
    assert.equal(resultOf((await invoke(rt, writer)).outcome), 'wrote');
    assert.equal(rt.contextsReady, 0, "the premade isolate's context went to the writer");
    const until = Date.now() + 5_000;
    while (rt.contextsReady === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.equal(rt.contextsReady, 1, 'a context was made while the isolate idled');
    assert.deepEqual(resultOf((await invoke(rt, reader)).outcome), ['undefined', 'undefined']);
    assert.equal(rt.isolates, 1, 'the reader loaded into the writer’s isolate');
    assert.equal(rt.contextsReady, 0, 'into the context made ahead');
  });

  it('gives no function a FinalizationRegistry, whose callbacks would run on a neighbour’s call', async () => {
    const { blobs, rt } = runtime();
    const script = 'var __faas = { default: () => [typeof FinalizationRegistry, typeof WeakRef] };';
    const a = await deployScript(blobs, script, { project: 'p' });
    const b = await deployScript(blobs, script, { project: 'p' });
    await prepareAll(rt, [a, b]);
    assert.equal(rt.isolates, 1);
    for (const fn of [a, b])
      assert.deepEqual(resultOf((await invoke(rt, fn)).outcome), ['undefined', 'function']);
  });

  it('keeps FAAS_MAX_ISOLATES counting isolates: ten functions of a project stay warm in two', async () => {
    const { blobs, rt } = runtime({ maxIsolates: 2 });
    const fns = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        deployScript(blobs, `var __faas = { default: () => ${i} };`, { project: 'p' }),
      ),
    );
    await prepareAll(rt, fns);
    for (const [i, fn] of fns.entries()) {
      // An isolate idle for 5 ms makes the next load's context; a call that comes meanwhile waits
      // ISOLATE_PATIENCE_MS, then loads elsewhere, cold: on a busy machine the context can take
      // longer than that (1 run in 8 under load), which is not what this test is about.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const { outcome } = await invoke(rt, fn);
      assert.equal(resultOf(outcome), i);
      assert.equal(outcome.metrics.coldStart ?? false, false, `function ${i} was still warm`);
    }
    assert.ok(rt.isolates <= 2, `${rt.isolates} isolates`);
    assert.equal(rt.stats().warm, 10);
  });

  it('never puts functions of two projects, or of two memory limits, in one isolate', async () => {
    const { blobs, rt } = runtime();
    const script =
      'var __faas = { default: () => typeof globalThis.mark === "undefined" ? (globalThis.mark = 1, "clean") : "seen" };';
    const a = await deployScript(blobs, script, { project: 'a' });
    const b = await deployScript(blobs, script, { project: 'b' });
    const a256 = await deployScript(blobs, script, { project: 'a', memoryMb: 256 });
    await prepareAll(rt, [a, b, a256]);
    assert.equal(rt.isolates, 3);
    for (const fn of [a, b, a256]) assert.equal(resultOf((await invoke(rt, fn)).outcome), 'clean');
    const a2 = await deployScript(blobs, script, { project: 'a' });
    await rt.prepare(a2);
    assert.equal(rt.isolates, 3, 'a second function of project a joins a’s isolate');
  });

  it('records an out-of-memory in a shared isolate; the other function loads again on its next call', async () => {
    const { blobs, rt } = runtime();
    // After a timer, so that it runs out of memory in this isolate rather than being stopped at
    // the synchronous start's budget and run again elsewhere.
    const hog = await deployScript(
      blobs,
      'var __faas = { default: async () => { await new Promise((resolve) => setTimeout(resolve, 1)); const kept = []; for (;;) kept.push(new Array(1e5).fill(1.5)); } };',
      { project: 'p', memoryMb: 32 },
    );
    const other = await deployScript(blobs, 'var __faas = { default: () => "fine" };', {
      project: 'p',
      memoryMb: 32,
    });
    await prepareAll(rt, [other, hog]);
    assert.equal(rt.isolates, 1);
    assert.equal(resultOf((await invoke(rt, other)).outcome), 'fine');
    const { outcome } = await invoke(rt, hog);
    assert.equal(outcome.status, 'out_of_memory');
    const next = await invoke(rt, other);
    assert.equal(resultOf(next.outcome), 'fine');
    assert.equal(next.outcome.metrics.coldStart, true, 'its context went with the isolate');
  });

  it('records a timeout in a shared isolate; the other function loads again on its next call', async () => {
    const { blobs, rt } = runtime();
    const spin = await deployScript(blobs, 'var __faas = { default: () => { for (;;) {} } };', {
      project: 'p',
      timeoutMs: 200,
    });
    const other = await deployScript(blobs, 'var __faas = { default: () => "fine" };', { project: 'p' });
    await prepareAll(rt, [other, spin]);
    assert.equal(rt.isolates, 1);
    const { outcome } = await invoke(rt, spin);
    assert.equal(outcome.status, 'timed_out');
    const next = await invoke(rt, other);
    assert.equal(resultOf(next.outcome), 'fine');
    assert.equal(next.outcome.metrics.coldStart, true, 'its context went with the isolate');
  });

  it('keeps a call’s memory limit: idle contexts that grew are evicted before a call that needs the room', async () => {
    const { blobs, rt } = runtime();
    const memoryMb = 128;
    // Each keeps 8 MB of typed arrays in a global after its call (quick: a call of under a
    // millisecond can grow a context this much): 8 of them idle hold 64 MB.
    const holders = await Promise.all(
      Array.from({ length: 8 }, () =>
        deployScript(
          blobs,
          'var __faas = { default: () => { globalThis.kept ??= Array.from({ length: 8 }, () => new Float64Array(131072)); return "holding"; } };',
          { project: 'p', memoryMb },
        ),
      ),
    );
    // 90% of the limit, in 1 MB arrays (131,072 doubles each), after a timer: so it runs in its
    // context in this isolate, not stopped at the synchronous start's budget and run elsewhere.
    const big = await deployScript(
      blobs,
      `var __faas = { default: async () => { await new Promise((resolve) => setTimeout(resolve, 1)); const kept = []; for (let i = 0; i < ${Math.floor(memoryMb * 0.9)}; i++) kept.push(new Array(131072).fill(1.5)); return kept.length; } };`,
      { project: 'p', memoryMb },
    );
    await prepareAll(rt, [...holders, big]);
    assert.equal(rt.isolates, 1, 'all nine loaded into one isolate');
    for (const holder of holders) assert.equal(resultOf((await invoke(rt, holder)).outcome), 'holding');
    const { outcome } = await invoke(rt, big);
    assert.equal(resultOf(outcome), Math.floor(memoryMb * 0.9));
    assert.equal(rt.isolates, 1, 'it ran beside them, in their isolate');
    for (const holder of holders) {
      const next = await invoke(rt, holder);
      assert.equal(resultOf(next.outcome), 'holding');
    }
  });

  it('does not make a function’s calls wait behind another function’s long call in their isolate', async () => {
    const { blobs, rt } = runtime();
    const slow = await deployScript(
      blobs,
      'var __faas = { default: () => new Promise((resolve) => setTimeout(() => resolve("slow"), 1500)) };',
      { project: 'p' },
    );
    const quick = await deployScript(blobs, 'var __faas = { default: () => "quick" };', { project: 'p' });
    await prepareAll(rt, [slow, quick]);
    assert.equal(rt.isolates, 1);
    const order: string[] = [];
    const slowCall = invoke(rt, slow).then(({ outcome }) => order.push(String(resultOf(outcome))));
    // Twice: the first on its own thread, the second a synchronous start.
    for (let i = 0; i < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const { outcome } = await invoke(rt, quick);
      order.push(String(resultOf(outcome)));
    }
    await slowCall;
    assert.deepEqual(order, ['quick', 'quick', 'slow']);
    assert.equal(rt.isolates, 2, 'quick got an isolate of its own while slow held theirs');
  });
});
