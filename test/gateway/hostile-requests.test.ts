import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ERROR_STATUS } from '@faas/core';
import { ROUTE_SCOPES } from '../../packages/server/src/tenancy/route-scopes.ts';
import { ADMIN_KEY, request, type ServerProcess, spawnServer, tempDataDir } from '../support/server.ts';

/**
 * Issue 19's hostile run: at least 10,000 malformed and hostile requests (names, query strings,
 * headers, bodies, keys and tokens) against a real server process with its default gateway
 * threads. None may answer 5xx, crash the server, answer an error outside the JSON error format,
 * or show one project's data to another project's key. Deterministic for HOSTILE_SEED.
 */
const REQUESTS = Number(process.env.HOSTILE_REQUESTS ?? 10_000);
const SEED = Number(process.env.HOSTILE_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** In a function's env in project `alpha`: no answer to `beta`'s key may hold it. */
const MARKER = 'alpha-only-9f3c1e';
/** The one origin `alpha` allows (CORS, with credentials): no answer may allow another. */
const ALPHA_ORIGIN = 'https://app.alpha.example';

/** mulberry32: small, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE_SEGMENTS = [
  'alpha-fn',
  'beta-fn',
  'nope',
  '',
  '..',
  '..%2F..%2Fetc%2Fpasswd',
  '%00',
  '%zz',
  '%E0%A4%A',
  'A'.repeat(300),
  '9'.repeat(40),
  '-1',
  '0',
  '1e309',
  'NaN',
  '__proto__',
  'constructor',
  'alpha-fn:99999999999',
  'alpha-fn:latest',
  'alpha-fn:-1',
  '%F0%9F%98%80',
  'inv_01m93p7thwxh2qmacgp3xf06qw',
  'inst_x',
  "'; DROP TABLE functions; --",
  '%27%20OR%201%3D1',
  '${jndi:ldap://x}',
];

const QUERIES = [
  '',
  '?limit=-1',
  '?limit=99999999999999999999',
  '?limit=abc',
  '?cursor=%00%01',
  '?cursor=eyJhIjoxfQ',
  '?functionName=alpha-fn',
  '?functionName=beta-fn&status=bogus',
  '?status=succeeded&since=not-a-date&until=2026-99-99',
  // A leap second: the date-time format takes it, Date does not.
  '?since=2016-12-31T23:59:60Z',
  '?async=true',
  '?async=maybe',
  '?version=0',
  '?version=1.5',
  '?afterSeq=-5',
  '?__proto__[x]=1',
  '?constructor[prototype][x]=1',
  '?a=1&a=2&a=3',
  `?${'x'.repeat(4000)}=1`,
  '?stream=true',
  '?ticket=garbage',
  '?window=century',
];

const TOKENS = [
  () => undefined,
  () => `Bearer ${ADMIN_KEY}`,
  (keys: Keys) => `Bearer ${keys.alpha}`,
  (keys: Keys) => `Bearer ${keys.beta}`,
  () => 'Bearer ',
  () => 'Bearer',
  () => 'Basic YWRtaW46YWRtaW4=',
  () => `bearer ${ADMIN_KEY.toUpperCase()}`,
  () => `Bearer ${ADMIN_KEY} extra`,
  () => `Bearer ${'k'.repeat(5000)}`,
  // JWT-shaped: alg none, a garbage signature, nonsense segments.
  () => 'Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJyb2xlIjoiYWRtaW4iLCJwcm9qZWN0IjoiYWxwaGEifQ.',
  () => 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYWRtaW4ifQ.c2lnbmF0dXJl',
  () => 'Bearer a.b.c',
  () => 'Bearer faas_0000000000000000000000000000000000000000',
];

const BODIES: Array<() => { type?: string; body: string | Buffer }> = [
  () => ({ type: 'application/json', body: '' }),
  () => ({ type: 'application/json', body: '{' }),
  () => ({ type: 'application/json', body: 'null' }),
  () => ({ type: 'application/json', body: '[]' }),
  () => ({ type: 'application/json', body: '"string"' }),
  () => ({ type: 'application/json', body: '1e999' }),
  () => ({
    type: 'application/json',
    body: '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}',
  }),
  () => ({ type: 'application/json', body: `${'['.repeat(5000)}${']'.repeat(5000)}` }),
  () => ({ type: 'application/json', body: `{"a":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}` }),
  () => ({ type: 'application/json', body: '{"name":123,"runtime":["js"],"code":{"files":"x"}}' }),
  () => ({ type: 'application/json', body: '{"name":"alpha-fn","runtime":"cobol","code":"x","extra":1}' }),
  () => ({
    type: 'application/json',
    body: '{"name":"../x","runtime":"js","code":{"archive":"!!!notbase64"}}',
  }),
  () => ({
    type: 'application/json',
    body: '{"runtime":"js","code":{"archive":"UEsDBAo=","format":"zip"},"bogus":1}',
  }),
  () => ({ type: 'application/json', body: '{"role":"admin","project":"alpha","name":"k","scopes":["*"]}' }),
  () => ({
    type: 'application/json',
    body: '{"timeoutMs":-1,"memoryMb":1e30,"maxConcurrency":"x","bogus":1}',
  }),
  () => ({ type: 'application/json', body: '{"schedules":["* * * *"],"routes":["GET"],"env":{"1BAD":"x"}}' }),
  () => ({ type: 'application/json', body: '\uFEFF{"a":1}' }),
  () => ({ type: 'application/json', body: Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x00]) }),
  () => ({ type: 'application/json; charset=utf-16', body: '{"a":1}' }),
  () => ({ type: 'application/x-www-form-urlencoded', body: 'a=1&b=2' }),
  () => ({ type: 'multipart/form-data; boundary=x', body: '--x\r\n\r\n--x--' }),
  () => ({ type: 'text/plain', body: 'hello' }),
  () => ({ type: 'application/octet-stream', body: Buffer.alloc(64, 0xaa) }),
  () => ({ type: 'application/json', body: JSON.stringify({ value: 'x'.repeat(200_000) }) }),
  () => ({ body: 'no content type at all' }),
  () => ({ type: 'image/png', body: Buffer.from([0x89, 0x50, 0x4e, 0x47]) }),
  () => ({
    type: 'application/json',
    body: '{"cors":{"allowOrigins":["*"],"allowCredentials":true,"maxAgeSeconds":-1}}',
  }),
  () => ({
    type: 'application/json',
    body: `{"cors":{"allowOrigins":[${'"https://a.example/",'.repeat(100)}"null"],"allowHeaders":["a b"]}}`,
  }),
  () => ({ type: 'application/json', body: '{"cors":{"allowOrigins":"https://x.example","bogus":1}}' }),
];

const EXTRA_HEADERS: Array<Record<string, string>> = [
  {},
  { 'x-faas-project': 'alpha' },
  { 'x-faas-project': '../../etc' },
  { 'x-invocation-type': 'Event' },
  { 'x-invocation-type': 'Bogus' },
  { 'idempotency-key': 'k'.repeat(2000) },
  { 'x-csrf-token': 'x', cookie: 'faas_session=garbage' },
  { cookie: `faas_session=${'a'.repeat(4000)}` },
  { 'transfer-encoding': 'chunked' },
  { 'x-forwarded-for': '127.0.0.1, 10.0.0.1' },
  { 'last-event-id': '-1' },
  { 'last-event-id': '99999999999999999999999' },
  { traceparent: '00-zzzz-yyyy-01' },
  { accept: 'text/event-stream' },
  { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
  { origin: ALPHA_ORIGIN },
  { origin: 'null' },
  { origin: `${ALPHA_ORIGIN}.evil.example` },
  {
    origin: ALPHA_ORIGIN,
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'authorization',
  },
  { origin: ALPHA_ORIGIN, 'access-control-request-method': 'P O S T' },
  {
    origin: ALPHA_ORIGIN,
    'access-control-request-method': 'GET',
    'access-control-request-headers': ',,,'.repeat(3000),
  },
  {
    origin: 'https://evil.example',
    'access-control-request-method': 'DELETE',
    'access-control-request-headers': 'x',
  },
];

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND'];

/** Paths outside the API's table that anyone can reach. */
const OTHER_PATHS = [
  '/',
  '/health',
  '/metrics',
  '/openapi.json',
  '/docs',
  '/console/',
  '/console/../../../etc/passwd',
  '/console/%2e%2e/%2e%2e/etc/passwd',
  '/console/assets/nope.js',
  '/fn/alpha-fn',
  '/fn/beta-fn',
  '/fn/',
  '/fn/%00',
  '/hello',
  '//api/v1/functions',
  '/api/v1/',
  '/api/v2/functions',
  `/${'a/'.repeat(2000)}`,
  '/api/v1/functions/alpha-fn/invoke/extra',
];

interface Keys {
  alpha: string;
  beta: string;
}

interface Answer {
  status: number;
  type: string;
  body: string;
  allowOrigin: string | undefined;
  allowCredentials: string | undefined;
}

/** Sends exactly what it is given (fetch would tidy the path, method and headers). */
function send(
  base: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | Buffer | undefined,
): Promise<Answer | 'refused-by-client' | { error: string }> {
  return new Promise((resolve) => {
    let req: ReturnType<typeof httpRequest>;
    try {
      // A connection each: a request that poisons its connection must not fail the next one.
      req = httpRequest({
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers,
        agent: false,
        timeout: 15_000,
      });
    } catch {
      // Node refuses to send some of these (a bad character in a header): not the server's fault.
      resolve('refused-by-client');
      return;
    }
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const type = String(res.headers['content-type'] ?? '');
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 1_000_000) chunks.push(c);
        // A live stream (a log tail) never ends: its opening is enough.
        if (type.startsWith('text/event-stream')) res.destroy();
      });
      const done = () =>
        resolve({
          status: res.statusCode ?? 0,
          type,
          body: Buffer.concat(chunks).toString('utf8'),
          allowOrigin: res.headers['access-control-allow-origin'],
          allowCredentials: res.headers['access-control-allow-credentials'],
        });
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in 15 s: ${method} ${path.slice(0, 200)}`)));
    req.on('error', (err) => resolve({ error: err.message }));
    req.end(body);
  });
}

describe('hostile requests', () => {
  const dataDir = tempDataDir();
  let server: ServerProcess;
  let keys: Keys;

  before(async () => {
    // Default gateway threads; a bad key now and then must not lock the good ones out for the run.
    server = await spawnServer(dataDir, { FAAS_AUTH_FAILURE_LIMIT: '1000000' });
    const admin = (path: string, json?: unknown, method = 'POST') =>
      request(server.url, path, { method, ...(json === undefined ? {} : { json }) });
    for (const project of ['alpha', 'beta']) {
      assert.equal((await admin('/api/v1/projects', { name: project })).status, 201);
    }
    const keyOf = async (project: string) => {
      const res = await admin('/api/v1/keys', { name: `${project}-owner`, project, role: 'owner' });
      assert.equal(res.status, 201, await res.clone().text());
      return ((await res.json()) as { key: string }).key;
    };
    keys = { alpha: await keyOf('alpha'), beta: await keyOf('beta') };
    const cors = await admin(
      '/api/v1/projects/alpha',
      { cors: { allowOrigins: [ALPHA_ORIGIN], allowCredentials: true } },
      'PATCH',
    );
    assert.equal(cors.status, 200, await cors.clone().text());
    for (const [project, name, env] of [
      ['alpha', 'alpha-fn', { SECRET: MARKER }],
      ['beta', 'beta-fn', {}],
    ] as const) {
      const res = await request(server.url, '/api/v1/functions', {
        method: 'POST',
        key: project === 'alpha' ? keys.alpha : keys.beta,
        json: {
          name,
          runtime: 'js',
          env,
          code: 'export default (e) => { console.log(e); return e; }',
          routes: [`GET /${name}/:id`],
        },
      });
      assert.equal(res.status, 201, await res.clone().text());
    }
    // A record and logs for alpha, whose result holds the marker: beta's key must never see them.
    const invoked = await request(server.url, '/api/v1/functions/alpha-fn/invoke', {
      method: 'POST',
      key: keys.alpha,
      json: MARKER,
    });
    assert.equal(invoked.status, 200);
  });

  after(async () => {
    await server?.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers bytes that are not HTTP in the JSON error format', async () => {
    const raw = (bytes: string) =>
      new Promise<string>((resolve, reject) => {
        const url = new URL(server.url);
        const socket = connect(Number(url.port), url.hostname, () => socket.write(bytes));
        let got = '';
        socket.on('data', (c) => {
          got += c.toString('latin1');
        });
        socket.on('close', () => resolve(got));
        socket.on('error', reject);
        socket.setTimeout(10_000, () => socket.destroy(new Error(`no close: ${got}`)));
      });
    const errorOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error;
    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    assert.equal(errorOf(garbage).code, 'FAAS_ERR_BAD_REQUEST');
    const bigHeader = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`);
    assert.match(bigHeader, /^HTTP\/1\.1 431 /);
    assert.equal(errorOf(bigHeader).code, 'FAAS_ERR_BAD_REQUEST');
    // The same refusal of a HEAD request has no body (a client would read it as a broken answer).
    const bigHead = await raw(`HEAD /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`);
    assert.match(bigHead, /^HTTP\/1\.1 431 /);
    assert.ok(bigHead.endsWith('\r\n\r\n'), bigHead);
  });

  it('refuses a time filter Date cannot read (a leap second) with 422 naming it', async () => {
    for (const path of ['/api/v1/invocations', '/api/v1/audit']) {
      for (const field of ['since', 'until']) {
        const res = await request(server.url, `${path}?${field}=2016-12-31T23:59:60Z`, { key: keys.alpha });
        const body = (await res.json()) as { error: { code: string; details: Array<{ field: string }> } };
        assert.equal(res.status, 422, `${path} ${field}: ${JSON.stringify(body)}`);
        assert.equal(body.error.code, 'FAAS_ERR_VALIDATION');
        assert.deepEqual(
          body.error.details.map((d) => d.field),
          [`querystring.${field}`],
        );
      }
    }
  });

  it(`answers ${REQUESTS} hostile requests without a 5xx, a crash, an error outside the format, or a leak`, async (t) => {
    t.diagnostic(`seed ${SEED} (HOSTILE_SEED replays it)`);
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const base = new URL(server.url);
    const routes = Object.keys(ROUTE_SCOPES).map((r) => r.split(' ') as [string, string]);
    const codes = new Set(Object.keys(ERROR_STATUS));
    const counts = new Map<number, number>();
    const problems: string[] = [];
    let sent = 0;
    let refusedByClient = 0;

    const one = async () => {
      let method: string;
      let path: string;
      if (random() < 0.8) {
        const [routeMethod, pattern] = pick(routes);
        method = random() < 0.85 ? routeMethod : pick(METHODS);
        path = pattern.replace(/:[a-z]+/g, () => pick(HOSTILE_SEGMENTS));
      } else {
        method = pick(METHODS);
        path = pick(OTHER_PATHS);
      }
      // Sandboxes would start real containers from a body that happens to be valid: they get only
      // bodies that cannot be.
      const startsContainers = /\/(execute|instances|snapshots)/.test(path) && method !== 'GET';
      path += pick(QUERIES);
      const token = pick(TOKENS)(keys);
      const headers: Record<string, string> = { ...pick(EXTRA_HEADERS) };
      if (token !== undefined) headers.authorization = token;
      let body: string | Buffer | undefined;
      if (random() < 0.7 || startsContainers) {
        const made = startsContainers ? { type: 'application/json', body: '{"bogus": ' } : pick(BODIES)();
        body = made.body;
        if (made.type) headers['content-type'] = made.type;
        delete headers['transfer-encoding'];
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      const answer = await send(base, method, path, headers, body);
      sent++;
      if (answer === 'refused-by-client') {
        refusedByClient++;
        return;
      }
      const asked = `${method} ${path.slice(0, 120)} ${JSON.stringify(headers).slice(0, 200)} (${token?.slice(0, 30) ?? 'no key'})`;
      if ('error' in answer) {
        problems.push(`${asked}: no answer: ${answer.error}`);
        return;
      }
      counts.set(answer.status, (counts.get(answer.status) ?? 0) + 1);
      const what = `${asked} → ${answer.status}`;
      if (answer.status >= 500) problems.push(`${what}: ${answer.body.slice(0, 300)}`);
      if (answer.status >= 400 && method !== 'HEAD') {
        let code: unknown;
        try {
          code = (JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } }).error?.code;
        } catch {
          code = undefined;
        }
        if (typeof code !== 'string' || !codes.has(code)) {
          problems.push(`${what}: not the JSON error format: ${answer.body.slice(0, 200)}`);
        }
      }
      // CORS: only alpha's origin is ever allowed, and only to a request from it.
      if (
        (answer.allowOrigin !== undefined || answer.allowCredentials !== undefined) &&
        (headers.origin !== ALPHA_ORIGIN || answer.allowOrigin !== ALPHA_ORIGIN)
      ) {
        problems.push(
          `${what}: allowed origin ${answer.allowOrigin} (credentials ${answer.allowCredentials})`,
        );
      }
      if (token?.includes(keys.beta) && answer.body.includes(MARKER)) {
        problems.push(`${what}: beta's key saw alpha's data: ${answer.body.slice(0, 300)}`);
      }
    };

    const CONCURRENCY = 8;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          next++;
          await one();
        }
      }),
    );
    t.diagnostic(
      `sent ${sent}, refused by the client ${refusedByClient}; statuses ${JSON.stringify(Object.fromEntries([...counts].sort((a, b) => a[0] - b[0])))}`,
    );
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problem(s), seed ${SEED}`);
    assert.ok(sent - refusedByClient >= REQUESTS * 0.95, 'most requests reached the server');
    // Alive, and still serving the good keys.
    assert.equal(server.child.exitCode, null, server.output().slice(-2000));
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    // (The run may have deleted the fixtures: the keys were allowed to.)
    const made = await request(server.url, '/api/v1/functions/after-the-run', {
      method: 'PUT',
      key: keys.alpha,
      json: { runtime: 'js', code: 'export default (e) => e' },
    });
    assert.ok(made.status === 200 || made.status === 201, await made.clone().text());
    const ok = await request(server.url, '/api/v1/functions/after-the-run/invoke', {
      method: 'POST',
      key: keys.alpha,
      json: 1,
    });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.doesNotMatch(server.output(), /uncaught|unhandled|FATAL/i);
  });
});
