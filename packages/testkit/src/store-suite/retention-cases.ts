import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Invocation, MetadataStore, NewLogLine } from '@faas/core';
import { sampleInvocation } from './samples.ts';

type GetStore = () => MetadataStore;

const lines = (inv: Invocation, count: number): NewLogLine[] =>
  Array.from({ length: count }, (_, i) => ({
    invocationId: inv.id,
    functionName: inv.functionName,
    ts: i,
    level: 'log',
    message: `${inv.id} line ${i}`,
  }));

/** Loops as a sweeper does; returns the totals. */
async function sweep(store: MetadataStore, options: Parameters<MetadataStore['deleteOldInvocations']>[0]) {
  const total = { invocations: 0, logLines: 0, calls: 0 };
  for (;;) {
    const done = await store.deleteOldInvocations(options);
    assert.ok(
      done.invocations <= options.limit && done.logLines <= options.limit,
      'a call exceeded its limit',
    );
    total.calls++;
    if (done.invocations + done.logLines === 0) return total;
    total.invocations += done.invocations;
    total.logLines += done.logLines;
  }
}

const at = (iso: string, overrides: Partial<Invocation> = {}) =>
  sampleInvocation({ createdAt: iso, ...overrides });

/** deleteOldInvocations: retention by age and by count, never unfinished work, bounded per call. */
export function retentionCases(getStore: GetStore): void {
  it('deletes finished invocations older than the cutoff with their logs, and nothing else', async () => {
    const store = getStore();
    const old = [
      at('2020-01-01T00:00:00.000Z', { status: 'succeeded' }),
      at('2020-01-02T00:00:00.000Z', { status: 'failed' }),
      at('2020-01-03T00:00:00.000Z', { status: 'dead_lettered', mode: 'async' }),
    ];
    const oldButUnfinished = [
      at('2020-01-04T00:00:00.000Z', { status: 'queued', mode: 'async', attempts: 0 }),
      at('2020-01-05T00:00:00.000Z', { status: 'running', mode: 'async' }),
    ];
    const recent = at('2020-02-01T00:00:00.000Z', { status: 'succeeded' });
    const all = [...old, ...oldButUnfinished, recent];
    for (const inv of all) {
      await store.createInvocation(inv);
      await store.appendLogs(lines(inv, 3));
    }
    const total = await sweep(store, { createdBefore: '2020-01-15T00:00:00.000Z', limit: 100 });
    assert.equal(total.invocations, 3);
    assert.equal(total.logLines, 9);
    for (const inv of old) {
      assert.equal(await store.getInvocation(inv.id), undefined);
      assert.deepEqual(await store.getLogs(inv.id), []);
    }
    for (const inv of [...oldButUnfinished, recent]) {
      assert.deepEqual(await store.getInvocation(inv.id), inv);
      assert.equal((await store.getLogs(inv.id)).length, 3);
    }
  });

  it('keepNewest keeps the newest invocations; unfinished ones count toward it and always stay', async () => {
    const store = getStore();
    const invs = Array.from({ length: 10 }, (_, i) =>
      at(`2021-01-${String(i + 1).padStart(2, '0')}T00:00:00.000Z`, {
        status: i === 1 ? 'running' : 'succeeded',
        ...(i === 1 ? { mode: 'async' as const } : {}),
      }),
    );
    await store.createInvocations(invs);
    const total = await sweep(store, { keepNewest: 4, limit: 2 });
    assert.equal(total.invocations, 5, 'six are over the cap, one of them running');
    const left = (await store.listInvocations({}, { limit: 100 })).items.map((i) => i.id);
    assert.deepEqual(
      left,
      [invs[9], invs[8], invs[7], invs[6], invs[1]].map((i) => i?.id),
    );
    // Both rules at once: an invocation goes when either says so. The cap (3) takes Jan 7's,
    // the date (before Jan 9) takes Jan 8's too.
    const both = await sweep(store, { keepNewest: 3, createdBefore: '2021-01-09T00:00:00.000Z', limit: 10 });
    assert.equal(both.invocations, 2);
    assert.deepEqual(
      (await store.listInvocations({}, { limit: 100 })).items.map((i) => i.id),
      [invs[9], invs[8], invs[1]].map((i) => i?.id),
    );
  });

  it('does bounded work per call: an invocation with many lines goes once they are all gone', async () => {
    const store = getStore();
    const chatty = at('2019-05-01T00:00:00.000Z');
    const quiet = at('2019-05-02T00:00:00.000Z');
    await store.createInvocations([chatty, quiet]);
    await store.appendLogs(lines(chatty, 25));
    const first = await store.deleteOldInvocations({ createdBefore: '2019-06-01T00:00:00.000Z', limit: 10 });
    assert.deepEqual(
      first,
      { invocations: 1, logLines: 10 },
      'the quiet one goes, ten of the chatty one’s lines',
    );
    assert.ok(await store.getInvocation(chatty.id), 'deleted before its lines');
    assert.equal((await store.getLogs(chatty.id)).length, 15);
    const rest = await sweep(store, { createdBefore: '2019-06-01T00:00:00.000Z', limit: 10 });
    assert.deepEqual([rest.invocations, rest.logLines], [1, 15]);
    assert.equal(await store.getInvocation(chatty.id), undefined);
  });

  it('deletes nothing without a rule or with limit 0', async () => {
    const store = getStore();
    const inv = at('2018-01-01T00:00:00.000Z');
    await store.createInvocation(inv);
    assert.deepEqual(await store.deleteOldInvocations({ limit: 100 }), { invocations: 0, logLines: 0 });
    assert.deepEqual(
      await store.deleteOldInvocations({ createdBefore: '2030-01-01T00:00:00.000Z', limit: 0 }),
      {
        invocations: 0,
        logLines: 0,
      },
    );
    assert.deepEqual(await store.deleteOldInvocations({ keepNewest: 1, limit: 100 }), {
      invocations: 0,
      logLines: 0,
    });
    assert.deepEqual(await store.getInvocation(inv.id), inv);
  });
}
