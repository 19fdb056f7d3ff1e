import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { type ClusterNodeRecord, isFaasError } from '@faas/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequestForwarder, workerUrl } from './forward-request.ts';
import { NotStarted } from './worker-failure.ts';

it("sends a forwarded request to the worker's host whatever host or path form the caller gave", () => {
  const node = { url: 'http://10.0.0.7:8080' };
  for (const given of [
    '/api/v1/instances/inst_1/files?path=a%20b',
    'http://attacker.example:9999/api/v1/instances/inst_1/files?path=a%20b',
    'https://attacker.example/api/v1/instances/inst_1/files?path=a%20b',
    '//attacker.example/api/v1/instances/inst_1/files?path=a%20b',
  ]) {
    const url = workerUrl(node, given);
    assert.equal(url.origin, 'http://10.0.0.7:8080', given);
  }
  const url = workerUrl(node, '/api/v1/instances/inst_1/files?path=a%20b');
  assert.equal(`${url.pathname}${url.search}`, '/api/v1/instances/inst_1/files?path=a%20b');
});

/** A gateway's request and reply as forward() uses them; `status` is what the caller was answered. */
function exchange(method: string, url: string, body?: unknown) {
  const raw = Object.assign(
    new Writable({
      write(_chunk, _encoding, done) {
        done();
      },
    }),
    {
      statusCode: 0,
      writeHead(status: number) {
        raw.statusCode = status;
        return raw;
      },
      flushHeaders() {},
    },
  );
  const request = { method, url, body, headers: {}, raw: { url } } as unknown as FastifyRequest;
  const reply = { raw, hijack() {} } as unknown as FastifyReply;
  return { request, reply, status: () => raw.statusCode };
}

async function listen(server: Server): Promise<ClusterNodeRecord> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { id: 'w1', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } as ClusterNodeRecord;
}

describe('RequestForwarder.forward', () => {
  const forwarder = new RequestForwarder('secret', () => undefined);
  after(() => forwarder.close());

  it('an error on a connection the worker took (keepalive gave up: ETIMEDOUT) is WORKER_LOST, not "never started"', async () => {
    // The gateway's side of each connection, as forward() made it.
    const gatewaySockets: Socket[] = [];
    const setKeepAlive = Socket.prototype.setKeepAlive;
    Socket.prototype.setKeepAlive = function (this: Socket, ...args: unknown[]) {
      gatewaySockets.push(this);
      return Reflect.apply(setKeepAlive, this, args) as Socket;
    } as typeof setKeepAlive;
    let took = 0;
    // It takes the create and goes silent (partitioned mid-request).
    const silent = createServer((req) => {
      req.resume();
      req.on('end', () => {
        took++;
        const timedOut = Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT' });
        setTimeout(() => gatewaySockets.at(-1)?.destroy(timedOut), 50);
      });
    });
    try {
      const node = await listen(silent);
      const { request, reply } = exchange('POST', '/api/v1/instances', { image: 'x' });
      const err = await forwarder.forward(request, reply, node).catch((e: unknown) => e);
      assert.equal(took, 1);
      assert.ok(
        !(err instanceof NotStarted),
        `a retry elsewhere would make a second instance: ${String(err)}`,
      );
      assert.ok(isFaasError(err) && err.code === 'FAAS_ERR_WORKER_LOST', String(err));
    } finally {
      Socket.prototype.setKeepAlive = setKeepAlive;
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('sends again on a new connection to the same worker when the kept-alive one was closed under it', async () => {
    // Node's reuse race: the worker closes an idle kept-alive connection as the next request goes
    // out on it (here: it resets every second request on a connection, unread).
    let answered = 0;
    const closing = createServer((req, res) => {
      const socket = req.socket as typeof req.socket & { requests?: number };
      socket.requests = (socket.requests ?? 0) + 1;
      if (socket.requests > 1) {
        req.socket.resetAndDestroy();
        return;
      }
      answered++;
      res.setHeader('content-type', 'application/json');
      res.end('{"id":"i1","status":"running"}');
    });
    try {
      const node = await listen(closing);
      for (let i = 0; i < 2; i++) {
        const { request, reply, status } = exchange('GET', '/api/v1/instances/i1');
        const err = await forwarder.forward(request, reply, node).catch((e: unknown) => e);
        assert.equal(err, undefined, `call ${i}: ${String(err)}`);
        assert.equal(status(), 200);
      }
      assert.equal(answered, 2);
    } finally {
      closing.closeAllConnections();
      closing.close();
    }
  });
});
