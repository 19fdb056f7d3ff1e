import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTraceparent, parseTraceContext, parseTraceState } from './trace-context.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('parseTraceContext', () => {
  it('reads a version 00 traceparent and a valid tracestate', () => {
    assert.deepEqual(parseTraceContext(VALID, 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE'), {
      traceId: TRACE,
      spanId: SPAN,
      flags: 1,
      state: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    });
    assert.deepEqual(parseTraceContext(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, flags: 0 });
  });

  it('reads the known fields of a later version, which may append more', () => {
    assert.equal(parseTraceContext(`01-${TRACE}-${SPAN}-01-extra`)?.traceId, TRACE);
    assert.equal(parseTraceContext(`01-${TRACE}-${SPAN}-01`)?.traceId, TRACE);
    assert.equal(parseTraceContext(`01-${TRACE}-${SPAN}-01x`), undefined);
  });

  it('ignores what the specification calls invalid', () => {
    for (const bad of [
      undefined,
      '',
      [VALID, VALID],
      `${VALID}, ${VALID}`,
      `${VALID}-`,
      VALID.toUpperCase(),
      `ff-${TRACE}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE}-${SPAN}-1`,
      `00_${TRACE}-${SPAN}-01`,
      ` ${VALID}`,
      `0g-${TRACE}-${SPAN}-01`,
      `01-${TRACE}-${SPAN}-01-${'a'.repeat(600)}`,
    ]) {
      assert.equal(parseTraceContext(bad), undefined, String(bad));
    }
  });

  it('drops an invalid tracestate alone', () => {
    for (const bad of ['=x', 'Upper=1', 'a=b=c', 'a=1,a=2', 'a=', 'a=\x01', `a=${'x'.repeat(600)}`, ',,']) {
      assert.deepEqual(parseTraceContext(VALID, bad), { traceId: TRACE, spanId: SPAN, flags: 1 }, bad);
    }
    const members = Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',');
    assert.equal(parseTraceState(members), undefined);
    assert.equal(parseTraceState(['a=1', 'tenant@vendor=2']), 'a=1,tenant@vendor=2');
  });

  it('formats a version 00 traceparent that parses back', () => {
    const header = formatTraceparent(TRACE, SPAN, 1);
    assert.equal(header, VALID);
    assert.deepEqual(parseTraceContext(header), { traceId: TRACE, spanId: SPAN, flags: 1 });
  });
});
