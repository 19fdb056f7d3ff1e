// HTTP/2 over TLS (issue 19, "Transport") on a real server with its default gateway threads:
// each session is a connection of its own, so the kernel spreads them over the threads (those
// that serve invokes, and the main one that the rest is passed on to).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type ClientHttp2Session, connect, constants } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { ERROR_STATUS } from '@faas/core';
import { ROUTE_SCOPES } from '../../packages/server/src/tenancy/route-scopes.ts';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

interface H2Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const BODY_LIMIT = 1024 * 1024;

describe('HTTP/2 over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faas-h2-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  let s: TestServer;
  let ca: Buffer;

  const session = (): Promise<ClientHttp2Session> =>
    new Promise((resolve, reject) => {
      const client = connect(s.url, { ca });
      client.once('connect', () => resolve(client));
      client.once('error', reject);
    });

  /** One request on a session of its own (a new connection: any thread may answer). */
  const h2 = async (
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: string | Buffer,
  ): Promise<H2Answer> => {
    const client = await session();
    try {
      return await new Promise((resolve, reject) => {
        // Node's client ends a DELETE's stream at once unless told a body follows.
        const stream = client.request(
          { ':method': method, ':path': path, ...headers },
          { endStream: body === undefined },
        );
        let status = 0;
        let got: H2Answer['headers'] = {};
        const chunks: Buffer[] = [];
        stream.on('response', (h) => {
          status = Number(h[':status']);
          got = h as H2Answer['headers'];
        });
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () =>
          resolve({ status, headers: got, body: Buffer.concat(chunks).toString('utf8') }),
        );
        stream.on('error', reject);
        if (body !== undefined) stream.end(body);
      });
    } finally {
      client.close();
    }
  };
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  const json = { ...admin, 'content-type': 'application/json' };

  before(async () => {
    execFileSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    ca = readFileSync(cert);
    // 0: the default, one thread per core (at most 4).
    s = await startTestServer({ tlsCert: cert, tlsKey: key, gatewayThreads: 0, bodyLimitBytes: BODY_LIMIT });
    const made = await h2(
      'POST',
      '/api/v1/functions',
      json,
      JSON.stringify({
        name: 'size',
        runtime: 'js',
        public: true,
        routes: ['POST /size'],
        code: 'export default (e) => ({ bytes: typeof e === "string" ? e.length : (e && e.body ? e.body.length : 0), host: e && e.headers ? e.headers.host : undefined, pseudo: e && e.headers ? Object.keys(e.headers).filter((h) => h.startsWith(":")) : [] })',
      }),
    );
    assert.equal(made.status, 201, made.body);
  });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('negotiates h2 and serves the API, invokes, /fn and declared routes on every thread', async () => {
    const client = await session();
    assert.equal(client.alpnProtocol, 'h2');
    client.close();
    for (let i = 0; i < 8; i++) {
      const list = await h2('GET', '/api/v1/functions', admin);
      assert.equal(list.status, 200, list.body);
      assert.deepEqual(
        (JSON.parse(list.body) as { items: Array<{ name: string }> }).items.map((f) => f.name),
        ['size'],
      );
      const invoked = await h2('POST', '/api/v1/functions/size/invoke', json, JSON.stringify('abc'));
      assert.equal(invoked.status, 200, invoked.body);
      assert.equal(JSON.parse(invoked.body).bytes, 3);
      assert.ok(invoked.headers['x-invocation-id']);
      const fn = await h2('POST', '/fn/size', { 'content-type': 'text/plain' }, 'hello');
      assert.equal(fn.status, 200, fn.body);
      // The function sees a Host, from :authority.
      assert.equal(JSON.parse(fn.body).host, new URL(s.url).host);
      assert.deepEqual(JSON.parse(fn.body).pseudo, [], 'HTTP/2 pseudo-headers are not headers');
      // A DELETE without a body, and a body on a method that seldom has one, passed on to the main thread.
      const temp = await h2(
        'PUT',
        `/api/v1/functions/temp-${i}`,
        json,
        '{"runtime":"js","code":"export default () => 1"}',
      );
      assert.equal(temp.status, 201, temp.body);
      const gone = await h2('DELETE', `/api/v1/functions/temp-${i}`, admin);
      assert.ok(gone.status === 200 || gone.status === 204, `${gone.status} ${gone.body}`);
      const withBody = await h2('DELETE', '/api/v1/functions/nope', json, '{');
      assert.equal(withBody.status, 400, withBody.body);
      const declared = await h2('POST', '/size', { 'content-type': 'text/plain' }, 'hi');
      assert.equal(declared.status, 200, declared.body);
      assert.equal(JSON.parse(declared.body).bytes, 2);
    }
  });

  it('takes a large body up to the limit, and answers one past it with a JSON 413', async () => {
    const big = 'x'.repeat(BODY_LIMIT - 64 * 1024);
    for (let i = 0; i < 4; i++) {
      const res = await h2('POST', '/fn/size', { 'content-type': 'text/plain' }, big);
      assert.equal(res.status, 200, res.body.slice(0, 300));
      assert.equal(JSON.parse(res.body).bytes, big.length);
      const over = await h2('POST', '/fn/size', { 'content-type': 'text/plain' }, 'y'.repeat(BODY_LIMIT + 1));
      assert.equal(over.status, 413);
      assert.equal(JSON.parse(over.body).error.code, 'FAAS_ERR_BODY_TOO_LARGE');
      // The API's routes, passed on to the main thread, too.
      const api = await h2('POST', '/api/v1/functions', json, `{"code":"${'z'.repeat(BODY_LIMIT)}"}`);
      assert.equal(api.status, 413, api.body.slice(0, 200));
      assert.equal(JSON.parse(api.body).error.code, 'FAAS_ERR_BODY_TOO_LARGE');
    }
  });

  it('answers errors in the JSON error format', async () => {
    for (const [method, path, headers, status, code] of [
      ['GET', '/api/v1/functions', {}, 401, 'FAAS_ERR_UNAUTHORIZED'],
      ['GET', '/api/v1/functions/nope', admin, 404, 'FAAS_ERR_FUNCTION_NOT_FOUND'],
      ['POST', '/api/v1/functions/nope/invoke', json, 404, 'FAAS_ERR_FUNCTION_NOT_FOUND'],
      ['POST', '/api/v1/functions', json, 400, 'FAAS_ERR_INVALID_JSON'],
      ['GET', '/api/v2/nothing', admin, 404, 'FAAS_ERR_NOT_FOUND'],
    ] as const) {
      const res = await h2(method, path, headers, method === 'POST' ? '{' : undefined);
      assert.equal(res.status, status, `${method} ${path}: ${res.body}`);
      assert.equal(JSON.parse(res.body).error.code, code);
      assert.match(String(res.headers['content-type']), /^application\/json/);
    }
  });

  it('streams server-sent events over h2, and a client that resets the stream leaves the server well', async () => {
    const made = await h2(
      'POST',
      '/api/v1/functions',
      json,
      JSON.stringify({
        name: 'logger',
        runtime: 'js',
        code: 'export default () => { console.log("h2-log-line"); return 1 }',
      }),
    );
    assert.equal(made.status, 201, made.body);
    // Several sessions: the main thread serves some itself, threads pass others on to it.
    for (let round = 0; round < 4; round++) {
      const client = await session();
      const first = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
        const stream = client.request({ ':path': '/api/v1/logs/stream?functionName=logger', ...admin });
        let status = 0;
        let type = '';
        let text = '';
        let invoked = false;
        stream.on('response', (h) => {
          status = Number(h[':status']);
          type = String(h['content-type']);
        });
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => {
          text += c;
          // Once the stream is open (its first bytes), an invoke's log line arrives as an event.
          if (!invoked) {
            invoked = true;
            void h2('POST', '/api/v1/functions/logger/invoke', json, '{}');
          }
          if (text.includes('h2-log-line')) {
            stream.close(constants.NGHTTP2_CANCEL);
            resolve({ status, type, text });
          }
        });
        stream.on('end', () => reject(new Error(`the stream ended: ${status} ${text}`)));
        stream.on('error', reject);
      });
      client.close();
      assert.equal(first.status, 200);
      assert.match(first.type, /^text\/event-stream/);
      assert.match(first.text, /event: log/);
    }
    assert.equal((await h2('GET', '/health')).status, 200);
  });

  it('bounds streams per connection and survives resets, a huge header block and unread answers', async () => {
    const client = await session();
    // More streams at once than the server allows: the extra are refused, the rest answered.
    const settled = await Promise.allSettled(
      Array.from(
        { length: 300 },
        () =>
          new Promise<number>((resolve, reject) => {
            const stream = client.request({ ':path': '/health' });
            stream.on('response', (h) => resolve(Number(h[':status'])));
            stream.on('error', reject);
            stream.resume();
            stream.end();
          }),
      ),
    );
    assert.ok(settled.some((r) => r.status === 'fulfilled' && r.value === 200));
    assert.equal(client.remoteSettings.maxConcurrentStreams, 128);
    client.destroy();
    // Streams reset as soon as they are sent.
    const resetter = await session();
    for (let i = 0; i < 200; i++)
      resetter.request({ ':path': '/api/v1/functions', ...admin }).close(constants.NGHTTP2_CANCEL);
    // A header block past the limit is refused, not served.
    const huge = await session();
    const refused = await new Promise<string>((resolve) => {
      const stream = huge.request({ ':path': '/health', 'x-big': 'a'.repeat(64 * 1024) });
      stream.on('response', (h) => resolve(`status ${h[':status']}`));
      stream.on('error', (err: Error) => resolve(err.message));
      stream.on('close', () => resolve('closed'));
      stream.end();
    });
    assert.doesNotMatch(refused, /status 200/);
    huge.destroy();
    // Never reading a large answer: flow control holds it, the server goes on serving others.
    const lazy = await session();
    const unread = lazy.request({ ':method': 'POST', ':path': '/fn/size', 'content-type': 'text/plain' });
    unread.pause();
    unread.end('x'.repeat(1000));
    resetter.destroy();
    for (let i = 0; i < 4; i++) assert.equal((await h2('GET', '/health')).status, 200);
    lazy.destroy();
  });

  it('answers hostile requests over h2 without a 5xx, and every error in the JSON error format', async () => {
    const segments = [
      'size',
      'nope',
      '%00',
      '%zz',
      '..%2F..',
      'A'.repeat(300),
      '__proto__',
      'size:999',
      'inst_x',
    ];
    const bodies = [
      '',
      '{',
      'null',
      '[]',
      '{"__proto__":{"a":1}}',
      `{"a":${'['.repeat(3000)}}`,
      'x'.repeat(5000),
    ];
    const extra: Array<Record<string, string>> = [
      {},
      { 'content-type': 'application/json' },
      { 'content-type': 'text/plain', 'x-faas-project': '../x' },
      { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      { 'x-invocation-type': 'Event' },
      { 'idempotency-key': 'k'.repeat(3000) },
      { cookie: 'faas_session=garbage', 'x-csrf-token': 'x' },
    ];
    const routes = Object.keys(ROUTE_SCOPES).map((r) => r.split(' ') as [string, string]);
    const codes = new Set(Object.keys(ERROR_STATUS));
    const problems: string[] = [];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    // One session for many requests, as browsers use h2; several sessions, so every thread serves some.
    for (let round = 0; round < 6; round++) {
      const client = await session();
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const [routeMethod, pattern] = pick(routes);
          const method = random() < 0.85 ? routeMethod : pick(['OPTIONS', 'PUT', 'TRACE', 'PATCH']);
          const path = `${pattern.replace(/:[a-z]+/g, () => pick(segments))}${pick(['', '?limit=-1', '?async=maybe', `?${'q'.repeat(2000)}=1`])}`;
          // Sandboxes would start real containers from a body that happens to be valid.
          const startsContainers = /\/(execute|instances|snapshots)/.test(path) && method !== 'GET';
          const headers = { ...pick(extra), ...(random() < 0.8 ? admin : {}) };
          const body =
            method === 'GET' || method === 'OPTIONS'
              ? undefined
              : startsContainers
                ? '{"bogus": '
                : pick(bodies);
          const answer = await new Promise<{ status: number; body: string } | { error: string }>(
            (resolve) => {
              const stream = client.request(
                { ':method': method, ':path': path, ...headers },
                { endStream: body === undefined },
              );
              let status = 0;
              const chunks: Buffer[] = [];
              stream.on('response', (h) => {
                status = Number(h[':status']);
                // A live stream never ends: its opening is enough.
                if (String(h['content-type']).startsWith('text/event-stream')) stream.close();
              });
              stream.on('data', (c: Buffer) => chunks.push(c));
              stream.on('close', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8') }));
              stream.on('error', (err: Error) => resolve({ error: err.message }));
              if (body !== undefined) stream.end(body);
            },
          );
          const what = `${method} ${path.slice(0, 100)} ${JSON.stringify(headers).slice(0, 100)}`;
          if ('error' in answer) return void problems.push(`${what}: ${answer.error}`);
          if (answer.status >= 500 || answer.status === 0)
            problems.push(`${what} → ${answer.status}: ${answer.body.slice(0, 200)}`);
          if (answer.status >= 400) {
            let code: unknown;
            try {
              code = JSON.parse(answer.body).error?.code;
            } catch {}
            if (typeof code !== 'string' || !codes.has(code))
              problems.push(`${what} → ${answer.status}: not the error format: ${answer.body.slice(0, 200)}`);
          }
        }),
      );
      client.close();
    }
    assert.deepEqual(problems.slice(0, 10), []);
    assert.equal((await h2('GET', '/health')).status, 200);
  });

  it('serves HTTP/1.1 on the same port, WebSocket upgrades included', async () => {
    const get = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; body: string; upgraded: boolean }>((resolve, reject) => {
        const req = httpsRequest(new URL(path, s.url), { headers, ca, agent: false }, (res) => {
          let text = '';
          res.on('data', (c) => {
            text += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, upgraded: false }));
        });
        req.on('upgrade', (_res, socket) => {
          socket.destroy();
          resolve({ status: 101, body: '', upgraded: true });
        });
        req.on('error', reject);
        req.end();
      });
    for (let i = 0; i < 6; i++) {
      const list = await get('/api/v1/functions', admin);
      assert.equal(list.status, 200, list.body);
      const ws = await get('/api/v1/instances/inst_none/stream', {
        ...admin,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': Buffer.from('0123456789abcdef').toString('base64'),
      });
      // The upgrade reached the WebSocket route, which answers an unknown instance before upgrading.
      assert.equal(ws.status, 404, ws.body);
      assert.equal(JSON.parse(ws.body).error.code, 'FAAS_ERR_NOT_FOUND');
    }
  });

  it('opens a WebSocket on an instance over HTTP/1.1 on the TLS port', {
    skip: engineSkipReason(),
    timeout: 300_000,
  }, async () => {
    const made = await h2('POST', '/api/v1/instances', json, '{}');
    assert.equal(made.status, 201, made.body);
    const id = (JSON.parse(made.body) as { id: string }).id;
    try {
      const url = new URL(s.url);
      // The handshake by hand (node's WebSocket takes no CA): the 101, then the first frame.
      const first = await new Promise<{ head: string; event: { type: string } }>((resolve, reject) => {
        const socket = tlsConnect(
          { host: url.hostname, port: Number(url.port), ca, ALPNProtocols: ['http/1.1'] },
          () => {
            socket.write(
              `GET /api/v1/instances/${id}/stream HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${ADMIN_KEY}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\n\r\n`,
            );
          },
        );
        let got = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          got = Buffer.concat([got, chunk]);
          const end = got.indexOf('\r\n\r\n');
          if (end < 0) return;
          const frame = got.subarray(end + 4);
          if (frame.length < 2) return;
          let length = (frame[1] as number) & 0x7f;
          let offset = 2;
          if (length === 126) {
            if (frame.length < 4) return;
            length = frame.readUInt16BE(2);
            offset = 4;
          }
          if (frame.length < offset + length) return;
          socket.destroy();
          resolve({
            head: got.subarray(0, end).toString('latin1'),
            event: JSON.parse(frame.subarray(offset, offset + length).toString('utf8')),
          });
        });
        socket.on('error', reject);
      });
      assert.match(first.head, /^HTTP\/1\.1 101 /);
      assert.equal(first.event.type, 'state');
    } finally {
      await h2('DELETE', `/api/v1/instances/${id}`, admin);
    }
  });
});

describe('FAAS_HTTP2=false', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faas-h1-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  let s: TestServer;
  before(async () => {
    execFileSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    s = await startTestServer({ tlsCert: cert, tlsKey: key, gatewayThreads: 0, http2: false });
  });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTP/1.1 only: no listener offers h2', async () => {
    const ca = readFileSync(cert);
    for (let i = 0; i < 6; i++) {
      const alpn = await new Promise<string | false>((resolve, reject) => {
        const url = new URL(s.url);
        const socket = tlsConnect(
          { host: url.hostname, port: Number(url.port), ca, ALPNProtocols: ['h2', 'http/1.1'] },
          () => {
            resolve(socket.alpnProtocol ?? false);
            socket.destroy();
          },
        );
        socket.on('error', reject);
      });
      assert.notEqual(alpn, 'h2');
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest(new URL('/health', s.url), { ca, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 200);
    }
  });
});
