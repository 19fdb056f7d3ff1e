import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NodeClient, SendFailure } from './node-client.ts';

const listen = async (server: Server): Promise<string> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

describe('NodeClient', () => {
  const client = new NodeClient();
  let server: Server;
  let base: string;
  const sockets = new Set<unknown>();

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/cut') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"partial":');
          res.socket?.destroy();
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ got: Buffer.concat(chunks).toString(), auth: req.headers.authorization }));
      });
    });
    server.on('connection', (s) => sockets.add(s));
    base = await listen(server);
  });
  after(() => {
    client.close();
    server.close();
  });

  it('posts the body with its headers and reads the answer, reusing the connection', async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await client.post(
        `${base}/x`,
        { authorization: 'Cluster s' },
        `{"i":${i}}`,
        AbortSignal.timeout(5_000),
      );
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.text), { got: `{"i":${i}}`, auth: 'Cluster s' });
    }
    assert.equal(sockets.size, 1, 'one kept-alive connection for three calls');
  });

  it('says no connection was made when none could be (the call may go to another worker)', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await new Promise((r) => closed.close(r));
    const err = await client.post(`${url}/x`, {}, '{}', AbortSignal.timeout(5_000)).catch((e: unknown) => e);
    assert.ok(err instanceof SendFailure);
    assert.equal(err.connected, false);
    assert.equal((err.cause as { code?: string }).code, 'ECONNREFUSED');
  });

  it('says a connection was made when the answer is cut (the call may have run)', async () => {
    const err = await client
      .post(`${base}/cut`, {}, '{}', AbortSignal.timeout(5_000))
      .catch((e: unknown) => e);
    assert.ok(err instanceof SendFailure, String(err));
    assert.equal(err.connected, true);
  });

  it('sends again on a new connection when the kept-alive one was closed under the request', async () => {
    // Node's reuse race: the worker closes an idle kept-alive connection as the next request goes
    // out on it (here: it resets every second request on a connection, unread).
    let handled = 0;
    const closing = createServer((req, res) => {
      const socket = req.socket as typeof req.socket & { requests?: number };
      socket.requests = (socket.requests ?? 0) + 1;
      if (socket.requests > 1) {
        req.socket.resetAndDestroy();
        return;
      }
      req.resume();
      req.on('end', () => {
        handled++;
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      });
    });
    const url = await listen(closing);
    try {
      assert.equal((await client.post(`${url}/x`, {}, '{}', AbortSignal.timeout(5_000))).status, 200);
      const again = await client
        .post(`${url}/x`, {}, '{}', AbortSignal.timeout(5_000))
        .catch((e: unknown) => e);
      assert.equal((again as { status?: number }).status, 200, String(again));
      assert.equal(handled, 2);
    } finally {
      closing.closeAllConnections();
      closing.close();
    }
  });

  it('a replay that finds the worker gone says a connection was made (the first send may have run)', async () => {
    const dying = createServer((req, res) => {
      const socket = req.socket as typeof req.socket & { requests?: number };
      socket.requests = (socket.requests ?? 0) + 1;
      if (socket.requests > 1) {
        dying.close();
        req.socket.resetAndDestroy();
        return;
      }
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    const url = await listen(dying);
    await client.post(`${url}/x`, {}, '{}', AbortSignal.timeout(5_000));
    const err = await client.post(`${url}/x`, {}, '{}', AbortSignal.timeout(5_000)).catch((e: unknown) => e);
    assert.ok(err instanceof SendFailure, String(err));
    assert.equal(err.connected, true);
  });

  it('stops at the signal', async () => {
    const hang = createServer(() => {});
    const url = await listen(hang);
    const aborter = new AbortController();
    const call = client.post(`${url}/x`, {}, '{}', aborter.signal).catch((e: unknown) => e);
    setTimeout(() => aborter.abort(new Error('gave up')), 50);
    const err = await call;
    assert.ok(err instanceof SendFailure);
    assert.equal(err.connected, true);
    hang.closeAllConnections();
    hang.close();
  });
});
