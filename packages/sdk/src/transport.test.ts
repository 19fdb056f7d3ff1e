import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FaasConnectionError } from './errors.ts';
import { MAX_NDJSON_LINE_CHARS, Transport } from './transport.ts';

const MiB = 1024 * 1024;

/** An answer of `chunks` MiB of `x` with no newline, and how many of them were read. */
function endlessLine(chunks: number) {
  const state = { pulled: 0 };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled === chunks) return controller.close();
      state.pulled++;
      controller.enqueue(new Uint8Array(MiB).fill(0x78));
    },
  });
  return { res: new Response(body), state };
}

describe('Transport.lines', () => {
  const http = new Transport({ baseUrl: 'http://faas.test', fetch });

  it('yields the lines of an NDJSON answer, the last one without its newline too', async () => {
    const lines: string[] = [];
    for await (const line of http.lines(new Response('{"a":1}\n\n{"b":2}\n{"c":3}'))) lines.push(line);
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('fails on a line past MAX_NDJSON_LINE_CHARS, without reading the rest', async () => {
    const chunks = MAX_NDJSON_LINE_CHARS / MiB + 8;
    const { res, state } = endlessLine(chunks);
    await assert.rejects(
      (async () => {
        for await (const _ of http.lines(res));
      })(),
      (err) => err instanceof FaasConnectionError && /line passed \d+ characters/.test(err.message),
    );
    assert.ok(state.pulled < chunks, `read ${state.pulled} of ${chunks} MiB`);
  });
});
