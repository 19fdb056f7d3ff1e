import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz } from '@faas/testkit';
import { SseParser } from './sse.ts';

const seeds = [
  'retry: 1000\n\nid: ab12cd34.1.0\nevent: start\ndata: {"type":"start"}\n\n',
  ': ping\r\n\r\nid: x\r\nevent: log\r\ndata: a\r\ndata: b\r\n\r\n',
  'data\n\ndata:no space\n\nevent: end\n\n',
].map((s) => new TextEncoder().encode(s));

describe('SseParser', () => {
  it('parses events, comments, CRLF, multi-line data and retry', () => {
    const p = new SseParser();
    const text = new TextDecoder().decode(seeds[0]) + new TextDecoder().decode(seeds[1]);
    // Fed one character at a time: a chunk may end anywhere, inside a CRLF too.
    const out = [...text].flatMap((c) => p.push(c));
    assert.deepEqual(out, [
      { id: 'ab12cd34.1.0', event: 'start', data: '{"type":"start"}' },
      { id: 'x', event: 'log', data: 'a\nb' },
    ]);
    assert.equal(p.retryMs, 1000);
  });

  it('survives any bytes: messages or its one refusal, never a crash or a hang', async () => {
    await fuzz({
      seeds,
      rejects: (err) => err instanceof Error && /server-sent event passed/.test(err.message),
      run: (input) => {
        const p = new SseParser();
        const text = new TextDecoder().decode(input);
        const half = text.length >> 1;
        for (const m of [...p.push(text.slice(0, half)), ...p.push(text.slice(half))]) {
          assert.equal(typeof m.data, 'string');
          assert.equal(typeof m.event, 'string');
        }
      },
    });
  });
});
