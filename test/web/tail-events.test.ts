// The console's live tail state (packages/web/src/tail-events.ts), without a browser: what the
// page shows for the log stream's events, and that a reconnect does not show a line twice.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyTailEvent,
  EMPTY_TAIL,
  entryLine,
  TAIL_KEEP,
  type TailState,
} from '../../packages/web/src/tail-events.ts';

const EPOCH = 'a1b2c3d4';
const start = (inv: string) =>
  JSON.stringify({
    type: 'start',
    invocationId: inv,
    functionName: 'f',
    version: 3,
    mode: 'sync',
    trigger: 'api',
    attempt: 1,
    ts: 0,
  });
const log = (inv: string, message: string, level = 'info') =>
  JSON.stringify({ type: 'log', invocationId: inv, functionName: 'f', ts: 0, level, message });

function feed(state: TailState, events: Array<[string, string, string]>): TailState {
  return events.reduce((s, [type, id, data]) => applyTailEvent(s, type, id, data), state);
}

describe('the live tail reducer', () => {
  it('shows start, log lines and end, a failure with its error', () => {
    const state = feed(EMPTY_TAIL, [
      ['start', `${EPOCH}.1.0`, start('inv_1')],
      ['log', `${EPOCH}.1.1`, log('inv_1', 'greeting browser')],
      ['log', `${EPOCH}.1.2`, log('inv_1', 'boom', 'error')],
      [
        'end',
        `${EPOCH}.1.3`,
        JSON.stringify({
          type: 'end',
          invocationId: 'inv_1',
          functionName: 'f',
          status: 'failed',
          ts: 0,
          durationMs: 12.3,
          error: { type: 'TypeError', message: 'x is null' },
        }),
      ],
    ]);
    assert.deepEqual(
      state.entries.map((e) => [e.kind, e.bad, entryLine(e)]),
      [
        ['start', false, '00:00:00.000 …inv_1 ▶ start v3 (sync, api)'],
        ['log', false, '00:00:00.000 …inv_1 info\tgreeting browser'],
        ['log', true, '00:00:00.000 …inv_1 error\tboom'],
        ['end', true, '00:00:00.000 …inv_1 ■ end failed in 12 ms — TypeError: x is null'],
      ],
    );
    assert.equal(state.lastId, `${EPOCH}.1.3`);
  });

  it('drops what a reconnect sends again (at or before the newest id taken), keeps what is new', () => {
    const first = feed(EMPTY_TAIL, [
      ['start', `${EPOCH}.9.0`, start('inv_9')],
      ['log', `${EPOCH}.9.1`, log('inv_9', 'one')],
    ]);
    const again = feed(first, [
      ['start', `${EPOCH}.9.0`, start('inv_9')],
      ['log', `${EPOCH}.9.1`, log('inv_9', 'one')],
      ['log', `${EPOCH}.9.2`, log('inv_9', 'two')],
      // Numerically after, not as text ("10" < "9" as strings).
      ['start', `${EPOCH}.10.0`, start('inv_10')],
    ]);
    assert.deepEqual(
      again.entries.map((e) => e.id),
      [`${EPOCH}.9.0`, `${EPOCH}.9.1`, `${EPOCH}.9.2`, `${EPOCH}.10.0`],
    );
    // A restarted server has another epoch: its ids are new even when their numbers are lower.
    const restarted = feed(again, [
      ['gap', `${EPOCH}.10.0`, JSON.stringify({ reason: 'the server restarted' })],
      ['start', 'ffff0000.1.0', start('inv_11')],
    ]);
    assert.deepEqual(
      restarted.entries.slice(-2).map((e) => [e.kind, e.bad, entryLine(e)]),
      [
        ['gap', true, '— some events were missed: the server restarted'],
        ['start', false, '00:00:00.000 …inv_11 ▶ start v3 (sync, api)'],
      ],
    );
  });

  it('ignores what it cannot read, and keeps the newest lines only', () => {
    const odd = feed(EMPTY_TAIL, [
      ['log', `${EPOCH}.1.0`, 'not json'],
      ['log', `${EPOCH}.1.1`, '[1,2]'],
      ['message', `${EPOCH}.1.2`, log('inv', 'unnamed event type')],
      ['log', `${EPOCH}.1.3`, JSON.stringify({ message: { toString: 1 }, level: null })],
    ]);
    assert.deepEqual(
      odd.entries.map((e) => entryLine(e)),
      ['\t{"toString":1}'],
    );
    let many = EMPTY_TAIL;
    for (let i = 0; i < TAIL_KEEP + 50; i++)
      many = applyTailEvent(many, 'log', `${EPOCH}.${i}.0`, log('inv', `n${i}`));
    assert.equal(many.entries.length, TAIL_KEEP);
    assert.match(entryLine(many.entries[0] as never), /n50$/);
    assert.match(entryLine(many.entries.at(-1) as never), new RegExp(`n${TAIL_KEEP + 49}$`));
  });
});
