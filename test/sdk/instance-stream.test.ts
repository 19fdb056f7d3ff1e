import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { FaaSClient, FaasConnectionError } from '@faas/sdk';
import { WebSocketServer } from 'ws';

/**
 * The SDK's instance stream over a real WebSocket (Node's global one) against a server that
 * misbehaves: no faas server, so no engine needed.
 */
describe('the SDK instance stream against a hostile server', () => {
  const servers: WebSocketServer[] = [];
  after(() => {
    for (const wss of servers) {
      for (const client of wss.clients) client.terminate();
      wss.close();
    }
  });
  const serve = async (onConnection: (socket: import('ws').WebSocket) => void) => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    servers.push(wss);
    await new Promise((resolve) => wss.once('listening', resolve));
    wss.on('connection', onConnection);
    return new FaaSClient({ baseUrl: `http://127.0.0.1:${(wss.address() as AddressInfo).port}` });
  };

  for (const [what, frame] of [
    ['a text frame that is not JSON', 'not json <html>'],
    ['a binary frame', Buffer.from('{"type":"heartbeat","time":2}')],
  ] as const) {
    it(`fails the iteration on ${what}; the process lives`, async () => {
      const client = await serve((socket) => {
        socket.send(JSON.stringify({ type: 'heartbeat', time: 1 }));
        socket.send(frame);
      });
      const stream = client.stream('inst_x');
      const seen: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const event of stream) seen.push(event.type);
        })(),
        (err) => err instanceof FaasConnectionError && /not a JSON event/.test(err.message),
      );
      assert.deepEqual(seen, ['heartbeat']);
      assert.equal((await stream.closed).code, 4003);
    });
  }

  it('fails the iteration of a connection that went silent (no heartbeats)', async () => {
    // The server answers the upgrade and one event, then nothing: a half-open connection.
    const client = await serve((socket) => socket.send(JSON.stringify({ type: 'heartbeat', time: 1 })));
    const stream = client.stream('inst_x', { heartbeatMs: 100 });
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (err) => err instanceof FaasConnectionError && /no heartbeat/.test(err.message),
    );
  });
});
