import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { ClusterNodeRecord } from '@faas/core';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { installErrorHandling } from '../gateway/errors.ts';
import { RequestForwarder, type WorkerWatch } from './forward-request.ts';
import { NotStarted } from './worker-failure.ts';

/**
 * A gateway's stream route forwarding the upgrade to a worker that accepts the connection and
 * never answers (stopped by SIGSTOP, its loop blocked): the caller gets an error, never a hang.
 */
describe('forwarding a WebSocket upgrade to a worker that never answers it', () => {
  const held: Socket[] = [];
  const stalled = createServer((socket) => held.push(socket));
  const forwarder = new RequestForwarder('secret', () => undefined);
  let app: FastifyInstance;
  let node: ClusterNodeRecord;
  let watch: WorkerWatch;

  before(async () => {
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    node = {
      id: 'worker-7',
      url: `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`,
    } as ClusterNodeRecord;
    app = Fastify();
    installErrorHandling(app, 1024);
    await app.register(websocket);
    app.get(
      '/api/v1/instances/:id/stream',
      {
        websocket: true,
        preHandler: (request, reply) => forwarder.forwardUpgrade(request, reply, node, watch),
      },
      () => {},
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    for (const socket of held) socket.destroy();
    stalled.close();
    forwarder.close();
    await app.close();
  });

  /** The upgrade's answer status and body, or 'pending' if none came within `ms`. */
  const upgrade = (ms: number) =>
    new Promise<{ status: number; body: string } | 'pending'>((resolve, reject) => {
      const { port } = app.server.address() as AddressInfo;
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        path: '/api/v1/instances/ins_1/stream',
        agent: false,
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'sec-websocket-version': '13',
        },
      });
      const timer = setTimeout(() => {
        req.destroy();
        resolve('pending');
      }, ms);
      req.on('upgrade', (_res, socket) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error('upgraded'));
      });
      req.on('response', (res) => {
        clearTimeout(timer);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end();
    });

  it('answers 502 FAAS_ERR_WORKER_LOST once the worker is out of the registry for its grace time', async () => {
    watch = { present: () => false, graceMs: 300 };
    const answer = await upgrade(4_000);
    assert.notEqual(answer, 'pending', 'the upgrade is still waiting for the worker');
    if (answer === 'pending') return;
    assert.equal(answer.status, 502, answer.body);
    const error = (JSON.parse(answer.body) as { error: { code: string; details?: unknown } }).error;
    assert.equal(error.code, 'FAAS_ERR_WORKER_LOST');
    assert.deepEqual(error.details, { worker: 'worker-7' });
    // The user sees the worker's id, never its internal address.
    assert.doesNotMatch(answer.body, /127\.0\.0\.1/);
  });

  it('answers 502 FAAS_ERR_WORKER_LOST when a worker still in the registry does not answer the handshake', async () => {
    watch = { present: () => true, graceMs: 300 };
    const answer = await upgrade(20_000);
    assert.notEqual(answer, 'pending', 'the upgrade is still waiting for the worker');
    if (answer === 'pending') return;
    assert.equal(answer.status, 502, answer.body);
    assert.match(answer.body, /FAAS_ERR_WORKER_LOST/);
    assert.match(answer.body, /handshake/);
  });
});

describe('forwarding to a worker that cannot be reached', () => {
  it('names the worker by its id only, not its internal address', async () => {
    // A port that refuses: listened on, then closed.
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const { port } = gone.address() as AddressInfo;
    await new Promise((resolve) => gone.close(resolve));
    const node = { id: 'worker-9', url: `http://127.0.0.1:${port}` } as ClusterNodeRecord;
    const forwarder = new RequestForwarder('secret', () => undefined);
    const request = { method: 'GET', url: '/api/v1/instances/ins_1', body: undefined, headers: {}, raw: {} };
    const reply = { raw: new PassThrough() };
    try {
      const err = await forwarder.forward(request as never, reply as never, node).then(
        () => assert.fail('forwarded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof NotStarted, String(err));
      assert.match(err.reason.message, /worker-9 could not be reached/);
      assert.doesNotMatch(JSON.stringify(err.reason.toJSON()), /127\.0\.0\.1/);
    } finally {
      forwarder.close();
    }
  });
});
