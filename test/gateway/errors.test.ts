import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

async function expectError(res: Response, status: number, code: string) {
  const body = (await res.json()) as { error: { code: string; message: string; details?: unknown } };
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 0);
  return body.error;
}

describe('bad input gets a clear error', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({
      bodyLimitBytes: 64 * 1024,
      concurrencyWaitMs: 50,
      maxFunctionMemoryMb: 256,
      maxFunctionConcurrency: 50,
    });
  });
  after(() => s.close());

  it('401 without a key, with a malformed header, with an unknown key', async () => {
    await expectError(await s.api('/api/v1/functions', { key: null }), 401, 'FAAS_ERR_UNAUTHORIZED');
    await expectError(
      await s.api('/api/v1/functions', { key: null, headers: { authorization: 'Basic abc' } }),
      401,
      'FAAS_ERR_UNAUTHORIZED',
    );
    await expectError(await s.api('/api/v1/functions', { key: 'faas_nope' }), 401, 'FAAS_ERR_UNAUTHORIZED');
  });

  it('health needs no key', async () => {
    const res = await s.api('/health', { key: null });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('400 on malformed JSON', async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name": "x",',
    });
    await expectError(res, 400, 'FAAS_ERR_INVALID_JSON');
  });

  it('413 on a body over the limit', async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'big', runtime: 'js', code: 'x'.repeat(100 * 1024) },
    });
    await expectError(res, 413, 'FAAS_ERR_BODY_TOO_LARGE');
  });

  it('413 on an invoke body over the limit', async () => {
    await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'small', runtime: 'js', code: 'export default (e) => e' },
    });
    const res = await s.api('/api/v1/functions/small/invoke', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'y'.repeat(100 * 1024),
    });
    await expectError(res, 413, 'FAAS_ERR_BODY_TOO_LARGE');
  });

  it('422 naming the fields that break the schema', async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'Bad Name', runtime: 'cobol', code: 'x', timeoutMs: -1, colour: 'red' },
    });
    const err = await expectError(res, 422, 'FAAS_ERR_VALIDATION');
    const fields = (err.details as Array<{ field: string }>).map((d) => d.field).sort();
    assert.deepEqual(fields, ['colour', 'name', 'runtime', 'timeoutMs']);
  });

  it('422 when a required field is missing', async () => {
    const err = await expectError(
      await s.api('/api/v1/functions', { method: 'POST', json: { runtime: 'js', code: 'x' } }),
      422,
      'FAAS_ERR_VALIDATION',
    );
    assert.deepEqual(err.details, [{ field: 'name', message: 'is required' }]);
  });

  it('422 with the compiler message and location on a TypeScript error', async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'broken', runtime: 'ts', code: 'export default async (e: any) => {\n  return e +;\n}' },
    });
    const err = await expectError(res, 422, 'FAAS_ERR_COMPILE_ERROR');
    const [first] = err.details as Array<{ file: string; line: number; column: number }>;
    assert.equal(first?.file, 'index.ts');
    assert.equal(first?.line, 2);
    assert.match(err.message, /index\.ts:2:\d+/);
    assert.equal((await s.api('/api/v1/functions/broken')).status, 404, 'nothing half-written');
  });

  it('422 for code that builds but cannot load: a throwing top level, a handler that is not a function', async () => {
    const cases = [
      {
        name: 'throws-on-load',
        code: 'throw new Error("no config");\nexport default () => 1;',
        message: /no config/,
      },
      { name: 'not-callable', code: 'export default 42;', message: /function/ },
      { name: 'wrong-export', code: 'export const main = () => 1;', message: /default/ },
    ];
    for (const { name, code, message } of cases) {
      const res = await s.api('/api/v1/functions', { method: 'POST', json: { name, runtime: 'js', code } });
      const err = await expectError(res, 422, 'FAAS_ERR_COMPILE_ERROR');
      assert.match(err.message, message, name);
      assert.equal((await s.api(`/api/v1/functions/${name}`)).status, 404, `${name}: nothing half-written`);
    }
    // A new version that cannot load leaves the working one in place.
    const made = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'loads', runtime: 'js', code: 'export default () => "v1";' },
    });
    assert.equal(made.status, 201);
    const res = await s.api('/api/v1/functions/loads', {
      method: 'PUT',
      json: { runtime: 'js', code: 'export default null;' },
    });
    await expectError(res, 422, 'FAAS_ERR_COMPILE_ERROR');
    const call = await s.api('/api/v1/functions/loads/invoke', { method: 'POST', json: {} });
    assert.equal(call.status, 200);
    assert.equal(await call.json(), 'v1');
  });

  it('404 for unknown functions, versions, invocations, routes and endpoints', async () => {
    await expectError(await s.api('/api/v1/functions/ghost'), 404, 'FAAS_ERR_FUNCTION_NOT_FOUND');
    await expectError(
      await s.api('/api/v1/functions/ghost/invoke', { method: 'POST' }),
      404,
      'FAAS_ERR_FUNCTION_NOT_FOUND',
    );
    await expectError(await s.api('/api/v1/functions/small/versions/9'), 404, 'FAAS_ERR_VERSION_NOT_FOUND');
    await expectError(
      await s.api('/api/v1/functions/small:9/invoke', { method: 'POST' }),
      404,
      'FAAS_ERR_VERSION_NOT_FOUND',
    );
    await expectError(await s.api('/api/v1/invocations/inv_nope'), 404, 'FAAS_ERR_INVOCATION_NOT_FOUND');
    await expectError(await s.api('/no/such/route', { key: null }), 404, 'FAAS_ERR_ROUTE_NOT_FOUND');
    await expectError(await s.api('/api/v1/nothing'), 404, 'FAAS_ERR_NOT_FOUND');
    await expectError(
      await s.api('/api/v1/keys/key_nope', { method: 'DELETE' }),
      404,
      'FAAS_ERR_API_KEY_NOT_FOUND',
    );
  });

  it('409 on a taken name and on a route another function owns', async () => {
    const body = { name: 'owner', runtime: 'js', code: 'export default () => 1', routes: ['GET /owned'] };
    assert.equal((await s.api('/api/v1/functions', { method: 'POST', json: body })).status, 201);
    await expectError(
      await s.api('/api/v1/functions', { method: 'POST', json: body }),
      409,
      'FAAS_ERR_FUNCTION_EXISTS',
    );
    await expectError(
      await s.api('/api/v1/functions', { method: 'POST', json: { ...body, name: 'thief' } }),
      409,
      'FAAS_ERR_ROUTE_CONFLICT',
    );
    assert.equal((await s.api('/api/v1/functions/thief')).status, 404, 'nothing half-written');
  });

  it("409 on a route of the same shape as another function's, which could never be reached", async () => {
    const code = 'export default () => 1';
    const owner = { name: 'user-by-id', runtime: 'js', code, routes: ['GET /users/:id'] };
    assert.equal((await s.api('/api/v1/functions', { method: 'POST', json: owner })).status, 201);
    const err = await expectError(
      await s.api('/api/v1/functions/user-by-uid', {
        method: 'PUT',
        json: { runtime: 'js', code, routes: ['GET /users/:uid'] },
      }),
      409,
      'FAAS_ERR_ROUTE_CONFLICT',
    );
    assert.match(err.message, /GET \/users\/:id of function "user-by-id"/);
    assert.equal((await s.api('/api/v1/functions/user-by-uid')).status, 404, 'nothing half-written');
  });

  it("422 naming the operator's cap for memoryMb and maxConcurrency above it", async () => {
    const err = await expectError(
      await s.api('/api/v1/functions', {
        method: 'POST',
        json: {
          name: 'greedy',
          runtime: 'js',
          code: 'export default () => 1',
          memoryMb: 512,
          maxConcurrency: 51,
        },
      }),
      422,
      'FAAS_ERR_VALIDATION',
    );
    assert.deepEqual(
      (err.details as Array<{ field: string }>).map((d) => d.field),
      ['memoryMb', 'maxConcurrency'],
    );
    assert.match(err.message, /memoryMb must be at most 256.*FAAS_MAX_FUNCTION_MEMORY_MB/);
    assert.equal((await s.api('/api/v1/functions/greedy')).status, 404);
  });

  it('429 past max concurrency once the short wait is over, and the rejection is recorded', async () => {
    await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'one-at-a-time',
        runtime: 'js',
        maxConcurrency: 1,
        code: 'export default () => new Promise((r) => setTimeout(() => r("done"), 400))',
      },
    });
    const first = s.api('/api/v1/functions/one-at-a-time/invoke', { method: 'POST' });
    await new Promise((r) => setTimeout(r, 100));
    const second = await s.api('/api/v1/functions/one-at-a-time/invoke', { method: 'POST' });
    await expectError(second, 429, 'FAAS_ERR_TOO_MANY_REQUESTS');
    assert.equal(second.headers.get('retry-after'), '1');
    assert.equal((await first).status, 200);
    const list = (await (await s.api('/api/v1/invocations?functionName=one-at-a-time')).json()) as {
      items: Array<{ status: string; error?: { type: string } }>;
    };
    assert.deepEqual(list.items.map((i) => i.status).sort(), ['failed', 'succeeded']);
  });

  it('422 on a bad version reference and bad query values', async () => {
    await expectError(
      await s.api('/api/v1/functions/small:zero/invoke', { method: 'POST' }),
      422,
      'FAAS_ERR_VALIDATION',
    );
    await expectError(await s.api('/api/v1/invocations?status=bogus'), 422, 'FAAS_ERR_VALIDATION');
    await expectError(await s.api('/api/v1/functions?limit=0'), 422, 'FAAS_ERR_VALIDATION');
  });

  it('an invoke refused for its version, query or idempotency key is recorded as failed; versions are digits', async () => {
    const made = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'refusals', runtime: 'js', code: 'export default (e) => e' },
    });
    assert.equal(made.status, 201);
    const invoke = (path: string, headers: Record<string, string> = {}, json: unknown = {}) =>
      s.api(`/api/v1/functions/${path}`, { method: 'POST', json, headers });
    for (const path of [
      'refusals/invoke?version=0',
      'refusals/invoke?async=maybe',
      'refusals:0x1/invoke',
      'refusals:1e0/invoke',
      'refusals:1/invoke?version=2',
    ])
      await expectError(await invoke(path), 422, 'FAAS_ERR_VALIDATION');
    const reserved = { 'idempotency-key': 'schedule:x' };
    await expectError(await invoke('refusals/invoke?async=true', reserved), 422, 'FAAS_ERR_VALIDATION');
    const key = { 'idempotency-key': 'k1' };
    assert.equal((await invoke('refusals/invoke?async=true', key, { a: 1 })).status, 202);
    await expectError(
      await invoke('refusals/invoke?async=true', key, { a: 2 }),
      422,
      'FAAS_ERR_IDEMPOTENCY_KEY_REUSED',
    );
    assert.equal((await invoke('refusals:1/invoke?version=1')).status, 200, 'the same version twice is one');
    let refused: string[] = [];
    for (let i = 0; i < 100 && refused.length < 7; i++) {
      const list = (await (
        await s.api('/api/v1/invocations?functionName=refusals&status=failed')
      ).json()) as {
        items: Array<{ error?: { type: string } }>;
      };
      refused = list.items.map((item) => item.error?.type ?? '').sort();
      if (refused.length < 7) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(refused, [
      'FAAS_ERR_IDEMPOTENCY_KEY_REUSED',
      ...Array.from({ length: 6 }, () => 'FAAS_ERR_VALIDATION'),
    ]);
  });

  it('415 for an invoke body it cannot read (a form, as curl -d sends), sync and async', async () => {
    for (const path of ['/api/v1/functions/small/invoke', '/api/v1/functions/small/invoke?async=true']) {
      for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const err = await expectError(
          await s.api(path, { method: 'POST', headers: { 'content-type': type }, body: '{"a":1}' }),
          415,
          'FAAS_ERR_UNSUPPORTED_MEDIA_TYPE',
        );
        assert.match(err.message, /application\/json/);
      }
    }
  });

  it('400 for an invoke with a JSON content type and no body; no content type is no payload', async () => {
    for (const path of ['/api/v1/functions/small/invoke', '/api/v1/functions/small/invoke?async=true']) {
      const err = await expectError(
        await s.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' }),
        400,
        'FAAS_ERR_INVALID_JSON',
      );
      assert.match(err.message, /body is empty/);
    }
    const none = await s.api('/api/v1/functions/small/invoke', { method: 'POST' });
    assert.equal(none.status, 200);
    assert.equal(await none.json(), null);
  });

  it('a JSON content type with no body is fine where no body is needed, 400 where one is', async () => {
    const json = { 'content-type': 'application/json' };
    for (const [method, path] of [
      ['POST', '/api/v1/instances/ins_none/stop'],
      ['POST', '/api/v1/snapshots/snap_none/restore'],
      ['POST', '/api/v1/snapshots/snap_none/fork'],
      ['DELETE', '/api/v1/functions/none'],
    ] as const) {
      const res = await s.api(path, { method, headers: json, body: '' });
      assert.equal(res.status, 404, `${method} ${path}: ${await res.text()}`);
    }
    // Only optional fields: no body at all is {} too.
    const fork = await s.api('/api/v1/snapshots/snap_none/fork', { method: 'POST' });
    assert.equal(fork.status, 404, await fork.text());
    await expectError(
      await s.api('/api/v1/keys', { method: 'POST', headers: json, body: '' }),
      400,
      'FAAS_ERR_INVALID_JSON',
    );
  });

  it('422 for a value outside an enum lists the allowed values', async () => {
    const err = await expectError(
      await s.api('/api/v1/functions', { method: 'POST', json: { name: 'e', runtime: 'cobol', code: 'x' } }),
      422,
      'FAAS_ERR_VALIDATION',
    );
    assert.deepEqual(err.details, [
      { field: 'runtime', message: 'must be one of "js", "ts", "node", "python", "go", "image", "wasm"' },
    ]);
    const query = await expectError(
      await s.api('/api/v1/invocations?status=bogus'),
      422,
      'FAAS_ERR_VALIDATION',
    );
    assert.match(query.message, /querystring\.status must be one of "queued", "running", .*"dead_lettered"/);
  });

  it('422 for a declared route that names one parameter twice', async () => {
    const code = 'export default () => 1';
    for (const [routes, param] of [
      [['GET /twice/:x/:x'], ':x'],
      [[{ method: 'ANY', path: '/twice/:id/files/:id/*' }], ':id'],
    ] as const) {
      const err = await expectError(
        await s.api('/api/v1/functions', {
          method: 'POST',
          json: { name: 'twice', runtime: 'js', code, routes },
        }),
        422,
        'FAAS_ERR_VALIDATION',
      );
      assert.deepEqual(
        (err.details as Array<{ field: string }>).map((d) => d.field),
        ['routes[0].path'],
      );
      assert.ok(err.message.includes(`"${param}" twice`), err.message);
    }
    assert.equal((await s.api('/api/v1/functions/twice')).status, 404, 'nothing deployed');
  });

  it('422 for a body value of another type, never converted; query numbers are still read', async () => {
    const argv = ['echo', 5];
    for (const [path, json] of [
      ['/api/v1/execute', { command: argv }],
      ['/api/v1/execute/stream', { command: argv }],
      ['/api/v1/execute/advanced', { mode: 'cached', command: argv }],
      ['/api/v1/instances', { command: ['sleep', true] }],
      ['/api/v1/instances/ins_none/exec', { command: argv }],
      ['/api/v1/functions', { name: 'argv', runtime: 'image', image: 'faas/none', command: argv }],
    ] as const) {
      const err = await expectError(await s.api(path, { method: 'POST', json }), 422, 'FAAS_ERR_VALIDATION');
      // Only the item: not also "command must be string" from the string branch of the schema.
      assert.deepEqual(err.details, [{ field: 'command.1', message: 'must be string' }], path);
    }
    const err = await expectError(
      await s.api('/api/v1/functions', {
        method: 'POST',
        json: {
          name: 'typed',
          runtime: 'js',
          code: 'export default () => 1',
          timeoutMs: '1000',
          public: 'true',
        },
      }),
      422,
      'FAAS_ERR_VALIDATION',
    );
    assert.deepEqual(err.details, [
      { field: 'timeoutMs', message: 'must be integer' },
      { field: 'public', message: 'must be boolean' },
    ]);
    assert.equal((await s.api('/api/v1/functions/typed')).status, 404, 'nothing deployed');
    const listed = await s.api('/api/v1/functions?limit=1');
    assert.equal(listed.status, 200, await listed.clone().text());
    assert.equal(((await listed.json()) as { items: unknown[] }).items.length, 1);
  });

  it('400 naming a __proto__ or constructor.prototype key, not "invalid JSON"', async () => {
    for (const [body, field] of [
      ['{"__proto__": {"x": 1}, "name": "f"}', '__proto__'],
      ['{"name": "f", "env": {"constructor": {"prototype": {"x": "1"}}}}', 'env.constructor.prototype'],
      ['\uFEFF{"name": "f", "routes": [{"__proto__": {}}]}', 'routes.0.__proto__'],
    ]) {
      const res = await s.api('/api/v1/functions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const err = await expectError(res, 400, 'FAAS_ERR_BAD_REQUEST');
      assert.match(err.message, /__proto__/);
      assert.doesNotMatch(err.message, /not valid JSON/);
      assert.deepEqual(
        (err.details as Array<{ field: string }>).map((d) => d.field),
        [field],
      );
    }
  });

  it('422 for a sequence number or version past what a number holds exactly', async () => {
    for (const path of [
      '/api/v1/logs?afterSeq=1e30',
      '/api/v1/logs?afterSeq=9007199254740993',
      '/api/v1/logs?afterSeq=-1',
      '/api/v1/functions/small/versions/1e30',
      '/api/v1/functions/small/versions/9007199254740993/code',
    ]) {
      const err = await expectError(await s.api(path), 422, 'FAAS_ERR_VALIDATION');
      assert.match(err.message, /afterSeq|params\.version/, path);
    }
    const last = await s.api(`/api/v1/logs?afterSeq=${Number.MAX_SAFE_INTEGER}`);
    assert.equal(last.status, 200);
    assert.deepEqual(await last.json(), { items: [], nextSeq: Number.MAX_SAFE_INTEGER });
  });

  it('422 for two Idempotency-Key headers (not one key "a, b"), recorded as failed', async () => {
    const made = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'two-keys', runtime: 'js', code: 'export default (e) => e' },
    });
    assert.equal(made.status, 201);
    /** node:http sends each value of an array as a header of its own; fetch would join them. */
    const invoke = (query: string, key: string | string[]) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${s.url}/api/v1/functions/two-keys/invoke${query}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${ADMIN_KEY}`,
            'content-type': 'application/json',
            'idempotency-key': key,
          },
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end('{"a":1}');
      });
    for (const query of ['', '?async=true']) {
      const res = await invoke(query, ['a', 'b']);
      assert.equal(res.status, 422, res.body);
      const { error } = JSON.parse(res.body) as { error: { code: string; message: string } };
      assert.equal(error.code, 'FAAS_ERR_VALIDATION');
      assert.match(error.message, /idempotency-key must be sent once/);
    }
    // One header whose value has a comma is one key.
    assert.equal((await invoke('?async=true', 'a, b')).status, 202);
    let refused: Array<{ mode: string; error?: { type: string } }> = [];
    for (let i = 0; i < 100 && refused.length < 2; i++) {
      const list = await s.api('/api/v1/invocations?functionName=two-keys&status=failed');
      refused = ((await list.json()) as { items: typeof refused }).items;
      if (refused.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(refused.map((i) => `${i.mode} ${i.error?.type}`).sort(), [
      'async FAAS_ERR_VALIDATION',
      'sync FAAS_ERR_VALIDATION',
    ]);
  });

  it('400 on an invoke with a JSON content type and a malformed body', async () => {
    const res = await s.api('/api/v1/functions/small/invoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{oops',
    });
    await expectError(res, 400, 'FAAS_ERR_INVALID_JSON');
  });
});
