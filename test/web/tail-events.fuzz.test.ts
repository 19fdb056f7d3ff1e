// The console's tail reducer takes the log stream's event data, which carries what functions
// logged: any bytes must give a page state, never a throw (a throw would blank the tail).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz } from '@faas/testkit';
import { applyTailEvent, EMPTY_TAIL, entryLine, TAIL_KEEP } from '../../packages/web/src/tail-events.ts';

const ID = /^[0-9a-f]+\.\d{1,15}\.\d{1,9}$/;

const seeds = [
  'start\nab12cd34.1.0\n{"type":"start","invocationId":"inv_1","version":1,"mode":"sync","trigger":"api","attempt":2,"ts":1}',
  'log\nab12cd34.1.1\n{"type":"log","invocationId":"inv_1","ts":2,"level":"error","message":"x\\u0000y"}',
  'log\nab12cd34.1.3\n{"ts":1e300,"message":"far"}',
  'end\nab12cd34.1.2\n{"type":"end","status":"failed","durationMs":1e308,"error":{"type":{"a":[1]},"message":null}}',
  'gap\n\n{"reason":"restarted"}',
].map((s) => new TextEncoder().encode(s));

describe('the live tail reducer, fuzzed', () => {
  it('turns any event into a state: no throw, bounded, and an event with an id taken once', async () => {
    const warm = applyTailEvent(EMPTY_TAIL, 'log', 'ab12cd34.0.5', '{"message":"before"}');
    await fuzz({
      seeds,
      run: (input) => {
        const [type = '', id = '', data = ''] = new TextDecoder().decode(input).split('\n', 3);
        const once = applyTailEvent(warm, type, id, data);
        const twice = applyTailEvent(once, type, id, data);
        assert.ok(twice.entries.length <= TAIL_KEEP);
        for (const entry of twice.entries) assert.equal(typeof entryLine(entry), 'string');
        if (type !== 'gap' && ID.test(id))
          assert.equal(twice.entries.length, once.entries.length, 'shown twice');
      },
    });
  });
});
