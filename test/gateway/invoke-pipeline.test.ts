import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../packages/server/src/gateway/app.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

/**
 * One table of invoking requests, each sent to the node:http adapter (a real socket) and to the
 * Fastify adapter (the same platform, routes only): the answers must be the same, status, headers
 * and body, since both are one pipeline.
 */
interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The status both must answer. */
  status: number;
  /** The error code both must answer with, when it is an error. */
  code?: string;
}

const auth = { authorization: `Bearer ${ADMIN_KEY}` };
const json = { ...auth, 'content-type': 'application/json' };
const BODY_LIMIT = 64 * 1024;

/** A trigger whose function answers `response`, which HTTP cannot carry: a 502. */
function unsendable(what: string, response: string): Case {
  return {
    name: `trigger answering ${what}`,
    method: 'POST',
    path: '/fn/resp',
    headers: { 'content-type': 'text/plain' },
    body: response,
    status: 502,
    code: 'FAAS_ERR_INVALID_FUNCTION_RESPONSE',
  };
}

const CASES: Case[] = [
  {
    name: 'json event',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: json,
    body: '{"a":1}',
    status: 200,
  },
  {
    name: 'text event',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: { ...auth, 'content-type': 'text/plain' },
    body: 'hi',
    status: 200,
  },
  {
    name: 'bytes event',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: { ...auth, 'content-type': 'application/octet-stream' },
    body: Buffer.from([0, 1, 2]),
    status: 200,
  },
  { name: 'no body', method: 'POST', path: '/api/v1/functions/echo/invoke', headers: auth, status: 200 },
  {
    name: 'json without a content type',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: auth,
    body: Buffer.from('{"b":2}'),
    status: 200,
  },
  {
    name: 'trailing slash',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke/',
    headers: json,
    body: '1',
    status: 200,
  },
  {
    name: 'a version by name',
    method: 'POST',
    path: '/api/v1/functions/echo:1/invoke',
    headers: json,
    body: '1',
    status: 200,
  },
  {
    name: 'a version by query',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke?version=1',
    headers: json,
    body: '1',
    status: 200,
  },
  {
    name: 'percent-encoded name',
    method: 'POST',
    path: '/api/v1/functions/ech%6F/invoke',
    headers: json,
    body: '1',
    status: 200,
  },
  {
    name: 'async',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke?async=true',
    headers: json,
    body: '1',
    status: 202,
  },
  {
    name: 'async by header',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: { ...json, 'x-invocation-type': 'Event' },
    body: '1',
    status: 202,
  },
  {
    name: 'malformed json',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: json,
    body: '{oops',
    status: 400,
    code: 'FAAS_ERR_INVALID_JSON',
  },
  {
    name: 'body over the limit',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: json,
    body: `"${'x'.repeat(BODY_LIMIT)}"`,
    status: 413,
    code: 'FAAS_ERR_BODY_TOO_LARGE',
  },
  {
    name: 'no key',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: { 'content-type': 'application/json' },
    body: '1',
    status: 401,
    code: 'FAAS_ERR_UNAUTHORIZED',
  },
  {
    name: 'malformed authorization',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: { authorization: 'Basic abc' },
    status: 401,
    code: 'FAAS_ERR_UNAUTHORIZED',
  },
  {
    name: 'unknown key',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke',
    headers: { authorization: 'Bearer faas_nope' },
    status: 401,
    code: 'FAAS_ERR_UNAUTHORIZED',
  },
  {
    name: 'no key and a bad version: 401 first',
    method: 'POST',
    path: '/api/v1/functions/echo:0/invoke',
    status: 401,
    code: 'FAAS_ERR_UNAUTHORIZED',
  },
  {
    name: 'unknown function',
    method: 'POST',
    path: '/api/v1/functions/nobody/invoke',
    headers: json,
    body: '1',
    status: 404,
    code: 'FAAS_ERR_FUNCTION_NOT_FOUND',
  },
  {
    name: 'unknown version',
    method: 'POST',
    path: '/api/v1/functions/echo:99/invoke',
    headers: json,
    body: '1',
    status: 404,
    code: 'FAAS_ERR_VERSION_NOT_FOUND',
  },
  {
    name: 'version zero',
    method: 'POST',
    path: '/api/v1/functions/echo:0/invoke',
    headers: json,
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
  },
  {
    name: 'bad version query',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke?version=abc',
    headers: json,
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
  },
  {
    name: 'unknown query',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke?foo=1',
    headers: json,
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
  },
  {
    name: 'bad async query',
    method: 'POST',
    path: '/api/v1/functions/echo/invoke?async=maybe',
    headers: json,
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
  },
  {
    name: 'name too long',
    method: 'POST',
    path: `/api/v1/functions/${'n'.repeat(81)}/invoke`,
    headers: json,
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
  },
  {
    name: 'name far too long',
    method: 'POST',
    path: `/api/v1/functions/${'n'.repeat(2000)}/invoke`,
    headers: json,
    status: 422,
    code: 'FAAS_ERR_VALIDATION',
  },
  {
    name: 'bad percent-encoding',
    method: 'POST',
    path: '/api/v1/functions/%E0%A4%A/invoke',
    headers: json,
    status: 400,
    code: 'FAAS_ERR_BAD_REQUEST',
  },
  {
    name: 'a function that throws',
    method: 'POST',
    path: '/api/v1/functions/thrower/invoke',
    headers: json,
    body: '1',
    status: 500,
    code: 'FAAS_ERR_FUNCTION_ERROR',
  },
  {
    name: 'GET on the invoke path',
    method: 'GET',
    path: '/api/v1/functions/echo/invoke',
    headers: auth,
    status: 404,
    code: 'FAAS_ERR_NOT_FOUND',
  },
  { name: 'trigger', method: 'GET', path: '/fn/web', status: 200 },
  {
    name: 'trigger with a path, query and body',
    method: 'POST',
    path: '/fn/web/a/b?x=1&x=2&y=z',
    headers: { 'content-type': 'text/plain' },
    body: 'hello',
    status: 200,
  },
  {
    name: 'trigger with binary body',
    method: 'PUT',
    path: '/fn/web/bin',
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.from([255, 0]),
    status: 200,
  },
  { name: 'trigger, percent-encoded', method: 'GET', path: '/fn/w%65b/a%20b', status: 200 },
  { name: 'trigger HEAD', method: 'HEAD', path: '/fn/web', status: 200 },
  {
    name: 'trigger body over the limit',
    method: 'POST',
    path: '/fn/web',
    headers: { 'content-type': 'text/plain' },
    body: 'x'.repeat(BODY_LIMIT + 1),
    status: 413,
    code: 'FAAS_ERR_BODY_TOO_LARGE',
  },
  {
    name: 'trigger of an unknown function with a key',
    method: 'GET',
    path: '/fn/nobody',
    headers: auth,
    status: 404,
    code: 'FAAS_ERR_FUNCTION_NOT_FOUND',
  },
  {
    // As a private function answers: a name leaks nothing without a key.
    name: 'trigger of an unknown function without a key',
    method: 'GET',
    path: '/fn/nobody',
    status: 401,
    code: 'FAAS_ERR_UNAUTHORIZED',
  },
  {
    name: 'trigger of a function that is not public, without a key',
    method: 'GET',
    path: '/fn/echo',
    status: 401,
    code: 'FAAS_ERR_UNAUTHORIZED',
  },
  {
    // The answer shows no authorization header: the function never sees the caller's key.
    name: 'trigger of a function that is not public, with its key',
    method: 'GET',
    path: '/fn/private-web/x',
    headers: auth,
    status: 200,
  },
  {
    name: 'trigger of a function that is not public, with an unknown key',
    method: 'GET',
    path: '/fn/private-web',
    headers: { authorization: 'Bearer faas_not_a_key' },
    status: 401,
    code: 'FAAS_ERR_UNAUTHORIZED',
  },
  {
    // A public function's Authorization header is the application's own: it passes through.
    name: 'trigger of a public function with its own Authorization scheme',
    method: 'GET',
    path: '/fn/web-auth',
    headers: { authorization: 'Bearer app-token' },
    status: 200,
  },
  {
    name: 'trigger with a header HTTP cannot carry',
    method: 'GET',
    path: '/fn/badheader',
    status: 502,
    code: 'FAAS_ERR_INVALID_FUNCTION_RESPONSE',
  },
  unsendable('a 1xx status', '{"statusCode":101}'),
  unsendable('headers that are not an object', '{"statusCode":200,"headers":"str"}'),
  unsendable('a header value that is an object', '{"statusCode":200,"headers":{"x":{"a":1}}}'),
  unsendable('a body that is not base64', '{"statusCode":200,"isBase64Encoded":true,"body":"!!!"}'),
  {
    name: 'trigger answering lists of header values, numbers and booleans',
    method: 'POST',
    path: '/fn/resp',
    headers: { 'content-type': 'text/plain' },
    body: '{"statusCode":200,"headers":{"set-cookie":["a=1","b=2"],"x-list":["1","2"],"x-n":5,"x-b":true}}',
    status: 200,
  },
  {
    name: 'trigger answering a 304 with a body',
    method: 'POST',
    path: '/fn/resp',
    headers: { 'content-type': 'text/plain' },
    body: '{"statusCode":304,"body":"x"}',
    status: 304,
  },
  { name: 'declared route', method: 'GET', path: '/hello', status: 200 },
  { name: 'declared route with a param', method: 'GET', path: '/users/42?full=1', status: 200 },
  { name: 'declared route, trailing slash', method: 'GET', path: '/users/42/', status: 200 },
  {
    name: 'no declared route',
    method: 'GET',
    path: '/nothing-here',
    status: 404,
    code: 'FAAS_ERR_ROUTE_NOT_FOUND',
  },
  {
    name: 'a gateway prefix',
    method: 'GET',
    path: '/api/v1/nothing',
    headers: auth,
    status: 404,
    code: 'FAAS_ERR_NOT_FOUND',
  },
];

