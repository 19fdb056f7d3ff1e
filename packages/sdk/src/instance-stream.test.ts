import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FaasConnectionError } from './errors.ts';
import { MAX_UNREAD_EVENTS, openInstanceStream, type WebSocketClass } from './instance-stream.ts';

/** A WebSocket the test drives: it opens at once and delivers what the test says. */
function fakeSocket() {
  const listeners = new Map<string, Array<(event: never) => void>>();
  const state = { closedWith: undefined as [number | undefined, string | undefined] | undefined };
  const emit = (type: string, event: unknown) => {
    for (const listener of listeners.get(type) ?? []) listener(event as never);
  };
  class FakeWebSocket {
    constructor() {
      queueMicrotask(() => emit('open', {}));
    }
    send() {}
    close(code?: number, reason?: string) {
      state.closedWith = [code, reason];
      queueMicrotask(() => emit('close', { code: code ?? 1005, reason: reason ?? '' }));
    }
    addEventListener(type: string, listener: (event: never) => void) {
      listeners.set(type, [...(listeners.get(type) ?? []), listener]);
    }
  }
  return { WebSocket: FakeWebSocket as unknown as WebSocketClass, emit, state };
}

describe('the instance stream as an async iterator', () => {
  it('yields events in order and ends when the socket closes', async () => {
    const fake = fakeSocket();
    const stream = openInstanceStream('ws://x', {}, {}, async () => {}, fake.WebSocket);
    await stream.opened;
    for (let seq = 1; seq <= 3; seq++)
      fake.emit('message', { data: JSON.stringify({ type: 'heartbeat', time: seq }) });
    fake.emit('close', { code: 1000, reason: '' });
    const times: number[] = [];
    for await (const event of stream) if (event.type === 'heartbeat') times.push(event.time);
    assert.deepEqual(times, [1, 2, 3]);
  });

  it('closes a stream nobody reads past MAX_UNREAD_EVENTS, then fails the iteration after them', async () => {
    const fake = fakeSocket();
    const stream = openInstanceStream('ws://x', {}, {}, async () => {}, fake.WebSocket);
    await stream.opened;
    const message = { data: JSON.stringify({ type: 'heartbeat', time: 0 }) };
    for (let i = 0; i < MAX_UNREAD_EVENTS + 5; i++) fake.emit('message', message);
    assert.deepEqual(fake.state.closedWith, [4000, 'events not read']);
    let read = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of stream) read++;
      })(),
      (err) => err instanceof FaasConnectionError && /were not read/.test(err.message),
    );
    assert.equal(read, MAX_UNREAD_EVENTS, 'the events it kept are read first');
  });

  it('fails the iteration on a frame that is not a JSON event, and closes the socket (4003)', async () => {
    for (const data of ['not json <html>', '42', new Blob(['{"type":"heartbeat","time":1}'])]) {
      const fake = fakeSocket();
      const stream = openInstanceStream('ws://x', {}, {}, async () => {}, fake.WebSocket);
      await stream.opened;
      fake.emit('message', { data: JSON.stringify({ type: 'heartbeat', time: 1 }) });
      fake.emit('message', { data });
      assert.equal(fake.state.closedWith?.[0], 4003, `closed after ${String(data)}`);
      const seen: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const event of stream) seen.push(event.type);
        })(),
        (err) => err instanceof FaasConnectionError && /not a JSON event/.test(err.message),
      );
      assert.deepEqual(seen, ['heartbeat'], 'the events before it are read first');
    }
  });

  it('fails the iteration when nothing, not even a heartbeat, came for 3 heartbeat intervals', async () => {
    const fake = fakeSocket();
    const stream = openInstanceStream('ws://x', {}, { heartbeatMs: 100 }, async () => {}, fake.WebSocket);
    await stream.opened;
    const started = Date.now();
    // Heartbeats keep it open past the 300 ms a silent socket is given.
    for (let i = 1; i <= 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 90));
      fake.emit('message', { data: JSON.stringify({ type: 'heartbeat', time: i }) });
    }
    assert.equal(fake.state.closedWith, undefined, 'open while heartbeats come');
    let read = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of stream) read++;
      })(),
      (err) => err instanceof FaasConnectionError && /no heartbeat/.test(err.message),
    );
    assert.equal(read, 5);
    assert.ok(Date.now() - started >= 450 + 300 - 50, 'failed only after 3 missed heartbeats');
    assert.equal(fake.state.closedWith?.[0], 4001);
    // A socket that cannot even close (half open) still resolves `closed`.
    assert.equal((await stream.closed).code, 1006);
  });
});
