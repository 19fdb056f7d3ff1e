import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fuzz } from '@faas/testkit';
import { formatTraceparent, parseTraceContext } from './trace-context.ts';

const HEX = /^[0-9a-f]+$/;

it('parseTraceContext never throws and answers only well-formed contexts', async () => {
  const seeds = [
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\nrojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more\ntenant@vendor=x, a=b',
    'ff-00000000000000000000000000000000-0000000000000000-ff\n=',
  ].map((s) => new TextEncoder().encode(s));
  await fuzz({
    seeds,
    run: (input) => {
      // Header values reach the parser as latin1 strings, one header per line here.
      const [traceparent = '', tracestate] = Buffer.from(input).toString('latin1').split('\n');
      const context = parseTraceContext(traceparent, tracestate);
      if (!context) return;
      assert.ok(HEX.test(context.traceId) && context.traceId.length === 32);
      assert.ok(HEX.test(context.spanId) && context.spanId.length === 16);
      assert.notEqual(context.traceId, '0'.repeat(32));
      assert.ok(context.flags >= 0 && context.flags <= 255);
      // What is passed on parses back to the same context.
      assert.deepEqual(
        parseTraceContext(formatTraceparent(context.traceId, context.spanId, context.flags), context.state),
        context,
      );
    },
  });
});