/** Headers that differ between any two answers: dates, ids, timings, connection handling. */
const VARYING = new Set([
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'x-invocation-id',
  'x-duration-ms',
  'location',
  // Each call draws on the public functions' per-address bucket: one fewer token each time.
  'ratelimit-remaining',
]);

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function normalize(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): Answer {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!VARYING.has(name.toLowerCase()) && value !== undefined) kept[name.toLowerCase()] = String(value);
  }
  // Invocation ids and request ids differ per call; timings too.
  const text = body
    .replace(/inv_[0-9A-Za-z_-]+/g, 'inv_*')
    .replace(/"(durationMs|cpuTimeMs)":[0-9.e-]+/g, '"$1":0');
  return { status, headers: kept, body: text };
}

describe('one invoke pipeline: node:http and Fastify answer alike', () => {
  let s: TestServer;
  let fastifyOnly: FastifyInstance;
  const deploy = async (name: string, code: string, extra: Record<string, unknown> = {}) => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name, runtime: 'js', code, ...extra },
    });
    assert.equal(res.status, 201, await res.clone().text());
  };

  before(async () => {
    s = await startTestServer({ bodyLimitBytes: BODY_LIMIT });
    await deploy('echo', 'export default (e) => (e instanceof Uint8Array ? Array.from(e) : e ?? "none")');
    await deploy('thrower', 'export default () => { throw new TypeError("no") }');
    await deploy(
      'web',
      'export default (e) => ({ statusCode: 200, headers: { "x-seen": e.method }, body: { path: e.path, query: e.query, body: e.body, b64: e.isBase64Encoded, params: e.params } })',
      { routes: ['GET /hello', 'GET /users/:id'], public: true },
    );
    const headerEcho =
      'export default (e) => ({ statusCode: 200, body: { path: e.path, auth: e.headers.authorization ?? null } })';
    await deploy('private-web', headerEcho);
    await deploy('web-auth', headerEcho, { public: true });
    // The request's body is the response.
    await deploy('resp', 'export default (e) => JSON.parse(e.body ?? "null")', { public: true });
    await deploy('badheader', 'export default () => ({ statusCode: 200, headers: { "bad\\nname": "x" } })', {
      public: true,
    });
    fastifyOnly = await buildApp(s.server.platform, { nodeAdapter: false });
  });
  after(async () => {
    await fastifyOnly?.close();
    await s.close();
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const viaNode = await fetch(s.url + c.path, {
        method: c.method,
        ...(c.headers ? { headers: c.headers } : {}),
        ...(c.body !== undefined ? { body: c.body } : {}),
        // An answer that never ends fails its case, not the file.
        signal: AbortSignal.timeout(10_000),
      });
      const nodeHeaders: Record<string, string | string[]> = Object.fromEntries(viaNode.headers);
      // Each Set-Cookie as its own header, as Fastify's inject lists them.
      const cookies = viaNode.headers.getSetCookie();
      if (cookies.length > 0) nodeHeaders['set-cookie'] = cookies;
      const nodeAnswer = normalize(viaNode.status, nodeHeaders, await viaNode.text());
      const injected = await fastifyOnly.inject({
        method: c.method as 'GET',
        url: c.path,
        ...(c.headers ? { headers: c.headers } : {}),
        ...(c.body !== undefined ? { payload: c.body } : {}),
      });
      const fastifyAnswer = normalize(
        injected.statusCode,
        injected.headers as Record<string, string>,
        injected.body,
      );
      assert.equal(nodeAnswer.status, c.status, nodeAnswer.body);
      if (c.code)
        assert.equal((JSON.parse(nodeAnswer.body) as { error: { code: string } }).error.code, c.code);
      assert.deepEqual(fastifyAnswer, nodeAnswer);
    });
  }

  // Not in the table: fetch joins a repeated header into one before it is sent.
  it('a repeated Idempotency-Key, sync and async', async () => {
    for (const path of ['/api/v1/functions/echo/invoke', '/api/v1/functions/echo/invoke?async=true']) {
      const headers = { ...json, 'idempotency-key': ['a', 'b'] };
      const viaNode = await new Promise<Answer>((resolve, reject) => {
        const req = request(s.url + path, { method: 'POST', headers });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => resolve(normalize(res.statusCode ?? 0, res.headers, body)));
        });
        req.on('error', reject);
        req.end('1');
      });
      const injected = await fastifyOnly.inject({ method: 'POST', url: path, headers, payload: '1' });
      const viaFastify = normalize(
        injected.statusCode,
        injected.headers as Record<string, string>,
        injected.body,
      );
      assert.equal(viaNode.status, 422, viaNode.body);
      assert.match(viaNode.body, /idempotency-key must be sent once/);
      assert.deepEqual(viaFastify, viaNode);
    }
  });
});
