// HEAD on an instance's Server-Sent Events route answers as the router answers HEAD on any GET
// route: the head at once, then the end (node sends a HEAD answer's head only when it ends).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason } from '../support/engine.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('HEAD /api/v1/instances/{id}/events', { skip: engineSkipReason() }, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("answers at once with the stream's head and no stream", async () => {
    const made = await s.api('/api/v1/instances', { method: 'POST', json: {} });
    assert.equal(made.status, 201, await made.clone().text());
    const { id } = (await made.json()) as { id: string };
    const head = await s.api(`/api/v1/instances/${id}/events`, {
      method: 'HEAD',
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(await head.text(), '');
    // The stream itself is unchanged: its first event is the instance's state.
    const sse = await s.api(`/api/v1/instances/${id}/events`);
    const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /^event: state\n/);
    await reader.cancel();
    assert.equal((await s.api(`/api/v1/instances/${id}`, { method: 'DELETE' })).status, 204);
  });
});
