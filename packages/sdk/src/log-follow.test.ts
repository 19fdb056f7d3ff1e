import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FaaSClient } from './client.ts';
import { FaasApiError, FaasConnectionError } from './errors.ts';
import { MAX_RECONNECT_DELAY_MS, reconnectDelay } from './log-follow.ts';
import { MAX_SSE_EVENT_CHARS } from './sse.ts';

/** A client whose `fetch` gives the answers in turn (the last one again and again). */
function clientAnswering(answers: Array<() => Response>) {
  const state = { calls: 0 };
  const fetch = (async () => {
    const answer = answers[Math.min(state.calls, answers.length - 1)] as () => Response;
    state.calls++;
    return answer();
  }) as typeof globalThis.fetch;
  return { client: new FaaSClient({ baseUrl: 'http://faas.test', fetch }), state };
}

const sse = (text: string) => () => new Response(text, { headers: { 'content-type': 'text/event-stream' } });
const status = (code: number) => () =>
  new Response(JSON.stringify({ error: { code: `HTTP_${code}`, message: `answered ${code}` } }), {
    status: code,
    headers: { 'content-type': 'application/json' },
  });
const down = () => {
  throw new TypeError('fetch failed');
};
// `retry: 10` keeps the test's waits short; the backoff doubles it from there.
const logLine = (n: number) =>
  sse(`retry: 10\n\nid: e.${n}\nevent: log\ndata: {"invocationId":"i","message":"line ${n}"}\n\n`);

describe('followLogs', () => {
  it('waits out a gateway that is restarting (502, 503, 504, unreachable) and goes on', async () => {
    const { client, state } = clientAnswering([
      logLine(1),
      status(502),
      status(503),
      down,
      status(504),
      logLine(2),
    ]);
    const stop = new AbortController();
    const messages: string[] = [];
    for await (const event of client.followLogs('f', { signal: stop.signal })) {
      if (event.type === 'log') messages.push(event.message);
      if (messages.length === 2) stop.abort();
    }
    assert.deepEqual(messages, ['line 1', 'line 2']);
    assert.equal(state.calls, 6);
  });

  it('stops with the refusal when a reconnect is refused (401, 403, 404)', async () => {
    for (const code of [401, 403, 404]) {
      const { client } = clientAnswering([logLine(1), status(code)]);
      await assert.rejects(
        (async () => {
          for await (const _ of client.followLogs('f'));
        })(),
        (err) => err instanceof FaasApiError && err.status === code,
      );
    }
  });

  it('fails on an event too large, instead of reconnecting to it forever', async () => {
    const { client, state } = clientAnswering([
      sse(`retry: 10\n\ndata: ${'a'.repeat(MAX_SSE_EVENT_CHARS + 1)}`),
    ]);
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 1_000);
    try {
      await assert.rejects(
        (async () => {
          for await (const _ of client.followLogs('f', { signal: stop.signal }));
        })(),
        (err) => err instanceof FaasConnectionError && /passed \d+ characters/.test(err.message),
      );
    } finally {
      clearTimeout(timer);
    }
    assert.equal(state.calls, 1);
  });
});

describe('reconnectDelay', () => {
  it('doubles from the server’s retry up to MAX_RECONNECT_DELAY_MS, or the retry when longer', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 30].map((failures) => reconnectDelay(1_000, failures)),
      [1_000, 2_000, 4_000, MAX_RECONNECT_DELAY_MS, MAX_RECONNECT_DELAY_MS, MAX_RECONNECT_DELAY_MS],
    );
    assert.equal(reconnectDelay(8_000, 3), 8_000);
  });
});
