import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FUNCTION_DEFAULTS, type FunctionVersion } from '@faas/core';
import type { MemoryBlobStore } from '@faas/testkit';
import type { IsolateRuntime } from './isolate-runtime.ts';
import { deployScript as deployAny, invoke, resultOf, runtimesClosedAfter } from './test-helpers.ts';

/** A version with the default memory limit, which the spare is made for. */
const deployScript = (blobs: MemoryBlobStore, script: string, overrides: Partial<FunctionVersion> = {}) =>
  deployAny(blobs, script, { memoryMb: FUNCTION_DEFAULTS.memoryMb, ...overrides });

const runtime = runtimesClosedAfter();

async function spareReady(runtime: IsolateRuntime): Promise<void> {
  for (let i = 0; i < 1000 && !runtime.spares.ready; i++) await sleep(5);
  assert.equal(runtime.spares.ready, true, 'an isolate is made ahead');
}

describe('SpareIsolate', () => {
  it('gives a cold start the isolate made ahead, then makes another', async () => {
    const { blobs, rt } = runtime();
    const a = await deployScript(blobs, 'var __faas = { default: (e) => e.n + 1 };');
    // Of another project: a function of a's would load into a's isolate, as a context.
    const b = await deployScript(blobs, 'var __faas = { default: (e) => e.n * 3 };', { project: 'other' });
    await spareReady(rt);
    const first = await invoke(rt, a, { n: 1 });
    assert.equal(resultOf(first.outcome), 2);
    assert.equal(first.outcome.metrics.coldStart, true);
    assert.equal(rt.spares.taken, 1);
    await spareReady(rt);
    assert.equal(resultOf((await invoke(rt, b, { n: 2 })).outcome), 6);
    assert.equal(rt.spares.taken, 2);
    // A warm call takes none.
    assert.equal(resultOf((await invoke(rt, a, { n: 5 })).outcome), 6);
    assert.equal(rt.spares.taken, 2);
  });

  it('passes nothing between functions: globals one set are not in the next one’s isolate', async () => {
    const { blobs, rt } = runtime();
    const writer = await deployScript(
      blobs,
      'globalThis.leak = "from writer"; var __faas = { default: () => { globalThis.later = 1; Object.prototype.polluted = 1; return "set"; } };',
    );
    const reader = await deployScript(
      blobs,
      'var __faas = { default: () => [typeof globalThis.leak, typeof globalThis.later, typeof ({}).polluted] };',
      { project: 'other' },
    );
    await spareReady(rt);
    assert.equal(resultOf((await invoke(rt, writer)).outcome), 'set');
    await spareReady(rt);
    assert.deepEqual(resultOf((await invoke(rt, reader)).outcome), ['undefined', 'undefined', 'undefined']);
    assert.equal(rt.spares.taken, 2, 'both ran in isolates made ahead');
  });

  it('keeps to FAAS_MAX_ISOLATES: the spare is the first idle isolate to go', async () => {
    const { blobs, rt } = runtime({ maxIsolates: 1 });
    const a = await deployScript(blobs, 'var __faas = { default: () => "a" };');
    const b = await deployScript(blobs, 'var __faas = { default: () => "b" };', { project: 'other' });
    await spareReady(rt);
    // The one slot holds the spare; a load evicts it to make room, and nothing is made past it.
    assert.equal(resultOf((await invoke(rt, a)).outcome), 'a');
    assert.equal(resultOf((await invoke(rt, b)).outcome), 'b');
    assert.equal(resultOf((await invoke(rt, a)).outcome), 'a');
    assert.ok(rt.stats().warm <= 1);
  });

  it('is not taken by a function with another memory limit', async () => {
    const { blobs, rt } = runtime();
    const big = await deployScript(blobs, 'var __faas = { default: () => "big" };', { memoryMb: 256 });
    await spareReady(rt);
    assert.equal(resultOf((await invoke(rt, big)).outcome), 'big');
    assert.equal(rt.spares.taken, 0);
    assert.equal(rt.spares.ready, true);
  });
});
