import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FunctionRecord, MetadataStore } from '@faas/core';
import { PlatformMetrics } from './platform-metrics.ts';

function metrics(): PlatformMetrics {
  return new PlatformMetrics(
    {
      queue: {
        stats: async () => ({ ready: 0, delayed: 0, leased: 0, deadLettered: 0 }) as never,
        oldestDueAgeMs: async () => undefined,
      },
      runtimes: { all: [] },
      slots: { running: () => 0 },
      recorder: { stats: () => ({ pending: 0, failedWrites: 0 }) },
      leaseStats: () => ({ renewalFailures: 0, leasesLost: 0 }),
    },
    { processMetrics: false },
  );
}

function invoked(m: PlatformMetrics, functionName: string): void {
  m.observeInvocation({
    invocation: {
      functionName,
      trigger: 'api',
      mode: 'sync',
      status: 'succeeded',
      durationMs: 1,
      coldStart: true,
    },
    runtime: 'js',
  });
  m.observeAsyncFailure(functionName, 'dead_lettered');
}

/** The functions named in the scrape's lines. */
async function named(m: PlatformMetrics): Promise<Set<string>> {
  const text = await m.registry.metrics();
  return new Set([...text.matchAll(/function="([^"]+)"/g)].map((x) => x[1] as string));
}

/** A store that has `live` and counts the names it was asked about. */
function storeOf(live: string[]): Pick<MetadataStore, 'listFunctions'> & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    async listFunctions(_page, _project, names) {
      asked.push([...(names ?? [])]);
      return {
        items: (names ?? []).filter((n) => live.includes(n)).map((name) => ({ name }) as FunctionRecord),
      };
    },
  };
}

describe('PlatformMetrics', () => {
  it('forget drops every series of the function, and counts a function of its name again from 0', async () => {
    const m = metrics();
    invoked(m, 'a');
    invoked(m, 'b');
    m.forget('a');
    assert.deepEqual(await named(m), new Set(['b']));
    invoked(m, 'a');
    const text = await m.registry.metrics();
    assert.match(text, /faas_invocations_total\{function="a",[^}]*\} 1\n/);
    assert.match(text, /faas_queue_dead_letters_total\{function="a"\} 1\n/);
  });

  it('sweep forgets the functions the store no longer has: new ones, or every one after checkAll', async () => {
    const m = metrics();
    invoked(m, 'a');
    invoked(m, 'b');
    const store = storeOf(['a', 'b']);
    await m.sweep(store);
    assert.deepEqual(store.asked, [['a', 'b']]);
    // Checked once: a sweep after a write of this node asks about nothing.
    await m.sweep(store);
    assert.deepEqual(store.asked.length, 1);
    // Deleted by another node: found after checkAll.
    const gone = storeOf(['a']);
    await m.sweep(gone);
    assert.deepEqual(await named(m), new Set(['a', 'b']));
    m.checkAll();
    await m.sweep(gone);
    assert.deepEqual(await named(m), new Set(['a']));
  });

  it('sweep forgets a series a late invocation brought back after forget', async () => {
    const m = metrics();
    invoked(m, 'a');
    invoked(m, 'late');
    await m.sweep(storeOf(['a', 'late']));
    m.forget('late');
    invoked(m, 'late');
    assert.deepEqual(await named(m), new Set(['a', 'late']));
    const store = storeOf(['a']);
    await m.sweep(store);
    assert.deepEqual(store.asked, [['late']]);
    assert.deepEqual(await named(m), new Set(['a']));
  });

  it('a sweep that fails checks the same functions next time', async () => {
    const m = metrics();
    invoked(m, 'a');
    await assert.rejects(
      m.sweep({
        listFunctions: async () => {
          throw new Error('store down');
        },
      }),
      /store down/,
    );
    await m.sweep(storeOf([]));
    assert.deepEqual(await named(m), new Set());
  });
});
