import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import {
  ErrorCode,
  type FaasError,
  type Invocation,
  LISTED_RESULT_MAX_BYTES,
  type MetadataStore,
  type NewLogLine,
} from '@faas/core';
import { rejectsWithCode } from '../assert-faas-error.ts';
import { nextCreatedAt, sampleInvocation } from './samples.ts';

type GetStore = () => MetadataStore;

const ids = (items: Invocation[]) => items.map((i) => i.id);

export function invocationCases(getStore: GetStore): void {
  it('createInvocation stores every field and reads back the same', async () => {
    const store = getStore();
    const full = sampleInvocation({
      mode: 'async',
      trigger: 'http',
      status: 'failed',
      idempotencyKey: 'key-1',
      attempts: 3,
      result: { nested: { list: [1, 'two', null, true] }, unicode: 'é🚀' },
      error: { type: 'TypeError', message: 'boom', stack: 'at x' },
      startedAt: nextCreatedAt(),
      finishedAt: nextCreatedAt(),
      durationMs: 12.5,
      cpuTimeMs: 3.25,
      peakMemoryBytes: 1_048_576,
      coldStart: true,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
    const { invocation, created } = await store.createInvocation(full);
    assert.equal(created, true);
    assert.deepEqual(invocation, full);
    assert.deepEqual(await store.getInvocation(full.id), full);
    const minimal = sampleInvocation();
    await store.createInvocation(minimal);
    assert.deepEqual(await store.getInvocation(minimal.id), minimal);
  });

  it('keeps falsy results (null, 0, false, "") apart from no result', async () => {
    const store = getStore();
    for (const result of [null, 0, false, '', [], {}]) {
      const inv = sampleInvocation({ result });
      await store.createInvocation(inv);
      const back = await store.getInvocation(inv.id);
      assert.ok(back && 'result' in back, `result ${JSON.stringify(result)} was lost`);
      assert.deepEqual(back.result, result);
    }
    const none = sampleInvocation();
    await store.createInvocation(none);
    assert.equal('result' in ((await store.getInvocation(none.id)) ?? {}), false);
  });

  it('lists a large result by its size only; the invocation itself has it whole', async () => {
    const store = getStore();
    const fn = 'big-results';
    // Multi-byte characters: the bound is on bytes of stored JSON, not characters.
    const big = sampleInvocation({ functionName: fn, result: { text: 'é'.repeat(LISTED_RESULT_MAX_BYTES) } });
    const edge = sampleInvocation({ functionName: fn, result: 'x'.repeat(LISTED_RESULT_MAX_BYTES - 2) });
    const none = sampleInvocation({ functionName: fn });
    for (const inv of [big, edge, none]) await store.createInvocation(inv);
    const listed = new Map(
      (await store.listInvocations({ functionName: fn }, {})).items.map((i) => [i.id, i]),
    );
    const stored = Buffer.byteLength(JSON.stringify(big.result));
    const { result: _left, ...withoutResult } = big;
    assert.deepEqual(listed.get(big.id), { ...withoutResult, resultBytes: stored });
    assert.deepEqual(listed.get(edge.id), edge, 'a result of exactly the bound is listed');
    assert.deepEqual(listed.get(none.id), none);
    assert.deepEqual(await store.getInvocation(big.id), big);
  });

  it('answers undefined for an unknown invocation', async () => {
    assert.equal(await getStore().getInvocation('inv_missing'), undefined);
  });

  it('returns the first invocation for a repeated idempotency key of the same function and writes nothing', async () => {
    const store = getStore();
    const first = sampleInvocation({
      functionName: 'f',
      idempotencyKey: 'k',
      idempotencyHash: 'a'.repeat(64),
      mode: 'async',
      status: 'queued',
    });
    assert.equal((await store.createInvocation(first)).created, true);
    // The stored hash comes back as it was, for the caller to compare with its own.
    const again = sampleInvocation({
      functionName: 'f',
      idempotencyKey: 'k',
      idempotencyHash: 'b'.repeat(64),
      mode: 'async',
      status: 'queued',
    });
    const result = await store.createInvocation(again);
    assert.equal(result.created, false);
    assert.deepEqual(result.invocation, first);
    assert.equal(await store.getInvocation(again.id), undefined);
    // The key is per function; no key means no deduplication.
    const otherFn = sampleInvocation({ functionName: 'g', idempotencyKey: 'k' });
    assert.equal((await store.createInvocation(otherFn)).created, true);
    assert.equal((await store.createInvocation(sampleInvocation({ functionName: 'f' }))).created, true);
    assert.equal((await store.createInvocation(sampleInvocation({ functionName: 'f' }))).created, true);
    assert.equal((await store.listInvocations({ functionName: 'f' }, {})).items.length, 3);
  });

  it('frees the idempotency key of an async invocation failed before its first attempt, and of no other', async () => {
    const store = getStore();
    const keyed = (key: string, overrides: Partial<Invocation> = {}) =>
      sampleInvocation({
        functionName: 'rk',
        idempotencyKey: key,
        idempotencyHash: 'a'.repeat(64),
        mode: 'async',
        status: 'queued',
        attempts: 0,
        ...overrides,
      });
    const lost = keyed('lost');
    await store.createInvocation(lost);
    // Still queued: it may yet be enqueued, so its key stays.
    assert.equal(await store.releaseIdempotencyKey(lost.id), false);
    await store.recordAttempt(lost.id, 0, {
      status: 'failed',
      error: { type: 'Lost', message: 'never ran' },
    });
    assert.equal(await store.releaseIdempotencyKey(lost.id), true);
    assert.equal(await store.releaseIdempotencyKey(lost.id), false, 'once');
    const kept = await store.getInvocation(lost.id);
    assert.deepEqual([kept?.status, kept?.idempotencyKey], ['failed', undefined]);
    // The key now makes a new invocation.
    const retry = keyed('lost');
    assert.equal((await store.createInvocation(retry)).created, true);
    // A run that failed after it started, and a sync invocation, keep their keys.
    const ran = keyed('ran');
    await store.createInvocation(ran);
    await store.recordAttempt(ran.id, 1, { status: 'failed', error: { type: 'Error', message: 'boom' } });
    assert.equal(await store.releaseIdempotencyKey(ran.id), false);
    const sync = keyed('sync', { mode: 'sync', status: 'failed' });
    await store.createInvocation(sync);
    assert.equal(await store.releaseIdempotencyKey(sync.id), false);
    assert.equal(await store.releaseIdempotencyKey('inv_missing'), false);
    assert.equal((await store.createInvocation(keyed('ran'))).created, false);
  });

  it("createInvocation with maxQueued refuses an async invocation past its project's queued or running ones, writing nothing", async () => {
    const store = getStore();
    const project = `queued-${randomUUID().slice(0, 8)}`;
    const queued = (overrides: Partial<Invocation> = {}) =>
      sampleInvocation({ project, mode: 'async', status: 'queued', attempts: 0, ...overrides });
    // Finished ones do not count.
    await store.createInvocation(sampleInvocation({ project, mode: 'async', status: 'failed' }));
    await store.createInvocation(sampleInvocation({ project }));
    const first = queued({ idempotencyKey: 'q-1' });
    const second = queued();
    for (const inv of [first, second])
      assert.equal((await store.createInvocation(inv, { maxQueued: 2 })).created, true);

    const over = queued({ idempotencyKey: 'q-3' });
    const err = await rejectsWithCode(
      store.createInvocation(over, { maxQueued: 2 }),
      ErrorCode.QUOTA_EXCEEDED,
    );
    assert.equal((err as FaasError).status, 429);
    assert.deepEqual((err as FaasError).details, { quota: 'queuedInvocations', limit: 2 });
    assert.equal(await store.getInvocation(over.id), undefined, 'nothing written');
    // A repeat of an accepted one is answered, full or not; another project is not limited.
    const again = await store.createInvocation({ ...queued({ idempotencyKey: 'q-1' }) }, { maxQueued: 2 });
    assert.deepEqual(again, { invocation: first, created: false });
    const elsewhere = sampleInvocation({
      project: `${project}-b`,
      mode: 'async',
      status: 'queued',
      attempts: 0,
    });
    assert.equal((await store.createInvocation(elsewhere, { maxQueued: 2 })).created, true);
    // Without the option, no limit.
    assert.equal((await store.createInvocation(queued())).created, true);

    // Running counts; a finished one makes room, and the refused key is free to use.
    await store.recordAttempt(first.id, 1, { status: 'running', startedAt: nextCreatedAt() });
    await rejectsWithCode(store.createInvocation(over, { maxQueued: 3 }), ErrorCode.QUOTA_EXCEEDED);
    await store.recordAttempt(first.id, 1, { status: 'succeeded', finishedAt: nextCreatedAt() });
    await store.recordAttempt(second.id, 1, { status: 'succeeded', finishedAt: nextCreatedAt() });
    assert.equal((await store.createInvocation(over, { maxQueued: 2 })).created, true);
  });

  it('createInvocation counts queued or running through every change: a dead letter retried, writers at once', async () => {
    const store = getStore();
    const project = `counted-${randomUUID().slice(0, 8)}`;
    const queued = () => sampleInvocation({ project, mode: 'async', status: 'queued', attempts: 0 });
    const dead = queued();
    await store.createInvocation(dead, { maxQueued: 1 });
    await store.recordAttempt(dead.id, 1, { status: 'dead_lettered', finishedAt: nextCreatedAt() });
    // A dead letter retried is queued again, and counts.
    await store.updateInvocation(dead.id, { status: 'queued' });
    await rejectsWithCode(store.createInvocation(queued(), { maxQueued: 1 }), ErrorCode.QUOTA_EXCEEDED);
    await store.recordAttempt(dead.id, 2, { status: 'failed', finishedAt: nextCreatedAt() });
    // Writers at once (each on a connection of its own where the store has several) pass it by none.
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, () => store.createInvocation(queued(), { maxQueued: 5 })),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5, JSON.stringify(results));
    for (const r of results) {
      if (r.status === 'rejected') assert.equal((r.reason as FaasError).code, ErrorCode.QUOTA_EXCEEDED);
    }
  });

  it('treats an id that exists as already created', async () => {
    const store = getStore();
    const inv = sampleInvocation();
    await store.createInvocation(inv);
    const result = await store.createInvocation({ ...inv, status: 'failed' });
    assert.equal(result.created, false);
    assert.deepEqual(result.invocation, inv);
  });

  it('createInvocations writes a batch, skipping ids or idempotency keys already present', async () => {
    const store = getStore();
    await store.createInvocations([]);
    const existing = sampleInvocation({ idempotencyKey: 'once' });
    await store.createInvocation(existing);
    const batch = Array.from({ length: 20 }, (_, i) =>
      sampleInvocation(i % 2 ? { traceId: `${i}`.padStart(32, 'a') } : {}),
    );
    const sameKey = sampleInvocation({ idempotencyKey: 'once' });
    await store.createInvocations([...batch, { ...existing, status: 'failed' }, sameKey]);
    for (const inv of batch) assert.deepEqual(await store.getInvocation(inv.id), inv);
    assert.deepEqual(await store.getInvocation(existing.id), existing);
    assert.equal(await store.getInvocation(sameKey.id), undefined);
    // A retried batch is harmless.
    await store.createInvocations(batch);
    assert.equal((await store.listInvocations({}, { limit: 100 })).items.length, 21);
  });

  it('createInvocations writes nothing when one record is invalid', async () => {
    const store = getStore();
    const good = Array.from({ length: 3 }, () => sampleInvocation());
    const bad = sampleInvocation({ createdAt: 'not a time' });
    await assert.rejects(store.createInvocations([...good, bad]));
    for (const inv of good) assert.equal(await store.getInvocation(inv.id), undefined);
  });

  it('createInvocations writes lines with their invocations; a batch written again writes nothing twice', async () => {
    const store = getStore();
    const line = (inv: Invocation, message: string): NewLogLine => ({
      invocationId: inv.id,
      functionName: inv.functionName,
      ts: 1,
      level: 'log',
      message,
    });
    const present = sampleInvocation();
    await store.createInvocation(present);
    const fresh = sampleInvocation();
    const lines = [
      line(fresh, 'fresh 1'),
      line(present, 'skipped with its invocation'),
      line(fresh, 'fresh 2'),
    ];
    await store.createInvocations([fresh, present], lines);
    const messages = async (inv: Invocation) => (await store.getLogs(inv.id)).map((l) => l.message);
    assert.deepEqual(await messages(fresh), ['fresh 1', 'fresh 2']);
    assert.deepEqual(await messages(present), []);
    // Its first write's outcome unknown (a lost connection), the batch is written again.
    await store.createInvocations([fresh, present], lines);
    assert.deepEqual(await messages(fresh), ['fresh 1', 'fresh 2']);
    // Lines of an invocation not in the batch are written as appendLogs would.
    await store.createInvocations([], [line(present, 'later')]);
    assert.deepEqual(await messages(present), ['later']);
    // Atomic: an invalid record, and no line of the batch is written either.
    const other = sampleInvocation();
    await assert.rejects(
      store.createInvocations([other, sampleInvocation({ createdAt: 'not a time' })], [line(other, 'x')]),
    );
    assert.deepEqual(await messages(other), []);
  });

  it('updateInvocation applies a patch, keeps other fields and returns the result', async () => {
    const store = getStore();
    const inv = sampleInvocation({ status: 'queued', mode: 'async', attempts: 0, idempotencyKey: 'u' });
    await store.createInvocation(inv);
    const running = await store.updateInvocation(inv.id, {
      status: 'running',
      attempts: 1,
      startedAt: nextCreatedAt(),
    });
    assert.equal(running.status, 'running');
    assert.equal(running.attempts, 1);
    assert.equal(running.idempotencyKey, 'u');
    const listed = async (status: Invocation['status']) =>
      (await store.listInvocations({ status }, {})).items.map((i) => i.id);
    assert.deepEqual(await listed('running'), [inv.id]);
    assert.deepEqual(await listed('queued'), []);
    const done = await store.updateInvocation(inv.id, {
      status: 'succeeded',
      result: { ok: true },
      finishedAt: nextCreatedAt(),
      durationMs: 4,
      cpuTimeMs: 2,
      peakMemoryBytes: 42,
      coldStart: false,
      version: 2,
    });
    assert.equal(done.coldStart, false, 'a warm call is told apart from one not known');
    assert.deepEqual(await store.getInvocation(inv.id), done);
    // A status change moves the invocation between filters.
    assert.deepEqual(await listed('running'), []);
    assert.deepEqual(await listed('succeeded'), [inv.id]);
    assert.deepEqual(done, { ...running, ...done, status: 'succeeded', result: { ok: true }, version: 2 });
    const failed = await store.updateInvocation(inv.id, { error: { type: 'Timeout', message: 'late' } });
    assert.deepEqual(failed.error, { type: 'Timeout', message: 'late' });
    assert.deepEqual(failed.result, { ok: true });
  });

  it('updateInvocation of an unknown id throws INVOCATION_NOT_FOUND', async () => {
    const store = getStore();
    await rejectsWithCode(
      store.updateInvocation('inv_missing', { status: 'failed' }),
      ErrorCode.INVOCATION_NOT_FOUND,
    );
    await rejectsWithCode(store.updateInvocation('inv_missing', {}), ErrorCode.INVOCATION_NOT_FOUND);
    assert.equal(await store.getInvocation('inv_missing'), undefined);
  });

  it('filters invocations by function, status and time, alone and together', async () => {
    const store = getStore();
    const a1 = sampleInvocation({ functionName: 'a', status: 'succeeded' });
    const b1 = sampleInvocation({ functionName: 'b', status: 'failed' });
    const a2 = sampleInvocation({ functionName: 'a', status: 'failed' });
    const b2 = sampleInvocation({ functionName: 'b', status: 'succeeded' });
    const a3 = sampleInvocation({ functionName: 'a', status: 'failed' });
    await store.createInvocations([a1, b1, a2, b2, a3]);
    const list = async (filter: Parameters<MetadataStore['listInvocations']>[0]) =>
      ids((await store.listInvocations(filter, {})).items);
    assert.deepEqual(await list({}), ids([a3, b2, a2, b1, a1]));
    assert.deepEqual(await list({ functionName: 'a' }), ids([a3, a2, a1]));
    assert.deepEqual(await list({ status: 'failed' }), ids([a3, a2, b1]));
    assert.deepEqual(await list({ functionName: 'a', status: 'failed' }), ids([a3, a2]));
    assert.deepEqual(await list({ functionName: 'nobody' }), []);
    // since is inclusive, until exclusive.
    assert.deepEqual(await list({ since: a2.createdAt }), ids([a3, b2, a2]));
    assert.deepEqual(await list({ until: a2.createdAt }), ids([b1, a1]));
    assert.deepEqual(await list({ since: b1.createdAt, until: a3.createdAt }), ids([b2, a2, b1]));
    assert.deepEqual(
      await list({ since: b1.createdAt, until: a3.createdAt, functionName: 'b' }),
      ids([b2, b1]),
    );
    const page1 = await store.listInvocations({ status: 'failed' }, { limit: 2 });
    assert.deepEqual(ids(page1.items), ids([a3, a2]));
    const page2 = await store.listInvocations(
      { status: 'failed' },
      { limit: 2, ...(page1.nextCursor ? { cursor: page1.nextCursor } : {}) },
    );
    assert.deepEqual(ids(page2.items), ids([b1]));
    assert.equal(page2.nextCursor, undefined);
  });

  it('compares time filters as instants, whatever their offset notation', async () => {
    const store = getStore();
    const inv = sampleInvocation({ createdAt: '2031-06-01T12:00:00.000Z' });
    await store.createInvocation(inv);
    const items = (await store.listInvocations({ since: '2031-06-01T13:00:00+01:00' }, {})).items;
    assert.deepEqual(ids(items), [inv.id]);
    assert.deepEqual((await store.listInvocations({ since: '2031-06-01T12:00:00.001Z' }, {})).items, []);
  });
}
