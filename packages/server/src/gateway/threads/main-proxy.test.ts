import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { MainProxy } from './main-proxy.ts';

/** A listener on an abstract Unix socket, as the main thread's internal one. */
async function listen(server: Server): Promise<string> {
  const path = `\0faas-main-proxy-test-${randomBytes(6).toString('hex')}`;
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return path;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => resolve(text));
  });
}

/** A front server (the gateway thread's) passing everything on through `proxy`. */
async function front(proxy: MainProxy): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => proxy.forward(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function post(url: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/echo`,
      { method: 'POST', agent: false, headers: { 'content-length': Buffer.byteLength(body) } },
      (res) => {
        readBody(res).then((text) => resolve({ status: res.statusCode ?? 0, body: text }), reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('MainProxy', () => {
  const closers: Array<() => void> = [];
  after(() => {
    for (const close of closers) close();
  });
  /** A front server passing everything on to `main` through a MainProxy; all closed after. */
  const through = async (main: Server) => {
    const proxy = new MainProxy(await listen(main));
    const gateway = await front(proxy);
    closers.push(
      () => main.close(),
      () => gateway.server.close(),
      () => proxy.close(),
    );
    return gateway;
  };

  it('sends a request again on a connection of its own when its kept-alive one was closed under it', async () => {
    // The main thread's side closes each connection as its second request arrives, unanswered:
    // what a keep-alive connection closing just as a request goes up on it looks like.
    const seen: string[] = [];
    const main = createServer(async (req, res) => {
      const socket = req.socket as typeof req.socket & { served?: number };
      socket.served = (socket.served ?? 0) + 1;
      if (socket.served === 2) {
        socket.destroy();
        return;
      }
      const body = await readBody(req);
      seen.push(body);
      res.end(`echo ${body}`);
    });
    const gateway = await through(main);

    assert.deepEqual(await post(gateway.url, 'first'), { status: 200, body: 'echo first' });
    const big = 'x'.repeat(50_000);
    assert.deepEqual(await post(gateway.url, big), { status: 200, body: `echo ${big}` });
    // The dropped request never ran; the one sent again ran once.
    assert.deepEqual(seen, ['first', big]);
  });

  it('answers 503 when the main thread drops a request on a new connection: it may have run', async () => {
    const main = createServer((req) => req.socket.destroy());
    const gateway = await through(main);

    const answer = await post(gateway.url, 'once');
    assert.equal(answer.status, 503);
    assert.equal(JSON.parse(answer.body).error.code, 'FAAS_ERR_RUNTIME_UNAVAILABLE');
  });

  it('passes a repeated Idempotency-Key on as sent, not joined into one key', async () => {
    const main = createServer((req, res) => {
      const keys = req.rawHeaders.filter(
        (_, i) => req.rawHeaders[i - 1]?.toLowerCase() === 'idempotency-key',
      );
      res.end(JSON.stringify(keys));
    });
    const gateway = await through(main);
    const send = (key: string | string[]) =>
      new Promise<string>((resolve, reject) => {
        const req = request(`${gateway.url}/x`, { agent: false, headers: { 'idempotency-key': key } });
        req.on('response', (res) => resolve(readBody(res)));
        req.on('error', reject);
        req.end();
      });
    assert.deepEqual(JSON.parse(await send(['a', 'b'])), ['a', 'b']);
    assert.deepEqual(JSON.parse(await send('a, b')), ['a, b']);
  });
});
