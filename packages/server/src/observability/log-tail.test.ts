import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NewLogLine } from '@faas/core';
import { type IdentifiedEvent, LogTail, type TailedInvocation } from './log-tail.ts';

function invocation(
  id: string,
  functionName: string,
  status: TailedInvocation['status'] = 'succeeded',
): TailedInvocation {
  return {
    id,
    functionName,
    version: 1,
    mode: 'sync',
    trigger: 'api',
    status,
    attempts: 1,
    createdAt: '2026-12-05T10:00:00.000Z',
    startedAt: '2026-12-05T10:00:00.001Z',
    finishedAt: '2026-12-05T10:00:00.003Z',
    durationMs: 2,
    ...(status === 'succeeded' ? {} : { error: { type: 'Error', message: 'no' } }),
  };
}

function line(invocationId: string, functionName: string, message: string): NewLogLine {
  return { invocationId, functionName, ts: 1, level: 'info', message };
}

const types = (events: IdentifiedEvent[]) => events.map((e) => `${e.event.type}:${e.event.invocationId}`);

describe('LogTail', () => {
  it("tells a function's listeners each invocation's start, lines and end, and no other function's", () => {
    const tail = new LogTail();
    const seen: IdentifiedEvent[] = [];
    const stop = tail.subscribe('a', (events) => seen.push(...events));
    tail.finished(invocation('inv1', 'a'), [line('inv1', 'a', 'one'), line('inv1', 'a', 'two')]);
    tail.finished(invocation('inv2', 'b'), [line('inv2', 'b', 'other')]);
    tail.finished(invocation('inv3', 'a', 'failed'), []);
    stop();
    tail.finished(invocation('inv4', 'a'), []);
    assert.deepEqual(types(seen), [
      'start:inv1',
      'log:inv1',
      'log:inv1',
      'end:inv1',
      'start:inv3',
      'end:inv3',
    ]);
    const end = seen.at(-1)?.event;
    assert.equal(end?.type === 'end' && end.status, 'failed');
    assert.deepEqual(end?.type === 'end' && end.error, { type: 'Error', message: 'no' });
    const ids = seen.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  });

  it('an async attempt: start when it starts, then its lines and end without a second start', () => {
    const tail = new LogTail();
    const seen: IdentifiedEvent[] = [];
    tail.subscribe('a', (events) => seen.push(...events));
    tail.started({ id: 'inv1', functionName: 'a', version: 1, mode: 'async', trigger: 'api' }, 1);
    tail.finished({ ...invocation('inv1', 'a', 'queued'), mode: 'async' }, [line('inv1', 'a', 'x')], true);
    assert.deepEqual(types(seen), ['start:inv1', 'log:inv1', 'end:inv1']);
  });

  it('resumes after a Last-Event-ID, from within an invocation too', () => {
    const tail = new LogTail();
    const seen: IdentifiedEvent[] = [];
    tail.subscribe('a', (events) => seen.push(...events));
    tail.finished(invocation('inv1', 'a'), [line('inv1', 'a', 'one')]);
    tail.finished(invocation('inv2', 'b'), []);
    tail.finished(invocation('inv3', 'a'), [line('inv3', 'a', 'three')]);
    const afterFirstLine = tail.resume('a', seen[1]?.id as string);
    assert.equal(afterFirstLine.complete, true);
    assert.deepEqual(
      afterFirstLine.events.map((e) => e.id),
      seen.slice(2).map((e) => e.id),
    );
    const fromLast = tail.resume('a', seen.at(-1)?.id as string);
    assert.deepEqual(fromLast, { events: [], complete: true });
  });

  it('says when it cannot resume: an id of another epoch, a malformed one, or one older than what is kept', () => {
    const tail = new LogTail({ maxEntries: 8 });
    const seen: IdentifiedEvent[] = [];
    tail.subscribe('a', (events) => seen.push(...events));
    tail.finished(invocation('inv0', 'a'), []);
    const first = seen[0]?.id as string;
    for (let i = 1; i < 40; i++) tail.finished(invocation(`inv${i}`, 'a'), []);
    const old = tail.resume('a', first);
    assert.equal(old.complete, false);
    assert.ok(old.events.length > 0 && old.events.length <= 2 * 9, 'what is kept is still sent');
    assert.equal(tail.resume('a', `ffffffff.1.0`).complete, tail.epoch === 'ffffffff');
    for (const bad of ['', 'x', '1.2', `${tail.epoch}.1`, `${tail.epoch}.-1.0`, `${tail.epoch}.1.0\n`]) {
      assert.deepEqual(tail.resume('a', bad), { events: [], complete: false }, JSON.stringify(bad));
    }
  });

  it('keeps nothing of a function no one tails, and keeps a tailed one for a while after its tail left', () => {
    const tail = new LogTail({ keepAfterTailMs: 60_000 });
    tail.finished(invocation('inv0', 'a'), []);
    const seen: IdentifiedEvent[] = [];
    const stop = tail.subscribe('a', (events) => seen.push(...events));
    assert.equal(seen.length, 0, 'what came before the first tail is not replayed to it');
    tail.finished(invocation('inv1', 'a'), []);
    stop();
    tail.finished(invocation('inv2', 'a'), [line('inv2', 'a', 'while away')]);
    const resumed = tail.resume('a', seen.at(-1)?.id as string);
    assert.equal(resumed.complete, true);
    assert.deepEqual(types(resumed.events), ['start:inv2', 'log:inv2', 'end:inv2']);

    const forgetful = new LogTail({ keepAfterTailMs: -1 });
    const first: IdentifiedEvent[] = [];
    forgetful.subscribe('a', (events) => first.push(...events))();
    forgetful.finished(invocation('inv1', 'a'), []);
    forgetful.subscribe('a', () => {});
    const gap = forgetful.resume('a', `${forgetful.epoch}.0.0`);
    assert.equal(gap.complete, false, 'events after the id were not kept');
  });

  it('keeps what it holds within its byte bound: a Last-Event-ID older than that cannot resume', () => {
    const tail = new LogTail({ maxBytes: 64 * 1024 });
    const seen: IdentifiedEvent[] = [];
    tail.subscribe('a', (events) => seen.push(...events));
    const big = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 20; i++) tail.finished(invocation(`inv${i}`, 'a'), [line(`inv${i}`, 'a', big)]);
    assert.equal(seen.length, 60, 'listeners get everything');
    assert.equal(tail.resume('a', seen[0]?.id as string).complete, false);
    const recent = tail.resume('a', seen.at(-4)?.id as string);
    assert.equal(recent.complete, true);
    assert.equal(recent.events.length, 3);
  });
});
